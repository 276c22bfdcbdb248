"""Capture module outputs for chosen inputs, and summarise activation maps."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from analysis.errors import InputError

NEAR_ZERO_FRACTION = 0.05  # a map whose peak is under 5% of the grid's peak counts as near-zero


def module_by_name(model: nn.Module, name: str) -> nn.Module:
    modules = dict(model.named_modules())
    if name not in modules or not name:
        known = ", ".join(n for n in modules if n)
        raise InputError(f"unknown layer {name!r}: the model's layers are {known}")
    return modules[name]


@torch.no_grad()
def capture(model: nn.Module, x: torch.Tensor, names: list[str]) -> tuple[dict[str, np.ndarray], torch.Tensor]:
    """Outputs of the named modules for input ``x`` (cloned: in-place ops cannot alter them)."""
    captured: dict[str, np.ndarray] = {}
    handles = [module_by_name(model, name).register_forward_hook(
        lambda m, i, out, n=name: captured.__setitem__(n, out.detach().clone().numpy()))
        for name in names]
    was_training = model.training
    model.eval()
    try:
        logits = model(x)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return captured, logits


def map_statistics(maps: np.ndarray) -> dict:
    """Per-channel peak, mean and share of zero pixels for (C, H, W) maps; dead = all zero."""
    peaks = maps.reshape(len(maps), -1).max(axis=1)
    means = maps.reshape(len(maps), -1).mean(axis=1)
    zero_share = (maps.reshape(len(maps), -1) == 0).mean(axis=1)
    scale_max = float(maps.max()) if maps.size else 0.0
    dead = [int(i) for i in np.flatnonzero(peaks <= 0)]
    near_zero = [int(i) for i in np.flatnonzero((peaks > 0) & (peaks < NEAR_ZERO_FRACTION * scale_max))]
    return {
        "shape": list(maps.shape), "vmin": float(min(0.0, maps.min())), "vmax": scale_max,
        "channel_peak": peaks, "channel_mean": means, "channel_zero_share": zero_share,
        "dead_channels": dead, "near_zero_channels": near_zero, "near_zero_threshold": NEAR_ZERO_FRACTION,
        "zero_share": float((maps == 0).mean()),
    }
