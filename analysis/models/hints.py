"""How the report presents a model, declared by the model itself.

A model class may carry ``report_hints = ModelHints(...)``: the layers its figures show and what to call
them. Every field left as None falls back to the generic rule in ``analysis.models.layers`` (every
convolution, the input of the last linear layer, the top-level children). The assignment's CNN declares
its hints in ``analysis.models.assignment``; a user's class may do the same. Nothing else in the analysis
asks which class a model is.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from analysis.errors import InputError

Layers = tuple[tuple[str, str], ...]  # (module name, how the report describes what it shows)


@dataclasses.dataclass(frozen=True)
class ModelHints:
    map_layers: Layers | None = None      # activation maps shown by default
    filter_layers: Layers | None = None   # filter statistics over the whole split
    depth_layers: Layers | None = None    # separation measured layer by layer
    embedding_layer: str | None = None    # the default embedding layer (a name the user knows)
    activation_of: Mapping[str, str] = dataclasses.field(default_factory=dict)
    """layer -> the module whose output is that layer after its activation (e.g. fc2 -> relu4): an
    embedding or map of the layer is taken there and described as "after ReLU"."""


def hints_of(model) -> ModelHints:
    """The model's declared hints, or the generic defaults."""
    hints = getattr(type(model), "report_hints", None)
    if hints is None:
        return ModelHints()
    if not isinstance(hints, ModelHints):
        raise InputError(f"{type(model).__name__}.report_hints is a {type(hints).__name__}, not "
                         "analysis.models.hints.ModelHints: declare it as ModelHints(...) or remove it")
    return hints
