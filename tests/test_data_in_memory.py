"""Data given in memory (issue 32): arrays, tensors, a Dataset or a DataLoader are written once into the build
folder's cache as a content-named .npz the data formats read, so they give the store that file gives on the
command line; bad objects are one line; the training callbacks take them and refuse a model without data; `clean`
removes those files and nothing else."""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ROOT, run_cli

import report
from analysis import inmemory
from analysis.errors import InputError
from analysis.models.assignment import AssignmentCNN
from report.pipeline import current_store
from report.training import Reporter

FIXTURES = Path(__file__).resolve().parent / "fixtures"
QUICK = {"sections": "assignment", "formats": "html"}


def digits(count: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``count`` random 1×28×28 uint8 images, labels 0..9."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (count, 1, 28, 28), dtype=np.uint8), np.arange(count) % 10


def store_files(store: Path) -> dict[str, bytes]:
    return {p.relative_to(store).as_posix(): p.read_bytes() for p in sorted(store.rglob("*")) if p.is_file()}


class Stream(torch.utils.data.IterableDataset):
    """An iterable-style dataset (no length): a DataLoader over it is read batch by batch."""

    def __init__(self, images, labels, endless=False):
        self.images, self.labels, self.endless = images, labels, endless

    def __iter__(self):
        while True:
            for image, label in zip(self.images, self.labels):
                yield torch.from_numpy(image), int(label)
            if not self.endless:
                return


# ----------------------------------------------------------------------------------------- one file, one store

def test_tensors_arrays_datasets_and_loaders_of_the_same_images_make_one_file():
    x, y = digits()
    dataset = torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    forms = {
        "arrays": (x, y),
        "float tensors in [0, 1]": (torch.from_numpy(x).float() / 255, torch.from_numpy(y)),
        "N×H×W and a list": (x[:, 0], [int(v) for v in y]),
        "a Dataset": dataset,
        "a shuffling DataLoader": torch.utils.data.DataLoader(dataset, batch_size=32, shuffle=True),
        "a DataLoader of a stream": torch.utils.data.DataLoader(Stream(x, y), batch_size=50),
        "a dict": {"test": (x, y)},
        "an empty train split": {"train": (x[:0], y[:0]), "test": (x, y)},
    }
    payloads = {form: inmemory.data_file(data).payload for form, data in forms.items()}
    assert len(set(payloads.values())) == 1, {form: inmemory.DataFile(p).name for form, p in payloads.items()}
    # Another process makes the same bytes (np.savez would record the time in the zip).
    script = ("import sys, numpy as np; from analysis.inmemory import data_file\n"
              "rng = np.random.default_rng(0)\n"
              "x = rng.integers(0, 256, (200, 1, 28, 28), dtype=np.uint8)\n"
              "sys.stdout.write(data_file((x, np.arange(200) % 10)).name)")
    other = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    assert other.stdout == inmemory.DataFile(payloads["arrays"]).name
    with_train = inmemory.data_file({"train": (x, y), "test": (x[:50], y[:50])}).payload
    assert with_train != payloads["arrays"]


def test_a_loader_with_a_subset_sampler_gives_its_subset_whatever_order_it_draws_in():
    x, y = digits()
    dataset = torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    chosen = [150, 3, 77, 20, 199]
    subset = torch.utils.data.DataLoader(dataset, batch_size=2, sampler=torch.utils.data.SubsetRandomSampler(chosen),
                                         drop_last=True)
    assert inmemory.data_file(subset).payload == inmemory.data_file((x[sorted(chosen)], y[sorted(chosen)])).payload
    weighted = torch.utils.data.DataLoader(dataset, sampler=torch.utils.data.WeightedRandomSampler([1.0] * 200, 50))
    with pytest.raises(InputError, match="draws with replacement"):
        inmemory.data_file(weighted)


@pytest.mark.slow  # two builds through the API and one on the command line
def test_data_in_memory_gives_the_store_of_its_file_given_on_the_command_line(tmp_path):
    x, y = digits()
    torch.manual_seed(0)
    net = AssignmentCNN()
    arrays = report.build(model=net, data=(x, y), out=tmp_path / "arrays", **QUICK)
    (written,) = (tmp_path / "arrays" / "cache").glob("data-*.npz")
    assert written.name == inmemory.data_file((x, y)).name
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.from_numpy(x).float() / 255,
                                                                        torch.from_numpy(y)), batch_size=64,
                                         shuffle=True)
    loaded = report.build(model=net, data=loader, out=tmp_path / "loader", **QUICK)
    assert loaded.store.name == arrays.store.name
    assert store_files(loaded.store) == store_files(arrays.store)
    # the same file, given by its path on the command line (a copy elsewhere), with the same weights
    (tmp_path / "mine").mkdir()
    copy = shutil.copy(written, tmp_path / "mine" / written.name)
    (checkpoint,) = (tmp_path / "arrays" / "checkpoints").glob("module-*.pt")
    cli = run_cli("--checkpoint", str(checkpoint), "--data", str(copy), "--out", str(tmp_path / "cli"),
                  "--sections", "assignment", "--format", "html")
    assert cli.returncode == 0, cli.stderr
    assert current_store(tmp_path / "cli").name == arrays.store.name
    assert store_files(current_store(tmp_path / "cli")) == store_files(arrays.store)


