"""Parquet files in the layout the Hugging Face hub uses for image classification: an image column holding
encoded bytes (the ``Image`` feature: a struct of ``bytes`` and ``path``, or plain binary) and an integer
label column, one or more files per split (analysis.data.formats.parquet.parquet_splits). Class names come
from the ``huggingface`` metadata the hub writes into each file (a ``ClassLabel`` feature), else labels are
named by number. Read with pyarrow, one row group at a time: images stay encoded on disk until a batch needs
them.

Every image's header is checked before anything runs (readable, within Pillow's pixel limit, one size
unless resized), as for image folders."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from analysis.data.formats import ReadOptions
from analysis.data.formats.parquet import parquet_splits
from analysis.data.images import image_size, read_image
from analysis.data.lazy import LazyImages
from analysis.data.limits import (
    MAX_METADATA_BYTES,
    MAX_ROW_GROUP_BYTES,
    class_count,
    refuse_too_many_classes,
    refuse_too_many_rows,
)
from analysis.data.paths import printable, read_errors, regular_file
from analysis.data.splits import DataSplits, ImageSet
from analysis.errors import InputError

LABEL_NAMES = ("label", "labels", "fine_label", "class", "target")


def read_parquet(data: str | None, options: ReadOptions) -> DataSplits:
    """The parquet format's reader (analysis.data.formats.parquet)."""
    return load_parquet(Path(data), options.input_size)


def load_parquet(folder: Path, input_size: int | None) -> DataSplits:
    files = parquet_splits(folder)
    columns = _columns(files["test"][0])
    names = columns["names"]
    sets = {split: _Table(files.get(split, []), columns) for split in ("train", "test")}
    if not len(sets["test"].labels):
        raise InputError(f"the test split of {printable(folder)} has no rows: give parquet files with test images")
    top = class_count(f"the label column {columns['label']!r} of {printable(folder)}",
                      [table.labels for table in sets.values()]) - 1
    if names is None:
        names = [str(c) for c in range(top + 1)]
    elif top >= len(names):
        raise InputError(f"{printable(folder)} holds label {top}, but its metadata names {len(names)} classes: the "
                         "labels or the metadata are wrong; give --class-names with one name per class")
    shape = None if input_size else sets["test"].common_shape(folder)
    splits = {split: ImageSet(table.images(input_size, shape, split), table.labels) for split, table in sets.items()}
    described = f", resized to {input_size}×{input_size}" if input_size else ""
    return DataSplits(
        train=splits["train"], test=splits["test"],
        description=f"parquet files in {folder} ({len(splits['train']):,} train, {len(splits['test']):,} test "
                    f"images, {len(names)} classes{described})",
        class_names=names, kind="parquet")


