"""The C allocator, set up for a process that handles one large frame after another.

glibc hands every freed block above its mmap threshold back to the operating system at
once and maps fresh pages for the next one, and trims the heap as soon as its free top
grows past the trim threshold. A 1920x1080 frame passes through a dozen buffers of 2-12 MB
(the decoded picture, the net's input and output, the stylized frame, the encoder's copy),
so each frame pays the same page faults again. The guided upsampling keeps its own work
planes (`upsample`); the rest still pays: measured on 2 cores, `Stylizer.finish` of a 1080p
frame took 21-22 ms without this and 14-16 ms with it.

`keep_freed_memory` raises both thresholds, so freed frame buffers stay in the heap for the
next frame; the process's memory then stays near its peak instead of falling between
frames. The command line calls it; a program using the API decides for itself (it changes
the whole process).
"""
from __future__ import annotations

import ctypes
import platform

_M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's malloc.h
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  # glibc's largest: blocks up to 32 MiB come from the heap
TRIM_THRESHOLD = 512 << 20  # free heap top kept before it goes back to the system


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds for this process; True when they were set
    (False on other C libraries, where nothing changes)."""
    if platform.system() != "Linux":
        return False
    try:
        # The symbols already in the process, the C library's among them: no search for its
        # file (ctypes.util.find_library runs ldconfig, a subprocess at every start-up).
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # glibc's own: other C libraries number their options otherwise
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) and libc.mallopt(_M_TRIM_THRESHOLD,
                                                                                        TRIM_THRESHOLD))
    except (OSError, AttributeError):
        return False
