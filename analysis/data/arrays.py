"""Data sets stored as arrays: CIFAR-10 and CIFAR-100 as torchvision's download leaves them
(``cifar-10-batches-py/``, ``cifar-100-python/``), and NumPy ``.npz`` files in the Keras layout
(``x_train``, ``y_train``, ``x_test``, ``y_test``).

CIFAR's batches are Python pickles. They are data, never code: they are read with an unpickler that admits
only what those files hold (dicts, lists, bytes, numbers and NumPy arrays of plain types) and refuses any
other global in one line, before it could be called. ``.npz`` files are read with ``allow_pickle=False``,
each member's header checked before its data are read."""

from __future__ import annotations

import io
import os
import pickle
import pickletools
import zipfile
from pathlib import Path

import numpy as np

from analysis.data.formats import ReadOptions
from analysis.data.formats.cifar import cifar_candidates, cifar_files
from analysis.data.limits import class_count, refuse_too_many_classes
from analysis.data.paths import printable, read_errors, regular_file
from analysis.data.splits import DataSplits, ImageSet
from analysis.errors import InputError

# What a NumPy array needs to unpickle (numpy 1 writes numpy.core, numpy 2 numpy._core): nothing that runs code.
ADMITTED = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
}
MAX_PICKLE_BYTES = 1 << 30  # one CIFAR file; the largest, CIFAR-100's train, holds 155 MB
MAX_ARRAY_BYTES = 8 << 30  # the four arrays of one .npz; ImageNet's validation split at 224 px is 7.5 GB as uint8


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
    """A CIFAR file's dict, read whole (within MAX_PICKLE_BYTES) and its opcodes checked before unpickling:
    Python's unpickler allocates the size an opcode declares before reading it (2**40 bytes, declared in a
    few bytes of file), so a size beyond what the file holds is refused first."""
    size = os.stat(regular_file(path)).st_size
    if size > MAX_PICKLE_BYTES:
        raise InputError(f"{printable(path)} holds {size:,} bytes, more than the limit of {MAX_PICKLE_BYTES:,} for a "
                         "CIFAR file: it is not a CIFAR batch; replace it with an intact copy")
    # UnpicklingError, EOFError, a declared size beyond the file, a NumPy refusal of a malformed array…
    with read_errors(path, "a CIFAR batch"):
        with open(path, "rb") as handle:
            data = handle.read()
        for _opcode, _argument, _position in pickletools.genops(io.BytesIO(data)):
            pass  # reads each argument from the bytes held: a size beyond them raises, allocating nothing
        loaded = DataUnpickler(io.BytesIO(data), path).load()
    if not isinstance(loaded, dict):
        raise InputError(f"{printable(path)} holds a {type(loaded).__name__}, not a CIFAR batch's dict: replace it "
                         "with an intact copy")
    return {key.decode("latin-1") if isinstance(key, bytes) else key: value for key, value in loaded.items()}


def load_cifar(folder: Path, class_names: list[str] | None) -> DataSplits:
    """Train and test splits as their authors define them; CIFAR-100 with its 100 fine labels."""
    kind, root = next(cifar_candidates(folder))
    files = cifar_files(folder)  # each a regular file, as hashed for the store key
    if kind == "cifar-10":
        names = _names(read_pickle(root / "batches.meta"), "label_names", root / "batches.meta")
        present = [p for p in files if p.name.startswith("data_batch_")]
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


def read_cifar(data: str | None, options: ReadOptions) -> DataSplits:
    """The CIFAR format's reader (analysis.data.formats.cifar)."""
    return load_cifar(Path(data), None)


def _names(meta: dict, key: str, path: Path) -> list[str]:
    names = meta.get(key)
    if not isinstance(names, list) or not names or not all(isinstance(n, (bytes, str)) for n in names):
        raise InputError(f"{printable(path)} has no list of class names under {key!r}: replace it with an intact copy")
    refuse_too_many_classes(printable(path), len(names), "names")
    # bytes that are not UTF-8 shown as \xNN escapes, as for the names of class folders (paths.shown_name)
    return [n.decode("utf-8", "backslashreplace") if isinstance(n, bytes) else n for n in names]


def _cifar_batch(path: Path, label_key: str, classes: int) -> tuple[np.ndarray, np.ndarray]:
    batch = read_pickle(path)
    data, labels = batch.get("data"), batch.get(label_key)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        shown = f"{data.dtype} {list(data.shape)}" if isinstance(data, np.ndarray) else type(data).__name__
        raise InputError(f"{printable(path)}'s data are {shown}, not uint8 rows of 3,072 values (32×32 RGB): replace "
                         "it with an intact copy")
    with read_errors(path, f"a CIFAR batch (its {label_key!r})"):  # a label too large for 64 bits, or not a number
        labels = np.asarray(labels if isinstance(labels, (list, np.ndarray)) else [], dtype=np.int64)
    if labels.shape != (len(data),):
        raise InputError(f"{printable(path)} has {len(data)} images but {labels.size} labels under {label_key!r}: "
                         "replace it with an intact copy")
    class_count(printable(path), [labels], classes, "its meta file names")
    return data.reshape(-1, 3, 32, 32), labels


# --- .npz (Keras) ----------------------------------------------------------------------------------------

NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
NPZ_LAYOUT = "a .npz file of x_train, y_train, x_test and y_test (the Keras layout)"


def load_npz(path: Path, class_names: list[str] | None) -> DataSplits:
    """x as (N, H, W) grey or (N, H, W, C) with C 1 or 3, uint8; y as (N,) or (N, 1) integers."""
    arrays = read_arrays(path, NPZ_KEYS, MAX_ARRAY_BYTES, NPZ_LAYOUT)
    splits = {}
    for split in ("train", "test"):
        images, labels = _npz_images(path, arrays[f"x_{split}"], f"x_{split}"), _npz_labels(path, arrays, split)
        if len(images) != len(labels):
            raise InputError(f"{printable(path)} has {len(images)} {split} images but {len(labels)} labels: x_{split} "
                             f"and y_{split} do not belong together")
        splits[split] = ImageSet(images, labels)
    if not len(splits["test"]):
        raise InputError(f"the test split of {printable(path)} has no images: x_test is empty")
    classes = class_count(printable(path), [splits["train"].labels, splits["test"].labels])
    if splits["train"].images.shape[1:] != splits["test"].images.shape[1:] and len(splits["train"]):
        raise InputError(f"{printable(path)}'s x_train and x_test hold images of different shapes: give one shape")
    return DataSplits(
        train=splits["train"], test=splits["test"],
        description=f"NumPy arrays in {path.name} ({len(splits['train']):,} train, {len(splits['test']):,} test "
                    f"images, {classes} classes)",
        class_names=list(class_names) if class_names else [str(c) for c in range(classes)], kind="npz")


def read_npz(data: str | None, options: ReadOptions) -> DataSplits:
    """The .npz format's reader (analysis.data.formats.npz)."""
    return load_npz(Path(data), None)


def read_arrays(path: Path, keys: tuple[str, ...], limit: int, what: str) -> dict[str, np.ndarray]:
    """The arrays ``keys`` of a .npz file, never with pickles. Every header is read first: a dtype of Python
    objects, or sizes that add up beyond ``limit`` bytes, are refused before any array's data are read. Any
    decoder error (zipfile, zlib, NumPy's header parser, an encrypted member) is one line naming the file."""
    regular_file(path)
    with read_errors(path, what), zipfile.ZipFile(path) as archive:
        members = {Path(n).stem: n for n in archive.namelist() if n.endswith(".npy")}
        missing = [k for k in keys if k not in members]
        if missing:
            raise InputError(f"{printable(path)} lacks {', '.join(missing)}: it should be {what}")
        sizes = {key: _member_bytes(path, archive, members[key], key) for key in keys}
        if sum(sizes.values()) > limit:
            shown = ", ".join(f"{key} {size:,}" for key, size in sizes.items())
            raise InputError(f"{printable(path)}'s arrays promise {sum(sizes.values()):,} bytes ({shown}), more than "
                             f"the limit of {limit:,}: the file is corrupted, or too large to read into memory")
        return {key: _read_member(archive, members[key]) for key in keys}


def _member_bytes(path: Path, archive: zipfile.ZipFile, member: str, key: str) -> int:
    """The bytes a member's header promises, read from the header alone."""
    with archive.open(member) as handle:
        version = np.lib.format.read_magic(handle)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
            np.lib.format.read_array_header_2_0
        shape, _fortran, dtype = read_header(handle)
    if dtype.hasobject:
        raise InputError(f"{printable(path)}'s {key} holds Python objects, which would need pickles: save it as "
                         "numbers")
    return int(np.prod(shape, dtype=object)) * dtype.itemsize  # Python integers: a forged shape cannot overflow


def _read_member(archive: zipfile.ZipFile, member: str) -> np.ndarray:
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
        if x.dtype.kind != "f" or not x.size:
            raise InputError(f"{printable(path)}'s {key} is {x.dtype}: give uint8 pixels (0..255), or floats in 0..1")
        if not np.isfinite(x).all():  # name what is wrong: the float type itself is allowed
            raise InputError(f"{printable(path)}'s {key} holds {np.count_nonzero(~np.isfinite(x)):,} NaN or infinite "
                             "pixels: give finite values, uint8 (0..255) or floats in 0..1")
        if x.min() < 0 or x.max() > 1:
            raise InputError(f"{printable(path)}'s {key} has float pixels from {float(x.min()):.4g} to "
                             f"{float(x.max()):.4g}: give floats in 0..1 (divide 0..255 values by 255) or uint8 pixels")
        return np.ascontiguousarray(np.round(x * 255).astype(np.uint8))
    return np.ascontiguousarray(x)


def _npz_labels(path: Path, arrays: dict, split: str) -> np.ndarray:
    y = arrays[f"y_{split}"]
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise InputError(f"{printable(path)}'s y_{split} is {y.dtype} {list(y.shape)}: give class labels 0, 1, 2, … "
                         "as (N,) integers")
    if y.size and y.min() < 0:
        raise InputError(f"{printable(path)}'s y_{split} holds the negative label {int(y.min())}: give class labels "
                         "0, 1, 2, …")
    class_count(f"{printable(path)}'s y_{split}", [y])  # before int64: a uint64 label 2**64-1 would become -1
    return y.astype(np.int64)