def _columns(path: Path) -> dict:
    """Which column holds the images and which the labels, and the class names, from one file's schema."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    with read_errors(regular_file(path), "parquet"):  # ArrowInvalid on a file that is not parquet
        schema = pq.read_schema(path)
    features = _hub_features(path, schema)
    image = next((f.name for f in schema if features.get(f.name, {}).get("_type") == "Image"), None)
    if image is None:
        image = next((f.name for f in schema if _holds_bytes(f.type, pa)), None)
    label = next((n for n, f in features.items() if f.get("_type") == "ClassLabel" and n in schema.names), None)
    if label is None:
        label = next((f.name for f in schema if f.name in LABEL_NAMES and pa.types.is_integer(f.type)), None)
    if label is None:
        integers = [f.name for f in schema if pa.types.is_integer(f.type)]
        label = integers[0] if len(integers) == 1 else None
    if image is None or label is None:
        raise InputError(f"{printable(path)} has no {'image column (encoded bytes)' if image is None else 'label column'}"
                         f" among {', '.join(printable(n, 40) for n in schema.names[:8])}: give parquet files with an "
                         "image column and an integer label column, as the Hugging Face hub writes them")
    names = features.get(label, {}).get("names")
    valid = isinstance(names, list) and names and all(isinstance(n, str) for n in names)
    if valid:
        refuse_too_many_classes(f"the metadata of {printable(path)}", len(names), "names")
    return {"image": image, "label": label, "names": list(names) if valid else None,
            "image_leaf": _image_leaf(schema.field(image).type, image, pa)}


def _hub_features(path: Path, schema) -> dict:
    """The ``features`` the hub writes under the ``huggingface`` metadata key, those described by an object;
    {} when absent or malformed. Metadata beyond MAX_METADATA_BYTES are refused before they are parsed."""
    text = (schema.metadata or {}).get(b"huggingface", b"{}")
    if len(text) > MAX_METADATA_BYTES:
        raise InputError(f"{printable(path)} holds {len(text):,} bytes of huggingface metadata, more than the limit "
                         f"of {MAX_METADATA_BYTES:,}: the file is damaged; replace it with an intact copy")
    try:
        info = json.loads(text)
        features = info.get("info", {}).get("features", {})
    except (ValueError, AttributeError, RecursionError):  # RecursionError: JSON nested beyond Python's stack
        return {}
    return {name: feature for name, feature in features.items() if isinstance(feature, dict)} \
        if isinstance(features, dict) else {}


def _image_leaf(kind, image: str, pa) -> str | None:
    """The column path holding the encoded images (``image.bytes`` in the hub's struct), read as a dictionary:
    a file may store one image once and refer to it from every row, which read densely would need the rows
    times its size (a 500 KB file made 2 GB)."""
    if pa.types.is_struct(kind):
        return f"{image}.bytes" if kind.get_field_index("bytes") >= 0 else None
    return image if pa.types.is_binary(kind) or pa.types.is_large_binary(kind) else None


def _holds_bytes(kind, pa) -> bool:
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        return True
    return pa.types.is_struct(kind) and any(kind.field(i).name == "bytes" for i in range(kind.num_fields))


class _Table:
    """The rows of one split across its files, addressed by (file, row group, row in the group): the row
    groups in order, and where each starts (a few numbers per row group, none per row)."""

    def __init__(self, files: list[Path], columns: dict):
        import pyarrow.parquet as pq

        image, label = columns["image"], columns["label"]
        self.files, self.image, self.leaf = files, image, columns["image_leaf"]
        self.groups: list[tuple[int, int]] = []  # (file, row group), in reading order
        handles = [self._opened(path, pq) for path in files]
        refuse_too_many_rows(f"the {len(files)} parquet file(s) of this split",
                             sum(handle.metadata.num_rows for handle in handles))
        labels = []
        for f, (path, handle) in enumerate(zip(files, handles)):
            try:
                for g in range(handle.num_row_groups):
                    self._refuse_large_group(path, handle.metadata.row_group(g), g)
                    column = handle.read_row_group(g, columns=[label]).column(0)
                    labels.append(np.asarray(column.to_numpy(zero_copy_only=False)))
                    self.groups.append((f, g))
            except InputError:
                raise
            except Exception as error:
                raise InputError(f"cannot read {printable(path)} ({printable(error, 200)}): check that it has the "
                                 f"columns {image!r} and {label!r} of the first file, or replace it") from None
        self.starts = np.cumsum([0, *(len(part) for part in labels)], dtype=np.int64)  # row groups' first rows
        values = np.concatenate(labels) if labels else np.zeros(0, np.int64)
        where = f"the label column {label!r} of {printable(files[0]) if files else 'no file'}"
        if values.dtype.kind not in "iu":
            raise InputError(f"{where} holds {values.dtype} values: give labels 0, 1, 2, … (a missing label is not "
                             "allowed)")
        class_count(where, [values])  # a negative label, or too many classes; before int64, where 2**64-1 is -1
        self.labels = values.astype(np.int64)

    @staticmethod
    def _opened(path: Path, pq):
        with read_errors(regular_file(path), "parquet"):
            return pq.ParquetFile(path)

    def _refuse_large_group(self, path: Path, group, g: int) -> None:
        """A row group's image column, decompressed, as its metadata declare it: held whole when its images
        are read, so refused beyond MAX_ROW_GROUP_BYTES before it is read."""
        size = sum(group.column(i).total_uncompressed_size for i in range(group.num_columns)
                   if group.column(i).path_in_schema in (self.image, self.leaf)
                   or group.column(i).path_in_schema.startswith(f"{self.image}."))
        if size > MAX_ROW_GROUP_BYTES:
            raise InputError(f"row group {g} of {printable(path)} declares {size:,} bytes of images, more than the "
                             f"limit of {MAX_ROW_GROUP_BYTES:,}: the file is damaged, or written with row groups too "
                             "large to read; write it with smaller row groups")

    def place(self, index: int) -> tuple[int, int, int]:
        """(file, row group, row in the group) of row ``index`` of the split."""
        k = int(np.searchsorted(self.starts, index, side="right")) - 1
        f, g = self.groups[k]
        return f, g, index - int(self.starts[k])

    def common_shape(self, folder: Path) -> tuple[int, int, int]:
        sizes = {}
        for index, encoded in self.encoded_rows():
            sizes.setdefault(image_size(self.name(index), io.BytesIO(encoded)), index)
        if len(sizes) > 1:
            shown = ", ".join(f"{h}×{w}" for w, h in sorted(sizes)[:4])
            raise InputError(f"images in {printable(folder)} have different sizes ({shown}): give --input-size N to "
                             "resize them all to N×N")
        width, height = next(iter(sizes), (1, 1))
        return 3, height, width

    def encoded_rows(self):
        reader = _RowReader(self.files, self.image, self.leaf)
        for index in range(len(self.labels)):
            yield index, reader.encoded(self.place(index))
        reader.drop()

    def name(self, index: int) -> str:
        return f"{self.files[self.place(index)[0]].name}, row {index}"

    def images(self, input_size: int | None, shape, split: str) -> LazyImages:
        if input_size:
            for index, encoded in self.encoded_rows():  # readable and within the pixel limit
                image_size(self.name(index), io.BytesIO(encoded))
            shape = (3, input_size, input_size)
        shape = shape or (3, 1, 1)
        return LazyImages(len(self.labels), shape, _Decoder(self, input_size, shape), f"{split} rows of parquet files")


class _RowReader:
    """Encoded images by place, one row group held at a time (rows are read in order, batch by batch)."""

    def __init__(self, files: list[Path], image: str, leaf: str | None):
        self.files, self.image, self.leaf, self.held, self.group = files, image, leaf, None, None

    def encoded(self, place: tuple[int, int, int]) -> bytes:
        import pyarrow.parquet as pq

        f, g, r = place
        if self.held != (f, g):
            self.drop()
            # Damaged pages (ArrowInvalid: "Corrupt snappy compressed data", an OSError, …) are found here, also
            # in a DataLoader worker: one line naming the file, which the pass reports as it stops.
            with read_errors(regular_file(self.files[f]), "parquet"):
                handle = pq.ParquetFile(self.files[f], read_dictionary=[self.leaf] if self.leaf else None)
                self.group = handle.read_row_group(g, columns=[self.image]).column(0)
            self.held = (f, g)
        with read_errors(self.files[f], "parquet"):
            value = self.group[r].as_py()
        if isinstance(value, dict):
            value = value.get("bytes")
        if not isinstance(value, bytes):
            raise InputError(f"{printable(self.files[f])}, row {r} of row group {g}, holds no image bytes: give "
                             "images as encoded bytes (PNG, JPEG, …)")
        return value

    def drop(self) -> None:
        """Lets go of the row group held and hands pyarrow's freed pages back to the system: its allocator
        keeps them otherwise (86 MiB after checking the headers of 10,000 rows of 64 px PNG)."""
        import pyarrow as pa

        self.group = self.held = None
        pa.default_memory_pool().release_unused()


class _Decoder:
    """Decodes the rows at given positions (a class: DataLoader workers take it)."""

    def __init__(self, table: _Table, input_size, shape):
        self.table, self.input_size, self.shape = table, input_size, shape
        self.reader = None

    def __call__(self, indices) -> np.ndarray:
        table = self.table
        if self.reader is None:  # made in the worker: pyarrow handles stay there
            self.reader = _RowReader(table.files, table.image, table.leaf)
        out = np.empty((len(indices), *self.shape), np.uint8)
        for position, index in enumerate(indices):
            place = table.place(index)
            name = table.name(index)
            image = read_image(name, self.input_size, io.BytesIO(self.reader.encoded(place)))
            if image.shape != self.shape:
                raise InputError(f"image {name} is {image.shape[1]}×{image.shape[2]}, unlike the others: give "
                                 "--input-size N to resize them all")
            out[position] = image
        return out

    def __getstate__(self):
        return {**self.__dict__, "reader": None}
