"""Streaming and devices (issue 15): every pass reads the split batch by batch, so memory does not grow with
the images; the result does not depend on the number of DataLoader workers; the device is chosen, checked
and recorded; a device asked for but absent is one line."""

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from conftest import ROOT, run_cli, run_main
from PIL import Image

from analysis import devices
from analysis.batches import Inputs, default_workers
from analysis.config import AnalysisConfig
from analysis.data import datasets
from analysis.data.lazy import LazyImages
from analysis.errors import InputError
from analysis.run import analyse
from analysis.keys import analysis_inputs, store_key


def image_folder(root, per_class=6, size=20):
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for name in ("a", "b", "c"):
            (root / split / name).mkdir(parents=True)
            for i in range(per_class):
                Image.fromarray(rng.integers(0, 256, (size, size, 3), np.uint8)).save(root / split / name / f"{i}.png")
    return root


def test_image_folders_are_read_when_used_and_index_like_arrays(tmp_path):
    splits = datasets.load(str(image_folder(tmp_path / "images")))
    images = splits.test.images
    assert isinstance(images, LazyImages) and images.shape == (18, 3, 20, 20) and len(images) == 18
    whole = np.asarray(images)
    assert whole.dtype == np.uint8 and whole.shape == (18, 3, 20, 20)
    assert np.array_equal(images[3], whole[3]) and np.array_equal(images[-1], whole[-1])
    assert np.array_equal(images[2:7], whole[2:7]) and np.array_equal(images[[5, 1, 5]], whole[[5, 1, 5]])
    assert np.array_equal(images[::4, 0], whole[::4, 0])
    with pytest.raises(IndexError):
        images[18]


@pytest.mark.slow  # DataLoader workers: each spawned process imports torch
def test_batches_keep_the_order_and_the_numbers_whatever_the_workers(tmp_path):
    images = datasets.load(str(image_folder(tmp_path / "images"))).test.images
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    expected = (torch.from_numpy(np.asarray(images)).float() / 255 - torch.tensor(mean).view(1, 3, 1, 1)) \
        / torch.tensor(std).view(1, 3, 1, 1)
    for workers in (0, 2):
        inputs = Inputs(images, mean, std, batch_size=5, workers=workers)
        batches = list(inputs.batches("test", show_progress=False))
        assert [len(b) for b in batches] == [5, 5, 5, 3]
        assert torch.allclose(torch.cat(batches), expected, atol=1e-6)
    assert torch.equal(inputs.take([4, 0]), torch.cat(batches)[[4, 0]])
    subset = inputs.subset([9, 2, 17])
    assert torch.equal(torch.cat(list(subset.batches("s", False))), expected[[9, 2, 17]])


@pytest.mark.slow  # DataLoader workers: each spawned process imports torch
def test_a_refusal_in_a_worker_is_one_line(tmp_path, monkeypatch):
    from PIL import ImageFile

    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)  # as importing WeasyPrint leaves it
    root = image_folder(tmp_path / "images")
    damaged = root / "test" / "b" / "2.png"
    damaged.write_bytes(damaged.read_bytes()[:-120])  # the header survives: found only by decoding
    images = datasets.load(str(root)).test.images
    with pytest.raises(InputError, match=r"cannot read image .*2\.png") as error:
        list(Inputs(images, (0.5,) * 3, (0.5,) * 3, batch_size=4, workers=2).batches("t", False))
    assert "\n" not in str(error.value) and "Traceback" not in str(error.value)


# One torch thread: the DataLoader workers beside it share the cores (a number of its own, other than the default)
RESNET18_ON_IMAGES = AnalysisConfig(model="torchvision:resnet18", model_kwargs='{"num_classes": 3}', per_class=2,
                                    input_size=32, threads=1)


@pytest.fixture(scope="module")
def resnet18_store(tmp_path_factory):
    """An image folder and the store of resnet18 on it, analysed in this process (no workers, in memory): what
    the other ways of running the same analysis must give to the byte."""
    folder = tmp_path_factory.mktemp("resnet18")
    data = str(image_folder(folder / "images", size=32))
    return data, analyse(None, data, RESNET18_ON_IMAGES, folder / "stores", folder / "cache", show_progress=False,
                         workers=0)


