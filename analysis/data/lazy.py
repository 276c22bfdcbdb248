"""Images read when they are used: a read-only stand-in for a uint8 (N, C, H, W) array whose images stay on
disk until indexed, so that memory depends on the batch read, not on the size of the data set.

Indexing follows numpy for what the analysis needs: an integer gives one (C, H, W) image, a slice or a
list of integers gives (n, C, H, W), and any further index applies to that result (``images[:, 0]``).
``np.asarray(images)`` reads them all (training the small default model does that)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np


class LazyImages:
    """``count`` images of ``image_shape`` (C, H, W); ``read(indices)`` gives them as uint8 (n, C, H, W)."""

    ndim = 4
    dtype = np.dtype(np.uint8)

    def __init__(self, count: int, image_shape: tuple[int, int, int],
                 read: Callable[[Sequence[int]], np.ndarray], what: str):
        self.count, self.image_shape, self.read_many, self.what = int(count), tuple(image_shape), read, what

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (self.count, *self.image_shape)

    def __len__(self) -> int:
        return self.count

    def __repr__(self) -> str:
        return f"LazyImages({self.count} × {self.image_shape}, {self.what})"

    def read(self, indices: Sequence[int]) -> np.ndarray:
        indices = [int(i) for i in indices]
        if not indices:
            return np.zeros((0, *self.image_shape), np.uint8)
        array = self.read_many(indices)
        if array.shape != (len(indices), *self.image_shape) or array.dtype != np.uint8:
            raise AssertionError(f"{self.what} read {array.shape} {array.dtype} for {len(indices)} images")
        return array

    def __getitem__(self, key):
        rest = ()
        if isinstance(key, tuple):
            key, rest = key[0], key[1:]
        if isinstance(key, (int, np.integer)):
            index = int(key) + (self.count if key < 0 else 0)
            if not 0 <= index < self.count:
                raise IndexError(f"image {int(key)} is outside 0..{self.count - 1}")
            picked = self.read([index])[0]
            return picked[rest] if rest else picked
        if isinstance(key, slice):
            picked = self.read(range(*key.indices(self.count)))
        else:
            indices = np.asarray(key)
            if indices.dtype == bool:
                indices = np.flatnonzero(indices)
            picked = self.read([i + self.count if i < 0 else i for i in indices.tolist()])
        return picked[(slice(None), *rest)] if rest else picked

    def __array__(self, dtype=None, copy=None):
        array = self.read(range(self.count))
        return array if dtype is None else array.astype(dtype)


def take(images, indices: Sequence[int]) -> np.ndarray:
    """``images[indices]`` as uint8 (n, C, H, W), for a numpy array or a LazyImages alike."""
    if isinstance(images, LazyImages):
        return images.read(indices)
    return np.asarray(images[np.asarray(indices, dtype=np.int64)], dtype=np.uint8)
