"""Record types shared by the writer (analysis) and the reader (report): defined once, torch-free."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class LayerParams:
    """Parameters of one module that owns some (its own, not its children's)."""

    name: str
    type: str
    weight_shape: list[int] | None
    bias_shape: list[int] | None
    weights: int
    biases: int
    other: int            # parameters other than weight and bias
    total: int            # counted here: a tensor shared with an earlier layer counts 0
    trainable: int
    formula: str          # e.g. "32·1·3·3 + 32"
    shared_with: list[str]  # owners of tensors this layer shares (counted there, not here)
    aliases: list[str] = dataclasses.field(default_factory=list)  # other names of this same module


@dataclasses.dataclass
class TraceRow:
    """One module call of the forward pass, in execution order."""

    order: int
    name: str
    type: str
    depth: int
    is_leaf: bool
    input_shape: list[int] | None    # without the batch dimension
    output_shape: list[int] | None   # without the batch dimension
    params: int                      # this module's own parameters
    geometry: dict                   # kernel, stride, padding... where the module has them
    macs: int = 0                    # multiply-accumulates of this call, per sample (Conv and Linear only)
