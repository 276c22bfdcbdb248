"""NumPy ``.npz`` files in the Keras layout (``x_train``, ``y_train``, ``x_test``, ``y_test``), read by
analysis.data.arrays without pickles."""

from __future__ import annotations

from pathlib import Path

from analysis.data.formats import Format
from analysis.data.paths import present, shown_name


def is_npz(path: Path) -> bool:
    """A NumPy .npz file (arrays in the Keras layout), by its name (a pipe of that name too: it is then
    refused as one, not taken for a folder)."""
    return path.suffix.lower() == ".npz" and present(path) and not path.is_dir()


def npz_files(data: str | None) -> dict[str, Path]:
    path = Path(data)
    return {shown_name(path.name): path}


FORMAT = Format("npz", lambda data: data is not None and is_npz(Path(data)), npz_files, kind="npz",
                reader="analysis.data.arrays:read_npz")
