"""SIGTERM and SIGHUP end a run the way Ctrl+C does.

Python turns Ctrl+C into KeyboardInterrupt, so every `except`/`finally` on the way out
drops its temp file; TERM and HUP would kill the process on the spot and leave the hidden
`.part` file behind. Here they raise `Terminated` (a KeyboardInterrupt) in the main
thread instead, and the command line exits with 128 + the signal number (143, 129), as a
shell reports a process killed by that signal. Light on purpose (no numpy): installed
before the heavy imports, so an early signal is handled too.
"""
from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

HANDLED = ("SIGINT", "SIGTERM", "SIGHUP")


class Terminated(KeyboardInterrupt):
    """The run was ended by a signal; `exit_code` is 128 + its number."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


_closing = False


def _importing(frame: Any) -> bool:
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


_protected = 0  # > 0 while a step that must not be cut in two runs (temp file made and recorded)


@contextmanager
def protected() -> Iterator[None]:
    """A signal arriving inside this block takes effect just after it."""
    global _protected
    _protected += 1
    try:
        yield
    finally:
        _protected -= 1


def _raise(signum: int, frame: Any) -> None:
    global _closing
    if _closing:
        # already on the way out: a second Ctrl+C must not cut the cleanup short (a worker
        # thread still inside onnxruntime at exit aborts the process, a temp file stays)
        return
    if _protected or _importing(frame):
        # an exception inside an import can surface as an unrelated ImportError from C code
        # (numpy's start-up); deliver the signal again once the import or step is done
        timer = threading.Timer(0.02, signal.raise_signal if hasattr(signal, "raise_signal") else
                                (lambda s: os.kill(os.getpid(), s)), (signum,))
        timer.daemon = True
        timer.start()
        return
    _closing = True
    raise Terminated(signum)


# seconds work on a worker thread gets, after a signal, to end before the run leaves it behind
GRACE = 0.5

T = TypeVar("T")


def interruptible(work: Callable[[], T], name: str, on_signal: Callable[[], None] | None = None) -> T:
    """`work()` on a worker thread named `name` (stylecam-...), waited for so that a signal
    ends the wait at once: C code that holds the main thread (an inference call, an image
    encoder) would keep the signal waiting for seconds. On a signal, `on_signal` runs (to
    cancel the work) and the worker gets GRACE seconds; if it is still running then, it is
    left behind and the signal's KeyboardInterrupt goes on: the command line ends the
    process without the interpreter's shutdown while such a thread runs (stylecam.__main__).
    The work's own exception is raised here as it is."""
    result: list[T] = []
    error: list[BaseException] = []
    done = threading.Event()

    def run() -> None:
        try:
            result.append(work())
        except BaseException as exc:
            error.append(exc)
        finally:
            done.set()

    with protected():  # a signal now would leave a running worker nobody waits for
        threading.Thread(target=run, name=name, daemon=True).start()
    try:
        while not done.wait(0.2):
            pass
    except KeyboardInterrupt:
        if on_signal is not None:
            on_signal()
        done.wait(GRACE)  # a further signal is ignored by now (_closing)
        raise
    if error:
        raise error[0]
    return result[0]


def install() -> dict[int, Any]:
    """Raise Terminated in the main thread on INT, TERM and HUP. A signal the parent
    ignores (`nohup` ignores HUP, a shell's background job INT) stays ignored.
    Returns the handlers it replaced, for `restore`."""
    global _closing
    _closing = False
    previous: dict[int, Any] = {}
    if threading.current_thread() is not threading.main_thread():
        return previous  # only the main thread may set handlers (main() run from a thread)
    for name in HANDLED:
        signum = getattr(signal, name, None)
        if signum is None:  # no SIGHUP on Windows
            continue
        if signal.getsignal(signum) is signal.SIG_IGN:
            continue
        previous[signum] = signal.signal(signum, _raise)
    return previous


def restore(previous: dict[int, Any]) -> None:
    """Put back the handlers `install` replaced (main() called from a program of its own)."""
    for signum, handler in previous.items():
        signal.signal(signum, handler)


def ended_by_signal(exc: BaseException | None) -> bool:
    """True for TERM and HUP (not Ctrl+C)."""
    return isinstance(exc, Terminated) and exc.signum != signal.SIGINT


def closing() -> None:
    """From here on a further signal does not interrupt the cleanup."""
    global _closing
    _closing = True


def hold() -> None:
    """Ignore INT, TERM and HUP for the rest of the process: its work is finished. (Python
    puts SIG_DFL back at shutdown for handlers of its own, but leaves SIG_IGN alone.)"""
    closing()
    for name in HANDLED:
        signum = getattr(signal, name, None)
        if signum is not None:
            signal.signal(signum, signal.SIG_IGN)


def exit_code(exc: BaseException) -> int:
    return exc.exit_code if isinstance(exc, Terminated) else 128 + signal.SIGINT


def interrupted_message(exc: BaseException) -> str:
    what = "interrupted"
    if isinstance(exc, Terminated) and ended_by_signal(exc):
        what = f"terminated by {signal.Signals(exc.signum).name}"
    # a folder job that was cut short tells what it had written (set by stylecam.files)
    return f"stylecam: {what}; {getattr(exc, 'progress', None) or 'no partial output was left'}"


