"""What an attribution method is (one registry entry, ``methods.METHODS``) and what every method shares: maps are
numpy (N, H, W) float32 of the image's size, scaled to [0, 1] per image."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from analysis.capture.trace import Usage
from analysis.errors import InputError
from analysis.store.schema import Trace


# What torch says when the scores do not depend on what is differentiated (a forward pass that detaches its input)
NO_GRADIENT = ("does not require grad", "appears to not have been used in the graph")


@dataclasses.dataclass(frozen=True)
class Context:
    """What a method needs beyond the model and the images: the baseline a removed pixel becomes (normalised,
    (C, 1, 1)), the integration steps, and how many images (or integration points) go through the model at once."""

    baseline: torch.Tensor
    steps: int
    batch_size: int


@dataclasses.dataclass(frozen=True)
class Offer:
    """A method offered for a model: the layer it reads (None: the input pixels)."""

    layer: str | None


@dataclasses.dataclass(frozen=True)
class Method:
    """``offer(model, traced, usage)``: whether the method applies to the model (None: not offered) and the layer
    it reads; ``raw(model, layer, images, targets, context)``: the unscaled maps (N, H, W) of the normalised
    ``images`` for the classes ``targets``, as a tensor on the images' device."""

    id: str
    offer: Callable[[nn.Module, Trace, Usage], Offer | None]
    raw: Callable[[nn.Module, str | None, torch.Tensor, torch.Tensor, Context], torch.Tensor]


def maps(method: Method, model: nn.Module, layer: str | None, images: torch.Tensor, targets: torch.Tensor,
         context: Context) -> np.ndarray:
    """The method's maps of ``images`` for ``targets``, scaled per image to [0, 1] (0 where a map is all zero or
    negative), ``context.batch_size`` images at a time. Gradients are switched on here: the analysis may run
    under no_grad, and the maps are gradients."""
    out = []
    with torch.enable_grad():
        for start in range(0, len(images), context.batch_size):
            part = slice(start, start + context.batch_size)
            try:
                out.append(scaled(method.raw(model, layer, images[part], targets[part], context)))
            except RuntimeError as error:
                if not any(sign in str(error) for sign in NO_GRADIENT):
                    raise
                read = f"layer {layer}" if layer else "its input"
                raise InputError(f"the model's class scores have no gradient with respect to {read} (its forward "
                                 "pass detaches it or runs without gradients), so it has no attribution maps: "
                                 "leave the attribution section out of --sections") from None
    return np.concatenate(out) if out else np.zeros((0, *images.shape[2:]), dtype=np.float32)


def scaled(raw: torch.Tensor) -> np.ndarray:
    """Each map divided by its maximum (non-finite values, from non-finite weights, count as 0)."""
    values = torch.nan_to_num(raw.detach().to(torch.float64), nan=0.0, posinf=0.0, neginf=0.0).clamp(min=0)
    top = values.flatten(1).max(1).values.view(-1, 1, 1)
    return torch.where(top > 0, values / torch.where(top > 0, top, 1.0), 0.0).cpu().numpy().astype(np.float32)
