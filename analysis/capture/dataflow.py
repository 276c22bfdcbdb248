"""Which call made each tensor a recorded call takes: the producer of its first tensor input, and the
model's parameters and buffers it reads directly.

    recording.observer = dataflow.Follow(model, recording.modules, example)
    with recording:
        model(example)
    call.source            # order of the call whose output is call's first tensor input (-1: ``example``)
    call.source_tensor     # or the parameter (buffer) that input is, by name: cls_token, pos_embed...

Tensors are told apart by identity while they are alive: a weak reference to each recorded output is kept
with the order of the call that returned it, so a freed tensor whose ``id`` Python hands to a new one is
never mistaken for it, and nothing of the pass is held longer than the model holds it. A module returns
the tensor its last inner call made: the innermost call keeps the credit (a container is not the producer
of what its child made), while a later call returning the same object (``ReLU(inplace=True)``, ``x.add_``)
takes it over, since what leaves it is its output.
"""

from __future__ import annotations

import weakref

import torch
from torch import nn

from analysis.capture.forward import Call, Observer

MODEL_INPUT = -1  # the ``source`` of a call fed by the pass's own input


class Follow(Observer):
    """``modules``: the model's named submodules (a recording's ``modules``), so that naming the parameters
    walks no deep model again."""

    def __init__(self, model: nn.Module, modules: dict[str, nn.Module], example: torch.Tensor):
        self.named: dict[int, str] = {}
        for prefix, module in (("", model), *modules.items()):
            for name, tensor in (*module.named_parameters(recurse=False), *module.named_buffers(recurse=False)):
                self.named.setdefault(id(tensor), f"{prefix}.{name}" if prefix else name)  # a shared one: first name
        self.producers: dict[int, tuple[weakref.ref, int]] = {}
        self._register(example, MODEL_INPUT)

    def _register(self, tensor: torch.Tensor, order: int) -> None:
        known = self._producer(tensor)
        if known is None or order > known:  # an enclosing call started earlier: its child keeps the credit
            self.producers[id(tensor)] = (weakref.ref(tensor), order)

    def _producer(self, tensor: torch.Tensor) -> int | None:
        entry = self.producers.get(id(tensor))
        if entry is None or entry[0]() is not tensor:  # never recorded, or another tensor under a reused id
            return None
        return entry[1]

    def started(self, call: Call, tensors: list[torch.Tensor]) -> None:
        call.parameters = tuple(self.named[id(t)] for t in tensors if id(t) in self.named)
        if not tensors:
            return
        first = tensors[0]
        call.source_tensor = self.named.get(id(first))
        call.source = None if call.source_tensor is not None else self._producer(first)

    def finished(self, call: Call, tensors: list[torch.Tensor]) -> None:
        for tensor in tensors:
            if id(tensor) not in self.named:  # a call that returns a parameter as it is does not make it
                self._register(tensor, call.order)
