"""Every option's check, shared by the command line (as argparse types) and the Python API (``report.api``).

Each check takes the option as the command line writes it (text) and returns its value, or raises
``argparse.ArgumentTypeError`` with the reason. ``check_option`` runs the same check on a Python value, so that
``report.api.build(seed=-1)`` is refused with the very line ``--seed -1`` gets:
``argument --seed: must be between 0 and 4294967295, got -1``."""

from __future__ import annotations

import argparse
import math
from collections.abc import Iterable
from pathlib import Path

from analysis import devices
from analysis.errors import InputError


def integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def at_least(low: int):
    """A check: a whole number of at least ``low``."""
    def parse(text: str) -> int:
        value = integer(text)
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        return value
    return parse


positive = at_least(1)
non_negative = at_least(0)


def device(text: str) -> str:
    try:
        return devices.check_spec(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def input_size(text: str) -> int:
    from analysis.models.checkpoint_meta import MAX_INPUT_SIZE

    value = positive(text)
    if value > MAX_INPUT_SIZE:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_INPUT_SIZE} pixels per side, got {value}")
    return value


def seed(text: str) -> int:
    value = integer(text)
    if not 0 <= value < 2**32:  # numpy's and scikit-learn's generators take 0 .. 2**32 - 1
        raise argparse.ArgumentTypeError(f"must be between 0 and {2**32 - 1}, got {value}")
    return value


def non_negative_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds, at least 0, got {text}")
    return value


def positive_seconds(text: str) -> float:
    value = non_negative_seconds(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be more than 0 seconds")
    return value


def port(text: str) -> int:
    value = integer(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number between 0 and 65535, got {value}")
    return value


def formats(text: str) -> tuple[str, ...]:
    chosen = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [f for f in chosen if f not in ("html", "pdf")]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"formats are html and pdf (comma-separated), got {text!r}")
    return chosen


def floats(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
    if not all(math.isfinite(v) for v in values):
        raise argparse.ArgumentTypeError(f"expected finite numbers, got {text!r}")
    return values


def positive_floats(text: str) -> tuple[float, ...]:
    values = floats(text)
    if not all(v > 0 for v in values):  # a zero std divides by zero: every input becomes inf or NaN
        raise argparse.ArgumentTypeError(f"every standard deviation must be above 0, got {text!r}")
    return values


def names(text: str) -> tuple[str, ...]:
    values = tuple(part.strip() for part in text.split(","))
    if not all(values):
        raise argparse.ArgumentTypeError(f"a class name is empty in {text!r}: give one name per class, "
                                         "separated by commas")
    if len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"{text!r} repeats a class name: give each class its own name")
    from analysis.models.checkpoint_meta import MAX_NAME_LENGTH

    if any(len(v) > MAX_NAME_LENGTH or not v.isprintable() for v in values):
        raise argparse.ArgumentTypeError(f"class names must be printable and at most {MAX_NAME_LENGTH} characters")
    return values


def sections(text: str) -> tuple[str, ...]:
    from report.render.sections import parse_sections

    try:
        return parse_sections(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


LEVELS = ("warning", "error")  # --fail-on: the least severe alert that fails the run


def level(text: str) -> str:
    if text not in LEVELS:
        raise argparse.ArgumentTypeError(f"give warning or error, got {text!r}")
    return text


# The checks by option (the keyword of report.api and the command line's --flag), for values given as text.
CHECKS = {
    "per_class": positive, "image_index": integer, "max_channels": positive, "input_size": input_size,
    "mean": floats, "std": positive_floats, "class_names": names, "seed": seed, "epochs": positive,
    "device": device, "batch_size": positive, "workers": non_negative, "sections": sections, "formats": formats,
    "wait": non_negative_seconds, "settle": non_negative_seconds, "interval": positive_seconds, "serve": port,
    "max_builds": positive, "timeout": non_negative_seconds, "fail_on": level,
}
FLAGS = {"formats": "--format"}  # keywords whose flag is not --keyword-with-dashes
COMMA_SEPARATED = ("mean", "std", "class_names", "sections", "formats")


def flag(keyword: str) -> str:
    return FLAGS.get(keyword, "--" + keyword.replace("_", "-"))


def as_text(keyword: str, value) -> str:
    """A Python value as the command line would give it: sequences joined by commas where the option is
    comma-separated; booleans are not numbers here (``seed=True`` is refused, not read as 1)."""
    if isinstance(value, bool):
        return repr(value)
    if keyword in COMMA_SEPARATED and isinstance(value, Iterable) and not isinstance(value, str):
        return ",".join(str(v) for v in value)
    if isinstance(value, float) and keyword in ("mean", "std"):
        return repr(value)
    return str(value)


def check_option(keyword: str, value, check=None):
    """``value`` checked as the command line checks ``flag(keyword)`` (or by ``check``, where one keyword has
    other rules in another command); None stays None (the default)."""
    if value is None:
        return None
    try:
        return (check or CHECKS[keyword])(as_text(keyword, value))
    except argparse.ArgumentTypeError as error:
        raise InputError(f"argument {flag(keyword)}: {error}") from None


def words(keyword: str, value) -> tuple[str, ...] | None:
    """A list option (``classes``, ``layers``): one word, or a sequence of them, each as text."""
    if value is None:
        return None
    items = [value] if isinstance(value, (str, int)) else list(value) if isinstance(value, Iterable) else None
    if not items or any(isinstance(v, bool) or not isinstance(v, (str, int)) for v in items):
        raise InputError(f"argument {flag(keyword)}: expected one or more names or numbers, got {value!r}")
    return tuple(str(v) for v in items)


def path(keyword: str, value) -> Path | None:
    if value is None:
        return None
    if not isinstance(value, (str, Path)) or not str(value):
        raise InputError(f"argument {flag(keyword)}: expected a path, got {value!r}")
    return Path(value)
