"""`python -m stylecam` and the `stylecam` command."""
import sys

from . import signals


def entry() -> int:
    # before the heavy imports (numpy, onnxruntime): a signal during start-up is handled too
    signals.install()
    try:
        from .cli import main

        code = main()
    except KeyboardInterrupt as exc:  # before main() took over
        signals.closing()
        print(signals.interrupted_message(exc), file=sys.stderr)
        return signals.exit_code(exc)
    # The job is done and reported; a Ctrl+C while the interpreter shuts down would still
    # kill the process (exit -2 after "wrote ..."): the exit code stays the job's.
    signals.hold()
    return code


if __name__ == "__main__":
    sys.exit(entry())
