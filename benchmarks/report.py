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
    """Replace (or append) the section `name` of BENCHMARKS.md."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    stamp = _dt.date.today().isoformat()
    block = f"{start}\n{markdown.strip()}\n\n_Measured {stamp} on: {machine()}._\n{end}"
    text = BENCHMARKS_MD.read_text() if BENCHMARKS_MD.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    BENCHMARKS_MD.write_text(text)
