"""Hostile cases of concurrency (issue 29): inputs that change while a run reads them, and a `clean` racing a
build. A store's key must always name the bytes it holds, and `clean` must wait for a run like any other
command."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from conftest import ROOT, run_cli
from PIL import Image

from analysis.config import AnalysisConfig
from analysis.errors import InputError
from analysis.models.checkpoint import read_checkpoint
from analysis.run import analyse
from analysis.store.fingerprint import analysis_inputs, store_key

TINY = AnalysisConfig(model="torchvision:resnet18", model_kwargs='{"num_classes": 2}', per_class=1, input_size=16,
                      whole_split=False)


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


def test_clean_during_a_build_waits_for_it(tmp_path):
    """`clean` used to remove the store under a running build, which then failed on a missing model.json."""
    data = image_folder(tmp_path / "images")
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    build = subprocess.Popen([sys.executable, "-m", "report", "--data", str(data), "--model", "torchvision:resnet18",
                              "--model-kwargs", '{"num_classes": 2}', "--per-class", "1", "--input-size", "16",
                              "--sections", "assignment", "--format", "html", "--out", str(out)],
                             cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
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