# ----------------------------------------------------------------------------------------------- bad objects

x, y = digits(20)
BAD = [
    pytest.param(x, "images without labels", id="images alone"),
    pytest.param((x, y[:10]), "20 images but 10 labels", id="lengths differ"),
    pytest.param((x[:, :, :, :, None], y), "are 20×1×28×28×1: give N×C×H×W or N×H×W", id="five dims"),
    pytest.param((x.transpose(0, 2, 3, 1), y), "the channels go before height and width", id="channels last"),
    pytest.param((np.zeros((4, 2, 8, 8), np.uint8), np.zeros(4, int)), "C 1 (grey) or 3 (RGB)", id="two channels"),
    pytest.param((x.astype(np.float32) / 255 * 2 - 1, y), "outside [0, 1]", id="normalised floats"),
    pytest.param((x.astype(np.int32), y), "are int32: give uint8", id="int32 pixels"),
    pytest.param((x, y.astype(np.float32)), "give integer class labels", id="float labels"),
    pytest.param((x, y - 1), "holds label -1", id="negative label"),
    pytest.param((x, [str(v) for v in y]), "give integer class labels", id="text labels"),
    pytest.param(torch.utils.data.TensorDataset(torch.from_numpy(x)), "item 0 is a tuple of 1, not (image, label)",
                 id="items without labels"),
    pytest.param([(torch.zeros(1, 8, 8), 1.5)], "item 0's label: float64", id="a float label in an item"),
    pytest.param([(torch.zeros(1, 8, 8), 0), (torch.zeros(1, 9, 9), 1)], "item 1's image is 9×9×1",
                 id="items of two sizes"),
    pytest.param(Stream(x, y), "give it in a DataLoader", id="a bare IterableDataset"),
    pytest.param({"val": (x, y)}, "give {'test': (images, labels)}", id="a dict without test"),
    pytest.param({"train": (x, y), "test": (x[:, :, :14], y)}, "give images of one size", id="splits of two sizes"),
    pytest.param((x[:0], y[:0]), "the test split has no images", id="no images"),
    pytest.param(3.5, "is of type float: give a path, (images, labels)", id="a number"),
    pytest.param((x, y), "no train split, and without a checkpoint or a model", id="nothing to train the default on"),
]


@pytest.mark.parametrize(("data", "expected"), BAD)
def test_bad_data_in_memory_is_one_line_and_writes_nothing(tmp_path, data, expected):
    with pytest.raises(InputError) as error:
        report.build(data=data, out=tmp_path / "out", **QUICK)
    assert expected in str(error.value) and "\n" not in str(error.value)
    assert not (tmp_path / "out").exists()


def test_an_endless_stream_is_refused_at_the_limit_not_cut_to_a_prefix(monkeypatch):
    x, y = digits(20)
    monkeypatch.setattr(inmemory, "MAX_BYTES", 100 * 28 * 28)  # 100 images
    endless = torch.utils.data.DataLoader(Stream(x, y, endless=True), batch_size=8)
    with pytest.raises(InputError, match="endless IterableDataset"):
        inmemory.data_file(endless)
    with pytest.raises(InputError, match="more than 78,400 bytes"):
        inmemory.data_file([(torch.zeros(1, 28, 28), 0)] * 101)  # a Dataset's length is known: refused at once


