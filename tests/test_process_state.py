"""No process-wide side effects outlive the call that made them (issue 12, item 8): training and an analysis
leave torch's thread count, its deterministic mode and the global random generators as they found them,
also when they raise, so that in one long process (``python -m report watch``) a later analysis does not
run with the settings of an earlier one. Progress bars are an argument, not a switch of the process's."""

import random

import numpy as np
import pytest
import torch
from conftest import ROOT

from analysis import progress, scoped
from analysis.config import AnalysisConfig, TrainConfig
from analysis.data.datasets import DataSplits, ImageSet
from analysis.models.assignment import AssignmentCNN
from analysis.run import analyse
from analysis.train import train


def snapshot() -> dict:
    return {"threads": torch.get_num_threads(),
            "deterministic": (torch.are_deterministic_algorithms_enabled(),
                              torch.is_deterministic_algorithms_warn_only_enabled()),
            "torch_rng": torch.get_rng_state(), "numpy_rng": np.random.get_state(), "python_rng": random.getstate()}


def assert_unchanged(before: dict) -> None:
    after = snapshot()
    assert after["threads"] == before["threads"]
    assert after["deterministic"] == before["deterministic"]
    assert torch.equal(after["torch_rng"], before["torch_rng"])
    assert all(np.array_equal(a, b) for a, b in zip(after["numpy_rng"], before["numpy_rng"]))
    assert after["python_rng"] == before["python_rng"]


@pytest.fixture
def unusual_state():
    """A state that neither training (2 threads, deterministic, seed 0) nor the analysis would leave behind;
    the test's own changes are undone afterwards."""
    with scoped.process_state():
        torch.set_num_threads(1)
        torch.use_deterministic_algorithms(False)
        torch.manual_seed(12345)
        np.random.seed(7)
        random.seed(3)
        yield snapshot()


def tiny_splits(channels: int = 1) -> DataSplits:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(48, channels, 28, 28), dtype=np.uint8)
    labels = np.arange(48) % 2
    return DataSplits(train=ImageSet(images[:32], labels[:32]), test=ImageSet(images[32:], labels[32:]),
                      description="noise", class_names=["0", "1"], kind="synthetic")


CONFIG = TrainConfig(epochs=1, batch_size=16, threads=2, seed=3)
NORMALISATION = ((0.5,), (0.25,))


def test_training_leaves_the_process_as_it_found_it(unusual_state):
    model, _ = train(tiny_splits(), CONFIG, *NORMALISATION, show_progress=False)
    assert_unchanged(unusual_state)
    # and its result does not depend on that state: the same weights from a process in another state
    with scoped.process_state():
        torch.set_num_threads(2)
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.manual_seed(99)
        again, _ = train(tiny_splits(), CONFIG, *NORMALISATION, show_progress=False)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))


def test_training_that_raises_leaves_the_process_as_it_found_it(unusual_state):
    with pytest.raises(RuntimeError):  # 3-channel images for a 1-channel network: fails inside training
        train(tiny_splits(channels=3), CONFIG, (0.5,) * 3, (0.25,) * 3, show_progress=False)
    assert_unchanged(unusual_state)


def test_seeding_gives_the_weights_torch_manual_seed_gives():
    with scoped.process_state():
        torch.manual_seed(5)
        expected = AssignmentCNN().state_dict()
        scoped.seed_torch(5)
        got = AssignmentCNN().state_dict()
    assert all(torch.equal(expected[k], got[k]) for k in expected)


def idx_folder(root):
    """A tiny MNIST-format data set: the four IDX files, 6 train and 6 test "digits" of noise, sixes and sevens."""
    import struct

    root.mkdir()
    rng = np.random.default_rng(1)
    for prefix in ("train", "t10k"):
        images = rng.integers(0, 256, (6, 28, 28), dtype=np.uint8)
        (root / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">4i", 2051, 6, 28, 28) + images.tobytes())
        labels = np.array([6, 7] * 3, dtype=np.uint8)  # the classes the defaults pick
        (root / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">2i", 2049, 6) + labels.tobytes())
    return root


def test_an_analysis_leaves_the_process_as_it_found_it(unusual_state, tmp_path):
    data = str(idx_folder(tmp_path / "data"))
    config = AnalysisConfig(whole_split=False, per_class=1, threads=2)  # the unusual state has 1
    store = analyse(None, data, config, tmp_path / "stores", tmp_path / "cache", show_progress=False)
    assert (store / "model.json").is_file()
    assert_unchanged(unusual_state)

    def fail():
        raise KeyboardInterrupt  # as Ctrl-C in a watch would, once threads and seed are set

    with pytest.raises(KeyboardInterrupt):
        analyse(None, data, config, tmp_path / "stores2", tmp_path / "cache", show_progress=False,
                announce=fail)
    assert_unchanged(unusual_state)


