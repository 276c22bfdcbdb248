"""Layer kinds, declared once: which module classes the report treats as convolutions, image-map
convolutions, linear layers and activations. Every "is this a ...?" question in the analysis asks here."""

from __future__ import annotations

from torch import nn

from analysis.store.schema import ACTIVATION_TYPES

CONVOLUTIONS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)   # kernels are listed for these
MAP_CONVOLUTIONS = (nn.Conv2d,)                     # image maps: activation grids and the kernel picture
LINEAR = (nn.Linear,)                               # the default embedding is the input of the last one
ACTIVATIONS = tuple(getattr(nn, name) for name in ACTIVATION_TYPES)  # zero output means silent


def is_convolution(module: nn.Module) -> bool:
    return isinstance(module, CONVOLUTIONS)


def is_map_convolution(module: nn.Module) -> bool:
    return isinstance(module, MAP_CONVOLUTIONS)


def is_linear(module: nn.Module) -> bool:
    return isinstance(module, LINEAR)


def is_activation(module: nn.Module) -> bool:
    return isinstance(module, ACTIVATIONS)
