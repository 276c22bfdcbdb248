"""Data given in memory (``report.build(data=...)``, the training callbacks), written once as a file that an
existing data format reads: a ``.npz`` in the Keras layout (``analysis.data.formats.npz``), named by the hash of
its bytes, ``data-<sha256[:16]>.npz``. The path is then the data option, so the store key, the manifest and the
report treat it exactly as a file given with ``--data``.

What is accepted (``data``):

- ``(images, labels)`` (a tuple, or a list whose first item is the images): the test split alone; or
  ``{"test": ..., "train": ...}`` (``train`` optional), each split given in any of these forms;
- images: a torch tensor or a NumPy array, N×C×H×W (C 1 or 3) or N×H×W (grey), uint8 (0..255) or floats in
  [0, 1] (before normalisation: the report normalises with ``mean``/``std``); floats are stored as
  ``round(x × 255)`` uint8, as the .npz reader reads them, so float and uint8 copies of one image set are one file;
- labels: integers 0, 1, 2, … (a tensor, an array or a list), one per image;
- a map-style ``torch.utils.data.Dataset`` whose items are ``(image, label)`` (image C×H×W or H×W: a tensor, an
  array or a PIL image), read in index order 0..len-1;
- a ``DataLoader``: its dataset, when map-style, read in index order (the items its sampler draws from: all of
  them, or a SubsetRandomSampler's subset; shuffling, batching and ``drop_last`` have no effect, so a shuffling
  loader gives the same file; a sampler drawing with replacement is refused); else the batches ``(images, labels)``
  it yields, in the order it yields them (with several workers that order must be deterministic for the same
  data to give the same store). Either way the reading stops with an error beyond ``MAX_BYTES`` of images: an
  endless stream is refused, never cut to a prefix silently.

The same images and labels give the same bytes (fixed zip dates and modes, stored uncompressed), in any process.
torch is never imported here: a torch object can only come from a caller that has imported it already.
"""

from __future__ import annotations

import dataclasses
import io
import sys
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from analysis.data.arrays import MAX_ARRAY_BYTES
from analysis.data.limits import class_count
from analysis.errors import InputError
from analysis.store.writer import holds, sha256_bytes, write_atomic

PREFIX = "data-"  # report.buildfolder recognises data-<sha256[:16]>.npz in the cache as this tool's
MAX_BYTES = MAX_ARRAY_BYTES  # the images, as uint8: the most the .npz reader takes
ACCEPTED = ("a path, (images, labels), {'test': (images, labels), 'train': (images, labels)}, a map-style "
            "Dataset of (image, label) or a DataLoader")
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest a zip can record: no clock in the bytes


@dataclasses.dataclass(frozen=True)
class DataFile:
    """The .npz of data given in memory, made but not yet written: its name is the hash of its bytes."""

    payload: bytes
    train_images: int = 0  # none: only a checkpoint or a model can be reported on (nothing to train on)

    @property
    def name(self) -> str:
        return f"{PREFIX}{sha256_bytes(self.payload)[:16]}.npz"

    def write(self, folder: Path) -> Path:
        """Write it into ``folder`` (atomically; kept when the same bytes are there) and return its path."""
        path = Path(folder) / self.name
        if not holds(path, self.payload):
            write_atomic(path, self.payload)
        return path


def data_file(data) -> DataFile:
    """Check and convert ``data`` (see the module's text) into the .npz bytes; refused in one line if bad."""
    splits = split_arrays(data)
    return DataFile(npz_bytes({"x_train": splits["train"][0], "y_train": splits["train"][1],
                               "x_test": splits["test"][0], "y_test": splits["test"][1]}), len(splits["train"][0]))


