"""Where the network comes from: the assignment's CNN, a torchvision model, or the user's class.

Sources are strings, so they fit the CLI, the manifest and a checkpoint's stored config:
``assignment`` (the default), ``torchvision:NAME`` (built with ``weights=None``: never a
download) and ``package.module:ClassName`` (imported from the working folder or sys.path).
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

from torch import nn

from analysis.errors import InputError
from analysis.models.sources import DEFAULT_SOURCE


def build_model(source: str, kwargs: dict) -> nn.Module:
    """The network of ``source``. A ``package.module:Class`` source imports (runs) that module: callers
    pass one only when the user named it (analysis.models.sources.resolve_source)."""
    if source == DEFAULT_SOURCE:
        from analysis.models.assignment import AssignmentCNN

        if kwargs:
            raise InputError(f"the assignment CNN takes no constructor arguments, but {json.dumps(kwargs)} were given "
                             "(by --model-kwargs or the checkpoint's model_config.kwargs): remove them")
        return AssignmentCNN()
    if source.startswith("torchvision:"):
        return _torchvision_model(source.split(":", 1)[1], kwargs)
    return _user_model(source, kwargs)


def _torchvision_model(name: str, kwargs: dict) -> nn.Module:
    from torchvision import models

    available = models.list_models(module=models)
    if name not in available:
        close = ", ".join([n for n in available if n.startswith(name[:3])][:8])
        raise InputError(f"torchvision has no classification model {name!r}"
                         f"{f' (similar: {close})' if close else ''}: see torchvision.models.list_models()")
    try:
        return models.get_model(name, weights=None, **kwargs)
    except TypeError as error:
        raise InputError(f"torchvision:{name} does not accept --model-kwargs {json.dumps(kwargs)} ({error})") from None


def _user_model(source: str, kwargs: dict) -> nn.Module:
    module_name, _, class_name = source.partition(":")
    if not module_name or not class_name:
        raise InputError(f"--model {source!r} is not of the form package.module:ClassName, "
                         "torchvision:NAME or assignment")
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
