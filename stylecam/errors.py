"""The one exception type the CLI turns into a one-line message and exit code 2, and
how any other exception is cut to one line for such a message."""


class StylecamError(Exception):
    """Bad input or an unavailable resource, explained in one line for the user."""


def first_line(exc: BaseException, limit: int | None = None) -> str:
    """The first line of an exception's message (at most `limit` characters), or its type
    name when it has none: enough to say what failed in a one-line error."""
    lines = str(exc).strip().splitlines()
    return lines[0][:limit] if lines else type(exc).__name__


def one_line(text: str) -> str:
    """`text` with line breaks and other control characters shown as escapes (\\n), so a
    message about a file named with a newline, or a library's multi-line text, stays on
    one line of stderr."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
