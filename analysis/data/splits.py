"""What every reader returns: a data set's train and test splits as uint8 (N, C, H, W) images and labels."""

from __future__ import annotations

import dataclasses

import numpy as np

from analysis.data.lazy import LazyImages


@dataclasses.dataclass(frozen=True)
class ImageSet:
    """Images (N, C, H, W) uint8 in 0..255 (an array, or read when indexed) and their integer labels (N,)."""

    images: np.ndarray | LazyImages
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


@dataclasses.dataclass(frozen=True)
class DataSplits:
    train: ImageSet
    test: ImageSet
    description: str
    class_names: list[str]
    kind: str

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(int(n) for n in self.test.images.shape[1:])
