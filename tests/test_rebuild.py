"""Regenerating on every checkpoint: incremental builds, watch, batch (local and Dask), history, compare, CI."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from clirunner import popen
from conftest import ROOT, run_cli

from report.pipeline import current_store
from report.render.load import load_findings
from report.watching import Watcher


# `series` (three short trainings) is a session fixture of conftest.py: the end-to-end tests read it too.


def test_template_change_rerenders_and_new_checkpoint_reanalyses(series, tmp_path):
    copy = tmp_path / "repo"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(".venv", ".git", "build", "__pycache__", "tests"))
    out = tmp_path / "out"
    args = ("--checkpoint", str(series / "epoch1.pt"), "--out", str(out), "--format", "html",
            "--sections", "assignment")  # what is rebuilt when, not the whole-split pass
    first = run_cli(*args, cwd=copy)
    assert first.returncode == 0 and "analysed, rendered" in first.stdout, first.stderr
    manifest = current_store(out) / "manifest.json"
    stamp = manifest.stat().st_mtime_ns
    css = copy / "templates" / "report.css"
    css.write_text(css.read_text() + "\n/* a stylesheet change */\n")
    second = run_cli(*args, cwd=copy)
    assert second.returncode == 0 and "report: rendered:" in second.stdout and "analysed" not in second.stdout
    assert manifest.stat().st_mtime_ns == stamp
    assert "up to date" in run_cli(*args, cwd=copy).stdout
    third = run_cli("--checkpoint", str(series / "epoch2.pt"), "--out", str(out), "--format", "html",
                    "--sections", "assignment", cwd=copy)
    assert "analysed, rendered" in third.stdout
    assert current_store(out) != manifest.parent and manifest.is_file()  # the first store is kept apart


def test_watcher_waits_until_a_checkpoint_is_settled(tmp_path):
    watcher = Watcher(tmp_path, settle=1.0)
    target = tmp_path / "epoch1.pt"
    (tmp_path / ".epoch2.pt").write_bytes(b"hidden while being written")
    (tmp_path / "epoch3.pt.part").write_bytes(b"partial download")
    target.write_bytes(b"x" * 100)
    assert watcher.ready(0.0) == []
    with open(target, "ab") as handle:  # still being written
        handle.write(b"y" * 100)
    assert watcher.ready(0.6) == []
    assert watcher.ready(1.2) == []      # changed at 0.6: the clock restarted
    assert watcher.ready(1.7) == [target]
    watcher.built(target)
    assert watcher.ready(5.0) == []       # built already, unchanged
    os.rename(tmp_path / ".epoch2.pt", tmp_path / "epoch2.pt")  # renamed into place
    assert watcher.ready(6.0) == []
    assert watcher.ready(7.5) == [tmp_path / "epoch2.pt"]


def test_watch_builds_a_checkpoint_written_slowly_once_and_stops_on_ctrl_c(series, tmp_path):
    folder, out = tmp_path / "runs", tmp_path / "out"
    folder.mkdir()
    process = popen(
        ["watch", str(folder), "--out", str(out), "--format", "html", "--settle", "3", "--interval", "0.2",
         "--sections", "assignment"], {**os.environ, "MPLBACKEND": "Agg"}, ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        # a runner started in the background (`cmd &` without job control) passes SIGINT on as ignored,
        # and Python then installs no Ctrl-C handler: give the watch the default, as a terminal would
        default_signals=("SIGINT",))
    try:
        payload = (series / "epoch2.pt").read_bytes()
        time.sleep(1.0)
        with open(folder / "epoch2.pt", "wb") as handle:  # a slow writer: half now, the rest later
            handle.write(payload[: len(payload) // 2])
            handle.flush()
            time.sleep(1.0)
            handle.write(payload[len(payload) // 2:])
        deadline = time.time() + 120
        while time.time() < deadline and not (out / "report.html").is_file():
            time.sleep(0.5)
        time.sleep(1.0)
    finally:
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "report: stopped by SIGINT" in stderr and "error" not in stdout + stderr
    assert stdout.count("epoch2.pt: ") == 1
    findings = load_findings(current_store(out))
    assert findings.provenance.checkpoint_bytes == len(payload)


def test_batch_in_a_process_pool_and_on_dask_equals_the_serial_path(series, tmp_path):
    from dask.distributed import LocalCluster

    from analysis.config import AnalysisConfig
    from report.series import checkpoints_in, run_batch

    checkpoints = checkpoints_in(series)[:2]
    # the stores must match; the whole-split pass adds only time. One thread, not the default two: the pool's two
    # workers and Dask's two share two cores, and a worker that ran on any other number than the config's would
    # give other bytes
    config = AnalysisConfig(whole_split=False, threads=1)
    serial = run_batch(checkpoints, None, config, tmp_path / "serial", workers=1)
    pooled = run_batch(checkpoints, None, config, tmp_path / "pool", workers=2)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        distributed = run_batch(checkpoints, None, config, tmp_path / "dask",
                                dask_address=cluster.scheduler_address)
    for other in (pooled, distributed):
        assert [Path(r["store"]).name for r in serial] == [Path(r["store"]).name for r in other]
        for a, b in zip(serial, other):
            files = sorted(p.relative_to(a["store"]) for p in Path(a["store"]).rglob("*") if p.is_file())
            assert files
            assert all((Path(a["store"]) / f).read_bytes() == (Path(b["store"]) / f).read_bytes() for f in files)


@pytest.fixture(scope="module")
def history_out(series, tmp_path_factory):
    """A history of the series: its analyses are cached for the tests that follow in the same folder.

    One worker: on 2 cores a pool of two is slower than one (the pool is tested on Dask's test's stores)."""
    out = tmp_path_factory.mktemp("history")
    result = run_cli("history", str(series), "--out", str(out), "--format", "html", "--workers", "1")
    assert result.returncode == 0, result.stderr
    return out


def test_history_orders_the_series_and_reuses_cached_analyses(series, history_out):
    again = run_cli("batch", str(series), "--out", str(history_out), "--workers", "1")
    assert again.stdout.count("cached") == 3
    (series_dir,) = (history_out / "series").iterdir()
    rows = json.loads((series_dir / "history.json").read_text())["rows"]
    assert [r["checkpoint"] for r in rows] == ["epoch1.pt", "epoch2.pt", "epoch3.pt"]
    assert [r["position"] for r in rows] == [{"epoch": 1}, {"epoch": 2}, {"epoch": 3}]
    html = (history_out / "history.html").read_text()
    # three trainings of 1, 2 and 3 epochs are three runs, not the epochs of one: no trend joins them
    assert "come from 3 separate training runs" in html and "Test accuracy rises from" not in html
    assert html.count("<img") == 3


def test_compare_names_the_differences(series, history_out):
    """On the history's folder: the two analyses are cached, so this measures the comparison itself."""
    stores = sorted((history_out / "stores").iterdir())
    result = run_cli("compare", str(series / "epoch1.pt"), str(series / "epoch3.pt"), "--out", str(history_out))
    assert result.returncode == 0, result.stderr
    assert sorted((history_out / "stores").iterdir()) == stores  # both analyses came from the cache
    notes = {n["rule"]: n["text"] for n in json.loads((history_out / "compare-notes.json").read_text())["notes"]}
    assert notes["compare.accuracy"].startswith("Test accuracy rises from")
    # three separate trainings (the history says so): the drift is a difference between runs, not a move
    assert "differs most" in notes["compare.drift"] and "compare.runs" in notes
    assert "separation" in notes["compare.whole_split"]
    html = (history_out / "compare.html").read_text()
    assert "fc1.weight" in html and "epoch1.pt" in html and "epoch3.pt" in html
    assert (history_out / "compare.pdf").stat().st_size > 10_000


def test_same_inputs_give_the_same_pdf_bytes(default_build, tmp_path):
    out, _ = default_build
    copy = tmp_path / "copy"
    shutil.copytree(out, copy, ignore=shutil.ignore_patterns("checkpoints", "cache"))
    pdfs = []
    for _ in range(2):
        assert run_cli("render", "--out", str(copy), "--force", "--quiet").returncode == 0
        pdfs.append((copy / "report.pdf").read_bytes())
    assert pdfs[0] == pdfs[1]


def check_workflow(path):
    return subprocess.run([str(Path(sys.executable).parent / "check-jsonschema"), "--builtin-schema",
                           "vendor.github-workflows", str(path)], capture_output=True, text=True)


def test_the_ci_workflow_passes_github_s_schema():
    workflow = ROOT / ".github" / "workflows" / "report.yml"
    result = check_workflow(workflow)
    assert result.returncode == 0, result.stdout + result.stderr
    text = workflow.read_text()
    assert "actions/upload-artifact" in text and "build/report.pdf" in text and "make report" in text
