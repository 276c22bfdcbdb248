"""Integrated Gradients (Sundararajan et al. 2017) through Captum's ``IntegratedGradients``: the gradient of the
class score integrated along the straight path from the baseline image (every pixel the baseline, see
``document.baseline``) to the image, ``context.steps`` Gauss-Legendre points, times the difference to the baseline.
The map is the sum over channels of the positive attributions (each channel's attribution clamped at 0 first): the
evidence *for* the class, as Grad-CAM's ReLU keeps it, so both methods' maps mean the same and the checks compare
like with like (the absolute value would mix in the evidence against it). Works for any differentiable model, CNN
or transformer: it reads only the input pixels."""

from __future__ import annotations

import torch
from captum.attr import IntegratedGradients
from torch import nn

from analysis.attribution.method import Context, Method, Offer
from analysis.capture.trace import Usage
from analysis.store.schema import Trace


def offer(model: nn.Module, traced: Trace, usage: Usage) -> Offer | None:
    return Offer(None)


def raw(model: nn.Module, layer: str | None, images: torch.Tensor, targets: torch.Tensor,
        context: Context) -> torch.Tensor:
    baselines = context.baseline.to(images.device).expand_as(images[:1]).expand_as(images).contiguous()
    attributions = IntegratedGradients(model).attribute(
        images, baselines=baselines, target=targets, n_steps=context.steps,
        internal_batch_size=context.batch_size)
    return attributions.clamp(min=0).sum(1)


METHOD = Method("integrated_gradients", offer, raw)
