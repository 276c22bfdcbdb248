"""Where the network comes from: the assignment's CNN, a torchvision model, or the user's class.

Sources are strings, so they fit the CLI, the manifest and a checkpoint's stored config:
``assignment`` (the default), ``torchvision:NAME`` (built with ``weights=None``: never a
download) and ``package.module:ClassName`` (imported from the working folder or sys.path), built here;
``timm:NAME`` and ``huggingface:Architecture`` are built by analysis.models.timm_models and
analysis.models.huggingface_models. Each is a kind in analysis.models.sources.SOURCE_KINDS.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import sys
from pathlib import Path

from torch import nn

from analysis.errors import InputError
from analysis.models.source_kinds.torchvision_model import model_name
from analysis.models.sources import DEFAULT_SOURCE, forms, kind_of


def build_model(source: str, kwargs: dict) -> nn.Module:
    """The network of ``source``. A ``package.module:Class`` source imports (runs) that module: callers
    pass one only when the user named it (analysis.models.sources.resolve_source)."""
    return kind_of(source).build(source, kwargs)


def build_assignment(source: str, kwargs: dict) -> nn.Module:
    from analysis.models.assignment import AssignmentCNN

    if kwargs:
        raise InputError(f"the assignment CNN takes no constructor arguments, but {json.dumps(kwargs)} were given "
                         "(by --model-kwargs or the checkpoint's model_config.kwargs): remove them")
    return AssignmentCNN()


@dataclasses.dataclass(frozen=True)
class ExpectedInput:
    """What a model expects of its images. ``size``: the side (square) its weights were made for; ``min_size``: the
    smallest (height, width) its layers accept. ``config``: where the model's own preprocessing comes from
    ("timm's pretrained_cfg of resnet18"), when it has one: only then are ``size``, ``mean``, ``std``,
    ``interpolation`` and ``crop_pct`` what its weights were trained with, and applied. Without one (torchvision's
    models, built with ``weights=None``) ``size`` is what published weights that are not used were evaluated at:
    it is named in messages, never applied."""

    size: int
    min_size: tuple[int, int] = (1, 1)
    config: str | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    interpolation: str = "bilinear"
    crop_pct: float = 1.0

    def preprocessing(self) -> dict:
        """The model's own preprocessing as the store records it (empty without one)."""
        if self.config is None:
            return {}
        return {"from": self.config, "input_size": self.size, "interpolation": self.interpolation,
                "crop_pct": self.crop_pct, "mean": list(self.mean or []), "std": list(self.std or [])}


def source_of_class(cls: type) -> str:
    """The source that builds ``cls`` again: ``assignment`` for the course CNN, else ``module:Class``."""
    from analysis.models.assignment import AssignmentCNN

    return DEFAULT_SOURCE if cls is AssignmentCNN else f"{cls.__module__}:{cls.__qualname__}"


def expected_input(source: str, kwargs: dict) -> ExpectedInput | None:
    """The image size the model was made for, where its kind knows it (torchvision's models); else None."""
    return kind_of(source).expected_input(source, kwargs)


def torchvision_expected_input(source: str, kwargs: dict) -> ExpectedInput | None:
    """What torchvision publishes for a model's default weights (read from its registry; nothing is
    downloaded); None when --model-kwargs change the image size."""
    if "image_size" in kwargs:
        return None
    from torchvision import models

    try:
        weights = models.get_model_weights(model_name(source)).DEFAULT
        size = int(weights.transforms().crop_size[0])
    except (ValueError, KeyError, AttributeError, TypeError, IndexError):
        return None
    low = tuple(int(v) for v in weights.meta.get("min_size", (1, 1)))
    return ExpectedInput(size, (low[0], low[1]))


def check_input_size(source: str, expected: ExpectedInput | None, image_shape: tuple[int, ...]) -> None:
    """Refuse images smaller than the model accepts, in one line that names the size to give."""
    if expected is None or len(image_shape) < 3:
        return
    height, width = image_shape[-2:]
    if height < expected.min_size[0] or width < expected.min_size[1]:
        raise InputError(f"{source} needs images of at least {expected.min_size[0]}×{expected.min_size[1]} pixels "
                         f"(its weights were made for {expected.size}×{expected.size}), but the data's are "
                         f"{height}×{width}: give an image folder with --input-size {expected.size}")


def build_torchvision(source: str, kwargs: dict) -> nn.Module:
    from torchvision import models

    name = model_name(source)
    available = models.list_models(module=models)
    if name not in available:
        close = ", ".join([n for n in available if n.startswith(name[:3])][:8])
        raise InputError(f"torchvision has no classification model {name!r}"
                         f"{f' (similar: {close})' if close else ''}: see torchvision.models.list_models()")
    try:
        return models.get_model(name, weights=None, **kwargs)
    except TypeError as error:
        raise InputError(f"torchvision:{name} does not accept --model-kwargs {json.dumps(kwargs)} ({error})") from None


def build_user_class(source: str, kwargs: dict) -> nn.Module:
    module_name, _, class_name = source.partition(":")
    if not module_name or not class_name:
        raise InputError(f"--model {source!r} is not of a known form: give {forms()}")
    try:
        module = _import_with_working_folder(module_name)
    except ModuleNotFoundError as error:
        raise InputError(f"--model {source}: module {module_name!r} cannot be imported ({error}); run from the "
                         "folder that holds it or add it to PYTHONPATH") from None
    except Exception as error:  # the user's module itself failed while importing
        raise InputError(f"--model {source}: importing module {module_name!r} failed "
                         f"({type(error).__name__}: {error})") from None
    cls = getattr(module, class_name, None)
    if cls is None:
        found = ", ".join(sorted(n for n, v in vars(module).items() if isinstance(v, type) and issubclass(v, nn.Module)))
        raise InputError(f"--model {source}: module {module_name!r} has no class {class_name!r}"
                         f"{f' (nn.Module classes there: {found})' if found else ''}")
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise InputError(f"--model {source}: {class_name!r} is not a torch.nn.Module subclass")
    try:
        return cls(**kwargs)
    except Exception as error:
        raise InputError(f"--model {source}: {class_name}(**{json.dumps(kwargs)}) failed "
                         f"({type(error).__name__}: {error}); check --model-kwargs") from None


def _import_with_working_folder(module_name: str):
    """Import the user's module with the working folder first on sys.path, for this import only: left
    there, it would let any later import (ours or torch's) pick up a same-named file from that folder."""
    saved = list(sys.path)
    sys.path.insert(0, str(Path.cwd()))
    try:
        return importlib.import_module(module_name)
    finally:
        sys.path[:] = saved
