"""Which modules the report looks into: activation-map layers and the embedding point."""

from __future__ import annotations

import dataclasses

from torch import nn

from analysis.capture.forward import module_by_name
from analysis.errors import InputError
from analysis.models.hints import hints_of
from analysis.models.kinds import is_activation, is_linear, is_map_convolution


@dataclasses.dataclass(frozen=True)
class EmbeddingPoint:
    module: str      # module whose output (or input) is captured
    side: str        # "output" or "input"
    layer: str       # the name the user knows the layer by
    label: str       # how the report describes it
    after_relu: bool = False


MAX_DEFAULT_LAYERS = 24  # beyond this many convolutions, an evenly spaced selection (first and last kept)


def activation_layers(model: nn.Module, requested: tuple[str, ...] | None) -> list[tuple[str, str]]:
    if requested:
        return [(name, f"{name} ({type(module_by_name(model, name)).__name__} output)") for name in requested]
    declared = hints_of(model).map_layers
    if declared is not None:
        return list(declared)
    convs = all_convolutions(model)
    if len(convs) > MAX_DEFAULT_LAYERS:
        step = (len(convs) - 1) / (MAX_DEFAULT_LAYERS - 1)
        convs = [convs[round(i * step)] for i in range(MAX_DEFAULT_LAYERS)]
    return convs


def all_convolutions(model: nn.Module) -> list[tuple[str, str]]:
    convs = [(name, f"{name} (Conv2d output)") for name, m in model.named_modules() if is_map_convolution(m)]
    if not convs:
        raise InputError(f"{type(model).__name__} has no Conv2d layer: choose layers with --layers")
    return convs


def is_activated(model: nn.Module, name: str) -> bool:
    """True when the module's output has passed a ReLU-like activation (so zero means silent)."""
    module = module_by_name(model, name)
    return is_activation(module)


def embedding_point(model: nn.Module, requested: str | None) -> EmbeddingPoint:
    hints = hints_of(model)
    layer = requested or hints.embedding_layer
    if layer is not None and layer in hints.activation_of:
        module = hints.activation_of[layer]
        activated = module != layer
        return EmbeddingPoint(module, "output", layer, f"{layer} after ReLU" if activated else f"{layer} output",
                              activated)
    if layer is not None:
        module_by_name(model, layer)
        return EmbeddingPoint(layer, "output", layer, f"{layer} output")
    linears = [name for name, m in model.named_modules() if is_linear(m)]
    if not linears:
        raise InputError(f"{type(model).__name__} has no Linear layer to take features from: "
                         "choose one with --embedding-layer")
    last = linears[-1]
    return EmbeddingPoint(last, "input", f"input of {last}", f"features entering {last} (its input)")