@pytest.mark.slow  # two analyses of resnet18, one with DataLoader workers
def test_the_store_is_the_same_with_any_number_of_workers(resnet18_store, tmp_path):
    data, without_workers = resnet18_store
    stores = [without_workers, analyse(None, data, RESNET18_ON_IMAGES, tmp_path / "stores2", tmp_path / "cache",
                                       show_progress=False, workers=2)]
    files = sorted(p.relative_to(stores[0]) for p in stores[0].rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(stores[1]) for p in stores[1].rglob("*") if p.is_file())
    assert all((stores[0] / f).read_bytes() == (stores[1] / f).read_bytes() for f in files)
    manifest = json.loads((stores[0] / "manifest.json").read_text())
    assert manifest["producer"]["device"] == "cpu"
    assert manifest["inputs"]["config"]["device"] == "cpu" and manifest["inputs"]["config"]["batch_size"] == 250


def test_default_workers():
    class Split:
        def __init__(self, images):
            self.test = type("T", (), {"images": images})()

    assert default_workers(Split(np.zeros((2, 1, 2, 2), np.uint8)), None) == 0
    lazy = LazyImages(2, (1, 2, 2), lambda i: np.zeros((len(i), 1, 2, 2), np.uint8), "x")
    assert default_workers(Split(lazy), None) == max(0, min(4, (os.cpu_count() or 2) - 2))
    assert default_workers(Split(lazy), 0) == 0 and default_workers(Split(lazy), 3) == 3


def test_devices_resolve_without_torch_and_enter_the_key():
    assert devices.kind("cuda:3") == "cuda" and devices.kind("cpu") == "cpu" and devices.kind("mps") == "mps"
    assert devices.resolve("auto") == ("cuda" if devices.cuda_present() else "cpu")
    for bad in ("gpu", "cuda:", "cuda:x", "CPU", ""):
        with pytest.raises(ValueError, match="give auto, cpu, cuda, cuda:N or mps"):
            devices.check_spec(bad)
    inputs = analysis_inputs(None, None, AnalysisConfig())
    keys = {store_key(analysis_inputs(None, None, c)) for c in
            (AnalysisConfig(), AnalysisConfig(device="cuda"), AnalysisConfig(batch_size=100))}
    assert len(keys) == 3 and store_key(inputs) in keys


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
def test_a_cuda_device_asked_for_but_absent_is_one_line(tmp_path):
    with pytest.raises(InputError, match="no CUDA device is available"):
        devices.torch_device("cuda")
    out = tmp_path / "build"
    result = run_main("--device", "cuda:1", "--sections", "parameters", "--out", str(out), "--model", "assignment",
                      "--format", "html")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--device cuda:1 was asked for but no CUDA device is available" in lines[0]
    assert not (out / "report.html").exists()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gpu_results_agree_with_the_cpus(tmp_path):
    data = str(image_folder(tmp_path / "images", size=32))
    config = dict(model="torchvision:resnet18", model_kwargs='{"num_classes": 3}', per_class=2, input_size=32)
    stores = {kind: analyse(None, data, AnalysisConfig(**config, device=kind), tmp_path / kind, tmp_path / "cache",
                            show_progress=False) for kind in ("cpu", "cuda")}
    cpu, gpu = (np.load(stores[k] / "embeddings_test.npy") for k in ("cpu", "cuda"))
    assert np.abs(cpu - gpu).max() <= devices.AGREEMENT * np.abs(cpu).max()
    accuracy = [json.loads((stores[k] / "evaluation.json").read_text())["correct"] for k in ("cpu", "cuda")]
    assert accuracy[0] == accuracy[1]


STREAM_SCRIPT = r"""
import resource, sys
import numpy as np, torch
from torch import nn
from analysis.batches import Inputs
from analysis.data.lazy import LazyImages
from analysis.models.layers import EmbeddingPoint
from analysis.stats import fullsplit

N, SIDE = 10_000, 128           # 10,000 RGB images of 128 px: 2 GB as float32, 0.5 GB as uint8
def synthetic(indices):
    rng = np.random.default_rng(indices[0])
    return rng.integers(0, 256, (len(indices), 3, SIDE, SIDE), dtype=np.uint8)

model = nn.Sequential(nn.Conv2d(3, 4, 4, stride=4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
model.eval()
images = LazyImages(N, (3, SIDE, SIDE), synthetic, "synthetic")
size = int(open("/proc/self/status").read().split("VmSize:")[1].split()[0]) * 1024
cap = size + (400 << 20)        # the address space now, and 400 MiB more: less than the uint8 images alone
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
passed = fullsplit.split_pass(model, Inputs(images, (0.5,) * 3, (0.25,) * 3, batch_size=100), EmbeddingPoint('4', 'input', 'fc', 'fc input'),
                              show_progress=False)
print(passed.embeddings.shape, passed.logits.shape)
"""


