"""Data formats (issue 15): CIFAR-10 and CIFAR-100 as torchvision's download leaves them, read by a restricted
unpickler that never runs what a pickle asks for; NumPy .npz files in the Keras layout, never with pickles.
Every file is written here, small, in the layout the real ones have."""

import os
import pickle
import zipfile

import numpy as np
import pytest
from conftest import run_cli

from analysis.data import datasets
from analysis.data.files import data_identity
from analysis.errors import InputError

MARKER = "payload-ran"


def py2_pickle(value, path):
    """As CIFAR's files were written (Python 2 cPickle): str keys and names become bytes in Python 3."""
    path.write_bytes(pickle.dumps(value, protocol=2))


def cifar10(root, per_batch=6, test=10):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        n = test if name == "test_batch" else per_batch
        py2_pickle({b"batch_label": name.encode(), b"labels": [int(v) for v in rng.integers(0, 10, n)],
                    b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                    b"filenames": [f"{i}.png".encode() for i in range(n)]}, folder / name)
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]
    py2_pickle({b"label_names": names, b"num_cases_per_batch": per_batch, b"num_vis": 3072}, folder / "batches.meta")
    return folder


def cifar100(root):
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for name, n in (("train", 8), ("test", 5)):
        py2_pickle({b"filenames": [b"x"] * n, b"batch_label": name.encode(),
                    b"fine_labels": [int(v) for v in rng.integers(0, 100, n)],
                    b"coarse_labels": [int(v) for v in rng.integers(0, 20, n)],
                    b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8)}, folder / name)
    py2_pickle({b"fine_label_names": [f"fine{i}".encode() for i in range(100)],
                b"coarse_label_names": [f"coarse{i}".encode() for i in range(20)]}, folder / "meta")
    return folder


def test_cifar10_reads_as_its_authors_split_it(tmp_path):
    folder = cifar10(tmp_path)
    splits = datasets.load(str(tmp_path))  # the folder torchvision downloads into, or the batches folder itself
    again = datasets.load(str(folder))
    assert splits.kind == "cifar-10" and splits.class_names[:2] == ["airplane", "automobile"]
    assert len(splits.train) == 30 and len(splits.test) == 10 and splits.image_shape == (3, 32, 32)
    test = pickle.loads((folder / "test_batch").read_bytes(), encoding="bytes")
    assert np.array_equal(splits.test.images.reshape(10, -1), test[b"data"])  # CIFAR rows: R plane, G, B
    assert splits.test.labels.tolist() == test[b"labels"]
    assert np.array_equal(again.test.images, splits.test.images)
    assert data_identity(str(tmp_path))["kind"] == "cifar-10"
    assert sorted(data_identity(str(tmp_path))["files"]) == sorted(p.name for p in folder.iterdir())


def test_cifar100_uses_the_fine_labels(tmp_path):
    cifar100(tmp_path)
    splits = datasets.load(str(tmp_path))
    assert splits.kind == "cifar-100" and len(splits.class_names) == 100 and splits.class_names[3] == "fine3"
    assert len(splits.train) == 8 and len(splits.test) == 5


class Payload:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("where", ["test_batch", "batches.meta"])
def test_a_pickle_that_would_run_code_is_refused_and_never_runs(tmp_path, where):
    folder = cifar10(tmp_path)
    marker = tmp_path / MARKER
    loaded = pickle.loads((folder / where).read_bytes(), encoding="bytes")
    loaded[b"extra"] = Payload(marker)
    (folder / where).write_bytes(pickle.dumps(loaded, protocol=2))
    with pytest.raises(InputError, match=r"asks to load posix\.system, which a CIFAR batch never holds") as error:
        datasets.load(str(tmp_path))
    assert "\n" not in str(error.value) and not marker.exists()


def test_the_command_line_refuses_the_payload_in_one_line(tmp_path):
    folder = cifar10(tmp_path / "data")
    marker = tmp_path / MARKER
    loaded = pickle.loads((folder / "test_batch").read_bytes(), encoding="bytes")
    loaded[b"extra"] = Payload(marker)
    (folder / "test_batch").write_bytes(pickle.dumps(loaded, protocol=2))
    result = run_cli("--data", str(tmp_path / "data"), "--model", "torchvision:resnet18", "--input-size", "32",
                     "--out", str(tmp_path / "out"), "--format", "html")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "asks to load posix.system" in result.stderr and not marker.exists()


