"""Shape trace: every module call and functional call in execution order, with their MACs."""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from analysis.capture import failures, operations
from analysis.capture import forward as capture
from analysis.capture.nesting import room_for
from analysis.models import outputs
from analysis.errors import InputError
from analysis.models.kinds import is_convolution
from analysis.store.schema import Trace, TraceRow, UncountedOp

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


SHAPES = capture.Probe(inputs=_shape, output=_shape)  # shapes only: nothing of the activations is kept

FUNCTIONAL_NOTE = ("Functional calls (such as F.relu, torch.flatten, a residual addition or an attention matmul) "
                   "are rows too, under the module whose forward made them; those made inside torch.nn's own "
                   "modules are those modules' implementation and are not listed.")


@dataclasses.dataclass(frozen=True)
class Usage:
    """What the traced pass ran, beyond the stored trace: modules called and parameter storages read."""

    ran: frozenset[str]           # names of the modules called at least once
    storages: frozenset[int]      # storages of every tensor an operation read


def _module_row(call: capture.Call, order: int) -> TraceRow:
    module = call.module
    return TraceRow(order=order, name=call.name, type=type(module).__name__, depth=call.name.count(".") + 1,
                    is_leaf=not any(True for _ in module.children()), input_shape=call.inputs,
                    output_shape=call.output, params=sum(p.numel() for p in module.parameters(recurse=False)),
                    geometry=_geometry(module), macs=call.macs)


def _function_row(call: capture.Call, order: int) -> TraceRow:
    depth = call.name.count(".") + 2 if call.name else 1
    return TraceRow(order=order, name=call.function, type="function", depth=depth, is_leaf=True,
                    input_shape=call.inputs, output_shape=call.output, params=0, geometry={}, macs=call.macs,
                    kind="function", caller=call.name)


def _uncounted(usage: operations.Usage) -> list[UncountedOp]:
    return [UncountedOp(op=op, where=where, calls=calls) for (op, where), calls in sorted(usage.uncounted.items())]


def _where(reached: str | None) -> str:
    if reached is None:
        return "layer (no layer)"
    return reached if reached.startswith(("F.", "torch.", "Tensor.", "operator ")) else f"layer {reached}"


def trace_shapes(model: nn.Module, example: torch.Tensor) -> tuple[Trace, Usage]:
    """Run one forward pass on ``example`` (batch of 1): every module call and functional call, with
    MACs counted at the dispatch level (analysis.capture.operations)."""
    with room_for(model):  # walking a deeply nested model's modules recurses as deep (InputError beyond the limit)
        recording = capture.forward(model, {name: SHAPES for name, _ in model.named_modules() if name})
    try:
        with recording, operations.watch(recording) as usage:
            output = model(example)
    except BaseException as error:  # noqa: BLE001 - report how far the forward pass got, and whose fault it is
        if isinstance(error, InputError) or failures.is_stop(error):
            raise
        refusal = failures.refusal(error, recording.failed_in)
        if refusal is not None:
            raise refusal from None
        shape = "×".join(map(str, example.shape[1:]))
        raise InputError(f"the model cannot take the data's {shape} images: the forward pass failed at "
                         f"{_where(recording.reached)} ({(failures.text_of(error).splitlines() or [''])[0][:200]}); "
                         "give data of the size the model expects (--input-size for image folders)") from None
    rows = [_function_row(call, i) if call.function else _module_row(call, i) for i, call in enumerate(recording.calls)]
    logits, taken = outputs.logits_of(output)
    if logits is None:
        raise InputError(f"the model's forward pass returns {type(output).__name__}, not a tensor of class scores: "
                         "give a classifier whose forward pass returns (batch, classes) logits")
    check_scores_dtype(logits)
    trace = Trace(batch_size=int(example.shape[0]), input_shape=list(example.shape[1:]),
                  output_shape=list(logits.shape[1:]), rows=rows,
                  total_macs=sum(row.macs for row in rows) + usage.unattributed_macs,
                  functional_note=FUNCTIONAL_NOTE, counting="dispatch", uncounted=_uncounted(usage),
                  unattributed_macs=usage.unattributed_macs, output_taken=taken)
    ran = frozenset(call.name for call in recording.calls if not call.function)
    return trace, Usage(ran=ran, storages=frozenset(s for s in usage.storages if s is not None))


def check_scores_dtype(logits: torch.Tensor) -> None:
    """Scores that are not floats (integer class votes, complex numbers) have no softmax or argmax to rank
    them: refused once, after the first forward pass, instead of failing in every statistic after it."""
    if not logits.is_floating_point():
        dtype = str(logits.dtype).removeprefix("torch.")
        raise InputError(f"the model's scores are {dtype}, not floating-point logits: return the scores of each "
                         "class as floats")


def kernel_shapes(model: nn.Module) -> list[dict]:
    return [{"name": name, "type": type(m).__name__, "shape": list(m.weight.shape), "groups": m.groups}
            for name, m in model.named_modules()
            if is_convolution(m) and isinstance(m.weight, torch.Tensor)]
