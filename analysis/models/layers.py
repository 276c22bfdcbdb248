"""Which modules the report looks into: activation-map layers and the embedding point."""

from __future__ import annotations

import dataclasses

from torch import nn

from analysis.capture.forward import module_by_name
from analysis.errors import InputError
from analysis.models.assignment import ACTIVATION_OF, AssignmentCNN

ASSIGNMENT_GRIDS = (  # (module captured, what it shows): the assignment's four figures
    ("relu1", "conv1 after ReLU"),
    ("pool1", "conv1 after ReLU and 2×2 max pooling"),
    ("relu2", "conv2 after ReLU"),
    ("pool2", "conv2 after ReLU and 2×2 max pooling"),
)


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
    if isinstance(model, AssignmentCNN):
        return list(ASSIGNMENT_GRIDS)
    convs = all_convolutions(model)
    if len(convs) > MAX_DEFAULT_LAYERS:
        step = (len(convs) - 1) / (MAX_DEFAULT_LAYERS - 1)
        convs = [convs[round(i * step)] for i in range(MAX_DEFAULT_LAYERS)]
    return convs


def all_convolutions(model: nn.Module) -> list[tuple[str, str]]:
    convs = [(name, f"{name} (Conv2d output)") for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise InputError(f"{type(model).__name__} has no Conv2d layer: choose layers with --layers")
    return convs


def is_activated(model: nn.Module, name: str) -> bool:
    """True when the module's output has passed a ReLU-like activation (so zero means silent)."""
    module = module_by_name(model, name)
    return isinstance(module, (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.GELU, nn.SiLU, nn.Hardswish))


def embedding_point(model: nn.Module, requested: str | None) -> EmbeddingPoint:
    if isinstance(model, AssignmentCNN):
        layer = requested or "fc2"
        if layer in ACTIVATION_OF:
            module = ACTIVATION_OF[layer]
            activated = module != layer
            return EmbeddingPoint(module, "output", layer, f"{layer} after ReLU" if activated else f"{layer} output",
                                  activated)
    if requested:
        module_by_name(model, requested)
        return EmbeddingPoint(requested, "output", requested, f"{requested} output")
    linears = [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise InputError(f"{type(model).__name__} has no Linear layer to take features from: "
                         "choose one with --embedding-layer")
    last = linears[-1]
    return EmbeddingPoint(last, "input", f"input of {last}", f"features entering {last} (its input)")
