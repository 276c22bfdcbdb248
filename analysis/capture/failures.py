"""When a forward pass raises: whose fault it is, and where.

Two kinds of failure look alike from outside and need different fixes. PyTorch refusing the tensor a layer was
given (a size, a shape, a number of channels) means the data do not fit the model: give other data, or resize
them. Anything else raised inside the model (its own ``raise``, a failed assertion, a recursion, an operation
on the wrong device or type) is the model's own failure: fix its forward. The innermost module running when it
was raised is where to look; it is found by the capture itself (every module watched), or, for a pass that
watched only a few, by running the failing batch once more with every module watched."""

from __future__ import annotations

import re

import torch
from torch import nn

from analysis.capture import forward as capture
from analysis.errors import InputError

# Words of PyTorch's own messages when a tensor does not fit an operation ("mat1 and mat2 shapes cannot be
# multiplied", "Given groups=1, weight of size [...], expected input[...] to have 3 channels", "shape '[-1, 400]'
# is invalid for input of size 784", "The size of tensor a (3) must match the size of tensor b (4)").
MISMATCH = re.compile(r"\bshapes?\b|\bsizes?\b|\bchannels?\b|\bdimensions?\b|\bdims?\b|cannot be multiplied|"
                      r"out of range|out of bounds|non-singleton", re.IGNORECASE)
DETAIL = 200  # characters of the error's own text in the one line


def is_input_mismatch(error: BaseException) -> bool:
    """True when PyTorch refused the size or shape of a tensor it was given."""
    return isinstance(error, (RuntimeError, ValueError, IndexError)) and not isinstance(error, RecursionError) \
        and bool(MISMATCH.search(str(error)))


def is_models_own(error: BaseException) -> bool:
    """An exception of the model's forward pass (not running out of memory, not our own refusal)."""
    return isinstance(error, Exception) and not isinstance(error, (InputError, MemoryError, torch.OutOfMemoryError))


def detail(error: BaseException) -> str:
    """``RuntimeError: boom``: the exception's type and the first line of its text."""
    text = (str(error).strip().splitlines() or [""])[0][:DETAIL]
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def model_failed(error: BaseException, layer: str | None, during: str = "") -> str:
    """The one line for the model's own failure. ``layer``: the innermost module running when it was raised
    ("" for the model's own forward, None when unknown); ``during``: what the analysis was doing."""
    if layer:
        where = f"inside layer '{layer}'"
    elif layer == "":
        where = "in its own forward, outside its layers"
    else:
        where = "in its forward"
    return f"the model failed {where} ({detail(error)}){during}: fix the model's forward"


def locate(model: nn.Module, batch) -> str | None:
    """The innermost module running when ``model(batch)`` raises, found by running it once more with every
    module watched; None when it does not raise again (a failure that depends on more than its input)."""
    recording = capture.forward(model)
    try:
        with recording:
            model(batch)
    except Exception:  # noqa: BLE001 - the same failure again, now located
        return recording.failed_in
    return None


def run_model(model: nn.Module, batch, during: str = ""):
    """``model(batch)``; a failure of the model's own code becomes InputError naming the innermost layer where it
    was raised (every pass over the data runs the model through here or through a recording)."""
    try:
        return model(batch)
    except Exception as error:
        if not is_models_own(error):
            raise
        raise InputError(model_failed(error, locate(model, batch), during)) from None
