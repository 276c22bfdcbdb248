"""Load a checkpoint safely (weights only) into the model, with errors a user can act on."""

from __future__ import annotations

import pickle
from pathlib import Path

import torch
from torch import nn

from analysis.errors import InputError

STATE_DICT_KEYS = ("state_dict", "model_state_dict", "model")


META_KEYS = ("training", "model_config", "data_config")
POSITION_KEYS = ("epoch", "step", "global_step", "iteration")  # where a checkpoint sits in its training run


def read_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """The state_dict, and what else the checkpoint records about itself (ours record
    ``training``, ``model_config`` and ``data_config``; others may too)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"checkpoint {path} does not exist: give a file saved with torch.save")
    if path.stat().st_size == 0:
        raise InputError(f"checkpoint {path} is empty: the save was interrupted; save it again")
    if path.suffix == ".safetensors":
        return read_safetensors(path)
    try:
        # Safe mode only, whatever the error text suggests: unsafe loading would run foreign code.
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        first = str(error).splitlines()[0] if str(error) else "unreadable pickle"
        raise InputError(f"checkpoint {path} was refused by the safe loader ({first[:160]}): "
                         "it is not a plain state_dict of tensors") from None
    except Exception as error:  # torch's loader raises many types for damaged files (EOFError, IndexError...)
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise InputError(f"checkpoint {path} is not a readable torch checkpoint ({first[:160]}): "
                         "it may be truncated or not a torch.save file") from None
    meta = {key: loaded[key] for key in META_KEYS if isinstance(loaded, dict) and isinstance(loaded.get(key), dict)}
    if isinstance(loaded, dict):
        position = {k: loaded[k] for k in POSITION_KEYS if isinstance(loaded.get(k), int) and not isinstance(loaded[k], bool)}
        if position:
            meta["position"] = position
    return extract_state_dict(loaded, path), meta


def read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """A .safetensors file: tensors only (it cannot hold code); configs may sit in its string metadata."""
    import json

    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            state = {key: handle.get_tensor(key) for key in handle.keys()}
            metadata = handle.metadata() or {}
    except (SafetensorError, OSError, ValueError) as error:
        raise InputError(f"checkpoint {path} is not a readable safetensors file ({str(error)[:160]}): "
                         "it may be truncated") from None
    meta = {}
    for key in META_KEYS:
        try:
            value = json.loads(metadata[key]) if key in metadata else None
        except ValueError:
            value = None
        if isinstance(value, dict):
            meta[key] = value
    if not state:
        raise InputError(f"checkpoint {path} holds no tensors")
    return state, meta


def non_finite(state: dict[str, torch.Tensor]) -> list[str]:
    """Names of floating-point tensors holding NaN or infinite values."""
    return sorted(name for name, tensor in state.items()
                  if torch.is_floating_point(tensor) and not bool(torch.isfinite(tensor).all()))


def extract_state_dict(loaded, path: Path) -> dict[str, torch.Tensor]:
    """A bare state_dict, or one under a key training scripts commonly use."""
    if isinstance(loaded, dict) and loaded and all(isinstance(v, torch.Tensor) for v in loaded.values()):
        return dict(loaded)
    if isinstance(loaded, dict):
        for key in STATE_DICT_KEYS:
            inner = loaded.get(key)
            if isinstance(inner, dict) and inner and all(isinstance(v, torch.Tensor) for v in inner.values()):
                return dict(inner)
    keys = ", ".join(sorted(map(str, loaded))[:8]) if isinstance(loaded, dict) else type(loaded).__name__
    raise InputError(f"checkpoint {path} holds no state_dict (found: {keys}): "
                     f"save model.state_dict(), or a dict with one of the keys {', '.join(STATE_DICT_KEYS)}")


def load_into(model: nn.Module, state: dict[str, torch.Tensor], path: Path) -> None:
    """Load strictly; name every missing, unexpected or mismatched key."""
    state = {k.removeprefix("module."): v for k, v in state.items()}  # saved from DataParallel
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mismatched = [f"{k} {tuple(state[k].shape)} vs {tuple(expected[k].shape)}"
                  for k in sorted(set(state) & set(expected)) if state[k].shape != expected[k].shape]
    problems = []
    if missing:
        problems.append("missing " + ", ".join(missing))
    if unexpected:
        problems.append("unexpected " + ", ".join(unexpected))
    if mismatched:
        problems.append("shape mismatch " + "; ".join(mismatched))
    if problems:
        raise InputError(f"checkpoint {path} is for another architecture than {type(model).__name__} "
                         f"({'; '.join(problems)}): give a checkpoint of this model")
    model.load_state_dict(state, strict=True)