@pytest.mark.slow  # about 10 s: 10,000 images
def test_a_split_larger_than_the_memory_cap_completes():
    result = subprocess.run([sys.executable, "-c", STREAM_SCRIPT], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["(10000,", "4)", "torch.Size([10000,", "3])"]


@pytest.mark.slow  # a two-process LocalCluster
def test_the_whole_split_pass_on_dask_shards_equals_one_process(tmp_path, monkeypatch):
    from dask.distributed import LocalCluster

    from analysis.models.assignment import AssignmentCNN
    from analysis.models.layers import embedding_point
    from analysis.stats import fullsplit

    monkeypatch.setattr(fullsplit, "SHARD_BATCHES", 2)  # 1,000 images in 5 shards of 2 batches of 100
    torch.manual_seed(0)
    model = AssignmentCNN().eval()
    images = np.random.default_rng(0).integers(0, 256, (1000, 1, 28, 28), np.uint8)
    inputs = Inputs(images, (0.1307,), (0.3081,), batch_size=100)
    point = embedding_point(model, None)
    serial = fullsplit.split_pass(model, inputs, point, show_progress=False)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        sharded = fullsplit.split_pass(model, inputs, point, show_progress=False, dask=cluster.scheduler_address)
    assert torch.equal(serial.logits, sharded.logits) and np.array_equal(serial.embeddings, sharded.embeddings)
    assert serial.accumulators.keys() == sharded.accumulators.keys() and serial.accumulators
    for name, acc in serial.accumulators.items():
        other = sharded.accumulators[name]
        assert torch.equal(acc.sum, other.sum) and torch.equal(acc.never_positive, other.never_positive)
        assert acc.images == other.images == 1000


def test_an_absent_dask_scheduler_is_one_line_at_once():
    from analysis.cluster import connect

    started = time.monotonic()
    with pytest.raises(InputError, match="no Dask scheduler answers there"):
        connect("tcp://127.0.0.1:9")
    assert time.monotonic() - started < 5  # refused at once: not after Dask's 20 s of retries
    with pytest.raises(InputError, match="no Dask scheduler answers there"):
        connect("127.0.0.1:9")  # Dask's own short form


def test_row_buffers_fill_one_block_and_refuse_what_does_not_fit():
    from analysis.rows import RowBuffer

    known = RowBuffer(5)
    known.append(np.arange(6).reshape(3, 2))
    first_block = known.block
    known.append(np.arange(4).reshape(2, 2))
    assert known.block is first_block and known.result() is first_block  # full: the block itself, no copy
    assert known.result().tolist() == [[0, 1], [2, 3], [4, 5], [0, 1], [2, 3]]
    with pytest.raises(ValueError, match="more than the 5 rows"):
        known.append(np.zeros((1, 2)))
    growing = RowBuffer()
    for i in range(5):
        growing.append(torch.full((1, 3), float(i), dtype=torch.float16))
    assert isinstance(growing.result(), torch.Tensor) and growing.result().dtype == torch.float16
    assert growing.result()[:, 0].tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="rows of shape"):
        growing.append(torch.zeros((1, 4), dtype=torch.float16))
    assert RowBuffer(3).result() is None


@pytest.mark.slow  # two analyses of resnet18
def test_a_large_embedding_matrix_is_filled_in_its_store_file_with_the_same_bytes(resnet18_store, tmp_path,
                                                                                  monkeypatch):
    """Beyond MEMMAP_BYTES the matrix is memory-mapped in the store's own file as the pass fills it; the
    store is byte for byte the one an in-memory matrix gives."""
    from analysis.stats import fullsplit

    data, in_memory = resnet18_store  # under MEMMAP_BYTES: the matrix was held in memory
    assert np.load(in_memory / "embeddings_test.npy").nbytes <= fullsplit.MEMMAP_BYTES
    stores = {"memory": in_memory}
    monkeypatch.setattr(fullsplit, "MEMMAP_BYTES", 1)
    stores["mapped"] = analyse(None, data, RESNET18_ON_IMAGES, tmp_path / "mapped", tmp_path / "cache",
                               show_progress=False)
    mapped = np.load(stores["mapped"] / "embeddings_test.npy", mmap_mode="r")
    assert mapped.shape[0] == 18 and mapped.dtype == np.float32
    assert mapped.shape == (18, 512)
    files = sorted(p.relative_to(stores["memory"]) for p in stores["memory"].rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(stores["mapped"]) for p in stores["mapped"].rglob("*") if p.is_file())
    assert all((stores["mapped"] / f).read_bytes() == (stores["memory"] / f).read_bytes() for f in files)