def split_arrays(data) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{"train", "test"}``: images N×H×W×C uint8 (the Keras layout) and labels int64; train may be empty."""
    if isinstance(data, Mapping):
        keys = set(data)
        if "test" not in keys or keys - {"train", "test"}:
            raise InputError(f"data as a dict has the keys {sorted(map(str, keys))}: give {{'test': (images, labels)}}"
                             ", and 'train' too if you like")
        splits = {split: images_and_labels(data[split], f"data['{split}']") for split in ("train", "test")
                  if split in data}
    else:
        splits = {"test": images_and_labels(data, "data")}
    test = splits["test"]
    if not len(test[0]):
        raise InputError("data: the test split has no images: give at least one image and its label")
    train = splits.get("train")
    if train is None or not len(train[0]):  # no train split: one empty layout, however it was given
        train = np.zeros((0, *test[0].shape[1:]), np.uint8), np.zeros(0, np.int64)
    if len(train[0]) and train[0].shape[1:] != test[0].shape[1:]:
        raise InputError(f"data: the train images are {_shape(train[0])} and the test images {_shape(test[0])}: "
                         "give images of one size and channel count")
    class_count("data's labels", [train[1], test[1]])  # a label of 10**9 would make 10**9 classes
    return {"train": train, "test": test}


def images_and_labels(value, where: str) -> tuple[np.ndarray, np.ndarray]:
    """One split as (images N×H×W×C uint8, labels int64), from a pair, a Dataset or a DataLoader."""
    # (images, labels); a list of two (image, label) items is a dataset
    if isinstance(value, (tuple, list)) and len(value) == 2 and (isinstance(value, tuple) or _is_array(value[0])):
        images, labels = pixels(value[0], f"{where}'s images"), labels_of(value[1], f"{where}'s labels")
        if len(images) != len(labels):
            raise InputError(f"{where} has {len(images):,} images but {len(labels):,} labels: give one label per image")
        return images, labels
    if _is_array(value):
        raise InputError(f"{where} is images without labels: give (images, labels)")
    loader = _torch_class("torch.utils.data", "DataLoader")
    if loader is not None and isinstance(value, loader):
        if _is_map_style(value.dataset):
            return from_items(value.dataset, f"{where}'s dataset", sampled(value, where))
        return from_batches(value, where)
    if _is_map_style(value):
        return from_items(value, where)
    iterable = _torch_class("torch.utils.data", "IterableDataset")
    if iterable is not None and isinstance(value, iterable):
        raise InputError(f"{where} is an IterableDataset: give it in a DataLoader (DataLoader(dataset, "
                         "batch_size=256)), which is read batch by batch")
    raise InputError(f"{where} is of type {type(value).__name__}: give {ACCEPTED}")


def sampled(loader, where: str) -> list[int]:
    """The indices a DataLoader over a map-style dataset reads, in index order: all of them, or the subset its
    sampler draws from (SubsetRandomSampler); the order it draws them in and ``drop_last`` change nothing."""
    data = sys.modules["torch.utils.data"]
    sampler, batches = loader.sampler, loader.batch_sampler
    if isinstance(sampler, data.WeightedRandomSampler) or getattr(sampler, "replacement", False):
        raise InputError(f"{where}'s sampler draws with replacement (another set of images each time): give its "
                         "dataset, or a DataLoader without that sampler")
    custom = batches is not None and type(batches) is not data.BatchSampler  # then loader.sampler is not used
    return sorted({int(index) for index in ((i for batch in batches for i in batch) if custom else sampler)})


def from_items(dataset, where: str, indices: list[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A map-style dataset, item by item in index order (``indices``: those only); each item (image, label)."""
    indices = range(len(dataset)) if indices is None else indices
    if not len(indices):
        return np.zeros((0, 0, 0, 1), np.uint8), np.zeros(0, np.int64)
    first = None
    for position, index in enumerate(indices):
        item = dataset[index]
        image = _item_image(item, index, where)
        if first is None:
            first = image
            _refuse_too_large(len(indices) * first.nbytes, f"{where}'s {len(indices):,} images")
            images, labels = np.empty((len(indices), *first.shape), np.uint8), np.empty(len(indices), np.int64)
        if image.shape != first.shape:
            raise InputError(f"{where}: item {index}'s image is {_shape(image)}, item {indices[0]}'s "
                             f"{_shape(first)} (H×W×C): give images of one size")
        images[position], labels[position] = image, _item_label(item, index, where)
    return images, labels


def _item_image(item, index: int, where: str) -> np.ndarray:
    if not isinstance(item, (tuple, list)) or len(item) != 2:
        raise InputError(f"{where}: item {index} is a {type(item).__name__}{_length(item)}, not (image, label): "
                         "give a Dataset whose items are (image, label)")
    image = item[0]
    if type(image).__module__.startswith("PIL."):  # H×W or H×W×C, as PIL gives them
        image = np.asarray(image)
        image = image[None] if image.ndim == 2 else image.transpose(2, 0, 1)
    return pixels(image, f"{where}: item {index}'s image", batch=False)[0]


def _item_label(item, index: int, where: str) -> int:
    return int(labels_of([_scalar(item[1])], f"{where}: item {index}'s label")[0])


def from_batches(loader, where: str) -> tuple[np.ndarray, np.ndarray]:
    """The batches an iterable-style DataLoader yields, each (images, labels), in the order it yields them."""
    images, labels, total = [], [], 0
    for number, batch in enumerate(loader):
        if not isinstance(batch, (tuple, list)) or len(batch) != 2:
            raise InputError(f"{where}: batch {number} is a {type(batch).__name__}{_length(batch)}, not (images, "
                             "labels): give a DataLoader whose batches are (images, labels)")
        pair = images_and_labels(tuple(batch), f"{where}: batch {number}")
        if images and pair[0].shape[1:] != images[0].shape[1:]:
            raise InputError(f"{where}: batch {number}'s images are {_shape(pair[0])}, batch 0's "
                             f"{_shape(images[0])}: give images of one size")
        total += pair[0].nbytes
        _refuse_too_large(total, f"{where}'s batches (an endless IterableDataset?)")
        images.append(pair[0])
        labels.append(pair[1])
    if not images:
        return np.zeros((0, 0, 0, 1), np.uint8), np.zeros(0, np.int64)
    return np.concatenate(images), np.concatenate(labels)


