"""What an input path holds (image, video, folder) and whether an output path may be written."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ..errors import StylecamError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
VIDEO_SUFFIXES = {".mp4", ".mov", ".m4v", ".mkv", ".avi", ".webm", ".mpg", ".mpeg", ".ts", ".mts", ".m2ts",
                  ".flv", ".wmv", ".3gp", ".ogv", ".gif"}
VIDEO_OUTPUT_SUFFIXES = {".mp4", ".mov", ".m4v", ".mkv"}
IMAGE_OUTPUT_SUFFIXES = IMAGE_SUFFIXES  # Pillow writes every image format it reads here


def kind_of(path: Path) -> str:
    """'image' or 'video', judged from the name and, failing that, from the content."""
    if not path.exists():
        raise StylecamError(f"input not found: {path}")
    if path.is_dir():
        return "folder"
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    from PIL import Image
    try:
        with Image.open(path):
            return "image"
    except Exception:
        pass
    try:
        import av
        with av.open(str(path)) as c:
            if c.streams.video:
                return "video"
    except Exception:
        pass
    raise StylecamError(f"not an image or video: {path}")


def check_output(target: Path, inputs: list[Path], overwrite: bool) -> None:
    """Fail before any work: same as an input, exists without -y, or not writable."""
    resolved = target.resolve()
    for src in inputs:
        if src.exists() and resolved == src.resolve():
            raise StylecamError(f"output {target} is the input file; choose another output path")
    if target.exists() and target.is_dir():
        raise StylecamError(f"output {target} is a folder")
    if target.exists() and not overwrite:
        raise StylecamError(f"output {target} exists; use -y/--overwrite to replace it")
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise StylecamError(f"output folder does not exist: {parent}")
    try:
        fd, probe = tempfile.mkstemp(prefix=".stylecam-write-test.", dir=parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise StylecamError(f"cannot write to {parent}: {exc.strerror or exc}") from None
