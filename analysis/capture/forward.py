"""One way to watch a forward pass: which watched modules ran, in what order and nesting, and what they took
and gave.

    recording = capture.forward(model, {"fc3": capture.INPUT, "relu1": capture.OUTPUT})
    with recording:
        logits = model(x)
    recording.first("relu1").output      # a detached copy, taken when relu1 returned

Policies, the same for every caller (the shape trace, the activation maps, the embeddings, the whole-split
passes):

- Every call is recorded, in the order the calls started: a module called more than once (a shared ReLU or
  pooling layer) gives one ``Call`` per call, numbered by ``repeat``. Callers choose: ``first(name)`` (what
  the report shows for a shared module) or ``of(name)`` (all calls, in order).
- What is kept of a call is what its probe's functions return, and they run at hook time: ``snapshot``
  (the default) keeps a detached clone, so an operation that later changes the tensor in place
  (``ReLU(inplace=True)`` after a convolution, or a module that overwrites its own input) cannot alter what
  was captured. A probe function that keeps anything else must reduce or copy the live tensor before it
  returns (a shape, statistics, ``flatten(1).clone()``), never hold on to it.
- Inside the ``with`` block the model is in eval mode and gradients are off; on leaving it, also by an
  exception, every hook is removed and every module's own training flag is restored (a model that had some
  submodules in eval mode and others in training mode gets exactly that back).
- A module watched under two names (an alias) is recorded once per name. Two recordings may watch the same
  model at once (``with a, b:``): each has its own hooks, and the flags come back in reverse order.
- Calls accumulate over the passes run inside the block; ``drain()`` hands them over and forgets them, so a
  pass over many batches holds one batch's worth at a time.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch import nn

from analysis.capture.nesting import room_for
from analysis.errors import InputError


def module_by_name(model: nn.Module, name: str) -> nn.Module:
    return modules_by_name(model, [name])[name]


def modules_by_name(model: nn.Module, names: Iterable[str]) -> dict[str, nn.Module]:
    """The named modules of ``model``, from one walk over its modules (a walk per name would make watching
    every module of a large model quadratic in its size); an unknown name raises InputError."""
    modules = dict(model.named_modules())
    found = {}
    for name in names:
        if name not in modules or not name:
            known = ", ".join(n for n in modules if n)
            raise InputError(f"unknown layer {name!r}: the model's layers are {known}")
        found[name] = modules[name]
    return found


def snapshot(value: Any) -> Any:
    """A detached clone of every tensor in ``value`` (tuples, lists and dicts walked); other values as they are."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a named tuple
        return type(value)(*(snapshot(v) for v in value))
    if isinstance(value, (tuple, list)):
        return (tuple if isinstance(value, tuple) else list)(snapshot(v) for v in value)
    if isinstance(value, dict):
        return {k: snapshot(v) for k, v in value.items()}
    return value


def tensors_in(value: Any) -> list[torch.Tensor]:
    """Every tensor in ``value``, in order, tuples, lists and dicts walked (a dict by its values)."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in tensors_in(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in tensors_in(v)]
    return []


def first_tensor(value: Any) -> torch.Tensor | None:
    """The tensor itself, or the first element of a tuple or list when it is one; else None."""
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (tuple, list)) and value and isinstance(value[0], torch.Tensor):
        return value[0]
    return None


@dataclasses.dataclass(frozen=True)
class Probe:
    """What to keep of each call of one module: ``inputs`` is applied to the positional arguments (a tuple)
    before the module runs, ``output`` to what it returns; None keeps nothing of that side (the call itself
    is still recorded)."""

    inputs: Callable[[tuple], Any] | None = None
    output: Callable[[Any], Any] | None = snapshot


OUTPUT = Probe()                                  # a detached copy of the output
INPUT = Probe(inputs=snapshot, output=None)       # a detached copy of the positional arguments
CALLS = Probe(output=None)                        # only that, when and how deep the module ran


@dataclasses.dataclass(eq=False)  # a call is itself: lists of calls are searched by identity, never field by field
class Call:
    """One call of a watched module."""

    order: int            # position among the recorded calls, in the order they started
    name: str
    module: nn.Module
    depth: int            # recorded calls still running when this one started (0: called by no watched module)
    repeat: int           # earlier calls recorded under this name (0: the first call)
    inputs: Any = None    # what the probe kept of the positional arguments
    output: Any = None    # what the probe kept of the output
    finished: bool = False  # False: the forward pass failed inside this call
    function: str | None = None  # a functional call (analysis.capture.operations): its label; ``name`` and
                                 # ``module`` are then the module whose forward made it ("" and the model: its own)
    macs: int = 0         # multiply-accumulates counted while this call was the innermost one running
    arguments: str = ""   # a functional call's arguments other than tensors, as written (``[:, 0]``, ``(2, 0, 1)``)
    source: int | None = None  # with an observer that follows the data (analysis.capture.dataflow): the order of
                               # the call whose output is this call's first tensor input (-1: the pass's input)
    source_tensor: str | None = None   # ... or the parameter or buffer that input is, by name
    parameters: tuple[str, ...] = ()   # parameters and buffers among its tensor inputs, by name


class Observer:
    """Sees the tensors of every recorded call while they are alive (``Recording.observer``): what the call
    took (``started``) and gave (``finished``), flattened out of tuples, lists and dicts. Its methods run as
    probes do, so the tensor operations they make are not recorded as the model's."""

    def started(self, call: Call, tensors: list[torch.Tensor]) -> None:
        pass

    def finished(self, call: Call, tensors: list[torch.Tensor]) -> None:
        pass


