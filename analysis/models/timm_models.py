"""Models from timm's registry (``timm:NAME``, analysis.models.source_kinds.timm_model): built, their
preprocessing read from ``pretrained_cfg``, and the recipe of a timm model given in memory found again."""

from __future__ import annotations

import difflib
import json

import torch
from torch import nn

from analysis.errors import InputError
from analysis.models.build import ExpectedInput
from analysis.models.optional import optional_import
from analysis.models.source_kinds.timm_model import PREFIX, model_name

MAX_SUGGESTED = 8


def build(source: str, kwargs: dict) -> nn.Module:
    timm = optional_import("timm", "timm")
    name = model_name(source)
    _check_known(timm, name)
    if "pretrained" in kwargs or "pretrained_cfg_overlay" in kwargs or "checkpoint_path" in kwargs:
        raise InputError(f"--model-kwargs for {source} may not set pretrained, pretrained_cfg_overlay or "
                         "checkpoint_path: the weights come from --checkpoint (nothing is downloaded)")
    try:
        return timm.create_model(name, pretrained=False, **kwargs)
    except (TypeError, ValueError, AssertionError, RuntimeError) as error:
        raise InputError(f"{source} does not accept --model-kwargs {json.dumps(kwargs)} "
                         f"({type(error).__name__}: {error})") from None


def _check_known(timm, name: str) -> None:
    stem = name.split(".", 1)[0]
    if timm.is_model(stem):
        return
    close = ", ".join(difflib.get_close_matches(stem, timm.list_models(), n=MAX_SUGGESTED, cutoff=0.7))
    raise InputError(f"timm has no model {name!r}{f' (similar: {close})' if close else ''}: see timm.list_models()")


def expected_input(source: str, kwargs: dict) -> ExpectedInput | None:
    """timm's preprocessing for the model (``resolve_data_config`` on its pretrained_cfg): input size,
    interpolation, crop, mean and std; ``img_size``/``in_chans`` in --model-kwargs change the size and channels."""
    timm = optional_import("timm", "timm")
    from timm.data import resolve_data_config
    from timm.models import get_pretrained_cfg

    name = model_name(source)
    cfg = get_pretrained_cfg(name) if timm.is_model(name.split(".", 1)[0]) else None
    if cfg is None:
        return None
    data = resolve_data_config({}, pretrained_cfg=cfg.to_dict())
    size = kwargs.get("img_size", data["input_size"][-1])
    if isinstance(size, (list, tuple)):
        size = size[-1]
    mean, std = tuple(data["mean"]), tuple(data["std"])
    channels = int(kwargs.get("in_chans", 3))
    if channels != len(mean):  # timm averages an RGB stem into fewer channels; its statistics follow
        mean, std = (sum(mean) / len(mean),) * channels, (sum(std) / len(std),) * channels
    return ExpectedInput(int(size), config=f"timm's pretrained_cfg of {name}", mean=mean, std=std,
                         interpolation=str(data["interpolation"]), crop_pct=float(data["crop_pct"]))


def recipe(model: nn.Module) -> tuple[str, dict] | None:
    """``(timm:NAME, kwargs)`` that builds ``model`` again, checked by building it on the meta device and comparing
    every tensor's name and shape; None when ``model`` is not a timm model or no such recipe is found."""
    cfg = getattr(model, "pretrained_cfg", None)
    name = cfg.get("architecture") if isinstance(cfg, dict) else None
    if not name or not type(model).__module__.startswith("timm."):
        return None
    timm = optional_import("timm", "timm")
    wanted = _shapes(model)
    first = next((t for t in model.state_dict().values() if t.ndim == 4), None)
    candidates = [{"num_classes": int(getattr(model, "num_classes", 1000))}]
    if first is not None and first.shape[1] != 3:
        candidates.append({**candidates[0], "in_chans": int(first.shape[1])})
    for kwargs in candidates:
        try:
            with torch.random.fork_rng(devices=[]), torch.device("meta"):
                skeleton = timm.create_model(name, pretrained=False, **kwargs)
        except Exception:  # noqa: BLE001  a candidate that does not build is simply not the recipe
            continue
        if _shapes(skeleton) == wanted:
            return f"{PREFIX}{name}", kwargs
    return None


def _shapes(model: nn.Module) -> dict[str, tuple[int, ...]]:
    return {key: tuple(value.shape) for key, value in model.state_dict().items()}
