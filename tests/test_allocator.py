"""The allocator set-up of the command line: freed frame buffers stay in the heap."""
from __future__ import annotations

import platform
import subprocess
import sys

import pytest

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"

# In a fresh interpreter: how many bytes a 20 MiB malloc maps from the system (glibc's
# mallinfo2: hblkhd, the bytes in mmapped blocks), before and after keep_freed_memory.
PROBE = """
import ctypes
from stylecam import allocator

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                                                     "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]

def mapped_by_a_frame():
    before = libc.mallinfo2().hblkhd
    block = libc.malloc(20 << 20)
    mapped = libc.mallinfo2().hblkhd - before
    libc.free(block)
    return mapped

first = mapped_by_a_frame()
print(first, allocator.keep_freed_memory(), mapped_by_a_frame())
"""


@pytest.mark.skipif(not GLIBC, reason="glibc only")
def test_frame_sized_blocks_come_from_the_heap_once_set():
    r = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    before, set_, after = r.stdout.split()
    assert int(before) >= 20 << 20  # glibc's default: a fresh mapping for every large block
    assert set_ == "True" and int(after) == 0


def test_the_command_line_sets_it_up(monkeypatch):
    from stylecam import __main__, allocator, signals

    monkeypatch.setattr(signals, "install", lambda: {})  # this test process keeps its own handlers
    calls = []
    monkeypatch.setattr(allocator, "keep_freed_memory", lambda: calls.append(1) or True)
    monkeypatch.setattr(sys, "argv", ["stylecam", "--version"])
    with pytest.raises(SystemExit) as exc:
        __main__.entry()
    assert exc.value.code == 0 and calls == [1]
