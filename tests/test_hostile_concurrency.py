"""Hostile cases of concurrency (issue 29): inputs that change while a run reads them, and a `clean` racing a
build. A store's key must always name the bytes it holds, and `clean` must wait for a run like any other
command."""

from __future__ import annotations

import hashlib
import os
import subprocess
import time

import numpy as np
import pytest
import torch
from clirunner import popen
from conftest import ROOT, run_cli
from PIL import Image

from analysis.config import AnalysisConfig
from analysis.errors import InputError
from analysis.models.checkpoint import read_checkpoint
from analysis.run import analyse
from analysis.keys import analysis_inputs, store_key

# The refusals here come after the analysis, whatever it computed: it leaves out the whole split and the
# attribution (1 s of resnet18's gradients for each of these tests), which change nothing they check.
TINY = AnalysisConfig(model="torchvision:resnet18", model_kwargs='{"num_classes": 2}', per_class=1, input_size=16,
                      whole_split=False, attribution=False)


def image_folder(root, size=16):
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for name in ("a", "b"):
            (root / split / name).mkdir(parents=True)
            for i in range(3):
                Image.fromarray(rng.integers(0, 256, (size, size, 3), np.uint8)).save(root / split / name / f"{i}.png")
    return root


def resnet_checkpoint(path, seed):
    import torchvision

    torch.manual_seed(seed)
    torch.save(torchvision.models.resnet18(num_classes=2).state_dict(), path)
    return path


def test_a_checkpoint_is_read_once_and_checked_against_its_hash(tmp_path):
    path = resnet_checkpoint(tmp_path / "a.pt", 0)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    state, _ = read_checkpoint(path, digest)
    assert set(state) and all(isinstance(t, torch.Tensor) for t in state.values())
    with pytest.raises(InputError, match=r"a\.pt changed while this run read it .*: run again once it is complete"):
        read_checkpoint(path, "0" * 64)


def test_a_checkpoint_replaced_after_it_was_keyed_gives_no_store_under_its_key(tmp_path):
    """The key is computed (without torch) before the analysis reads the file: a file replaced between the two
    used to give a store keyed on the first file's sha256 holding the second file's results."""
    data = str(image_folder(tmp_path / "images"))
    checkpoint = resnet_checkpoint(tmp_path / "model.pt", 0)
    inputs = analysis_inputs(checkpoint, data, TINY)
    resnet_checkpoint(tmp_path / "model.pt", 1)  # a training loop saving its next epoch under the same name
    with pytest.raises(InputError, match="changed while this run read it"):
        analyse(checkpoint, data, TINY, tmp_path / "stores", tmp_path / "cache", inputs=inputs, show_progress=False)
    assert not (tmp_path / "stores" / store_key(inputs)).exists()
    assert not [p for p in (tmp_path / "stores").glob("*") if not p.name.startswith(".")]


def test_data_changed_during_the_analysis_gives_no_store_under_its_key(tmp_path, monkeypatch):
    data = tmp_path / "images"
    image_folder(data)
    inputs = analysis_inputs(None, str(data), TINY)
    import analysis.run as run

    original = run.write_results

    def then_change_an_image(*args, **kwargs):  # a file replaced while the pass read the split
        original(*args, **kwargs)
        Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(data / "test" / "a" / "0.png")

    monkeypatch.setattr(run, "write_results", then_change_an_image)
    with pytest.raises(InputError, match="changed while this run read it"):
        analyse(None, str(data), TINY, tmp_path / "stores", tmp_path / "cache", inputs=inputs, show_progress=False)
    assert not (tmp_path / "stores" / store_key(inputs)).exists()


def wait_for_lock(out, timeout=120):
    from filelock import FileLock, Timeout

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (out / ".lock").is_file():
            lock = FileLock(str(out / ".lock"))
            try:
                lock.acquire(timeout=0)
                lock.release()
            except Timeout:
                return True
        time.sleep(0.05)
    return False


