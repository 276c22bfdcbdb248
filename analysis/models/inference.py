"""Turning digit arrays into model inputs, and batched predictions."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn



def to_input(images: np.ndarray, mean, std) -> torch.Tensor:
    """uint8 (N, C, H, W) -> float32 in [0, 1], normalised per channel."""
    x = torch.from_numpy(np.asarray(images, dtype=np.float32) / 255.0)
    mean = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
    return (x - mean) / std


@torch.no_grad()
def predict_logits(model: nn.Module, x, what: str = "predicting", show_progress: bool = True) -> torch.Tensor:
    """The model's outputs for every image of ``x`` (Inputs, or a normalised tensor), on the CPU."""
    from analysis.batches import as_inputs
    from analysis.capture.failures import run_model
    from analysis.capture.nesting import room_for
    from analysis.rows import RowBuffer

    was_training = model.training
    model.eval()
    inputs = as_inputs(x)
    outputs = RowBuffer(len(inputs))  # one block: a tensor kept per batch would fragment the heap
    try:
        with room_for(model):
            for batch in inputs.batches(what, show_progress):
                outputs.append(run_model(model, batch, f" while {what}").detach().cpu())
        return outputs.result()
    finally:
        model.train(was_training)


def accuracy(logits: torch.Tensor, labels: np.ndarray) -> float:
    return float((logits.argmax(1).numpy() == labels).mean())


def top_predictions(logits: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Each image's predicted class (the arg max of its scores) and its confidence, the largest softmax
    probability (computed in float64: float32 rounds confident predictions to exactly 1). A row with NaN or
    infinite scores has no meaningful confidence: NaN."""
    scores = logits.detach().to(torch.float64)
    confidence = torch.softmax(scores, dim=1).max(dim=1).values
    confidence[~torch.isfinite(scores).all(1)] = float("nan")
    return logits.argmax(1).numpy(), confidence.numpy()
