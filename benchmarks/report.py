"""Shared helpers for the benchmarks: a description of the machine and writing a section
of BENCHMARKS.md (each benchmark owns the text between its two marker comments)."""
from __future__ import annotations

import datetime as _dt
import os
import platform
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS_MD = ROOT / "BENCHMARKS.md"


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


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

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    parts = [f"{cpu_name()}, {cores} cores available, {memory_gib():.0f} GiB RAM",
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


def write_block(path: Path, name: str, body: str, new_file: str) -> None:
    """Replace the text between <!-- name:start --> and <!-- name:end --> in `path`
    (appended if missing; `new_file` is the text of a file that does not exist yet)."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{body}\n{end}"
    text = path.read_text() if path.exists() else new_file
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)
