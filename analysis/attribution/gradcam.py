"""Grad-CAM (Selvaraju et al. 2017) through Captum's ``LayerGradCam``: a layer's maps weighted by the class score's
gradient averaged over each map, summed over channels, upsampled to the image with ``LayerAttribution.interpolate``
(bilinear), then ReLU (the evidence for the class). For networks with spatial maps only (CNNs).

The layer read is the last module whose output is image maps, (C, H, W) with 2 ≤ H, W ≤ the image's sides, and
that ends at or after the model's last convolution: the output the classifier head reads (a ResNet's ``layer4``,
the assignment CNN's ``pool2``), where Grad-CAM's averaged gradients are exact for a linear head. A module called
more than once (a ResNet block's shared ReLU) is never chosen: the hook would see several outputs. Not offered
when the model has no convolution, or when a token sequence ((tokens, features) output) follows its last one: a
ViT's only convolution is its patch embedding, whose map knows nothing of the class."""

from __future__ import annotations

from collections import Counter

import torch
from captum.attr import LayerAttribution, LayerGradCam
from torch import nn

from analysis.attribution.method import Context, Method, Offer
from analysis.capture.kinds import is_map_convolution
from analysis.capture.trace import Usage
from analysis.store.schema import Trace, TraceRow

MIN_SIDE = 2  # a map of one pixel (after global pooling) locates nothing


def offer(model: nn.Module, traced: Trace, usage: Usage) -> Offer | None:
    rows = [row for row in traced.rows if row.output_shape is not None]
    modules = [row for row in rows if row.kind == "module" and row.name]
    convolutions = [row for row in modules if row.name in usage.ran and _is_convolution(model, row.name)]
    if not convolutions:
        return None
    last = max(row.order for row in convolutions)
    if any(row.order > last and len(row.output_shape) == 2 and row.output_batch == 0 for row in rows):
        return None
    calls = Counter(row.name for row in modules)
    side = traced.input_shape[-2:]
    ends = _ends(traced.rows)
    candidates = [row for row in modules if calls[row.name] == 1 and row.output_batch == 0
                  and _maps(row.output_shape, side) and ends[row.name] >= last]
    if not candidates:
        return None
    # the latest to finish; of a block and its last child (same output), the block
    chosen = max(candidates, key=lambda row: (ends[row.name], -row.order))
    return Offer(chosen.name)


def readable(model: nn.Module, traced: Trace, names: list[str]) -> list[tuple[str, list[int]]]:
    """Of the modules ``names``, those Grad-CAM can read, with their maps' (H, W): called once, with a map of at
    least MIN_SIDE on each side for output."""
    modules = [row for row in traced.rows if row.kind == "module" and row.name and row.output_shape is not None]
    calls = Counter(row.name for row in modules)
    side = traced.input_shape[-2:]
    out = []
    for name in names:
        row = next((r for r in modules if r.name == name), None)
        if row is not None and calls[name] == 1 and row.output_batch == 0 and _maps(row.output_shape, side):
            out.append((name, list(row.output_shape[1:])))
    return out


def raw(model: nn.Module, layer: str | None, images: torch.Tensor, targets: torch.Tensor,
        context: Context) -> torch.Tensor:
    cam = LayerGradCam(model, model.get_submodule(layer))
    coarse = cam.attribute(images, target=targets, relu_attributions=False)
    fine = LayerAttribution.interpolate(coarse, tuple(images.shape[-2:]), interpolate_mode="bilinear")
    return torch.relu(fine[:, 0])


def _is_convolution(model: nn.Module, name: str) -> bool:
    try:
        return is_map_convolution(model.get_submodule(name))
    except AttributeError:
        return False


def _maps(shape: list[int], side: list[int]) -> bool:
    return (len(shape) == 3 and MIN_SIDE <= shape[1] <= side[0] and MIN_SIDE <= shape[2] <= side[1])


def _ends(rows: list[TraceRow]) -> dict[str, int]:
    """For every module, the order of the last call made while it ran (its own, for a leaf): each call counts for
    the module that made it (a function's caller) and every module above it."""
    ends: dict[str, int] = {}
    for row in rows:
        name = row.name if row.kind == "module" else row.caller
        if name is None:
            continue
        parts = name.split(".") if name else []
        for depth in range(len(parts) + 1):
            ends[".".join(parts[:depth])] = max(ends.get(".".join(parts[:depth]), -1), row.order)
    return ends


METHOD = Method("gradcam", offer, raw)
