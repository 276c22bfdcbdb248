"""Shape trace: every module call in execution order, recorded with forward hooks."""

from __future__ import annotations

import math

import torch
from torch import nn

from analysis.capture import forward as capture
from analysis.errors import InputError
from analysis.models.kinds import is_convolution
from analysis.store.schema import Trace, TraceRow

GEOMETRY_ATTRS = ("kernel_size", "stride", "padding", "dilation", "in_features", "out_features",
                  "in_channels", "out_channels", "start_dim", "end_dim")


def _shape(value) -> list[int] | None:
    tensor = capture.first_tensor(value)
    return None if tensor is None else list(tensor.shape[1:])


def _geometry(module: nn.Module) -> dict:
    out = {}
    for attr in GEOMETRY_ATTRS:
        value = getattr(module, attr, None)
        if isinstance(value, (int, tuple)) and not isinstance(value, bool):
            out[attr] = list(value) if isinstance(value, tuple) else value
    return out


def multiply_accumulates(module: nn.Module, output_shape: list[int] | None) -> int:
    """Per-sample MACs of a convolution or linear layer; 0 for every other module."""
    if output_shape is None:
        return 0
    outputs = math.prod(output_shape)
    if isinstance(module, nn.modules.conv._ConvNd):
        return outputs * (module.in_channels // module.groups) * math.prod(module.kernel_size)
    if isinstance(module, nn.Linear):
        return outputs * module.in_features
    return 0


SHAPES = capture.Probe(inputs=_shape, output=_shape)  # shapes only: nothing of the activations is kept


def _row(call: capture.Call) -> TraceRow:
    module, output_shape = call.module, call.output
    return TraceRow(order=call.order, name=call.name, type=type(module).__name__, depth=call.name.count(".") + 1,
                    is_leaf=not any(True for _ in module.children()), input_shape=call.inputs,
                    output_shape=output_shape, params=sum(p.numel() for p in module.parameters(recurse=False)),
                    geometry=_geometry(module), macs=multiply_accumulates(module, output_shape))


def trace_shapes(model: nn.Module, example: torch.Tensor) -> Trace:
    """Run one forward pass on ``example`` (batch of 1) and record every module call."""
    recording = capture.forward(model, {name: SHAPES for name, _ in model.named_modules() if name})
    try:
        with recording:
            output = model(example)
    except Exception as error:  # report how far the forward pass got
        shape = "×".join(map(str, example.shape[1:]))
        raise InputError(f"the model cannot take the data's {shape} images: the forward pass failed at layer "
                         f"{recording.reached or '(no layer)'} ({str(error).splitlines()[0][:200]}); give data "
                         "of the size the model expects (--input-size for image folders)") from None
    rows = [_row(call) for call in recording.calls]
    if not isinstance(output, torch.Tensor):
        raise InputError(f"the model's forward pass returns {type(output).__name__}, not a tensor of class scores: "
                         "give a classifier whose forward pass returns (batch, classes) logits")
    return Trace(batch_size=int(example.shape[0]), input_shape=list(example.shape[1:]),
                 output_shape=list(output.shape[1:]), rows=rows,
                 total_macs=sum(row.macs for row in rows if row.is_leaf),
                 functional_note="Forward hooks see modules only; functional calls such as F.relu are not rows.")


def kernel_shapes(model: nn.Module) -> list[dict]:
    return [{"name": name, "type": type(m).__name__, "shape": list(m.weight.shape), "groups": m.groups}
            for name, m in model.named_modules()
            if is_convolution(m) and isinstance(m.weight, torch.Tensor)]
