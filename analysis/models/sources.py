"""Model sources as strings, torch-free: the registry of their kinds (analysis.models.source_kinds), deciding
which one a run uses, and finding a user model's file."""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from pathlib import Path

from analysis.errors import InputError
from analysis.models.source_kinds import (SourceKind, assignment, huggingface, timm_model, torchvision_model,
                                          user_class)
from analysis.models.source_kinds.assignment import DEFAULT_SOURCE  # noqa: F401  used from here

# In order of parsing: the first kind that matches a source string is its kind; the last takes any string.
SOURCE_KINDS: tuple[SourceKind, ...] = (
    assignment.KIND,
    torchvision_model.KIND,
    timm_model.KIND,
    huggingface.KIND,
    user_class.KIND,
)


def kind_of(source: str) -> SourceKind:
    return next(kind for kind in SOURCE_KINDS if kind.matches(source))


def forms() -> str:
    """How each kind of source is written: ``assignment, torchvision:NAME or package.module:Class``."""
    written = [kind.form for kind in SOURCE_KINDS]
    return f"{', '.join(written[:-1])} or {written[-1]}" if len(written) > 1 else written[0]


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


def recipe_of(model) -> tuple[str, dict] | None:
    """The ``(source, kwargs)`` that build a model given in memory again, from the first kind that recognises it
    (timm, transformers); None when none does (its class is then its source)."""
    for kind in SOURCE_KINDS:
        found = kind.recipe_of(model)
        if found is not None:
            return found
    return None


def is_builtin(source: str) -> bool:
    """Sources whose code ships with this tool or torchvision: naming one imports nothing else.
    (analysis.models.build builds ``torchvision:NAME`` only from torchvision's own model registry.)"""
    return kind_of(source).builtin


def resolve_source(option_source: str | None, option_kwargs: str | None, meta_model_config: Mapping | None,
                   checkpoint: Path | str | None) -> tuple[str, dict]:
    """The model source and constructor arguments of a run: the options first, then the checkpoint's
    ``model_config`` (already checked by analysis.models.checkpoint_meta), then the assignment CNN.

    A checkpoint is data from anywhere, so it may only name a built-in source: a ``package.module:Class``
    would import, that is run, code from the working folder or sys.path. Such a source is used only when
    the user names it with --model; the message says exactly what to add."""
    if option_kwargs is not None and not option_source:
        raise InputError(f"--model-kwargs needs --model: add --model SOURCE ({forms()}) to say which model the "
                         "arguments are for")
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
    """The file of the model's code that enters the store key (a ``package.module:Class`` model's, found
    without importing it). Only for a source the user named with --model (the store key's inputs pass
    config.model): never one from a checkpoint."""
    return kind_of(source).code_file(source)
