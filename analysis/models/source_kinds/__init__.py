"""Kinds of model source, one module each: its ``KIND`` says which source strings it parses (``matches``),
whether a checkpoint may name it (``builtin``), what of it enters the store key beside the string itself
(``code_file``) and which function builds it (``builder``). The registry, in order of parsing, is
``analysis.models.sources.SOURCE_KINDS``: building, the store key and what a checkpoint may name all go
through it.

Adding a source: a module here ending in ``KIND = SourceKind(...)`` and its line in ``SOURCE_KINDS``. Modules
here are torch-free (the store key is computed from them); ``builder`` (and ``expected``) name functions as
``"module:function"``, imported only when a model is built: ``builder(source, kwargs)`` returns the
``nn.Module``, ``expected(source, kwargs)`` what the model expects of its images (``ExpectedInput``), or None;
``recipe(model)`` recognises a model given in memory and returns the ``(source, kwargs)`` that build it again,
or None."""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from pathlib import Path


@dataclasses.dataclass(frozen=True)
class SourceKind:
    """One kind of model source, such as ``torchvision:NAME``."""

    id: str
    form: str  # how the user writes one, for messages: torchvision:NAME
    matches: Callable[[str], bool]  # whether a source string is of this kind
    builtin: bool  # its code ships with this tool or torchvision: naming it imports nothing else
    code_file: Callable[[str], Path | None]  # the file of the model's code, hashed into the store key
    builder: str  # "module:function" building the model: function(source, kwargs) -> nn.Module
    expected: str | None = None  # "module:function": function(source, kwargs) -> ExpectedInput | None
    recipe: str | None = None  # "module:function": function(model) -> (source, kwargs) | None
    # "module:function": function(model, state, path) -> str, loading a checkpoint that may be in the library's own
    # saved layout (transformers renames tensors on saving)
    loader: str = "analysis.models.checkpoint:load_into"
    library: str | None = None  # the distribution that builds its models, whose version the store records

    def build(self, source: str, kwargs: dict):
        return _function(self.builder)(source, kwargs)

    def expected_input(self, source: str, kwargs: dict):
        return _function(self.expected)(source, kwargs) if self.expected else None

    @property
    def own_layout(self) -> bool:
        """Whether its checkpoints may be in its library's saved layout, which only its loader checks."""
        return self.loader != SourceKind.loader

    def load(self, model, state: dict, path: Path) -> str:
        """Load ``state`` (read from ``path``) into ``model``; the prefix taken off its keys ("" for none)."""
        return _function(self.loader)(model, state, path)

    def recipe_of(self, model) -> tuple[str, dict] | None:
        return _function(self.recipe)(model) if self.recipe else None


def _function(reference: str):
    module, _, name = reference.partition(":")
    return getattr(importlib.import_module(module), name)


def no_code_file(source: str) -> Path | None:
    """Code that ships with this tool (hashed with the analysis code) or with torchvision (its version is
    the producer's): nothing more to hash."""
    return None
