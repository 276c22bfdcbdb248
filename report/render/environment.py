"""The environment variables the tool reads, each parsed and checked here and nowhere else, so that the command
line, the Python API and the PDF worker agree, and a bad value is one line naming the variable (exit 2)."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from analysis.errors import InputError

LATEST_EPOCH = 253402300799          # the last second of year 9999: what a date can show
PDF_MEMORY_DEFAULT = 3 << 30         # bytes of address space for the PDF worker
PDF_MEMORY_RANGE = (1 << 26, 1 << 50)  # 64 MiB to 1 PiB: beyond, setrlimit itself overflows


def _whole_number(value: str) -> int | None:
    """ASCII digits only: "²" and "٣" pass str.isdigit() but are no number a user meant."""
    return int(value) if re.fullmatch(r"[0-9]{1,20}", value) else None


def source_date_epoch() -> int | None:
    """``SOURCE_DATE_EPOCH`` (reproducible builds: the date the report shows), or None when unset."""
    value = os.environ.get("SOURCE_DATE_EPOCH")
    if value is None or value == "":
        return None
    number = _whole_number(value)
    if number is None or number > LATEST_EPOCH:
        raise InputError(f"SOURCE_DATE_EPOCH={ascii(value[:40])} is not a time: give whole seconds since 1970, e.g. "
                         "$(git log -1 --format=%ct), or unset it")
    return number


def pdf_memory() -> int:
    """``REPORT_PDF_MEMORY``: bytes of address space the PDF worker may use (default 3 GiB)."""
    value = os.environ.get("REPORT_PDF_MEMORY")
    if value is None:
        return PDF_MEMORY_DEFAULT
    number = _whole_number(value)
    low, high = PDF_MEMORY_RANGE
    if number is None or not low <= number <= high:
        raise InputError(f"REPORT_PDF_MEMORY={ascii(value[:40])} is not a memory size: give bytes, from {low} "
                         f"(64 MiB) to {high} (1 PiB), e.g. {3 << 30} for 3 GiB, or unset it")
    return number


def step_summary() -> Path | None:
    """``GITHUB_STEP_SUMMARY``: the file of a GitHub Actions job's summary page, to append summary.md to."""
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


def check() -> None:
    """Every variable the tool reads, checked before any work starts."""
    source_date_epoch()
    pdf_memory()
    step_summary()
    check_tqdm()
