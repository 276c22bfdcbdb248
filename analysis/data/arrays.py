"""Data sets stored as arrays: CIFAR-10 and CIFAR-100 as torchvision's download leaves them
(``cifar-10-batches-py/``, ``cifar-100-python/``), and NumPy ``.npz`` files in the Keras layout
(``x_train``, ``y_train``, ``x_test``, ``y_test``).

CIFAR's batches are Python pickles. They are data, never code: they are read with an unpickler that admits
only what those files hold (dicts, lists, bytes, numbers and NumPy arrays of plain types) and refuses any
other global in one line, before it could be called. ``.npz`` files are read with ``allow_pickle=False``,
each member's header checked before its data are read."""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path

import numpy as np

from analysis.data.files import CIFAR10_BATCHES, cifar_candidates, printable
from analysis.errors import InputError

# What a NumPy array needs to unpickle (numpy 1 writes numpy.core, numpy 2 numpy._core): nothing that runs code.
ADMITTED = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
}
MAX_ARRAY_BYTES = 8 << 30  # one .npz member; ImageNet's validation split at 224 px is 7.5 GB as uint8


class DataUnpickler(pickle.Unpickler):
    """Admits the globals in ADMITTED and nothing else."""

    def __init__(self, handle, path: Path):
        super().__init__(handle, encoding="bytes")  # CIFAR was pickled by Python 2: its str are bytes
        self.path = path

    def find_class(self, module: str, name: str):
        if (module, name) in ADMITTED:
            return super().find_class(module, name)
        if (module, name) == ("_codecs", "encode"):  # how Python 3's protocol 2 writes bytes: latin-1 text
            return _latin1_bytes
        raise InputError(f"{printable(self.path)} asks to load {printable(module, 80)}.{printable(name, 80)}, "
                         "which a CIFAR batch never holds: the file is not a CIFAR batch, or was tampered with; "
                         "replace it with an intact copy")


def _latin1_bytes(text: str, encoding: str = "latin1", errors: str = "strict") -> bytes:
    """``_codecs.encode`` as protocol-2 pickles of bytes use it, and no other codec."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1") or errors != "strict":
        raise pickle.UnpicklingError(f"a codec other than latin-1 ({str(encoding)[:40]})")
    return text.encode("latin-1")


def read_pickle(path: Path) -> dict:
    try:
        with open(path, "rb") as handle:
            loaded = DataUnpickler(handle, path).load()
    except InputError:
        raise
    except Exception as error:  # UnpicklingError, EOFError, a NumPy refusal of a malformed array…
        raise InputError(f"cannot read {printable(path)} as a CIFAR batch ({printable(error, 200) or type(error).__name__}"
                         "): replace it with an intact copy") from None
    if not isinstance(loaded, dict):
        raise InputError(f"{printable(path)} holds a {type(loaded).__name__}, not a CIFAR batch's dict: replace it "
                         "with an intact copy")
    return {key.decode("latin-1") if isinstance(key, bytes) else key: value for key, value in loaded.items()}


def load_cifar(folder: Path, class_names: list[str] | None):
    """Train and test splits as their authors define them; CIFAR-100 with its 100 fine labels."""
    from analysis.data.datasets import DataSplits, ImageSet

    kind, root = next(cifar_candidates(folder))
    if kind == "cifar-10":
        names = _names(read_pickle(root / "batches.meta"), "label_names", root / "batches.meta")
        present = [root / b for b in CIFAR10_BATCHES if (root / b).is_file()]
        train = [_cifar_batch(p, "labels", len(names)) for p in present]
        test = _cifar_batch(root / "test_batch", "labels", len(names))
        family = "CIFAR-10"
    else:
        names = _names(read_pickle(root / "meta"), "fine_label_names", root / "meta")
        train = [_cifar_batch(root / "train", "fine_labels", len(names))]
        test = _cifar_batch(root / "test", "fine_labels", len(names))
        family = "CIFAR-100"
    train_images = np.concatenate([t[0] for t in train]) if train else np.zeros((0, 3, 32, 32), np.uint8)
    train_labels = np.concatenate([t[1] for t in train]) if train else np.zeros(0, np.int64)
    return DataSplits(
        train=ImageSet(train_images, train_labels), test=ImageSet(*test),
        description=f"{family} in {folder} ({len(train_labels):,} train, {len(test[1]):,} test images, "
                    f"{len(names)} classes, the split its authors made)",
        class_names=list(class_names or names), kind=kind)


def _names(meta: dict, key: str, path: Path) -> list[str]:
    names = meta.get(key)
    if not isinstance(names, list) or not names or not all(isinstance(n, (bytes, str)) for n in names):
        raise InputError(f"{printable(path)} has no list of class names under {key!r}: replace it with an intact copy")
    return [n.decode("utf-8", "replace") if isinstance(n, bytes) else n for n in names]


def _cifar_batch(path: Path, label_key: str, classes: int) -> tuple[np.ndarray, np.ndarray]:
    batch = read_pickle(path)
    data, labels = batch.get("data"), batch.get(label_key)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        shown = f"{data.dtype} {list(data.shape)}" if isinstance(data, np.ndarray) else type(data).__name__
        raise InputError(f"{printable(path)}'s data are {shown}, not uint8 rows of 3,072 values (32×32 RGB): replace "
                         "it with an intact copy")
    labels = np.asarray(labels if isinstance(labels, (list, np.ndarray)) else [], dtype=np.int64)
    if labels.shape != (len(data),):
        raise InputError(f"{printable(path)} has {len(data)} images but {labels.size} labels under {label_key!r}: "
                         "replace it with an intact copy")
    if len(labels) and (labels.min() < 0 or labels.max() >= classes):
        raise InputError(f"{printable(path)} holds label {int(labels.max())}, beyond the {classes} classes its meta "
                         "file names: replace it with an intact copy")
    return data.reshape(-1, 3, 32, 32), labels


# --- .npz (Keras) ----------------------------------------------------------------------------------------

NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


def load_npz(path: Path, class_names: list[str] | None):
    """x as (N, H, W) grey or (N, H, W, C) with C 1 or 3, uint8; y as (N,) or (N, 1) integers."""
    from analysis.data.datasets import DataSplits, ImageSet

    arrays = read_npz(path)
    splits = {}
    for split in ("train", "test"):
        images, labels = _npz_images(path, arrays[f"x_{split}"], f"x_{split}"), _npz_labels(path, arrays, split)
        if len(images) != len(labels):
            raise InputError(f"{printable(path)} has {len(images)} {split} images but {len(labels)} labels: x_{split} "
                             f"and y_{split} do not belong together")
        splits[split] = ImageSet(images, labels)
    if not len(splits["test"]):
        raise InputError(f"the test split of {printable(path)} has no images: x_test is empty")
    classes = int(max(splits["train"].labels.max(initial=-1), splits["test"].labels.max(initial=-1))) + 1
    if splits["train"].images.shape[1:] != splits["test"].images.shape[1:] and len(splits["train"]):
        raise InputError(f"{printable(path)}'s x_train and x_test hold images of different shapes: give one shape")
    return DataSplits(
        train=splits["train"], test=splits["test"],
        description=f"NumPy arrays in {path.name} ({len(splits['train']):,} train, {len(splits['test']):,} test "
                    f"images, {classes} classes)",
        class_names=list(class_names) if class_names else [str(c) for c in range(classes)], kind="npz")


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """The four arrays, each header checked (plain dtype, size within MAX_ARRAY_BYTES) before its data."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = {Path(n).stem: n for n in archive.namelist() if n.endswith(".npy")}
            missing = [k for k in NPZ_KEYS if k not in members]
            if missing:
                raise InputError(f"{printable(path)} lacks {', '.join(missing)}: a data .npz needs x_train, y_train, "
                                 "x_test and y_test (the Keras layout)")
            return {key: _read_member(path, archive, members[key], key) for key in NPZ_KEYS}
    except InputError:
        raise
    except (OSError, zipfile.BadZipFile, ValueError, EOFError) as error:
        raise InputError(f"cannot read {printable(path)} as a .npz file ({printable(error, 200)}): replace it with "
                         "an intact copy") from None