def pixels(value, where: str, batch: bool = True) -> np.ndarray:
    """Images as N×H×W×C uint8, from N×C×H×W or N×H×W (``batch``: else one image, C×H×W or H×W)."""
    given = _numpy(value, where)
    array = given if batch else given[None]
    if array.ndim == 3:
        array = array[:, None]
    if array.ndim != 4 or array.shape[1] not in (1, 3):
        wanted = "N×C×H×W or N×H×W" if batch else "C×H×W or H×W"
        hint = "; the channels go before height and width" if array.ndim == 4 and array.shape[3] in (1, 3) else ""
        raise InputError(f"{where} are {_shape(given)}: give {wanted} with C 1 (grey) or 3 (RGB){hint}")
    return np.ascontiguousarray(_as_uint8(array, where).transpose(0, 2, 3, 1))


def _as_uint8(array: np.ndarray, where: str) -> np.ndarray:
    if array.dtype == np.uint8:
        return array
    if array.dtype.kind == "f":
        if array.size and not (np.isfinite(array).all() and array.min() >= 0 and array.max() <= 1):
            raise InputError(f"{where} hold values outside [0, 1] (or NaN): give them before normalisation, floats "
                             "in [0, 1] or uint8; the report normalises with mean and std itself")
        return np.round(array * 255).astype(np.uint8)  # as the .npz reader turns floats into pixels
    raise InputError(f"{where} are {array.dtype}: give uint8 (0..255) or floats in [0, 1]")


def labels_of(value, where: str) -> np.ndarray:
    """Labels as int64 (N,), from integers: a tensor, an array or a list; N×1 is taken as N."""
    if _is_array(value):
        array = _numpy(value, where)
    else:
        try:
            array = np.asarray(list(value) if isinstance(value, Iterable) else value)
        except (TypeError, ValueError):  # ragged, or not numbers
            raise InputError(f"{where} are not a list of numbers: give integer class labels 0, 1, 2, …") from None
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1 or (array.size and array.dtype.kind not in "iu"):
        raise InputError(f"{where}: {array.dtype} of shape {_shape(array)}; give integer class labels 0, 1, 2, …, "
                         "one per image")
    class_count(where, [array])  # a negative label, or one that would make too many classes; before int64
    return array.astype(np.int64)


def npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    """A .npz of ``arrays`` whose bytes depend on the arrays alone: np.savez records the time in the zip."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for key, array in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=ZIP_DATE)
            info.create_system, info.external_attr = 3, 0o644 << 16  # the same on every platform
            archive.writestr(info, member.getvalue())
    return buffer.getvalue()


# ----------------------------------------------------------------------------------------------- helpers

def _torch_class(module: str, name: str):
    """A class of torch's, only when the caller has loaded torch (no object of it can exist otherwise)."""
    loaded = sys.modules.get(module)
    return getattr(loaded, name, None) if loaded is not None else None


def _is_tensor(value) -> bool:
    tensor = _torch_class("torch", "Tensor")
    return tensor is not None and isinstance(value, tensor)


def _is_array(value) -> bool:
    return isinstance(value, np.ndarray) or _is_tensor(value)


def _is_map_style(value) -> bool:
    """Items by index and a length (torch's map-style Dataset, or any such sequence), not a stream."""
    iterable = _torch_class("torch.utils.data", "IterableDataset")
    if iterable is not None and isinstance(value, iterable):
        return False
    return hasattr(type(value), "__getitem__") and hasattr(type(value), "__len__") and not isinstance(
        value, (str, bytes, Mapping)) and not _is_array(value)


def _numpy(value, where: str) -> np.ndarray:
    if _is_tensor(value):
        tensor = value.detach().cpu()
        if tensor.is_floating_point() and tensor.element_size() < 4:  # float16 and bfloat16: NumPy lacks one
            tensor = tensor.float()
        try:
            return tensor.numpy()
        except (TypeError, RuntimeError) as error:  # a sparse or quantised tensor
            raise InputError(f"{where} are a tensor NumPy cannot take ({error}): give a dense tensor") from None
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            raise InputError(f"{where} hold Python objects: give numbers")
        return value
    raise InputError(f"{where} are a {type(value).__name__}: give a torch tensor or a NumPy array")


def _scalar(label):
    """A label as a plain number: a 0-d or one-element tensor or array gives its value."""
    if _is_array(label) and tuple(label.shape) in ((), (1,)):
        return _numpy(label, "a label").reshape(()).item()
    return label


def _refuse_too_large(size: int, what: str) -> None:
    if size > MAX_BYTES:
        raise InputError(f"{what} hold more than {MAX_BYTES:,} bytes of images: more than a data file may hold; "
                         "give fewer images")


def _shape(array: np.ndarray) -> str:
    return "×".join(str(n) for n in array.shape) or "a scalar"


def _length(value) -> str:
    return f" of {len(value)}" if isinstance(value, (tuple, list)) else ""
