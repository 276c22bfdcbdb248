"""The error types a user sees: one line at the command line, the same line in the Python API."""


class ReportError(Exception):
    """Base of every error this tool raises for something a user can act on (``report.api`` raises only these,
    besides the operating system's own OSError). ``exit_code``: what the command line exits with."""

    exit_code = 2


class InputError(ReportError):
    """Bad input: the message names the problem and says how to fix it."""
