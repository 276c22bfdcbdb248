"""Optional dependencies (timm, transformers): imported only when a model needs them, and when absent refused in one
line that names the extra to install."""

from __future__ import annotations

import importlib

from analysis.errors import InputError


def optional_import(module: str, extra: str):
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise InputError(f"this model needs the package {module!r}, which cannot be imported ({error}): "
                         f"pip install 'cnn-report[{extra}]'") from None
