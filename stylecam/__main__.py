"""`python -m stylecam` and the `stylecam` command."""
import sys

from . import signals


def entry() -> int:
    # before the heavy imports (numpy, onnxruntime): a signal during start-up is handled too
    signals.install()
    try:
        from .cli import main

        return main()
    except KeyboardInterrupt as exc:  # before main() took over
        signals.closing()
        print(signals.interrupted_message(exc), file=sys.stderr)
        return signals.exit_code(exc)


if __name__ == "__main__":
    sys.exit(entry())