class Recording:
    """The context manager ``forward`` returns; its calls stay readable after the ``with`` block, also
    after an exception (``reached`` tells how far the pass got)."""

    def __init__(self, model: nn.Module, probes: Mapping[str, Probe]):
        self.model = model
        self.probes = dict(probes)
        self.modules = modules_by_name(model, self.probes)  # unknown names fail here
        self.calls: list[Call] = []
        self._open: list[Call] = []
        self._counts: dict[str, int] = {}
        self._exit: contextlib.ExitStack | None = None
        self._probing = 0       # > 0 while a probe runs: its own tensor operations are not the model's
        self.observer: Observer | None = None  # sees each call's tensors (analysis.capture.dataflow)
        self.failed_in: str | None = None  # the innermost watched module running when the pass raised
                                           # ("" for the model's own forward, outside every watched module)

    # -- reading -------------------------------------------------------------------------------------------
    def of(self, name: str) -> list[Call]:
        """Every recorded call of ``name``, in order."""
        return [call for call in self.calls if call.name == name]

    def first(self, name: str) -> Call | None:
        return next((call for call in self.calls if call.name == name), None)

    @property
    def reached(self) -> str | None:
        """The watched module (or functional call, named after its module) that started last: where a
        failed forward pass got to."""
        if not self.calls:
            return None
        last = self.calls[-1]
        if last.function is None:
            return last.name
        return f"{last.function}, called by {f'layer {last.name}' if last.name else type(self.model).__name__}"

    def drain(self) -> list[Call]:
        """The calls recorded so far, forgotten here (between the batches of a long pass: memory stays that
        of one batch, and ``order`` and ``repeat`` start again from 0)."""
        if self._open:
            raise RuntimeError("drain() while a watched module is still running")
        calls, self.calls, self._counts = self.calls, [], {}
        return calls

    def innermost(self) -> Call | None:
        """The recorded call running now (a module's, or a functional call's); None outside every one."""
        return self._open[-1] if self._open else None

    def innermost_module(self) -> Call | None:
        """The innermost running call of a watched module."""
        return next((call for call in reversed(self._open) if call.function is None), None)

    @property
    def probing(self) -> bool:
        """True while a probe function runs (analysis.capture.operations does not record its operations)."""
        return self._probing > 0

    def _probe(self, function: Callable[[Any], Any], value: Any) -> Any:
        self._probing += 1
        try:
            return function(value)
        finally:
            self._probing -= 1

    def observe_start(self, call: Call, value: Any) -> None:
        """Show the observer (if any) the tensors in ``value``, which ``call`` takes."""
        if self.observer is not None:
            self._probe(lambda v: self.observer.started(call, tensors_in(v)), value)

    def observe_finish(self, call: Call, value: Any) -> None:
        """Show the observer (if any) the tensors in ``value``, which ``call`` returned."""
        if self.observer is not None:
            self._probe(lambda v: self.observer.finished(call, tensors_in(v)), value)

    # -- hooks ---------------------------------------------------------------------------------------------
    def _before(self, name: str, args: tuple) -> None:
        probe = self.probes[name]
        repeat = self._counts.get(name, 0)
        self._counts[name] = repeat + 1
        call = Call(order=len(self.calls), name=name, module=self.modules[name], depth=len(self._open),
                    repeat=repeat, inputs=self._probe(probe.inputs, args) if probe.inputs else None)
        self.start(call)
        self.observe_start(call, args)

    def start(self, call: Call) -> None:
        """Record ``call`` as started now (the hooks, and the functional-call recorder, come here)."""
        self.calls.append(call)
        self._open.append(call)

    def next_order(self) -> int:
        return len(self.calls)

    def open_calls(self) -> int:
        return len(self._open)

    def _after(self, name: str, output: Any) -> None:
        # The latest open call of this module, searched from the innermost: normally the last one, so a deep
        # nesting costs nothing per call; a module that calls itself closes inside out.
        index = next((i for i in range(len(self._open) - 1, -1, -1)
                      if self._open[i].name == name and self._open[i].function is None), None)
        if index is None:  # the call began before the hooks were registered
            return
        call = self._open.pop(index)
        probe = self.probes[name]
        call.output = self._probe(probe.output, output) if probe.output else None
        call.finished = True
        self.observe_finish(call, output)

    def finish(self, call: Call, output: Any) -> None:
        """A call started with ``start`` returned ``output`` (already reduced)."""
        _remove_latest(self._open, call)
        call.output, call.finished = output, True

    def fail(self, call: Call) -> None:
        """A call started with ``start`` raised: it stays recorded, unfinished (``reached`` names it)."""
        _remove_latest(self._open, call)

    def discard(self, call: Call) -> None:
        """A call started with ``start`` turned out not to be worth a record."""
        _remove_latest(self._open, call)
        _remove_latest(self.calls, call)

    # -- context -------------------------------------------------------------------------------------------
    def __enter__(self) -> Recording:
        if self._exit is not None:
            raise RuntimeError("this recording is already watching a forward pass")
        stack = contextlib.ExitStack()
        try:
            stack.enter_context(room_for(self.model))  # a deeply nested model runs here as it runs without hooks
            stack.callback(_restore_flags, self.model, [(m, m.training) for m in self.model.modules()])
            stack.callback(self._open.clear)
            for name, module in self.modules.items():
                stack.callback(module.register_forward_pre_hook(
                    lambda _m, args, n=name: self._before(n, args)).remove)
                stack.callback(module.register_forward_hook(
                    lambda _m, _args, output, n=name: self._after(n, output)).remove)
            self.model.eval()
            stack.enter_context(torch.no_grad())
        except BaseException:
            stack.close()
            raise
        self._exit = stack
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if error is not None:
            innermost = self.innermost_module()
            self.failed_in = innermost.name if innermost is not None else ""
        stack, self._exit = self._exit, None
        stack.close()  # grad mode as it was, hooks removed, training flags restored (in that order)


def _remove_latest(calls: list[Call], call: Call) -> None:
    """Remove ``call`` (by identity) searching from the end, where the call just started or finished is: a
    search from the front made every discarded call cost the length of the whole record."""
    for index in range(len(calls) - 1, -1, -1):
        if calls[index] is call:
            del calls[index]
            return
    raise ValueError("the call is not in the list")


def _restore_flags(model: nn.Module, flags: list[tuple[nn.Module, bool]]) -> None:
    model.train(flags[0][1])  # through train(), which a model may extend
    for module, training in flags:
        module.training = training  # and each module's own flag, where it differed from the model's


def forward(model: nn.Module, probes: Mapping[str, Probe] | Iterable[str] | None = None) -> Recording:
    """Watch the named modules of ``model`` during the forward passes run inside ``with``.

    ``probes``: a mapping from module name to ``Probe``; an iterable of names (each keeps its output,
    ``OUTPUT``); or None, every named submodule (``CALLS``: order and nesting only). An unknown name raises
    InputError here, before any hook is registered."""
    if probes is None:
        probes = {name: CALLS for name, _ in model.named_modules() if name}
    elif not isinstance(probes, Mapping):
        probes = {name: OUTPUT for name in probes}
    return Recording(model, probes)
