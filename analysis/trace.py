"""Shape trace: every module call in execution order, recorded with forward hooks."""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from analysis.errors import InputError
from analysis.records import TraceRow

GEOMETRY_ATTRS = ("kernel_size", "stride", "padding", "dilation", "in_features", "out_features",
                  "in_channels", "out_channels", "start_dim", "end_dim")


def _shape(value) -> list[int] | None:
    if isinstance(value, torch.Tensor):
        return list(value.shape[1:])
    if isinstance(value, (tuple, list)) and value and isinstance(value[0], torch.Tensor):
        return list(value[0].shape[1:])
    return None


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


def trace_shapes(model: nn.Module, example: torch.Tensor) -> dict:
    """Run one forward pass on ``example`` (batch of 1) and record every module call."""
    rows: list[TraceRow] = []
    open_rows: dict[int, list[TraceRow]] = {}
    handles = []

    def before(module, inputs, name=None):
        row = TraceRow(order=len(rows), name=name, type=type(module).__name__, depth=name.count(".") + 1,
                       is_leaf=not any(True for _ in module.children()), input_shape=_shape(inputs),
                       output_shape=None, params=sum(p.numel() for p in module.parameters(recurse=False)),
                       geometry=_geometry(module))
        rows.append(row)
        open_rows.setdefault(id(module), []).append(row)

    def after(module, inputs, output):
        row = open_rows[id(module)].pop()
        row.output_shape = _shape(output)
        row.macs = multiply_accumulates(module, row.output_shape)

    for name, module in model.named_modules():
        if name:
            handles.append(module.register_forward_pre_hook(lambda m, i, n=name: before(m, i, n)))
            handles.append(module.register_forward_hook(after))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            output = model(example)
    except Exception as error:  # report how far the forward pass got
        reached = rows[-1].name if rows else "(no layer)"
        shape = "×".join(map(str, example.shape[1:]))
        raise InputError(f"the model cannot take the data's {shape} images: the forward pass failed at layer "
                         f"{reached} ({str(error).splitlines()[0][:200]}); give data of the size the model "
                         "expects (--input-size for image folders)") from None
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    if not isinstance(output, torch.Tensor):
        raise InputError(f"the model's forward pass returns {type(output).__name__}, not a tensor of class scores: "
                         "give a classifier whose forward pass returns (batch, classes) logits")
    return {
        "batch_size": int(example.shape[0]),
        "input_shape": list(example.shape[1:]),
        "output_shape": list(output.shape[1:]),
        "rows": [dataclasses.asdict(row) for row in rows],
        "total_macs": sum(row.macs for row in rows if row.is_leaf),
        "functional_note": "Forward hooks see modules only; functional calls such as F.relu are not rows.",
    }


def kernel_shapes(model: nn.Module) -> list[dict]:
    return [{"name": name, "type": type(m).__name__, "shape": list(m.weight.shape), "groups": m.groups}
            for name, m in model.named_modules()
            if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)) and isinstance(m.weight, torch.Tensor)]