def test_progress_is_an_argument_not_a_switch(monkeypatch, tmp_path):
    assert not hasattr(progress, "enable") and not hasattr(progress, "_enabled")
    bars = []
    real_tqdm = progress.tqdm
    monkeypatch.setattr(progress, "tqdm", lambda **kwargs: bars.append(kwargs["disable"]) or real_tqdm(**kwargs))
    assert list(progress.batches(5, 2, "counting", show=False)) == [0, 2, 4]
    assert list(progress.batches(5, 2, "counting", show=True)) == [0, 2, 4]
    assert bars == [True, None]  # None: tqdm shows the bar only on a terminal
    bars.clear()
    train(tiny_splits(), CONFIG, *NORMALISATION, show_progress=False)
    analyse(None, str(idx_folder(tmp_path / "data")), AnalysisConfig(whole_split=False, per_class=1),
            tmp_path / "stores", tmp_path / "cache", show_progress=False)
    from analysis.models.layers import embedding_point
    from analysis.stats import fullsplit  # the whole-split passes, without their (slow) statistics

    model, x = AssignmentCNN(), torch.zeros(3, 1, 28, 28)
    fullsplit.split_pass(model, x, embedding_point(model, None), show_progress=False)
    fullsplit.layer_features(model, x, ["relu1"], show_progress=False)
    assert len(bars) >= 4 and set(bars) == {True}  # quiet all the way down, whatever an earlier call asked for


@pytest.mark.slow  # an analysis in a fresh interpreter
def test_an_analysis_never_loads_torchs_compiler(tmp_path):
    """Counting MACs and restoring the deterministic flag each used to import torch._dynamo or
    torch._inductor (1.5 s and more on 2 cores, on every run, a refused option included). The analysis
    never compiles, so neither may be loaded; in a fresh process, as the command line runs it."""
    import subprocess
    import sys

    data = idx_folder(tmp_path / "data")
    script = (
        "import sys\n"
        "from analysis.config import AnalysisConfig\n"
        "from analysis.run import analyse\n"
        f"analyse(None, {str(data)!r}, AnalysisConfig(per_class=1), {str(tmp_path / 'stores')!r}, "
        f"{str(tmp_path / 'cache')!r}, show_progress=False)\n"
        "print(sorted(m for m in sys.modules if m.startswith(('torch._dynamo', 'torch._inductor'))))\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.strip() == "[]"


LEAVING = """
import multiprocessing, sys
import torch  # loaded: leave() skips the interpreter's teardown
from report.cli import leave
queue = multiprocessing.get_context("spawn").Queue()  # named semaphores, as a DataLoader's queues have
queue.put(1)  # its feeder thread still holds them, as after a worker's refusal
leave(2)
"""


@pytest.mark.slow  # a fresh interpreter with torch and a spawned resource tracker
def test_leaving_fast_unlinks_the_semaphores_of_multiprocessing_queues():
    """A refused image in a DataLoader worker once ended a run with the resource tracker's 'leaked semaphore
    objects' warning under the one-line error: os._exit skipped multiprocessing's exit finalizers."""
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", LEAVING], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr == "", result.stderr


# --- the garbage collector's pace (report.render.garbage) ---------------------------------------------------

PACE_AT_EXIT = "import atexit, gc, sys; atexit.register(lambda: print('pace', *gc.get_threshold(), file=sys.stderr)); "


def test_the_commands_own_processes_collect_less_often(tmp_path):
    """``python -m report`` and the PDF worker set the youngest generation's threshold for themselves; the older
    generations keep CPython's pace."""
    import gc
    import subprocess
    import sys

    from report.render.garbage import NEW_OBJECTS_PER_COLLECTION

    expected = f"pace {NEW_OBJECTS_PER_COLLECTION} {gc.get_threshold()[1]} {gc.get_threshold()[2]}"
    command = subprocess.run([sys.executable, "-c", PACE_AT_EXIT + "import runpy; sys.argv[0] = 'report'; "
                              "runpy.run_module('report', run_name='__main__')", "render", "--out", str(tmp_path)],
                             cwd=ROOT, capture_output=True, text=True, timeout=120)
    # through the command's whole course: its one line, exit 2
    assert command.returncode == 2 and "no analysis in" in command.stderr and expected in command.stderr, command.stderr
    worker = subprocess.run([sys.executable, "-c", PACE_AT_EXIT + "sys.argv[1:] = ['.']; "
                             "from report.render.pdfworker import main; sys.exit(main())"],
                            cwd=ROOT, input=b"<p>a page</p>", capture_output=True, timeout=120)
    assert worker.returncode == 0 and worker.stdout.startswith(b"%PDF"), worker.stderr
    assert expected in worker.stderr.decode(), worker.stderr


def test_a_render_through_the_api_leaves_the_callers_pace(tmp_path):
    """A process that imports report (a notebook, a training script) keeps its own collector settings, also
    when the render starts the PDF worker."""
    import gc

    from synthetic import write_store

    from report import pipeline

    before = gc.get_threshold()
    store = write_store(tmp_path / "stores")
    pipeline.render(pipeline.RenderPlan(tmp_path, store, ("html", "pdf"), sections=("parameters",)))
    assert (tmp_path / "report.pdf").read_bytes().startswith(b"%PDF")
    assert gc.get_threshold() == before
