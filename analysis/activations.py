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


def _first_tensor(value) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (tuple, list)) and value and isinstance(value[0], torch.Tensor):
        return value[0]
    raise InputError("a captured layer produced no tensor: choose another layer")


@torch.no_grad()
def capture(model: nn.Module, x: torch.Tensor, names: list[str],
            inputs_of: tuple[str, ...] = ()) -> tuple[dict[str, np.ndarray], torch.Tensor]:
    """Outputs of the named modules (inputs, for those in ``inputs_of``) for ``x``.

    Cloned at once, so a later in-place operation (ReLU(inplace=True)) cannot alter them.
    A module called more than once keeps its first call.
    """
    captured: dict[str, np.ndarray] = {}

    def keep(name, value):
        if name not in captured:
            captured[name] = _first_tensor(value).detach().clone().numpy()

    handles = []
    for name in names:
        module = module_by_name(model, name)
        if name in inputs_of:
            handles.append(module.register_forward_pre_hook(lambda m, i, n=name: keep(n, i)))
        else:
            handles.append(module.register_forward_hook(lambda m, i, out, n=name: keep(n, out)))
    was_training = model.training
    model.eval()
    try:
        logits = model(x)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return captured, logits


def top_channels(maps: np.ndarray, limit: int) -> list[int]:
    """All channels, or the ``limit`` with the highest mean activation, in channel order."""
    if len(maps) <= limit:
        return list(range(len(maps)))
    means = maps.reshape(len(maps), -1).mean(axis=1)
    order = np.argsort(-means, kind="stable")[:limit]
    return sorted(int(i) for i in order)


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
