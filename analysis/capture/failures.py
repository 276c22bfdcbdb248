"""When a forward pass raises: whose fault it is, and where.

Two kinds of failure look alike from outside and need different fixes. PyTorch refusing the tensor a layer was
given (a size, a shape, a number of channels) means the data do not fit the model: give other data, or resize
them. Anything else raised inside the model (its own ``raise``, a failed assertion, a recursion, an operation
on the wrong device or type) is the model's own failure: fix its forward. The innermost module running when it
was raised is where to look; it is found by the capture itself (every module watched), or, for a pass that
watched only a few, by running the failing batch once more with every module watched.

Whatever the model raises is its failure, also what is no Exception (``sys.exit()`` in a forward, a
GeneratorExit, its own BaseException), except a stop: SIGINT or SIGTERM (``Stopped``) and Ctrl-C end the
command as everywhere else. Running out of memory is neither the data's shape nor the model's code: it has its
own line, with the sizes to lower."""

from __future__ import annotations

import re

import torch
from torch import nn

from analysis.capture import forward as capture
from analysis.errors import InputError
from analysis.stopping import Stopped

# Words of PyTorch's own messages when a tensor does not fit an operation ("mat1 and mat2 shapes cannot be
# multiplied", "Given groups=1, weight of size [...], expected input[...] to have 3 channels", "shape '[-1, 400]'
# is invalid for input of size 784", "The size of tensor a (3) must match the size of tensor b (4)").
MISMATCH = re.compile(r"\bshapes?\b|\bsizes?\b|\bchannels?\b|\bdimensions?\b|\bdims?\b|cannot be multiplied|"
                      r"out of range|out of bounds|non-singleton", re.IGNORECASE)
DETAIL = 200  # characters of the error's own text in the one line
# PyTorch's words when an allocation fails: "DefaultCPUAllocator: can't allocate memory" (Linux), "not enough
# memory" (Windows), "CUDA out of memory", "MPS backend out of memory".
OUT_OF_MEMORY = re.compile(r"can't allocate memory|not enough memory|out of memory", re.IGNORECASE)


def is_stop(error: BaseException) -> bool:
    """A stop signal (SIGINT, SIGTERM) or Ctrl-C: it ends the command, whoever's code was running."""
    return isinstance(error, Stopped) or type(error) is KeyboardInterrupt


def text_of(error: BaseException) -> str:
    """``str(error)``, or "" when the model's exception cannot say what it is (its __str__ raises or returns
    something else than text)."""
    try:
        text = str(error)
    except BaseException as failure:  # noqa: BLE001 - the model's own __str__, whatever it raises
        if is_stop(failure):
            raise
        return ""
    return text if isinstance(text, str) else ""


def is_out_of_memory(error: BaseException) -> bool:
    """True when an allocation failed: Python's MemoryError, or PyTorch's CPU, CUDA or MPS allocator."""
    return isinstance(error, (MemoryError, torch.OutOfMemoryError)) or (
        isinstance(error, RuntimeError) and bool(OUT_OF_MEMORY.search(text_of(error))))


def is_input_mismatch(error: BaseException) -> bool:
    """True when PyTorch refused the size or shape of a tensor it was given."""
    return isinstance(error, (RuntimeError, ValueError, IndexError)) and not isinstance(error, RecursionError) \
        and not is_out_of_memory(error) and bool(MISMATCH.search(text_of(error)))


def is_models_own(error: BaseException) -> bool:
    """Anything the model's forward pass raised, BaseExceptions too (not a stop, not running out of memory,
    not our own refusal)."""
    return not (is_stop(error) or is_out_of_memory(error) or isinstance(error, InputError))


def detail(error: BaseException) -> str:
    """``RuntimeError: boom``: the exception's type and the first line of its text (the type alone when the
    text is empty or cannot be had)."""
    text = (text_of(error).strip().splitlines() or [""])[0][:DETAIL]
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _where(layer: str | None, inside: str) -> str:
    if layer:
        return f"{inside} layer '{layer}'"
    return "in its own forward, outside its layers" if layer == "" else "in its forward"


def model_failed(error: BaseException, layer: str | None, during: str = "") -> str:
    """The one line for the model's own failure. ``layer``: the innermost module running when it was raised
    ("" for the model's own forward, None when unknown); ``during``: what the analysis was doing."""
    return f"the model failed {_where(layer, 'inside')} ({detail(error)}){during}: fix the model's forward"


def out_of_memory(error: BaseException, layer: str | None, during: str = "") -> str:
    """The one line for a forward pass that ran out of memory: the sizes that make it smaller, or more memory."""
    return (f"the model ran out of memory {_where(layer, 'in')} ({detail(error)}){during}: give a smaller "
            "--input-size or --batch-size, or use a machine with more memory")


def refusal(error: BaseException, layer: str | None, during: str = "") -> InputError | None:
    """The InputError that says whose fault ``error`` is, or None for what is no failure of the model's (a stop,
    our own refusal) and for PyTorch refusing a tensor's shape (the caller knows the data's)."""
    if is_out_of_memory(error):
        return InputError(out_of_memory(error, layer, during))
    if is_models_own(error) and not is_input_mismatch(error):
        return InputError(model_failed(error, layer, during))
    return None


def locate(model: nn.Module, batch) -> str | None:
    """The innermost module running when ``model(batch)`` raises, found by running it once more with every
    module watched; None when it does not raise again (a failure that depends on more than its input)."""
    recording = capture.forward(model)
    try:
        with recording:
            model(batch)
    except BaseException as error:  # noqa: BLE001 - the same failure again, now located
        if is_stop(error):
            raise
        return recording.failed_in
    return None


def run_model(model: nn.Module, batch, during: str = ""):
    """``model(batch)``; a failure of the model's own code, or running out of memory, becomes InputError naming
    the innermost layer where it was raised (every pass over the data runs the model through here or through a
    recording)."""
    try:
        return model(batch)
    except BaseException as error:  # noqa: BLE001 - sys.exit() in a forward is the model's failure too
        if not (is_models_own(error) or is_out_of_memory(error)):
            raise
        line = out_of_memory if is_out_of_memory(error) else model_failed
        raise InputError(line(error, locate(model, batch), during)) from None
