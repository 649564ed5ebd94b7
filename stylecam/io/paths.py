"""What an input path holds (image, video, folder) and whether an output path may be written."""
from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from .. import signals
from ..atomic import name_max
from ..errors import StylecamError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
VIDEO_SUFFIXES = {".mp4", ".mov", ".m4v", ".mkv", ".avi", ".webm", ".mpg", ".mpeg", ".ts", ".mts", ".m2ts",
                  ".flv", ".wmv", ".3gp", ".ogv", ".gif"}
VIDEO_OUTPUT_SUFFIXES = {".mp4", ".mov", ".m4v", ".mkv"}
IMAGE_OUTPUT_SUFFIXES = IMAGE_SUFFIXES  # Pillow writes every image format it reads here


def kind_of(path: Path) -> str:
    """'image', 'video' or 'folder', judged from the name and, failing that, from the content."""
    try:
        st = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        raise StylecamError(f"input not found: {path}") from None
    except OSError as exc:  # no permission on a folder on the way, a name too long
        raise StylecamError(f"cannot read {path}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        return "folder"
    if not stat.S_ISREG(st.st_mode):
        # opening a FIFO blocks until a writer comes, in C code where Ctrl+C cannot reach
        raise StylecamError(f"{path} is not a regular file ({_file_type(st.st_mode)}); give an image, video or folder")
    if st.st_size == 0:
        raise StylecamError(f"input {path} is empty (0 bytes)")
    try:  # no permission: say so, not "not an image or video" or a decoder's words
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise StylecamError(f"cannot read {path}: {exc.strerror or exc}") from None
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


def _file_type(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "not a file or folder"


def check_output(target: Path, inputs: list[Path], overwrite: bool) -> None:
    """Fail before any work: same as an input, exists without -y, name too long, or not writable."""
    try:
        _check_output(target, inputs, overwrite)
    except OSError as exc:  # a folder on the way that cannot be searched, a folder name too long
        raise StylecamError(f"cannot write {target}: {exc.strerror or exc}") from None


def _check_output(target: Path, inputs: list[Path], overwrite: bool) -> None:
    parent = target.parent if str(target.parent) else Path(".")
    if parent.exists() and not parent.is_dir():
        raise StylecamError(f"cannot write {target}: {parent} is a file, not a folder")
    if not parent.is_dir():
        raise StylecamError(f"output folder does not exist: {parent}")
    size, limit = len(os.fsencode(target.name)), name_max(parent)
    if size > limit:
        raise StylecamError(f"output name {target.name[:40]}... is too long: {size} bytes, "
                            f"the file system takes at most {limit}")
    resolved = target.resolve()
    for src in inputs:
        if src.exists() and resolved == src.resolve():
            raise StylecamError(f"output {target} is the input file; choose another output path")
    if target.exists() and target.is_dir():
        raise StylecamError(f"output {target} is a folder")
    if target.exists() and not target.is_file():  # -y would put a file in place of a device or pipe
        raise StylecamError(f"output {target} is not a regular file ({_file_type(target.stat().st_mode)}); "
                            "it is left as it is")
    if target.exists() and not os.access(target, os.W_OK):  # a rename would replace it all the same
        raise StylecamError(f"output {target} is read-only; it is kept (make it writable to replace it, "
                            "or choose another output)")
    if os.path.lexists(target) and not overwrite:  # also a symlink to nothing, which a write would follow
        raise StylecamError(f"output {target} exists; use -y/--overwrite to replace it")
    check_writable(parent)


def check_writable(folder: Path) -> None:
    """Fail in one line when no file can be made in `folder` (permissions, read-only mount)."""
    try:
        with signals.protected():  # never left behind by a signal
            fd, probe = tempfile.mkstemp(prefix=".stylecam-write-test.", dir=folder)
            os.close(fd)
            os.unlink(probe)
    except OSError as exc:
        raise StylecamError(f"cannot write to {folder}: {exc.strerror or exc}") from None
