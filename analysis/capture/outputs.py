"""The class scores in what a model's forward pass returns.

A classifier returns a (batch, classes) tensor. Some return more: torchvision's GoogLeNet and Inception v3
return named tuples with the auxiliary heads' scores in training mode, Hugging Face models return an output
object with a ``logits`` field, others a plain tuple (logits, features). The report reads the logits and
says where it took them from.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def logits_of(output: Any) -> tuple[torch.Tensor | None, str | None]:
    """The logits in ``output`` and how they were found (None: ``output`` is the logits tensor itself);
    (None, None) when there are none to be found."""
    if isinstance(output, torch.Tensor):
        return output, None
    kind = type(output).__name__
    logits = getattr(output, "logits", None)
    if isinstance(logits, torch.Tensor):
        return logits, f"its logits field (the forward pass returns a {kind})"
    if isinstance(output, dict) and isinstance(output.get("logits"), torch.Tensor):
        return output["logits"], f"its 'logits' entry (the forward pass returns a {kind})"
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0], f"its first element (the forward pass returns a {kind} of {len(output)})"
    return None, None


def take_logits(model: nn.Module) -> None:
    """Make ``model(x)`` return the logits alone, for every later pass: a forward hook on the model that
    replaces its output (the state dict and the module names stay as they are)."""
    model.register_forward_hook(lambda _module, _args, output: logits_of(output)[0])
