"""Hostile and broken input: safe loading, clear errors, nothing lost when a run fails or is killed."""

import io
import os
import signal
import subprocess
import time
import warnings

import numpy as np
import pytest
import torch
from conftest import ROOT, run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.data import datasets as data_module
from analysis.errors import InputError
from analysis.models.assignment import AssignmentCNN
from analysis.models.checkpoint import read_checkpoint
from report.pipeline import current_store
from report.render.load import load_findings

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def valid_checkpoint_bytes() -> bytes:
    buffer = io.BytesIO()
    torch.manual_seed(0)
    torch.save({"state_dict": AssignmentCNN().state_dict(), "epoch": 1}, buffer)
    return buffer.getvalue()


VALID = valid_checkpoint_bytes()


@FUZZ
@given(st.binary(max_size=4096))
def test_fuzz_random_bytes_as_checkpoint(tmp_path, payload):
    path = tmp_path / "fuzz.pt"
    path.write_bytes(payload)
    try:
        read_checkpoint(path)
    except InputError:
        pass


@FUZZ
@given(st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), min_size=1, max_size=8),
       st.integers(0, len(VALID)))
def test_fuzz_mutated_checkpoints(tmp_path, flips, cut):
    data = bytearray(VALID[:max(cut, 1)])
    for position, value in flips:
        if position < len(data):
            data[position] = value
    path = tmp_path / "mutated.pt"
    path.write_bytes(bytes(data))
    try:
        state, _ = read_checkpoint(path)
    except InputError:
        return
    assert isinstance(state, dict)


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + array.astype(np.uint8).tobytes()


VALID_IDX = idx_bytes(np.arange(2 * 4 * 4).reshape(2, 4, 4) % 256)


@FUZZ
@given(st.one_of(st.binary(max_size=512),
                 st.tuples(st.integers(0, len(VALID_IDX) - 1), st.integers(0, 255), st.integers(1, len(VALID_IDX)))
                 .map(lambda t: bytes(VALID_IDX[:t[2]][:t[0]]) + bytes([t[1]]) + bytes(VALID_IDX[:t[2]][t[0] + 1:]))))
def test_fuzz_idx_reader(tmp_path, payload):
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(payload)
    try:
        array = data_module.read_idx(path, 2051)
    except InputError:
        return
    assert array.ndim == 3


def test_a_huge_idx_header_is_refused_without_allocating(tmp_path):
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(bytes([0, 0, 8, 3]) + (2**31).to_bytes(4, "big") * 3)
    with pytest.raises(InputError, match="truncated or corrupted"):
        data_module.read_idx(path, 2051)


