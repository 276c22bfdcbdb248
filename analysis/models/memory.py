"""A model given in memory (``report.api.build(model=net)``, the training callbacks): its weights saved as a
checkpoint, so that the store is keyed on them and the analysis can be run again from the file, and a copy
of it to analyse, so that the caller's model is never changed (not its mode, device, hooks or weights)."""

from __future__ import annotations

import copy
import hashlib
import inspect
import io
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn
from torch.nn.parameter import is_lazy

from analysis.capture.nesting import room_for
from analysis.errors import InputError
from analysis.models.sources import DEFAULT_SOURCE
from analysis.store.writer import write_atomic

PREFIX = "module-"


def module_source(model) -> tuple[str, dict, Path | None]:
    """A model in memory: the source and arguments that build it again, and the file of its code (part of the
    store key; None for a library's model). The recipe is recorded, not guessed from the class: a timm or
    transformers model gives its own (``timm:NAME`` with ``num_classes``, ``huggingface:Architecture`` with its
    configuration), the course CNN is ``assignment``, any other its ``module:Class``. Anything but an
    ``nn.Module`` is refused in one line."""
    if not isinstance(model, nn.Module):
        raise InputError(f"argument --model: expected a source such as torchvision:resnet18 or an nn.Module, "
                         f"got {type(model).__name__}")
    refuse_uninitialised(model)
    from analysis.models.build import source_of_class
    from analysis.models.sources import recipe_of

    recipe = recipe_of(model)
    if recipe is not None:
        return recipe[0], recipe[1], None
    cls = type(model)
    source = source_of_class(cls)
    if source == DEFAULT_SOURCE:
        return source, {}, None
    try:
        file = inspect.getsourcefile(cls)
    except (TypeError, OSError):  # made at run time or in C (TypeError); a notebook cell's class (OSError, 3.13)
        file = None
    return source, {}, Path(file) if file and Path(file).is_file() else None


def refuse_uninitialised(model: nn.Module) -> None:
    """A lazy layer (nn.LazyLinear, nn.LazyConv2d) has no shape and no weights until the model's first forward
    pass: there is nothing to save as a checkpoint, and initialising it here would change the caller's model."""
    lazy = [name for name, tensor in (*model.named_parameters(), *model.named_buffers()) if is_lazy(tensor)]
    if lazy:
        more = f" and {len(lazy) - 3} more" if len(lazy) > 3 else ""
        raise InputError(f"the model in memory has uninitialised lazy parameters ({', '.join(lazy[:3])}{more}): run "
                         "one forward pass on a batch of the data (model(images)) before building its report")


def state_on_cpu(model: nn.Module) -> dict[str, torch.Tensor]:
    """The state_dict as plain CPU tensors (detached; a parameter on a GPU is copied)."""
    refuse_uninitialised(model)
    state = {}
    for name, value in model.state_dict().items():
        if not isinstance(value, torch.Tensor):
            raise InputError(f"the model's state_dict holds {name!r}, which is not a tensor "
                             f"({type(value).__name__}): save only tensors in it")
        state[name] = value.detach().cpu().clone()
    return state


def checkpoint_bytes(model: nn.Module, position: Mapping[str, int] | None = None) -> bytes:
    """The checkpoint of ``model`` as torch.save writes it: ``{"state_dict": ..., "epoch": ...}`` (the same
    tensors and position give the same bytes)."""
    buffer = io.BytesIO()
    torch.save({"state_dict": state_on_cpu(model), **dict(position or {})}, buffer)
    return buffer.getvalue()


def save_module(model: nn.Module, folder: Path, position: Mapping[str, int] | None = None,
                prefix: str = PREFIX) -> Path:
    """Write the checkpoint of ``model`` as ``folder/<prefix><sha256[:16]>.pt`` (atomically; kept when the same
    bytes are there already) and return its path."""
    data = checkpoint_bytes(model, position)
    path = Path(folder) / f"{prefix}{hashlib.sha256(data).hexdigest()[:16]}.pt"
    if not (path.is_file() and path.read_bytes() == data):
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, data)
    return path


def copy_module(model: nn.Module) -> nn.Module:
    """A copy to analyse, on the CPU (the analysis moves it to its device itself)."""
    try:
        with room_for(model):  # a deep copy recurses through every level of nesting
            copied = copy.deepcopy(model, _detached_caches(model))
    except InputError:
        raise
    except Exception as error:  # a module holding something that cannot be copied (an open file, a lock)
        raise InputError(f"the model in memory cannot be copied for the analysis ({type(error).__name__}: "
                         f"{error}): save its state_dict and give it as a checkpoint with its class as --model") from None
    return copied.cpu()


def _detached_caches(model: nn.Module) -> dict:
    """A deep-copy memo that copies tensors computed from parameters (not graph leaves) as detached clones. Models
    cache such tensors after a forward pass (timm's LeViT and EfficientFormer keep their attention biases in a
    dict), and torch refuses to deep-copy a tensor with gradient history."""
    memo: dict = {}

    def visit(value, depth: int = 0) -> None:
        if isinstance(value, torch.Tensor):
            if not value.is_leaf and id(value) not in memo:
                memo[id(value)] = value.detach().clone()
        elif depth < 3 and isinstance(value, dict):
            for item in value.values():
                visit(item, depth + 1)
        elif depth < 3 and isinstance(value, (list, tuple)):
            for item in value:
                visit(item, depth + 1)

    for module in model.modules():
        for value in vars(module).values():
            if not isinstance(value, nn.Module):
                visit(value)
    return memo
