"""Shape trace: every module call and functional call in execution order, with their MACs."""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from analysis.capture import dataflow, failures, operations
from analysis.capture import forward as capture
from analysis.capture.nesting import room_for
from analysis.capture import outputs
from analysis.errors import InputError
from analysis.capture.kinds import is_convolution
from analysis.store.schema import Trace, TraceRow, UncountedOp

GEOMETRY_ATTRS = ("kernel_size", "stride", "padding", "dilation", "in_features", "out_features",
                  "in_channels", "out_channels", "start_dim", "end_dim")


def _shape(value) -> list[int] | None:
    """The whole shape of the first tensor, the batch included: which dimension is the batch is found after
    the pass (``batch_dimension``)."""
    tensor = capture.first_tensor(value)
    return None if tensor is None else list(tensor.shape)


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


SECOND_BATCH = 2  # the batch size of the pass that tells which dimension is the batch (the trace's own is 1)


def batch_dimension(one: list[int] | None, two: list[int] | None) -> int | None:
    """Which dimension of a tensor is the batch, from its shape in a pass of one image (``one``) and in a pass
    of SECOND_BATCH (``two``): the single dimension that is 1 there and SECOND_BATCH here. None where no
    dimension is the batch alone: none changes (a parameter, a constant), one grows by more (the batch folded
    into another dimension, as reshape(B * N, C) does), or the shapes differ in rank (x.squeeze() at batch 1)."""
    if one is None or two is None or len(one) != len(two):
        return None
    changed = [i for i, (a, b) in enumerate(zip(one, two)) if a != b]
    if len(changed) == 1 and one[changed[0]] == 1 and two[changed[0]] == SECOND_BATCH:
        return changed[0]
    return None


def _without(shape: list[int] | None, batch: int | None) -> list[int] | None:
    return shape if shape is None or batch is None else shape[:batch] + shape[batch + 1:]


def _flow(call: capture.Call) -> dict:
    return {"source": call.source, "source_tensor": call.source_tensor, "parameters": list(call.parameters)}


def _module_row(call: capture.Call, order: int, batches: tuple[int | None, int | None], inside: bool) -> TraceRow:
    """``inside``: whether any recorded call ran inside this one. The trace's leaves are the calls with none
    inside: a module whose children never run (nn.MultiheadAttention reads its out_proj's weights itself) is
    one, a module without children whose forward makes functional calls (torchvision's Permute) is not."""
    module = call.module
    return TraceRow(order=order, name=call.name, type=type(module).__name__, depth=call.name.count(".") + 1,
                    is_leaf=not inside,
                    input_shape=_without(call.inputs, batches[0]),
                    output_shape=_without(call.output, batches[1]),
                    params=sum(p.numel() for p in module.parameters(recurse=False)),
                    geometry=_geometry(module), macs=call.macs, input_batch=batches[0], output_batch=batches[1],
                    **_flow(call))


def _function_row(call: capture.Call, order: int, batches: tuple[int | None, int | None]) -> TraceRow:
    depth = call.name.count(".") + 2 if call.name else 1
    return TraceRow(order=order, name=call.function, type="function", depth=depth, is_leaf=True,
                    input_shape=_without(call.inputs, batches[0]), output_shape=_without(call.output, batches[1]),
                    params=0, geometry={}, macs=call.macs, kind="function", caller=call.name,
                    input_batch=batches[0], output_batch=batches[1], arguments=call.arguments, **_flow(call))


def _batches(calls: list[capture.Call], second: list[capture.Call] | None) -> list[tuple[int | None, int | None]]:
    """For each call, which dimension of its input and of its output is the batch (``batch_dimension``), from the
    calls of a second pass over SECOND_BATCH copies of the example. Where that pass failed (None) or took another
    path (a model whose code depends on the batch size), no dimension is known: the trace shows full shapes
    rather than guess that the first is the batch."""
    if second is None or [(c.name, c.function) for c in second] != [(c.name, c.function) for c in calls]:
        return [(None, None)] * len(calls)
    return [(batch_dimension(a.inputs, b.inputs), batch_dimension(a.output, b.output)) for a, b in zip(calls, second)]


def _second_pass(recording: capture.Recording, model: nn.Module, example: torch.Tensor) -> list[capture.Call] | None:
    """Inside the entered ``recording``, after the first pass was drained: the calls of a pass over SECOND_BATCH
    copies of ``example``, shapes only (no MACs, no data flow); None when it fails (the first pass ran: this one
    only tells which dimension is the batch)."""
    batch = example.expand(SECOND_BATCH, *example.shape[1:]).clone()  # made before the watch: not the model's call
    recording.observer = None
    try:
        with operations.watch(recording, count=False):
            model(batch)
    except BaseException as error:  # noqa: BLE001 - any failure of this pass only leaves the batch unknown
        if failures.is_stop(error):
            raise
        return None
    return recording.calls


def _uncounted(usage: operations.Usage) -> list[UncountedOp]:
    return [UncountedOp(op=op, where=where, calls=calls) for (op, where), calls in sorted(usage.uncounted.items())]


def _where(reached: str | None) -> str:
    if reached is None:
        return "layer (no layer)"
    return reached if reached.startswith(("F.", "torch.", "Tensor.", "operator ")) else f"layer {reached}"


def trace_shapes(model: nn.Module, example: torch.Tensor) -> tuple[Trace, Usage]:
    """Run one forward pass on ``example`` (batch of 1): every module call and functional call, with
    MACs counted at the dispatch level (analysis.capture.operations), which call made each one's input
    (analysis.capture.dataflow), and which dimension of each shape is the batch (``_batches``)."""
    with room_for(model):  # walking a deeply nested model's modules recurses as deep (InputError beyond the limit)
        recording = capture.forward(model, {name: SHAPES for name, _ in model.named_modules() if name})
    recording.observer = dataflow.Follow(model, recording.modules, example)
    try:
        with recording:  # one block for both passes: the model is walked once to watch it
            with operations.watch(recording) as usage:
                output = model(example)
            # the first pass's calls, kept apart (not drain(): a module whose exception the model caught is
            # still open, and that is no reason to refuse the model)
            calls, recording.calls = recording.calls, []
            second = _second_pass(recording, model, example)
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
    batches = _batches(calls, second)
    inside = [i + 1 < len(calls) and calls[i + 1].depth > call.depth for i, call in enumerate(calls)]
    rows = [_function_row(call, i, batch) if call.function else _module_row(call, i, batch, inside[i])
            for i, (call, batch) in enumerate(zip(calls, batches))]
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
    ran = frozenset(call.name for call in calls if not call.function)
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