def test_safetensors_checkpoints_load_and_a_truncated_one_is_refused(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(0)
    state = AssignmentCNN().state_dict()
    path = tmp_path / "model.safetensors"
    save_file(state, str(path), metadata={"model_config": '{"source": "assignment", "kwargs": {}}'})
    loaded, meta = read_checkpoint(path)
    assert set(loaded) == set(state) and meta["model_config"]["source"] == "assignment"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(InputError, match="not a readable safetensors file"):
        read_checkpoint(path)


@pytest.mark.slow  # trains or builds a whole report
def test_nan_weights_still_give_a_report_with_a_warning(tmp_path):
    torch.manual_seed(0)
    state = AssignmentCNN().state_dict()
    state["fc2.weight"][0, 0] = float("nan")
    state["conv2.bias"][3] = float("inf")
    checkpoint = tmp_path / "nan.pt"
    torch.save(state, checkpoint)
    result = run_cli("--checkpoint", str(checkpoint), "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    findings = load_findings(current_store(tmp_path / "out"))
    assert findings.non_finite == ["conv2.bias", "fc2.weight"]
    html = (tmp_path / "out" / "report.html").read_text()
    assert "NaN or infinite values in conv2.bias and fc2.weight" in html


def test_a_second_run_on_the_same_folder_waits_then_says_so(tmp_path):
    from filelock import FileLock

    from report.buildfolder import prepare

    out = prepare(tmp_path / "out")
    with FileLock(str(out / ".lock")):
        result = run_cli("render", "--out", str(out), "--wait", "0.5")
    assert result.returncode == 2
    assert "another run is using" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("report: error: another report run still holds")


def kill_when(args: list[str], env: dict, ready, what: str, timeout: float = 600) -> None:
    """SIGKILL a run of `python -m report ARGS` as soon as ``ready()`` holds (polled every 10 ms): at a stage of
    its work seen from outside, whatever the machine's speed. A run that ends before fails the test."""
    from clirunner import popen

    process = popen(args, env, ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    try:
        while not ready():
            if process.poll() is not None:
                pytest.fail(f"the run ended before {what}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {what} after {timeout} s")
            time.sleep(0.01)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()


class Stages:
    """Where a run analysing into ``out`` is, from its temporary store (``.report-tmp.*`` under stores/)."""

    def __init__(self, out):
        self.stores = out / "stores"
        self.seen = False

    def temporary(self) -> list:
        from analysis.store.writer import TMP_PREFIX

        return [p for p in self.stores.glob(f"{TMP_PREFIX}*") if p.is_dir()]

    def in_the_whole_split_pass(self) -> bool:
        """The model's document (its kernel image first) is written before the whole-split pass starts."""
        return any(any(p.is_file() for p in folder.rglob("*")) for folder in self.temporary())

    def rendering(self) -> bool:
        """The temporary store existed and is gone: committed, so rendering, the PDF and the renames run."""
        now = bool(self.temporary())
        self.seen = self.seen or now
        return self.seen and not now


def test_killed_runs_never_damage_the_last_report_and_the_next_run_recovers(default_build, default_checkpoint,
                                                                            tmp_path):
    import shutil

    from pypdf import PdfReader

    out = tmp_path / "out"
    shutil.copytree(default_build[0], out)  # the default report of this checkpoint, finished
    args = ["--checkpoint", str(default_checkpoint), "--out", str(out)]
    env = {**os.environ, "MPLBACKEND": "Agg", "SOURCE_DATE_EPOCH": "1764000000"}
    assert run_cli(*args).returncode == 0
    good = {name: (out / name).read_bytes() for name in ("report.pdf", "report.html")}
    store = current_store(out)
    good_store = {p: p.read_bytes() for p in store.rglob("*") if p.is_file()}
    for stage in ("in_the_whole_split_pass", "rendering"):  # the analysis; rendering, the PDF and the renames
        kill_when([*args, "--force"], env, getattr(Stages(out), stage), stage.replace("_", " "))
        for name, content in good.items():
            assert (out / name).read_bytes() == content, f"{name} changed after a kill {stage.replace('_', ' ')}"
        assert len(PdfReader(out / "report.pdf").pages) > 10
        assert {p: p.read_bytes() for p in store.rglob("*") if p.is_file()} == good_store
    assert run_cli(*args).returncode == 0
    leftovers = [p for p in out.rglob(".report-*") if p.name != ".report-build"]  # the tool's temporaries
    assert leftovers == [], leftovers


@pytest.mark.slow  # trains or builds a whole report
def test_no_figure_is_left_open_over_many_reports(tmp_path):
    """Twenty-five renders of two whole-split figures in one process (pyplot warns beyond 20 open figures):
    matplotlib keeps no figure."""
    import matplotlib.pyplot as plt

    from analysis.figures import plots

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # pyplot warns beyond 20 open figures
        for _ in range(25):
            plots.heatmap(np.eye(3), ["a", "b", "c"], "t", "x")
            plots.scatter(np.zeros((3, 2)), np.array([0, 1, 2]), ["a", "b", "c"], "t", "x", "y")
    assert plt.get_fignums() == []


@pytest.mark.slow  # a PDF laid out by a worker process
def test_a_full_disk_fails_cleanly_and_keeps_the_last_report(synthetic_build, tmp_path, monkeypatch):
    import errno

    from conftest import copy_build

    from analysis.store import writer as store_module
    from report import pipeline

    out = tmp_path / "out"
    store = copy_build(synthetic_build, out)  # the synthetic store rendered to HTML and PDF
    outputs = [out / "report.html", out / "report.pdf"]
    before = {p: p.read_bytes() for p in outputs}

    def full(descriptor):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store_module.os, "fsync", full)
    with pytest.raises(OSError, match="No space left"):
        pipeline.render(pipeline.RenderPlan(out, store, ("html", "pdf"), force=True))
    assert {p: p.read_bytes() for p in outputs} == before
    assert [p.name for p in out.rglob(".*")] == []  # no temporary file left behind


@pytest.mark.slow  # a PDF laid out by a worker process
def test_html_in_names_is_text_in_the_pdf(tmp_path):
    import copy

    from pypdf import PdfReader
    from synthetic import documents, write_store

    from report import pipeline

    docs = copy.deepcopy(documents())
    docs["evaluation.json"]["class_names"] = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "two"]
    outputs, _ = pipeline.render(pipeline.RenderPlan(tmp_path, write_store(tmp_path / "stores", docs), ("html", "pdf")))
    text = " ".join(page.extract_text() for page in PdfReader(outputs[1]).pages)
    assert "<script>alert(1)</script>" in text and "<img src=x onerror=alert(1)>" in text
    html = outputs[0].read_text()
    assert html.count("<script>") == 1  # the report's own table sorter, nothing from the names
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html


def test_a_store_of_unknown_schema_is_rebuilt_not_rendered(default_checkpoint, assignment_build, tmp_path):
    import json
    import shutil

    shutil.copytree(assignment_build, tmp_path, dirs_exist_ok=True)  # a finished build of these arguments
    args = ("--checkpoint", str(default_checkpoint), "--out", str(tmp_path), "--sections", "assignment",
            "--format", "html")
    assert run_cli(*args).returncode == 0
    manifest = current_store(tmp_path) / "manifest.json"
    document = json.loads(manifest.read_text())
    document["schema_version"] = 99
    manifest.write_text(json.dumps(document))
    result = run_cli(*args)
    assert result.returncode == 0 and "analysed" in result.stdout
    assert json.loads(manifest.read_text())["schema_version"] != 99


def test_an_empty_class_folder_is_named(tmp_path):
    from synthetic import make_image_folder

    make_image_folder(tmp_path, per_split=2)
    for image in (tmp_path / "test" / "square").iterdir():
        image.unlink()
    with pytest.raises(InputError, match="has no test images for class\\(es\\) square"):
        data_module.load(str(tmp_path))


@pytest.mark.slow  # a PDF worker process runs out of its memory cap
def test_pdf_rendering_is_capped_in_memory_and_failure_keeps_the_report(synthetic_build, tmp_path, monkeypatch):
    from conftest import copy_build

    from report import pipeline
    from analysis.errors import RenderError

    store = copy_build(synthetic_build, tmp_path)  # the synthetic store rendered to HTML and PDF
    outputs = [tmp_path / "report.html", tmp_path / "report.pdf"]
    before = [p.read_bytes() for p in outputs]
    monkeypatch.setenv("REPORT_PDF_MEMORY", str(64 << 20))  # far below what WeasyPrint needs
    with pytest.raises(RenderError, match="PDF not written"):
        pipeline.render(pipeline.RenderPlan(tmp_path, store, ("html", "pdf"), force=True))
    assert [p.read_bytes() for p in outputs] == before
