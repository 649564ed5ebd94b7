"""`python -m stylecam` and the `stylecam` command."""
import os
import sys

from . import allocator, signals


def entry() -> int:
    # before the heavy imports (numpy, onnxruntime): a signal during start-up is handled too
    signals.install()
    try:
        allocator.keep_freed_memory()  # frame after frame reuses the same buffers
        from .cli import main

        code = main()
    except KeyboardInterrupt as exc:  # before main() took over
        signals.closing()
        print(signals.interrupted_message(exc), file=sys.stderr)
        return signals.exit_code(exc)
    # The job is done and reported; a Ctrl+C while the interpreter shuts down would still
    # kill the process (exit -2 after "wrote ..."): the exit code stays the job's.
    signals.hold()
    _leave_if_threads_are_stuck(code)
    return code


def _leave_if_threads_are_stuck(code: int) -> None:
    """A thread of ours still blocked in FFmpeg (waiting on a silent stream until its
    timeout), or an inference call a signal left behind (one layer of a large image can
    take many seconds), can crash the interpreter's shutdown when it wakes up or aborts it
    while it runs. Everything is written and cleaned up by now, so end the process without
    that shutdown."""
    import threading

    if any(t.daemon and t.is_alive() and t.name.startswith("stylecam-") for t in threading.enumerate()):
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)


if __name__ == "__main__":
    sys.exit(entry())