@pytest.mark.slow  # a whole build (resnet18) in a process of its own
def test_clean_during_a_build_waits_for_it(tmp_path):
    """`clean` used to remove the store under a running build, which then failed on a missing model.json."""
    data = image_folder(tmp_path / "images")
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    build = popen(["--data", str(data), "--model", "torchvision:resnet18", "--model-kwargs", '{"num_classes": 2}',
                   "--per-class", "1", "--input-size", "16", "--sections", "assignment", "--format", "html",
                   "--out", str(out)], env, ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert wait_for_lock(out), "the build never took the lock"
        cleaned = run_cli("clean", "--out", str(out))
        built_out, built_err = build.communicate(timeout=300)
    finally:
        build.kill()
    assert build.returncode == 0, built_err
    assert cleaned.returncode == 0, cleaned.stderr
    assert "another run is using" in cleaned.stderr
    assert "report.html" in cleaned.stdout and not out.exists()  # it waited, then removed the finished build


def test_a_batch_refuses_a_checkpoint_replaced_between_its_digest_and_its_analysis(tmp_path, monkeypatch):
    """`batch` and `history` key each row on a digest taken before the analysis hashes the file again: a.pt
    replaced in between used to give its identical twin b.pt a store of the other bytes (another epoch's
    accuracy in `history`)."""
    import report.series as series

    data = str(image_folder(tmp_path / "images"))
    folder = tmp_path / "runs"
    folder.mkdir()
    resnet_checkpoint(folder / "a.pt", 0)
    (folder / "b.pt").write_bytes((folder / "a.pt").read_bytes())
    original = series.analysis_task

    def after_a_new_epoch_is_saved(checkpoint, *args):
        resnet_checkpoint(folder / "a.pt", 1)  # a training loop saving over a.pt while the batch runs
        return original(checkpoint, *args)

    monkeypatch.setattr(series, "analysis_task", after_a_new_epoch_is_saved)
    with pytest.raises(InputError, match=r"checkpoint .*a\.pt changed while this run read it: run again once it is"):
        series.run_batch(series.checkpoints_in(folder), data, TINY, tmp_path / "out", workers=1)


def test_a_digits_cache_edited_in_place_is_rebuilt_not_trusted_on_its_name(tmp_path):
    """The cache of the embedded digits was trusted on its name (the CSV's hash): a valid .npz of other pixels
    put in its place gave another analysis under the same store key."""
    from analysis.data import datasets

    first_images, first_labels = datasets._read_embedded(tmp_path)
    (cache,) = tmp_path.glob("mnist5k-nchw-*.npz")
    assert datasets.cache_digest_path(cache).read_text().strip() == hashlib.sha256(cache.read_bytes()).hexdigest()
    np.savez(cache, images=np.zeros_like(first_images), labels=first_labels)  # edited in place, still valid
    images, labels = datasets._read_embedded(tmp_path)
    assert np.array_equal(images, first_images) and np.array_equal(labels, first_labels)
    assert datasets._read_cache(cache) is not None  # rebuilt, with its sidecar


def test_clean_removes_the_digits_cache_and_its_sidecar_only_when_they_match(tmp_path):
    from analysis.data import datasets
    from report.buildfolder import _clean_folder

    datasets._read_embedded(tmp_path / "cache")
    (cache,) = (tmp_path / "cache").glob("mnist5k-nchw-*.npz")
    np.savez(cache, images=np.zeros((2, 1, 28, 28), np.uint8), labels=np.zeros(2, np.int64))  # not ours any more
    removed, kept = _clean_folder(tmp_path / "cache", "cache")
    assert kept == [f"cache/{cache.name}"] and removed == [f"cache/{cache.name}.sha256"]
    datasets._read_embedded(tmp_path / "cache")  # rebuilt
    removed, kept = _clean_folder(tmp_path / "cache", "cache")
    assert sorted(removed) == [f"cache/{cache.name}", f"cache/{cache.name}.sha256"] and not kept
    assert not (tmp_path / "cache").exists()