UNGUARDED_SCRIPT = """
import sys
with open(sys.argv[2], "a") as runs:  # at top level, with no __main__ guard: a spawned child would run it again
    runs.write("ran\\n")
from analysis.batches import Inputs
from analysis.data import datasets
images = datasets.load(sys.argv[1]).test.images
inputs = Inputs(images, (0.5,) * 3, (0.25,) * 3, batch_size=500, workers=1)
print(sum(len(batch) for batch in inputs.batches("test", False)))
"""


@pytest.mark.slow  # two interpreters with torch, each way
@pytest.mark.parametrize("how", ["path", "module"])
def test_workers_do_not_run_a_callers_unguarded_script_again(tmp_path, how):
    """A script that uses the tool at top level (no ``if __name__ == "__main__":``) runs once, and a split
    whose listing is larger than a pipe's buffer does not leave it waiting for ever on a worker that failed."""
    import pickle

    folder = image_folder(tmp_path / "images", per_class=1000, size=4)
    assert len(pickle.dumps(datasets.load(str(folder)).test.images)) > 65536  # more than a pipe holds
    (tmp_path / "unguarded.py").write_text(UNGUARDED_SCRIPT)
    runs = tmp_path / "runs.txt"
    target = [str(tmp_path / "unguarded.py")] if how == "path" else ["-m", "unguarded"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(tmp_path)])}
    result = subprocess.run([sys.executable, *target, str(folder), str(runs)], capture_output=True, text=True,
                            cwd=tmp_path, env=env, timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["3000"]
    assert runs.read_text() == "ran\n"


def test_the_main_script_is_left_out_of_spawn_and_put_back():
    import types
    from multiprocessing import spawn

    from analysis.spawning import main_script_left_out

    main = sys.modules["__main__"]
    saved = dict(main.__dict__)
    as_module = types.SimpleNamespace(name="lab.train")
    try:
        for file, spec, key in (("/lab/train.py", None, "init_main_from_path"),
                                ("/lab/train.py", as_module, "init_main_from_name")):
            main.__file__, main.__spec__ = file, spec
            assert key in spawn.get_preparation_data("x")
            with main_script_left_out():
                prepared = spawn.get_preparation_data("x")
                assert "init_main_from_path" not in prepared and "init_main_from_name" not in prepared
            assert main.__file__ == file and main.__spec__ is spec
        del main.__file__  # an interactive session has none: it stays without one
        with main_script_left_out():
            pass
        assert not hasattr(main, "__file__")
    finally:
        main.__dict__.clear()
        main.__dict__.update(saved)


def test_a_stop_while_dataloader_workers_start_ends_the_started_ones_without_a_traceback(monkeypatch):
    """SIGTERM while the second worker starts (the stop handler raises there): torch's iterator had no record of
    its workers yet, and its clean-up printed "Exception ignored ... '_workers_status'" with a traceback under the
    command's last line (a clean clone's signal test). The started worker is ended, and nothing is printed."""
    import gc
    import sys
    from multiprocessing.context import SpawnProcess

    from analysis.batches import _Loader

    real_start, started = SpawnProcess.start, []

    def start(process):
        started.append(process)
        if len(started) == 2:
            raise KeyboardInterrupt  # what the command's SIGTERM handler raises (analysis.stopping)
        real_start(process)

    unraisable = []
    monkeypatch.setattr(SpawnProcess, "start", start)
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    loader = _Loader(list(range(4)), batch_size=None, num_workers=2, multiprocessing_context="spawn")
    try:
        iter(loader)
    except KeyboardInterrupt:
        pass  # leaving the handler frees the half-built iterator: its __del__ runs here
    else:
        pytest.fail("the stop did not reach the caller")
    gc.collect()
    assert [str(u.exc_value) for u in unraisable] == []
    assert len(started) == 2 and not started[0].is_alive()
