"""Model sources as strings, torch-free: parsing them and finding a user model's file."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from analysis.errors import InputError

DEFAULT_SOURCE = "assignment"


def parse_kwargs(text: str | None) -> dict:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError as error:
        raise InputError(f"--model-kwargs is not valid JSON ({error}): give an object such as "
                         "'{\"num_classes\": 10}'") from None
    if not isinstance(value, dict):
        raise InputError("--model-kwargs must be a JSON object such as '{\"num_classes\": 10}'")
    return value


def user_model_file(source: str) -> Path | None:
    """The source file of a ``package.module:Class`` model, found without importing it."""
    if source == DEFAULT_SOURCE or source.startswith("torchvision:"):
        return None
    parts = source.partition(":")[0].split(".")
    for base in [Path.cwd(), *map(Path, sys.path)]:
        for candidate in (base.joinpath(*parts).with_suffix(".py"), base.joinpath(*parts, "__init__.py")):
            if candidate.is_file():
                return candidate
    return None
