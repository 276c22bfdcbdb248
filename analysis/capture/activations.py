"""Capture module outputs for chosen inputs, and summarise activation maps."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from analysis.capture.failures import run_model
from analysis.capture.forward import INPUT, OUTPUT, first_tensor, forward
from analysis.errors import InputError

NEAR_ZERO_FRACTION = 0.05  # a map whose peak is under 5% of the grid's peak counts as near-zero


def _first_tensor(value) -> torch.Tensor:
    tensor = first_tensor(value)
    if tensor is None:
        raise InputError("a captured layer produced no tensor: choose another layer")
    return tensor


def capture(model: nn.Module, x: torch.Tensor, names: list[str],
            inputs_of: tuple[str, ...] = ()) -> tuple[dict[str, np.ndarray], torch.Tensor]:
    """Outputs of the named modules (inputs, for those in ``inputs_of``) for ``x``, and the model's output.

    Copied at hook time, so a later in-place operation (ReLU(inplace=True)) cannot alter them; a module
    called more than once gives its first call (the policies of analysis.capture.forward)."""
    recording = forward(model, {name: INPUT if name in inputs_of else OUTPUT for name in names})
    with recording:
        logits = run_model(model, x)
    return {call.name: _first_tensor(call.inputs if call.name in inputs_of else call.output).cpu().numpy()
            for call in recording.calls if call.repeat == 0}, logits.cpu()


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
