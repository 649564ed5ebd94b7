"""Atomic outputs: every file stylecam writes goes through `AtomicOutput`.

The data goes to a hidden temp file beside the target (`.NAME.XXXX.partEXT`), which is
moved into place only when complete, so an error, Ctrl+C or SIGTERM never leaves a
half-written file at the target. The finished file gets the mode a normal write would
give it (0666 minus the umask), or keeps the mode of the file it replaces. Without
`overwrite`, the final step never replaces a file that appeared while we were writing
(another writer to the same output): that writer's file stays and we fail.
"""
from __future__ import annotations

import errno
import os
import stat
import tempfile
import threading
from pathlib import Path
from typing import Any

from . import signals
from .errors import StylecamError, first_line

_pending: set[Path] = set()  # temp files not yet committed or removed (cleaned up on a signal)
_lock = threading.Lock()


def _umask() -> int:
    """The process umask. Reading it with os.umask means setting it for a moment, which
    races with other threads creating files; Linux shows it in /proc without that."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    with _lock:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def new_file_mode() -> int:
    return 0o666 & ~_umask()


_RANDOM = 8  # characters tempfile puts between prefix and suffix


def name_max(folder: Path) -> int:
    """The longest file name (in bytes) the folder's file system takes."""
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


def temp_affixes(target: Path, folder: Path) -> tuple[str, str]:
    """Prefix and suffix of the temp name `.STEM.XXXXXXXX.partEXT`. The stem is shortened
    (the random part keeps names unique) so the name fits where the target's name fits."""
    stem, suffix = target.stem, f".part{target.suffix}"
    room = name_max(folder) - len(os.fsencode(f"..{suffix}")) - _RANDOM
    raw = os.fsencode(stem)
    if len(raw) > room:
        stem = raw[:max(room, 0)].decode(errors="ignore")  # never half a UTF-8 character
    return f".{stem}.", suffix


def write_error(target: Path, exc: OSError) -> StylecamError:
    """A failed write to an output (full disk, file size limit, no permission) as one line."""
    reason = exc.strerror or first_line(exc)
    if exc.errno == errno.EFBIG:
        reason += " for this file system or the process's file size limit"
    return StylecamError(f"cannot write {target}: {reason}; no partial file was left")


class AtomicOutput:
    """A temp path beside `target`; `commit()` moves it into place, `abort()` drops it.

    As a context manager: the temp path on enter, commit on success, abort on any error.
    """

    def __init__(self, target: Path, overwrite: bool = False):
        self.target = Path(target)
        self.overwrite = overwrite
        parent = self.target.parent if str(self.target.parent) else Path(".")
        prefix, suffix = temp_affixes(self.target, parent)
        # recorded in the same step, so a signal cannot leave a temp file nobody knows of
        with signals.protected(), _lock:
            try:
                fd, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=parent)
            except OSError as exc:
                raise write_error(self.target, exc) from None
            self.tmp = Path(name)
            _pending.add(self.tmp)
        os.close(fd)

    def __enter__(self) -> Path:
        return self.tmp

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()

    def commit(self) -> None:
        with signals.protected():  # a signal now takes effect once the file is in place or gone
            try:
                os.chmod(self.tmp, self._final_mode())
                if self.overwrite:
                    os.replace(self.tmp, self.target)
                else:
                    self._link_no_clobber()
            except BaseException:
                self.abort()
                raise
            with _lock:
                _pending.discard(self.tmp)

    def abort(self) -> None:
        self.tmp.unlink(missing_ok=True)
        with _lock:
            _pending.discard(self.tmp)

    def _final_mode(self) -> int:
        try:
            st = os.stat(self.target)
        except OSError:
            return new_file_mode()
        return stat.S_IMODE(st.st_mode) if self.overwrite else new_file_mode()

    def _link_no_clobber(self) -> None:
        # link() fails when the target exists, in one step; rename() would replace it
        try:
            os.link(self.tmp, self.target)
        except FileExistsError:
            raise self._clobber_error() from None
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK, errno.EXDEV,
                                 errno.ENOSYS, errno.EACCES):
                raise
            # no hard links here (FAT, some network shares): check, then rename
            if os.path.lexists(self.target):
                raise self._clobber_error() from None
            os.replace(self.tmp, self.target)
            return
        self.tmp.unlink(missing_ok=True)

    def _clobber_error(self) -> StylecamError:
        return StylecamError(f"output {self.target} was created by another program while stylecam was writing; "
                             "it was kept (use -y/--overwrite to replace it)")


def cleanup_pending() -> None:
    """Remove every temp file not yet committed (the last step of a signal exit)."""
    with _lock:
        paths = list(_pending)
        _pending.clear()
    for path in paths:
        try:
            path.unlink(missing_ok=True)
        except OSError:
            pass
