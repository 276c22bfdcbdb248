"""Images stored as arrays (IDX, CIFAR batches, .npz, data given in memory) resized like image files: when an
input size applies (--input-size, the checkpoint's data_config, the model's own preprocessing), every container
gives the model the same images. Image files are resized while they are decoded (analysis.data.images); arrays
are wrapped here and resized when read, so memory still follows the batch."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from analysis.data.images import resized_image
from analysis.data.lazy import LazyImages, take
from analysis.data.splits import DataSplits, ImageSet


def resized(splits: DataSplits, size: int | None) -> DataSplits:
    """``splits`` with array images brought to ``size``×``size`` as image files are (analysis.data.images.
    resized_image); unchanged when no size applies, the images are files (already resized) or already of that size
    and nothing is cropped."""
    if not size or isinstance(splits.test.images, LazyImages):
        return splits
    height, width = splits.image_shape[1:]
    if (height, width) == (size, size) and getattr(size, "crop_pct", 1.0) >= 1:
        return splits
    return dataclasses.replace(
        splits, train=_resized_set(splits.train, size, "train"), test=_resized_set(splits.test, size, "test"),
        description=f"{splits.description}, resized from {height}×{width} to {size}×{size}")


def _resized_set(images: ImageSet, size: int, split: str) -> ImageSet:
    channels = int(images.images.shape[1])
    reader = _Resizer(images.images, size)
    return ImageSet(LazyImages(len(images.labels), (channels, size, size), reader, f"{split} images resized"),
                    images.labels)


class _Resizer:
    """Reads images from an array and resizes them (a class, not a closure: DataLoader workers take it)."""

    def __init__(self, images, size: int):
        self.images, self.size = images, size

    def __call__(self, indices: Sequence[int]) -> np.ndarray:
        from PIL import Image

        batch = take(self.images, indices)
        out = np.empty((len(batch), batch.shape[1], self.size, self.size), np.uint8)
        for i, image in enumerate(batch):
            for c, plane in enumerate(image):  # channel by channel: Pillow resizes 8-bit planes of any count alike
                out[i, c] = np.asarray(resized_image(Image.fromarray(plane), self.size))
        return out