def test_a_refused_build_leaves_no_folder_behind_for_its_data_file(tmp_path):
    from analysis.models.memory import save_module

    checkpoint = save_module(AssignmentCNN(), tmp_path / "weights")
    with pytest.raises(InputError, match="zebra"):
        report.build(checkpoint, data=digits(), classes=["zebra", "7"], out=tmp_path / "out", **QUICK)
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------------------- the callbacks

@pytest.fixture
def models_importable(monkeypatch):
    monkeypatch.syspath_prepend(str(FIXTURES))


def test_a_reporter_writes_data_in_memory_once_at_construction(tmp_path):
    x, y = digits()
    reporter = Reporter(out=tmp_path / "out", data=torch.utils.data.TensorDataset(torch.from_numpy(x),
                                                                                  torch.from_numpy(y)), **QUICK)
    (written,) = (tmp_path / "out" / "cache").glob("data-*.npz")
    assert written.name == inmemory.data_file((x, y)).name
    assert reporter.options["analysis"].data == str(written.resolve())  # the path the report process is given
    reporter.close()


def test_a_reporter_without_data_refuses_any_model_but_the_assignment_cnn(tmp_path, models_importable):
    from user_models import ReusedBlockNet

    with pytest.raises(InputError, match=r"no data for the model user_models:ReusedBlockNet: give data=\.\.\. : the "
                                         "data the model is evaluated on"):
        Reporter(out=tmp_path / "named", model="user_models:ReusedBlockNet", **QUICK)
    reporter = Reporter(out=tmp_path / "learned", **QUICK)  # the model is known at its first checkpoint
    with pytest.raises(InputError, match="no data for the model user_models:ReusedBlockNet"):
        reporter.epoch_end(ReusedBlockNet(), 0)
    assert not (tmp_path / "learned" / "training").exists() and reporter.results == []  # nothing saved nor queued
    with pytest.raises(InputError, match="no data for the model user_models:ReusedBlockNet"):
        reporter.refuse_without_data(ReusedBlockNet())  # the Lightning callback's check at setup, before epoch 1
    reporter.close()
    lines = []
    reporter = Reporter(out=tmp_path / "digits", model="assignment", log=lines.append, **QUICK)
    reporter.refuse_without_data(AssignmentCNN())
    reporter.close()
    assert lines == ["report: no data given: the assignment CNN is evaluated on the embedded MNIST digits"]  # once
    Reporter(out=tmp_path / "given", model="user_models:ReusedBlockNet", data="embedded", **QUICK).close()


@pytest.mark.slow  # imports Lightning (10-20 s)
def test_the_lightning_callback_without_data_is_refused_when_made(tmp_path):
    from report.lightning import ReportCallback

    with pytest.raises(InputError, match="no data for the LightningModule: give data=... : the data the model"):
        ReportCallback(out=tmp_path / "out", **QUICK)
    ReportCallback(out=tmp_path / "out", data=digits(), **QUICK)  # data are written when fitting starts


# ----------------------------------------------------------------------------------------------------- clean

def test_clean_removes_the_data_files_it_wrote_and_nothing_else(tmp_path):
    out = tmp_path / "out"
    Reporter(out=out, data=digits(), **QUICK).close()
    Reporter(out=out, data=digits(seed=1), **QUICK).close()
    cache = out / "cache"
    ours = sorted(p.name for p in cache.glob("data-*.npz"))
    assert len(ours) == 2
    (cache / "data-0123456789abcdef.npz").write_bytes(b"a user's file, named as the tool names its own")
    (cache / "mnist.npz").write_bytes(b"a user's data")
    removed, kept = report.clean(out)
    assert sorted(name for name in removed if name.startswith("cache/data-")) == [f"cache/{n}" for n in ours]
    assert sorted(kept) == ["cache/data-0123456789abcdef.npz", "cache/mnist.npz"]
    assert sorted(p.name for p in cache.iterdir()) == ["data-0123456789abcdef.npz", "mnist.npz"]
