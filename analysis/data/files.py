"""Which files make up a data set, and their hashes: the registry of data formats (analysis.data.formats),
consulted once for the store key and once for reading, so that the files hashed are those read. Without
numpy or parsing anything, so that a build with nothing to do stays cheap."""

from __future__ import annotations

from analysis.data.formats import Format, cifar, embedded, idx, image_folder, npz, parquet
from analysis.data.formats.image_folder import image_folder_listing  # noqa: F401  (tests list images with it)
from analysis.data.paths import names_list, printable, shown_name  # noqa: F401  (used from here)

# In order of detection: the first format that recognises --data reads it. An IDX folder holding images is
# IDX; a folder recognised by none is taken for IDX, whose listing says which files it lacks.
FORMATS: tuple[Format, ...] = (
    embedded.FORMAT,
    npz.FORMAT,
    cifar.FORMAT,
    parquet.FORMAT,
    idx.FORMAT,
    image_folder.FORMAT,
)
FALLBACK = idx.FORMAT


def format_of(data: str | None) -> Format:
    """The format of ``--data`` (None: the default, the embedded digits)."""
    return next((entry for entry in FORMATS if entry.detect(data)), FALLBACK)


def data_identity(data: str | None, input_size: int | None = None) -> dict:
    """Which data a run used, as hashes of its files (cheap: no parsing)."""
    return format_of(data).identity(data, input_size)
