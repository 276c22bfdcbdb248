"""Parquet files in the layout the Hugging Face hub uses for image classification: an image column holding
encoded bytes (the ``Image`` feature: a struct of ``bytes`` and ``path``, or plain binary) and an integer
label column, one or more files per split (analysis.data.files.parquet_splits). Class names come from the
``huggingface`` metadata the hub writes into each file (a ``ClassLabel`` feature), else labels are named by
number. Read with pyarrow, one row group at a time: images stay encoded on disk until a batch needs them.

Every image's header is checked before anything runs (readable, within Pillow's pixel limit, one size
unless resized), as for image folders."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from analysis.data.files import parquet_splits, printable
from analysis.data.lazy import LazyImages
from analysis.errors import InputError

LABEL_NAMES = ("label", "labels", "fine_label", "class", "target")


def load_parquet(folder: Path, input_size: int | None):
    from analysis.data.datasets import DataSplits, ImageSet

    files = parquet_splits(folder)
    columns = _columns(files["test"][0])
    names = columns["names"]
    sets, sizes = {}, {}
    for split in ("train", "test"):
        table = _Table(files.get(split, []), columns["image"], columns["label"])
        sets[split], sizes[split] = table, table.labels
    top = int(max((s.max(initial=-1) for s in sizes.values()), default=-1))
    if not len(sizes["test"]):
        raise InputError(f"the test split of {printable(folder)} has no rows: give parquet files with test images")
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

    try:
        schema = pq.read_schema(path)
    except Exception as error:  # ArrowInvalid on a file that is not parquet
        raise InputError(f"cannot read {printable(path)} as parquet ({printable(error, 200)}): replace it with an "
                         "intact copy") from None
    features = _hub_features(schema)
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
    return {"image": image, "label": label, "names": list(names) if valid else None}


def _hub_features(schema) -> dict:
    """The ``features`` the hub writes under the ``huggingface`` metadata key; {} when absent or malformed."""
    try:
        info = json.loads((schema.metadata or {}).get(b"huggingface", b"{}"))
        features = info.get("info", {}).get("features", {})
    except (ValueError, AttributeError):
        return {}
    return features if isinstance(features, dict) else {}


def _holds_bytes(kind, pa) -> bool:
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        return True
    return pa.types.is_struct(kind) and any(kind.field(i).name == "bytes" for i in range(kind.num_fields))


class _Table:
    """The rows of one split across its files, addressed by (file, row group, row)."""

    def __init__(self, files: list[Path], image: str, label: str):
        import pyarrow.parquet as pq

        self.files, self.image = files, image
        self.places: list[tuple[int, int, int]] = []  # global row -> (file, row group, row in group)
        labels = []
        for f, path in enumerate(files):
            try:
                handle = pq.ParquetFile(path)
                for g in range(handle.num_row_groups):
                    column = handle.read_row_group(g, columns=[label]).column(0)
                    labels.append(np.asarray(column.to_numpy(zero_copy_only=False)))
                    self.places.extend((f, g, r) for r in range(len(column)))
            except InputError:
                raise
            except Exception as error:
                raise InputError(f"cannot read {printable(path)} ({printable(error, 200)}): check that it has the "
                                 f"columns {image!r} and {label!r} of the first file, or replace it") from None
        values = np.concatenate(labels) if labels else np.zeros(0, np.int64)
        if values.dtype.kind not in "iu" or (len(values) and values.min() < 0):
            raise InputError(f"the label column {label!r} of {printable(files[0])} holds {values.dtype} values: give "
                             "labels 0, 1, 2, … (a missing label is not allowed)")
        self.labels = values.astype(np.int64)

    def common_shape(self, folder: Path) -> tuple[int, int, int]:
        from analysis.data.datasets import _image_size

        sizes = {}
        for index, encoded in self.encoded_rows():
            sizes.setdefault(_image_size(self.name(index), io.BytesIO(encoded)), index)
        if len(sizes) > 1:
            shown = ", ".join(f"{h}×{w}" for w, h in sorted(sizes)[:4])
            raise InputError(f"images in {printable(folder)} have different sizes ({shown}): give --input-size N to "
                             "resize them all to N×N")
        width, height = next(iter(sizes), (1, 1))
        return 3, height, width

    def encoded_rows(self):
        reader = _RowReader(self.files, self.image)
        for index, place in enumerate(self.places):
            yield index, reader.encoded(place)
        reader.drop()

    def name(self, index: int) -> str:
        f, g, r = self.places[index]
        return f"{self.files[f].name}, row {index}"

    def images(self, input_size: int | None, shape, split: str) -> LazyImages:
        if input_size:
            from analysis.data.datasets import _image_size

            for index, encoded in self.encoded_rows():  # readable and within the pixel limit
                _image_size(self.name(index), io.BytesIO(encoded))
            shape = (3, input_size, input_size)
        shape = shape or (3, 1, 1)
        return LazyImages(len(self.places), shape, _Decoder(self.files, self.image, self.places, input_size, shape),
                          f"{split} rows of parquet files")


class _RowReader:
    """Encoded images by place, one row group held at a time (rows are read in order, batch by batch)."""

    def __init__(self, files: list[Path], image: str):
        self.files, self.image, self.held, self.group = files, image, None, None

    def encoded(self, place: tuple[int, int, int]) -> bytes:
        import pyarrow.parquet as pq

        f, g, r = place
        if self.held != (f, g):
            self.drop()
            self.group = pq.ParquetFile(self.files[f]).read_row_group(g, columns=[self.image]).column(0)
            self.held = (f, g)
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

    def __init__(self, files, image, places, input_size, shape):
        self.files, self.image, self.places, self.input_size, self.shape = files, image, places, input_size, shape
        self.reader = None

    def __call__(self, indices) -> np.ndarray:
        from analysis.data.datasets import _read_image

        if self.reader is None:
            self.reader = _RowReader(self.files, self.image)  # made in the worker: pyarrow handles stay there
        out = np.empty((len(indices), *self.shape), np.uint8)
        for position, index in enumerate(indices):
            f, _, _ = self.places[index]
            name = f"{self.files[f].name}, row {index}"
            image = _read_image(name, self.input_size, io.BytesIO(self.reader.encoded(self.places[index])))
            if image.shape != self.shape:
                raise InputError(f"image {name} is {image.shape[1]}×{image.shape[2]}, unlike the others: give "
                                 "--input-size N to resize them all")
            out[position] = image
        return out

    def __getstate__(self):
        return {**self.__dict__, "reader": None}
