"""Which modules the report looks into: activation-map layers and the embedding point."""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from analysis.capture.forward import module_by_name
from analysis.errors import InputError
from analysis.models.hints import hints_of
from analysis.capture.kinds import is_convolution, is_map_convolution
from analysis.store.schema import SILENT_ZERO_TYPES, Trace


@dataclasses.dataclass(frozen=True)
class EmbeddingPoint:
    module: str      # module whose output (or input) is captured
    side: str        # "output" or "input"
    layer: str       # the name the user knows the layer by
    label: str       # how the report describes it
    after_relu: bool = False
    feature_axis: int | None = None  # average over every axis but this one (1: channels of maps, -1: the
                                     # features of a token sequence); None: flatten what is captured


def features(captured: torch.Tensor, point: EmbeddingPoint) -> torch.Tensor:
    """(batch, dimensions) vectors from what was captured at ``point``: averaged over positions (or tokens)
    where the classification step contracts one axis of a larger tensor, else flattened."""
    if point.feature_axis is None or captured.dim() <= 2:
        return captured.flatten(1)
    axis = point.feature_axis % captured.dim()
    others = [d for d in range(1, captured.dim()) if d != axis]
    return captured.mean(dim=others)


MAX_DEFAULT_LAYERS = 24  # beyond this many convolutions, an evenly spaced selection (first and last kept)


def activation_layers(model: nn.Module, requested: tuple[str, ...] | None,
                      ran: frozenset[str] | None = None) -> list[tuple[str, str]]:
    """The layers whose activation maps are shown: those requested, else the model's declared ones, else
    every Conv2d that ran (an evenly spaced selection beyond 24). ``ran``: the modules the traced pass called
    (None: all); a default never names a module that did not run (an auxiliary head in eval mode)."""
    if requested:
        return [(name, f"{name} ({type(module_by_name(model, name)).__name__} output)") for name in requested]
    declared = hints_of(model).map_layers
    if declared is not None:
        return [layer for layer in declared if ran is None or layer[0] in ran]
    convs = all_convolutions(model, ran)
    if len(convs) > MAX_DEFAULT_LAYERS:
        step = (len(convs) - 1) / (MAX_DEFAULT_LAYERS - 1)
        convs = [convs[round(i * step)] for i in range(MAX_DEFAULT_LAYERS)]
    return convs


def all_convolutions(model: nn.Module, ran: frozenset[str] | None = None) -> list[tuple[str, str]]:
    """Every Conv2d that ran, in definition order; none for a network without one (no maps to show)."""
    return [(name, f"{name} (Conv2d output)") for name, m in model.named_modules()
            if is_map_convolution(m) and (ran is None or name in ran)]


SILENT_ZERO = tuple(getattr(nn, name) for name in SILENT_ZERO_TYPES)


def is_activated(model: nn.Module, name: str) -> bool:
    """True when the module's output has passed a ReLU-like activation, one whose output is exactly zero
    wherever the unit is silent (schema.SILENT_ZERO_TYPES): only there is a never-positive map "dead".
    GELU, SiLU, Hardswish and LeakyReLU are activations too, but negative, not zero, where they are silent."""
    module = module_by_name(model, name)
    return isinstance(module, SILENT_ZERO)


def embedding_point(model: nn.Module, requested: str | None, trace: Trace | None = None) -> EmbeddingPoint:
    """Where embeddings are taken: the requested layer, the model's declared one, else the features entering
    the final classification step (found in ``trace``, whatever that step's type: the trace is needed only then)."""
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
    if trace is None:
        raise ValueError("embedding_point needs the shape trace to find the final classification step")
    return final_step_point(model, trace)


def final_step_point(model: nn.Module, trace: Trace) -> EmbeddingPoint:
    """The features entering the last call that multiplies and accumulates (a Linear layer, squeezenet's 1×1
    convolution, the last layer of a head): its input, averaged over positions when it has any. When that
    call is a functional one (``F.linear(x, self.w)``), the output of the last module that finished before it."""
    rows = trace.rows
    final = next((row for row in reversed(rows) if row.macs > 0), None)
    if final is None:
        raise InputError(f"{type(model).__name__} makes no multiply-accumulate operation to classify with, so "
                         "there is no default embedding: choose a layer with --embedding-layer")
    if final.kind == "module":
        shape = final.input_shape or []
        axis = 1 if is_convolution(module_by_name(model, final.name)) else -1
        spread = len(shape) > 1
        where = (f", averaged over its {'×'.join(map(str, shape[1:]))} positions" if spread and axis == 1 else
                 f", averaged over its {shape[0]} tokens" if spread else "")
        return EmbeddingPoint(final.name, "input", f"input of {final.name}",
                              f"features entering {final.name} (its input{where})", feature_axis=axis if spread else None)
    caller = final.caller or ""
    running = {caller, *(caller.rsplit(".", n)[0] for n in range(1, caller.count(".") + 1))} if caller else set()
    finished = [row for row in rows[:rows.index(final)] if row.kind == "module" and row.name not in running]
    if not finished:
        raise InputError(f"{type(model).__name__} classifies with {final.name} before any module has run, so there "
                         "is no default embedding: choose a layer with --embedding-layer")
    last = finished[-1]
    shape = last.output_shape or []
    spread = len(shape) > 1
    return EmbeddingPoint(last.name, "output", last.name,
                          f"{last.name} output, the last module before {final.name}"
                          f"{', averaged over positions' if spread else ''}", feature_axis=1 if spread else None)