@pytest.mark.parametrize("damage, says", [
    (lambda f: (f / "test_batch").write_bytes(b"\x80\x02}q\x00(U"), "cannot read"),
    (lambda f: py2_pickle([1, 2, 3], f / "test_batch"), "holds a list, not a CIFAR batch"),
    (lambda f: py2_pickle({b"data": np.zeros((2, 10), np.uint8), b"labels": [0, 1]}, f / "test_batch"),
     "not uint8 rows of 3,072 values"),
    (lambda f: py2_pickle({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, f / "test_batch"),
     "2 images but 1 labels"),
    (lambda f: py2_pickle({b"data": np.zeros((1, 3072), np.uint8), b"labels": [10]}, f / "test_batch"),
     "label 10, beyond the 10 classes"),
])
def test_damaged_cifar_files_are_one_line(tmp_path, damage, says):
    damage(cifar10(tmp_path))
    with pytest.raises(InputError, match=says) as error:
        datasets.load(str(tmp_path))
    assert "\n" not in str(error.value)


def write_npz(path, **arrays):
    np.savez_compressed(path, **arrays)
    return path


def keras_arrays(rgb=False):
    rng = np.random.default_rng(0)
    shape = (12, 28, 28, 3) if rgb else (12, 28, 28)
    return {"x_train": rng.integers(0, 256, shape, dtype=np.uint8), "y_train": rng.integers(0, 4, 12),
            "x_test": rng.integers(0, 256, (6, *shape[1:]), dtype=np.uint8), "y_test": np.arange(6) % 4}


def test_npz_in_the_keras_layout(tmp_path):
    grey = write_npz(tmp_path / "mnist.npz", **keras_arrays())
    splits = datasets.load(str(grey))
    assert splits.kind == "npz" and splits.image_shape == (1, 28, 28) and len(splits.test) == 6
    assert splits.class_names == ["0", "1", "2", "3"]
    assert np.array_equal(splits.test.images[:, 0], keras_arrays()["x_test"])
    arrays = keras_arrays(rgb=True)
    rgb = datasets.load(str(write_npz(tmp_path / "cifar.npz", **{**arrays, "y_test": arrays["y_test"][:, None]})))
    assert rgb.image_shape == (3, 28, 28) and np.array_equal(rgb.test.images.transpose(0, 2, 3, 1), arrays["x_test"])
    assert rgb.test.labels.tolist() == [0, 1, 2, 3, 0, 1]
    floats = datasets.load(str(write_npz(tmp_path / "f.npz", **{**keras_arrays(), "x_test": np.full((6, 28, 28), 0.5)})))
    assert floats.test.images.max() == 128
    assert data_identity(str(grey))["kind"] == "npz"


@pytest.mark.parametrize("change, says", [
    ({"x_test": None}, "lacks x_test"),
    ({"x_test": np.array([{"a": 1}] * 6, dtype=object)}, "holds Python objects"),
    ({"x_test": np.zeros((6, 28), np.uint8)}, "has shape [6, 28]"),
    ({"x_test": np.full((6, 28, 28), 3.0)}, "has float pixels from 3 to 3: give floats in 0..1"),
    ({"x_test": np.where(np.arange(6)[:, None, None] < 2, np.nan, np.full((6, 28, 28), 0.5))},
     "holds 1,568 NaN or infinite pixels: give finite values"),
    ({"x_test": np.full((6, 28, 28), 7, np.int16)}, "x_test is int16: give uint8 pixels"),
    ({"y_test": np.arange(5)}, "6 test images but 5 labels"),
    ({"y_test": np.array([0.5] * 6)}, "give class labels"),
    ({"y_test": np.array([0, 1, -1, 2, 0, 1])}, "holds the negative label -1: give class labels 0, 1, 2"),
    ({"x_test": np.zeros((0, 28, 28), np.uint8), "y_test": np.zeros(0, np.int64)}, "has no images"),
])
def test_bad_npz_files_are_one_line(tmp_path, change, says):
    arrays = {**keras_arrays(), **change}
    path = tmp_path / "bad.npz"
    if any(value is not None and value.dtype == object for value in arrays.values()):
        np.savez(path, **{k: v for k, v in arrays.items() if v is not None})  # allow_pickle on writing
    else:
        write_npz(path, **{k: v for k, v in arrays.items() if v is not None})
    with pytest.raises(InputError, match=says.replace("[", r"\[").replace("]", r"\]")) as error:
        datasets.load(str(path))
    assert "\n" not in str(error.value)


def test_a_npz_that_is_not_a_zip_is_one_line(tmp_path):
    (tmp_path / "x.npz").write_text("not a zip")
    with pytest.raises(InputError, match="cannot read .*x.npz as a .npz file"):
        datasets.load(str(tmp_path / "x.npz"))
    with zipfile.ZipFile(tmp_path / "y.npz", "w") as archive:
        archive.writestr("x_train.npy", b"\x93NUMPY garbage")
    with pytest.raises(InputError, match="y.npz"):
        datasets.load(str(tmp_path / "y.npz"))


@pytest.mark.slow  # two analyses of resnet18 on the command line
def test_a_report_from_cifar10(tmp_path):
    cifar10(tmp_path / "data")
    out = tmp_path / "out"
    result = run_cli("--data", str(tmp_path / "data"), "--model", "torchvision:resnet18", "--input-size", "64",
                     "--sections", "parameters,accuracy", "--out", str(out), "--format", "html", "--quiet")
    assert result.returncode == 0, result.stderr  # arrays are resized like image files
    assert "resized from 32×32 to 64×64" in (out / "report.html").read_text()
    result = run_cli("--data", str(tmp_path / "data"), "--model", "torchvision:resnet18",
                     "--sections", "parameters,accuracy", "--out", str(out), "--format", "html", "--quiet")
    assert result.returncode == 0, result.stderr
    html = (out / "report.html").read_text()
    assert "CIFAR-10" in html and "10 test images" in html.replace(",", "")


# --- parquet (Hugging Face hub layout) ---------------------------------------------------------------------

def hub_parquet(root, names=("cat", "dog", "fox"), per_split=None, size=16, metadata=True, split_files=1):
    """data/<split>-0000i-of-0000n.parquet with an Image struct column and a ClassLabel, as the hub writes."""
    import io as _io
    import json as _json

    import pyarrow as pa
    import pyarrow.parquet as pq
    from PIL import Image

    rng = np.random.default_rng(0)
    per_split = per_split or {"train": 9, "test": 6}
    features = {"image": {"_type": "Image"}, "label": {"_type": "ClassLabel", "names": list(names)}}
    meta = {b"huggingface": _json.dumps({"info": {"features": features}}).encode()} if metadata else None
    pixels = {}
    (root / "data").mkdir(parents=True)
    for split, n in per_split.items():
        rows, labels = [], []
        for i in range(n):
            array = rng.integers(0, 256, (size, size, 3), np.uint8)
            buffer = _io.BytesIO()
            Image.fromarray(array).save(buffer, format="PNG")
            rows.append({"bytes": buffer.getvalue(), "path": f"{i}.png"})
            labels.append(i % len(names))
            pixels.setdefault(split, []).append(array)
        for part in range(split_files):
            chosen = slice(part, None, split_files)
            table = pa.table({"image": rows[chosen], "label": pa.array(labels[chosen], pa.int64())})
            table = table.replace_schema_metadata(meta)
            pq.write_table(table, root / "data" / f"{split}-{part:05d}-of-{split_files:05d}.parquet", row_group_size=4)
    return pixels


def test_parquet_in_the_hub_layout(tmp_path):
    pixels = hub_parquet(tmp_path / "hub")
    splits = datasets.load(str(tmp_path / "hub"))
    assert splits.kind == "parquet" and splits.class_names == ["cat", "dog", "fox"]
    assert len(splits.train) == 9 and len(splits.test) == 6 and splits.image_shape == (3, 16, 16)
    assert splits.test.labels.tolist() == [0, 1, 2, 0, 1, 2]
    assert np.array_equal(np.asarray(splits.test.images).transpose(0, 2, 3, 1), np.stack(pixels["test"]))
    assert np.array_equal(splits.test.images[5], pixels["test"][5].transpose(2, 0, 1))  # a later row group
    identity = data_identity(str(tmp_path / "hub"))
    assert identity["kind"] == "parquet" and sorted(identity["files"]) == [
        "data/test-00000-of-00001.parquet", "data/train-00000-of-00001.parquet"]
    resized = datasets.load(str(tmp_path / "hub"), input_size=8)
    assert resized.image_shape == (3, 8, 8) and resized.test.images[0].shape == (3, 8, 8)


def test_parquet_shards_and_numbered_labels_without_metadata(tmp_path):
    hub_parquet(tmp_path / "hub", metadata=False, split_files=2)
    splits = datasets.load(str(tmp_path / "hub"))
    assert splits.class_names == ["0", "1", "2"] and len(splits.test) == 6
    # rows follow the files in name order: shard 0 holds rows 0, 2, 4 of the original order
    assert splits.test.labels.tolist() == [0, 2, 1, 1, 0, 2]


@pytest.mark.slow  # DataLoader workers: each spawned process imports torch
def test_parquet_streams_through_workers(tmp_path):
    import torch

    from analysis.batches import Inputs

    hub_parquet(tmp_path / "hub")
    images = datasets.load(str(tmp_path / "hub")).test.images
    batches = [torch.cat(list(Inputs(images, (0.5,) * 3, (0.5,) * 3, batch_size=4, workers=w).batches("p", False)))
               for w in (0, 2)]
    assert torch.equal(batches[0], batches[1]) and batches[0].shape == (6, 3, 16, 16)


def test_bad_parquet_is_one_line(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "a" / "data").mkdir(parents=True)
    (tmp_path / "a" / "data" / "test-00000-of-00001.parquet").write_text("not parquet")
    with pytest.raises(InputError, match="cannot read .* as parquet"):
        datasets.load(str(tmp_path / "a"))
    (tmp_path / "b").mkdir()
    pq.write_table(pa.table({"text": ["x"], "score": [1.5]}), tmp_path / "b" / "test.parquet")
    with pytest.raises(InputError, match="has no image column"):
        datasets.load(str(tmp_path / "b"))
    import json as _json

    (tmp_path / "c").mkdir()
    png = (tmp_path / "c" / "x.png")
    from PIL import Image

    Image.new("RGB", (4, 4)).save(png)
    meta = {b"huggingface": _json.dumps({"info": {"features": {"label": {"_type": "ClassLabel", "names": ["a"]}}}}).encode()}
    table = pa.table({"image": [{"bytes": png.read_bytes(), "path": "x"}], "label": [1]}).replace_schema_metadata(meta)
    pq.write_table(table, tmp_path / "c" / "test.parquet")
    with pytest.raises(InputError, match="holds label 1, but its metadata names 1 classes"):
        datasets.load(str(tmp_path / "c"))
    (tmp_path / "d").mkdir()
    pq.write_table(pa.table({"image": [{"bytes": b"garbage", "path": "x"}], "label": [0]}), tmp_path / "d" / "test.parquet")
    with pytest.raises(InputError, match=r"cannot read image test.parquet, row 0"):
        datasets.load(str(tmp_path / "d"))


def test_data_without_training_images_and_no_checkpoint_is_one_line(tmp_path):
    """The default model is trained on the train split: an empty one is refused before training, in one line
    (it was a ZeroDivisionError inside the training loop)."""
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x_train=np.zeros((0, 28, 28), np.uint8), y_train=np.zeros(0, np.int64),
             x_test=rng.integers(0, 256, (10, 28, 28), dtype=np.uint8), y_test=np.arange(10) % 2)
    result = run_cli("--data", str(tmp_path / "d.npz"), "--out", str(tmp_path / "out"), "--format", "html", "--quiet")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert "has no training images, and without --checkpoint the default model is trained on them" in lines[0]
