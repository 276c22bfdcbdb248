"""Turning digit arrays into model inputs, and batched predictions."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from analysis import progress


def to_input(images: np.ndarray, mean, std) -> torch.Tensor:
    """uint8 (N, C, H, W) -> float32 in [0, 1], normalised per channel."""
    x = torch.from_numpy(np.asarray(images, dtype=np.float32) / 255.0)
    mean = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
    return (x - mean) / std


@torch.no_grad()
def predict_logits(model: nn.Module, x: torch.Tensor, batch_size: int = 1000,
                   what: str = "predicting", show_progress: bool = True) -> torch.Tensor:
    was_training = model.training
    model.eval()
    try:
        return torch.cat([model(x[i:i + batch_size])
                          for i in progress.batches(len(x), batch_size, what, show_progress)])
    finally:
        model.train(was_training)


def accuracy(logits: torch.Tensor, labels: np.ndarray) -> float:
    return float((logits.argmax(1).numpy() == labels).mean())
