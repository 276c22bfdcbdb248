"""Hugging Face transformers image classifiers (``huggingface:Architecture``,
analysis.models.source_kinds.huggingface): built offline from their configuration, their preprocessing read
from the image processor's configuration, and the recipe of such a model given in memory."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import torch
from torch import nn

from analysis.errors import InputError
from analysis.models.build import ExpectedInput
from analysis.data.paths import names_list
from analysis.models.checkpoint import load_into
from analysis.models.optional import optional_import
from analysis.models.source_kinds.huggingface import PREFIX, architecture

RECIPE_KEYS = {"config", "preprocessor"}
# Pillow's resampling filters by the number transformers' image processors store.
RESAMPLE = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "box", 5: "hamming"}


def build(source: str, kwargs: dict) -> nn.Module:
    transformers = optional_import("transformers", "huggingface")
    config = _config(transformers, source, kwargs)
    wanted = architecture(source)
    try:
        model = transformers.AutoModelForImageClassification.from_config(config)
    except (ValueError, KeyError, TypeError) as error:
        raise InputError(f"{source}: transformers cannot build an image classifier of model_type "
                         f"{config.model_type!r} ({error}): only transformers' own image classification models "
                         "are built (no remote code)") from None
    if type(model).__name__ != wanted:
        raise InputError(f"{source}: the configuration builds {type(model).__name__}, not {wanted}: give the "
                         "folder save_pretrained() wrote for an image classification model")
    return model.float()


def _config(transformers, source: str, kwargs: dict):
    unknown = set(kwargs) - RECIPE_KEYS
    if unknown or not isinstance(kwargs.get("config"), dict):
        raise InputError(f"{source} takes the arguments {{\"config\": <config.json>, \"preprocessor\": "
                         f"<preprocessor_config.json>}}, got {sorted(kwargs)}: give the save_pretrained folder as "
                         "--checkpoint instead of --model")
    values = dict(kwargs["config"])
    model_type = values.pop("model_type", None)
    if not isinstance(model_type, str):
        raise InputError(f"{source}: config.json gives no model_type: give the folder save_pretrained() wrote")
    try:
        return transformers.AutoConfig.for_model(model_type, **values)
    except (ValueError, KeyError, TypeError) as error:
        raise InputError(f"{source}: transformers has no configuration of model_type {model_type!r} ({error}): "
                         "only transformers' own models are built (no remote code)") from None


def expected_input(source: str, kwargs: dict) -> ExpectedInput | None:
    """The image processor's size, crop, resampling, mean and std (preprocessor_config.json); without one,
    the configuration's image_size."""
    config = kwargs.get("config") if isinstance(kwargs.get("config"), dict) else {}
    processor = kwargs.get("preprocessor") if isinstance(kwargs.get("preprocessor"), dict) else None
    channels = int(config.get("num_channels", 3) or 3)
    if processor is None:
        size = config.get("image_size")
        size = size[-1] if isinstance(size, (list, tuple)) and size else size
        if not isinstance(size, int) or size < 1:
            return None
        return ExpectedInput(size, config=f"the image_size of config.json ({architecture(source)})")
    size, crop_pct = _processor_size(processor)
    if size is None:
        return None
    mean, std = _statistics(processor.get("image_mean"), channels), _statistics(processor.get("image_std"), channels)
    return ExpectedInput(size, config=f"preprocessor_config.json ({architecture(source)})", mean=mean, std=std,
                         interpolation=RESAMPLE.get(processor.get("resample"), "bilinear"), crop_pct=crop_pct)


def _processor_size(processor: dict) -> tuple[int | None, float]:
    """The side of the images the model sees, and the crop that takes it from the resized image."""
    def side(value):
        if isinstance(value, int):
            return value
        if isinstance(value, dict):
            found = value.get("height") or value.get("shortest_edge")
            return found if isinstance(found, int) else None
        return None

    resized, cropped = side(processor.get("size")), side(processor.get("crop_size"))
    if processor.get("do_center_crop") and cropped and resized:
        return cropped, cropped / max(resized, cropped)
    crop_pct = processor.get("crop_pct")
    if isinstance(crop_pct, (int, float)) and 0 < crop_pct <= 1 and resized:
        return resized, float(crop_pct)
    return resized, 1.0


def _statistics(values, channels: int) -> tuple[float, ...] | None:
    if isinstance(values, (int, float)):
        values = [values]
    if not (isinstance(values, list) and values and all(isinstance(v, (int, float)) for v in values)):
        return None
    if len(values) == channels:
        return tuple(float(v) for v in values)
    return (sum(values) / len(values),) * channels


def recipe(model: nn.Module) -> tuple[str, dict] | None:
    """``(huggingface:Architecture, {"config": ...})`` of a transformers model in memory: its configuration as
    save_pretrained writes it (only what differs from the defaults)."""
    config = getattr(model, "config", None)
    if not type(model).__module__.startswith("transformers.") or not hasattr(config, "to_diff_dict"):
        return None
    return f"{PREFIX}{type(model).__name__}", {"config": config.to_diff_dict()}


def load(model: nn.Module, state: dict, path: Path) -> str:
    """A checkpoint in the model's own tensor names (one this tool or a training callback saved) loads as any
    other. A ``save_pretrained`` weights file keeps the layout transformers saves (older tensor names, fused or
    split tensors): transformers' own loading converts it, from a folder holding the configuration and a link to
    the file, and every tensor must be found (nothing is left at its random initialisation)."""
    if set(state) == set(model.state_dict()):
        return load_into(model, state, path)
    transformers = optional_import("transformers", "huggingface")
    with tempfile.TemporaryDirectory(prefix=".report-tmp.") as folder, _quiet(transformers):
        model.config.save_pretrained(folder)
        os.symlink(Path(path).resolve(), Path(folder) / _weights_name(path))
        try:
            loaded, info = type(model).from_pretrained(folder, local_files_only=True, output_loading_info=True,
                                                       dtype=torch.float32)
        except (OSError, ValueError, RuntimeError) as error:
            raise InputError(f"checkpoint {path} cannot be loaded into {type(model).__name__} by transformers "
                             f"({type(error).__name__}: {error}): give the weights save_pretrained() wrote for "
                             "this configuration") from None
    problems = [f"{what} {names_list(sorted(map(str, keys)))}" for what, keys in (("missing", info.get("missing_keys")),
                                                                 ("unexpected", info.get("unexpected_keys")),
                                                                 ("mismatched", info.get("mismatched_keys"))) if keys]
    if problems:
        raise InputError(f"checkpoint {path} is for another architecture than {type(model).__name__} "
                         f"({'; '.join(problems)}): give the weights save_pretrained() wrote for this configuration")
    return load_into(model, loaded.state_dict(), path)


def _weights_name(path: Path) -> str:
    """The name transformers looks for: a safetensors file or a torch.save pickle (read weights-only)."""
    return "model.safetensors" if Path(path).suffix == ".safetensors" else "pytorch_model.bin"


@contextlib.contextmanager
def _quiet(transformers):
    """transformers' loading reports on stderr (progress bars, notes on the conversion): not on this tool's
    one-line output. Its settings are process-wide, so they are restored after."""
    logging = transformers.utils.logging
    verbosity, bars = logging.get_verbosity(), logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(verbosity)
        if bars:
            logging.enable_progress_bar()
