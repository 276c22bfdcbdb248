"""One line per message: what the command line prints and the Python API raises, the same text at both doors.

Messages may quote names from the data (class or file names, state_dict keys): they are made printable (no
line breaks, no terminal control sequences) and at most ``MAX_MESSAGE`` characters."""

from __future__ import annotations

from collections.abc import Callable

from analysis.errors import ReportError

MAX_MESSAGE = 2000  # characters of one error line: names from the data can be arbitrarily long


def one_line(error: BaseException) -> str:
    from analysis.data.paths import printable

    return printable(" ".join(str(error).split()), MAX_MESSAGE)


def in_one_line(work: Callable):
    """Run ``work()``; a ReportError comes out with its message on one line, printable, at most ``MAX_MESSAGE``
    characters."""
    try:
        return work()
    except ReportError as error:
        line = one_line(error)
        if str(error) == line:
            raise
        error.args = (line,)
        raise
