"""Every error type of this tool a script can catch: one line at the command line, the same line here.

``ReportError`` is the base of all of them; ``exit_code`` is what ``python -m report`` exits with."""

from analysis.errors import InputError, ReportError
from report.render.errors import RenderError, StoreError


class FailOnError(ReportError):
    """The report was written, but it holds an alert at or above the level given by ``fail_on``
    (``--fail-on``); ``report`` is the finished ``report.api.Report``."""

    exit_code = 3

    def __init__(self, message: str, report=None):
        super().__init__(message)
        self.report = report


__all__ = ["ReportError", "InputError", "StoreError", "RenderError", "FailOnError"]
