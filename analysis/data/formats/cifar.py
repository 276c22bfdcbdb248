"""CIFAR-10 and CIFAR-100 as torchvision's download leaves them (``cifar-10-batches-py/``,
``cifar-100-python/``, or the batches folder itself), read by analysis.data.arrays's restricted unpickler."""

from __future__ import annotations

from pathlib import Path

from analysis.data.formats import Format
from analysis.data.paths import present, present_file, regular_file

CIFAR10_BATCHES = [f"data_batch_{i}" for i in range(1, 6)]


def cifar_kind(folder: Path) -> str | None:
    """cifar-10 or cifar-100 when ``folder`` (or its cifar-*/ child) holds that layout."""
    return next((kind for kind, _ in cifar_candidates(folder)), None)


def cifar_candidates(folder: Path):
    for root in (folder, folder / "cifar-10-batches-py", folder / "cifar-100-python"):
        if present_file(root / "test_batch") and present_file(root / "batches.meta"):
            yield "cifar-10", root
        elif all(present_file(root / name) for name in ("test", "meta", "train")):
            yield "cifar-100", root


def cifar_files(folder: Path) -> list[Path]:
    """The files of the CIFAR layout found in ``folder``, each a regular file (else refused)."""
    kind, root = next(cifar_candidates(folder))
    names = [*CIFAR10_BATCHES, "test_batch", "batches.meta"] if kind == "cifar-10" else ["train", "test", "meta"]
    return [regular_file(root / name) for name in names if present(root / name)]


FORMAT = Format("cifar", lambda data: data is not None and cifar_kind(Path(data)) is not None,
                lambda data: {path.name: path for path in cifar_files(Path(data))},
                kind=lambda data: cifar_kind(Path(data)), reader="analysis.data.arrays:read_cifar")
