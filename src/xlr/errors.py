"""The one exception type that reaches the user as a one-line message (exit code 2)."""


class XlrError(Exception):
    """Bad input or a missing resource. The message names the fix; the CLI prints it without a traceback."""

    exit_code = 2


class ChecksFailed(Exception):
    """Comparisons ran but something is outside tolerance or a claim fails (exit code 1)."""

    exit_code = 1
