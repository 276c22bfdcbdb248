"""Every error type of this tool a user or a script can act on: one line at the command line, the same line in
the Python API (``report.ReportError`` and the others are these classes).

Defined once, here, because this is the one module every part may import: the analysis (which never imports
``report``), the render stage (which imports from ``analysis`` only the store package and this module) and the
orchestrator. It imports nothing, so loading it costs nothing and never loads torch or numpy.
``ReportError`` is the base of all of them; ``exit_code`` is what ``python -m report`` exits with."""


class ReportError(Exception):
    """Base of every error this tool raises for something a user can act on (``report.api`` raises only these,
    besides the operating system's own OSError). ``exit_code``: what the command line exits with."""

    exit_code = 2


class InputError(ReportError):
    """Bad input: the message names the problem and says how to fix it."""


class StoreError(ReportError):
    """The store is missing, incomplete, tampered with or of another schema version."""


class RenderError(ReportError):
    """Rendering failed: a template, an image or the PDF writer refused."""

    exit_code = 1


class FailOnError(ReportError):
    """The report was written, but it holds an alert at or above the level given by ``fail_on``
    (``--fail-on``); ``report`` is the finished ``report.api.Report``."""

    exit_code = 3

    def __init__(self, message: str, report=None):
        super().__init__(message)
        self.report = report


__all__ = ["ReportError", "InputError", "StoreError", "RenderError", "FailOnError"]
