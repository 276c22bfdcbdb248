"""Model sources as strings, torch-free: parsing them, deciding which one a run uses, and finding a user
model's file."""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Mapping
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


def is_builtin(source: str) -> bool:
    """Sources whose code ships with this tool or torchvision: naming one imports nothing else.
    (analysis.models.build builds ``torchvision:NAME`` only from torchvision's own model registry.)"""
    return source == DEFAULT_SOURCE or source.startswith("torchvision:")


def resolve_source(option_source: str | None, option_kwargs: str | None, meta_model_config: Mapping | None,
                   checkpoint: Path | str | None) -> tuple[str, dict]:
    """The model source and constructor arguments of a run: the options first, then the checkpoint's
    ``model_config`` (already checked by analysis.models.checkpoint_meta), then the assignment CNN.

    A checkpoint is data from anywhere, so it may only name a built-in source: a ``package.module:Class``
    would import, that is run, code from the working folder or sys.path. Such a source is used only when
    the user names it with --model; the message says exactly what to add."""
    if option_kwargs is not None and not option_source:
        raise InputError("--model-kwargs needs --model: add --model SOURCE (assignment, torchvision:NAME or "
                         "package.module:Class) to say which model the arguments are for")
    if option_source:
        return option_source, parse_kwargs(option_kwargs)
    stored = meta_model_config or {}
    source, kwargs = stored.get("source"), dict(stored.get("kwargs") or {})
    if source is None:
        if kwargs:
            raise InputError(f"checkpoint {checkpoint} gives model_config.kwargs but no model_config.source: "
                             f"add --model SOURCE --model-kwargs {shlex.quote(json.dumps(kwargs))}")
        return DEFAULT_SOURCE, {}
    if is_builtin(source):
        return source, kwargs
    needed = f"--model {shlex.quote(source)}"
    if kwargs:
        needed += f" --model-kwargs {shlex.quote(json.dumps(kwargs))}"
    raise InputError(f"checkpoint {checkpoint} names the model {source}, which would import code from your "
                     f"working folder or Python path: add {needed} to allow it")


def user_model_file(source: str) -> Path | None:
    """The source file of a ``package.module:Class`` model, found without importing it. Only for a source
    the user named with --model (analysis.store.fingerprint passes config.model): never one from a checkpoint."""
    if is_builtin(source):
        return None
    if source.partition(":")[0] == "__main__":  # the running script's (a training callback's report process)
        main = getattr(sys.modules.get("__main__"), "__file__", None)
        return Path(main) if main and Path(main).is_file() else None
    parts = source.partition(":")[0].split(".")
    for base in [Path.cwd(), *map(Path, sys.path)]:
        for candidate in (base.joinpath(*parts).with_suffix(".py"), base.joinpath(*parts, "__init__.py")):
            if candidate.is_file():
                return candidate
    return None