def _read_member(path: Path, archive: zipfile.ZipFile, member: str, key: str) -> np.ndarray:
    with archive.open(member) as handle:
        version = np.lib.format.read_magic(handle)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
            np.lib.format.read_array_header_2_0
        shape, _fortran, dtype = read_header(handle)
        if dtype.hasobject:
            raise InputError(f"{printable(path)}'s {key} holds Python objects, which would need pickles: save it as "
                             "numbers")
        size = int(np.prod(shape, dtype=object)) * dtype.itemsize
        if size > MAX_ARRAY_BYTES:
            raise InputError(f"{printable(path)}'s {key} promises {size:,} bytes, more than the limit of "
                             f"{MAX_ARRAY_BYTES:,}: the file is corrupted, or too large to read into memory")
    with archive.open(member) as handle:
        return np.lib.format.read_array(io.BufferedReader(handle), allow_pickle=False)


def _npz_images(path: Path, x: np.ndarray, key: str) -> np.ndarray:
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4 and x.shape[-1] in (1, 3):
        x = x.transpose(0, 3, 1, 2)
    else:
        raise InputError(f"{printable(path)}'s {key} has shape {list(x.shape)}: give (N, H, W) or (N, H, W, C) with "
                         "C 1 or 3")
    if x.dtype != np.uint8:
        if x.dtype.kind == "f" and x.size and np.isfinite(x).all() and x.min() >= 0 and x.max() <= 1:
            return np.ascontiguousarray(np.round(x * 255).astype(np.uint8))
        raise InputError(f"{printable(path)}'s {key} is {x.dtype}: give uint8 pixels (0..255), or floats in 0..1")
    return np.ascontiguousarray(x)


def _npz_labels(path: Path, arrays: dict, split: str) -> np.ndarray:
    y = arrays[f"y_{split}"]
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or y.dtype.kind not in "iu" or (y.size and y.min() < 0):
        raise InputError(f"{printable(path)}'s y_{split} is {y.dtype} {list(y.shape)}: give class labels 0, 1, 2, … "
                         "as (N,) integers")
    return y.astype(np.int64)
