"""The arrays the figures are drawn from, written into the store: the analysis draws nothing. The figures step
(report/figures.py, drawing with analysis/figures/) makes ``images/<name>.png`` from ``arrays/<name>.npy``
(``analysis.store.schema.array_path``), so the drawing code can change without the analysis running again. Each
array is the exact input the drawing function takes (no rounding, unlike the JSON documents): the images have the
bytes they had when the analysis drew them."""

from __future__ import annotations

import io

import numpy as np

from analysis.store.schema import array_path
from analysis.store.writer import StoreWriter


def npy_bytes(array: np.ndarray) -> bytes:
    """``.npy`` bytes without pickles: the same array gives the same bytes."""
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def write(writer: StoreWriter, image: str, array, part: str | None = None) -> str:
    """Store ``array`` as what ``image`` is drawn from (``part``: one more array of the same figure); returns
    ``image``, the path the documents record."""
    writer.write_bytes(array_path(image, part), npy_bytes(np.asarray(array)))
    return image


def picture(writer: StoreWriter, image: str, pixels) -> str:
    """A test image shown as it is: its pixels as uint8 (C, H, W), what analysis.figures.images.picture scales."""
    return write(writer, image, np.asarray(pixels, dtype=np.uint8))
