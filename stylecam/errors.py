"""The one exception type the CLI turns into a one-line message and exit code 2."""


class StylecamError(Exception):
    """Bad input or an unavailable resource, explained in one line for the user."""
