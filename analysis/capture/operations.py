"""What a forward pass computes below the modules: functional calls, and multiply-accumulates counted where
PyTorch dispatches its operations.

    recording = capture.forward(model, probes)
    with recording, operations.watch(recording) as ops:
        model(x)
    ops.uncounted          # operations that ran without a counting formula, and where
    call.macs              # per recorded call: MACs counted while it was the innermost call running

Two interception points, both PyTorch's own:

- **Functional calls** (``F.relu``, ``torch.flatten``, ``x + y``, ``q @ k.transpose(-2, -1)``,
  ``F.scaled_dot_product_attention``...) are seen through a ``TorchFunctionMode`` and recorded as calls of the
  module whose forward made them. Calls made inside ``torch.nn``'s own modules are those modules'
  implementation (``nn.Conv2d`` calls ``F.conv2d``), so they are not recorded; calls that return no tensor
  (``x.size()``, ``x.shape``) are not either. A functional call's own internals are not seen separately.
- **MACs** come from ``torch.utils.flop_counter.FlopCounterMode``, PyTorch's maintained counter, at the
  dispatch level: convolutions, matrix products (mm, addmm, bmm, baddbmm), attention and everything that
  decomposes into them are counted, wherever they are called from. It reports FLOPs; one MAC is two FLOPs.
  Each count goes to the innermost recorded call running at that moment.

On the CPU, PyTorch's fused attention kernels have no counting formula, so inside ``watch`` attention runs
on the math backend (``sdpa_kernel(MATH)``) and ``nn.MultiheadAttention``'s fast path is off: the same
numbers, computed by matrix products the counter sees. Any other compute-heavy operation that still runs
without a formula is listed in ``uncounted`` rather than silently counted as zero.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import sys
from collections import Counter
from typing import Any

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.nn.parameter import is_lazy
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten
from torch.utils.flop_counter import FlopCounterMode

from analysis.capture.forward import Call, Recording, first_tensor

# Operations that do the heavy arithmetic of a network: one of these without a formula is a hole in the count.
HEAVY = re.compile(r"conv|mm|matmul|linear|attention|einsum|lstm|gru|rnn|transformer|tensordot|fft|bilinear")

OPERATORS = {"__add__": "+", "__radd__": "+", "__iadd__": "+=", "__sub__": "−", "__rsub__": "−", "__isub__": "−=",
             "__mul__": "×", "__rmul__": "×", "__imul__": "×=", "__truediv__": "/", "__rtruediv__": "/",
             "__itruediv__": "/=", "__matmul__": "@", "__rmatmul__": "@", "__neg__": "−x", "__pow__": "**",
             "__getitem__": "[…]", "__setitem__": "[…] =", "__and__": "&", "__or__": "|", "__eq__": "==",
             "__ne__": "!=", "__lt__": "<", "__le__": "<=", "__gt__": ">", "__ge__": ">="}


def label(func: Any) -> str:
    """How a functional call is named in the trace: F.relu, torch.flatten, Tensor.view, operator +."""
    name = getattr(func, "__name__", None) or type(func).__name__
    if name == "__get__":  # a Tensor property (x.T, x.mT): the descriptor carries the name
        return f"Tensor.{getattr(getattr(func, '__self__', None), '__name__', 'property')}"
    if name in OPERATORS:
        return f"operator {OPERATORS[name]}"
    qualname = getattr(func, "__qualname__", "") or ""
    module = getattr(func, "__module__", None) or ""
    if qualname.startswith(("TensorBase.", "Tensor.", "_TensorBase.")):
        return f"Tensor.{name}"
    if module.startswith(("torch.nn.functional", "torch._C._nn")):  # F.linear and F.scaled_dot_product_attention
                                                                     # are builtins of torch._C._nn
        return f"F.{name}"
    if qualname.startswith("_VariableFunctionsClass.") or module in ("torch", "torch.functional", ""):
        return f"torch.{name}"
    return f"{module}.{name}"


def _shape(value: Any) -> list[int] | None:
    """The whole shape of the first tensor ``value`` holds, the batch included (the trace tells which
    dimension is the batch: analysis.capture.trace)."""
    tensor = first_tensor(value)
    if tensor is None and isinstance(value, (tuple, list)):
        tensor = next((v for v in value if isinstance(v, torch.Tensor)), None)
    return None if tensor is None else list(tensor.shape)


ARGUMENTS_SHOWN = 80  # characters of a functional call's written arguments kept


def _written(value: Any) -> str:
    """A non-tensor argument as it would be written in Python: numbers, None, slices and sequences of them;
    any other object by its type (nothing of it is executed or asked for more than its class)."""
    if isinstance(value, torch.Tensor):
        return "tensor"
    if value is None or value is Ellipsis or isinstance(value, (bool, int)):
        return "..." if value is Ellipsis else str(value)
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, str):
        return repr(value[:40])
    if isinstance(value, slice):
        parts = ["" if v is None else _written(v) for v in (value.start, value.stop, value.step)]
        return ":".join(parts[:2] if value.step is None else parts)
    if isinstance(value, (tuple, list, torch.Size)):
        inner = ", ".join(_written(v) for v in value)
        return f"({inner}{',' if len(value) == 1 else ''})" if isinstance(value, (tuple, torch.Size)) else f"[{inner}]"
    if isinstance(value, torch.dtype):
        return str(value)
    return type(value).__name__


def arguments(func: Any, args: tuple, kwargs: dict) -> str:
    """How a functional call was written, tensors left out: ``[:, 0]`` for an index, ``(2, 0, 3, 1, 4)`` for a
    permute, ``dim=1`` for a keyword (the sentences about indexing and reordering quote it)."""
    name = getattr(func, "__name__", "")
    if name in ("__getitem__", "__setitem__") and len(args) > 1:
        index = args[1] if isinstance(args[1], tuple) else (args[1],)
        text = "[" + ", ".join(_written(v) for v in index) + "]"
    else:
        rest = [a for a in args if not isinstance(a, torch.Tensor)]
        if len(rest) == 1 and isinstance(rest[0], (tuple, list, torch.Size)):  # x.permute((2, 0, 1))
            rest = list(rest[0])
        parts = [_written(a) for a in rest] + [f"{k}={_written(v)}" for k, v in kwargs.items()]
        text = "(" + ", ".join(parts) + ")" if parts else ""
    return text if len(text) <= ARGUMENTS_SHOWN else text[:ARGUMENTS_SHOWN - 1] + "…"


def _is_torch_nn(module: torch.nn.Module) -> bool:
    return type(module).__module__.startswith("torch.")


def _initialising(func, tensors: list[torch.Tensor]) -> bool:
    """A lazy layer giving itself its parameters on its first call (materialising them, then torch.nn.init):
    part of building the model, not of what its forward pass computes."""
    return getattr(func, "__module__", None) == "torch.nn.init" or any(is_lazy(t) for t in tensors)


class FunctionCalls(TorchFunctionMode):
    """Records functional calls into a ``Recording`` as calls of the module that made them (see above)."""

    def __init__(self, recording: Recording):
        super().__init__()
        self.recording = recording

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.recording.probing:  # the recording's own probes reading a shape or taking a copy
            return func(*args, **kwargs)
        caller = self.recording.innermost_module()
        if caller is not None and _is_torch_nn(caller.module):
            return func(*args, **kwargs)
        tensors = [a for a in tree_flatten((args, kwargs))[0] if isinstance(a, torch.Tensor)]
        if not tensors or _initialising(func, tensors):
            return func(*args, **kwargs)
        name = caller.name if caller is not None else ""
        module = caller.module if caller is not None else self.recording.model
        call = Call(order=self.recording.next_order(), name=name, module=module,
                    depth=self.recording.open_calls(), repeat=0, inputs=list(tensors[0].shape),
                    function=label(func), arguments=arguments(func, args, kwargs))
        self.recording.start(call)
        self.recording.observe_start(call, tensors)
        try:
            output = func(*args, **kwargs)
        except BaseException:
            self.recording.fail(call)
            raise
        if not any(isinstance(v, torch.Tensor) for v in tree_flatten(output)[0]):
            self.recording.discard(call)  # x.size(), x.shape, x.dim(): no tensor made, not a row
            return output
        self.recording.finish(call, _shape(output))
        self.recording.observe_finish(call, [v for v in tree_flatten(output)[0] if isinstance(v, torch.Tensor)])
        return output


@dataclasses.dataclass
class Usage:
    """What one watched pass used: operations without a counting formula, MACs made outside every
    recorded call, and the storages of the tensors the operations read (to tell which parameters ran)."""

    uncounted: Counter = dataclasses.field(default_factory=Counter)   # (operation, where) -> calls
    unattributed_macs: int = 0
    storages: set[int] = dataclasses.field(default_factory=set)


def storage_of(tensor: torch.Tensor) -> int | None:
    try:
        return tensor.untyped_storage().data_ptr()
    except (RuntimeError, NotImplementedError):  # tensors without storage (wrapper subclasses)
        return None


class MacCounter(FlopCounterMode):
    """FlopCounterMode whose counts go to the innermost recorded call, halved into MACs."""

    def __init__(self, recording: Recording, usage: Usage):
        super().__init__(display=False)
        self.recording, self.usage = recording, usage

    def _count_flops(self, func_packet, out, args, kwargs):
        for value in tree_flatten((args, kwargs))[0]:
            if isinstance(value, torch.Tensor):
                self.usage.storages.add(storage_of(value))
        call = self.recording.innermost()
        formula = self.flop_registry.get(func_packet)
        if formula is None:
            if HEAVY.search(str(func_packet)):
                where = call.function or call.name if call is not None else ""
                self.usage.uncounted[(str(func_packet), where)] += 1
            return out
        macs = formula(*args, **kwargs, out_val=out) // 2
        if call is None:
            self.usage.unattributed_macs += macs
        else:
            call.macs += macs
        return out


def _without_compiler_import() -> None:
    """Keep the counter from importing torch's compiler (``torch._dynamo``, 1.5 s on 2 cores) for nothing.

    PyTorch wraps every dispatch mode's ``__torch_dispatch__`` so that ``torch.compile`` never traces
    into it, and the wrapper imports ``torch._dynamo`` on its first call to build that guard. A process
    that has not imported the compiler is not compiling, so the guard is moot: seeding the wrapper's
    cache with the plain function saves the import on every run (a refused option included). Where the
    compiler is already loaded (a training script using ``torch.compile``), PyTorch's guard stays."""
    from torch.utils.flop_counter import _FlopCounterMode

    wrapped = getattr(_FlopCounterMode.__dict__.get("__torch_dispatch__"), "__wrapped__", None)
    if wrapped is not None and "torch._dynamo" not in sys.modules and not hasattr(wrapped, "__dynamo_disable"):
        setattr(wrapped, "__dynamo_disable", wrapped)


@contextlib.contextmanager
def watch(recording: Recording, count: bool = True):
    """Inside an entered ``recording``: record functional calls and count MACs (see the module's text).
    ``count=False`` records the calls only, on the same code paths (a pass that only reads shapes)."""
    _without_compiler_import()
    usage = Usage()
    fast_path = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with contextlib.ExitStack() as stack:
            stack.enter_context(sdpa_kernel(SDPBackend.MATH))
            if count:
                stack.enter_context(MacCounter(recording, usage))
            stack.enter_context(FunctionCalls(recording))
            yield usage
    finally:
        torch.backends.mha.set_fastpath_enabled(fast_path)
