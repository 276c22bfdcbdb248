"""The environment variables the tool reads, each parsed and checked here and nowhere else, so that the command
line, the Python API and the PDF worker agree, and a bad value is one line naming the variable (exit 2).

They are read once per command: ``Environment.read()`` parses and checks every one of them (a bad one fails the
command before any work, at either door), and ``using(environment)`` makes that reading the one the command's
parts see (``current()``, and the accessors below), so a variable is neither read nor checked twice in one
command. Outside a command (a test calling the render stage, the PDF worker's own process) the accessors read
the variable when asked."""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import os
import re
import sys
from pathlib import Path

from analysis.errors import InputError

LATEST_EPOCH = 253402300799          # the last second of year 9999: what a date can show
PDF_MEMORY_DEFAULT = 3 << 30         # bytes of address space for the PDF worker
PDF_MEMORY_RANGE = (1 << 26, 1 << 50)  # 64 MiB to 1 PiB: beyond, setrlimit itself overflows
THREADS_RANGE = (1, 1024)


@dataclasses.dataclass(frozen=True)
class Environment:
    """Every variable the tool reads, parsed and checked."""

    source_date_epoch: int | None  # SOURCE_DATE_EPOCH: the date the report shows (reproducible builds)
    pdf_memory: int                # REPORT_PDF_MEMORY: bytes of address space the PDF worker may use
    step_summary: Path | None      # GITHUB_STEP_SUMMARY: the job summary page to append summary.md to
    debug: bool                    # REPORT_DEBUG: an internal error shows its traceback
    threads: int | None            # REPORT_THREADS: torch threads of the analysis and training (None: the default)

    @classmethod
    def read(cls) -> "Environment":
        """Read and check every variable (tqdm's TQDM_* too), before any work starts."""
        environment = cls(_source_date_epoch(), _pdf_memory(), _step_summary(), debugging(), _threads())
        check_tqdm()
        return environment


_CURRENT: contextvars.ContextVar[Environment | None] = contextvars.ContextVar("report_environment", default=None)


@contextlib.contextmanager
def using(environment: Environment):
    """Within this block, ``current()`` is ``environment``: the one reading of the command under way."""
    token = _CURRENT.set(environment)
    try:
        yield environment
    finally:
        _CURRENT.reset(token)


def current() -> Environment:
    """The environment of the command under way; read (and checked) now when none is."""
    return _CURRENT.get() or Environment.read()


def check() -> Environment:
    """Every variable the tool reads, checked before any work starts (the command's reading when it has one)."""
    return current()


def source_date_epoch() -> int | None:
    """``SOURCE_DATE_EPOCH`` (reproducible builds: the date the report shows), or None when unset."""
    reading = _CURRENT.get()
    return reading.source_date_epoch if reading else _source_date_epoch()


def pdf_memory() -> int:
    """``REPORT_PDF_MEMORY``: bytes of address space the PDF worker may use (default 3 GiB)."""
    reading = _CURRENT.get()
    return reading.pdf_memory if reading else _pdf_memory()


def step_summary() -> Path | None:
    """``GITHUB_STEP_SUMMARY``: the file of a GitHub Actions job's summary page, to append summary.md to."""
    reading = _CURRENT.get()
    return reading.step_summary if reading else _step_summary()


def threads() -> int | None:
    """``REPORT_THREADS``: torch threads of the analysis and of the default checkpoint's training, or None when
    unset (analysis.config.ANALYSIS_THREADS). Fewer than the cores when other work shares them (two builds, or
    a test suite's workers, on two cores): threads waiting at a barrier for one that is not running spin."""
    reading = _CURRENT.get()
    return reading.threads if reading else _threads()


def debugging() -> bool:
    """``REPORT_DEBUG``: any value shows an internal error's traceback (read even when another variable is bad)."""
    return bool(os.environ.get("REPORT_DEBUG"))


def _whole_number(value: str) -> int | None:
    """ASCII digits only: "²" and "٣" pass str.isdigit() but are no number a user meant."""
    return int(value) if re.fullmatch(r"[0-9]{1,20}", value) else None


def _whole_between(value: str, bounds: tuple[int, int]) -> int | None:
    """The whole number ``value`` writes when it lies within ``bounds`` (both included), else None."""
    number = _whole_number(value)
    return number if number is not None and bounds[0] <= number <= bounds[1] else None


def _source_date_epoch() -> int | None:
    value = os.environ.get("SOURCE_DATE_EPOCH")
    if value is None or value == "":
        return None
    number = _whole_number(value)
    if number is None or number > LATEST_EPOCH:
        raise InputError(f"SOURCE_DATE_EPOCH={ascii(value[:40])} is not a time: give whole seconds since 1970, e.g. "
                         "$(git log -1 --format=%ct), or unset it")
    return number


def _pdf_memory() -> int:
    value = os.environ.get("REPORT_PDF_MEMORY")
    if value is None:
        return PDF_MEMORY_DEFAULT
    number = _whole_between(value, PDF_MEMORY_RANGE)
    if number is None:
        low, high = PDF_MEMORY_RANGE
        raise InputError(f"REPORT_PDF_MEMORY={ascii(value[:40])} is not a memory size: give bytes, from {low} "
                         f"(64 MiB) to {high} (1 PiB), e.g. {3 << 30} for 3 GiB, or unset it")
    return number


def _threads() -> int | None:
    value = os.environ.get("REPORT_THREADS")
    if value is None or value == "":
        return None
    number = _whole_between(value, THREADS_RANGE)
    if number is None:
        raise InputError(f"REPORT_THREADS={ascii(value[:40])} is not a number of threads: give a whole number "
                         f"from {THREADS_RANGE[0]} to {THREADS_RANGE[1]}, e.g. 1 on a machine other work keeps "
                         "busy, or unset it")
    return number


def _step_summary() -> Path | None:
    value = os.environ.get("GITHUB_STEP_SUMMARY")
    if not value:
        return None
    path = Path(value)
    # A pipe would block the run for ever once the report is written; a folder or a device is no page.
    if (path.exists() and not path.is_file()) or not path.parent.is_dir():
        raise InputError(f"GITHUB_STEP_SUMMARY={ascii(value[:200])} is not a file that can be appended to (it is "
                         "a folder, a pipe or a device, or its folder does not exist): give a file path, or unset it")
    return path


def check_tqdm() -> None:
    """tqdm (the progress bars) reads every ``TQDM_<option>`` variable when imported and fails on one it cannot
    convert: checked here, before any work, only when one is set."""
    names = sorted(name for name in os.environ if name.startswith("TQDM_"))
    if not names or "tqdm" in sys.modules:
        return
    try:
        import tqdm  # noqa: F401
    except (ValueError, TypeError) as error:
        raise InputError(f"{', '.join(names)}: tqdm cannot use this setting ({str(error)[:120]}): correct or "
                         "unset it") from None
