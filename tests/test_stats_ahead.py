"""The classification quality computed in a helper process started ahead (analysis/stats/ahead.py): the same
record as computed in the command's own process, a fallback when the helper is gone, no helper left behind, and
none started where it saves nothing, and a build with the helper gives the store of a build without it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import ROOT, run_cli

from report.pipeline import current_store

# Run in a fresh interpreter: the test process has the statistics imported already, where no helper is started.
SCRIPT = r"""
import dataclasses, json, sys
import numpy as np
from analysis.stats import ahead

rng = np.random.default_rng(0)
labels = rng.integers(0, 5, 400)
predicted = np.where(rng.random(400) < 0.7, labels, rng.integers(0, 5, 400))
confidence = rng.random(400)
statistics_before = [name for name in ahead.STATISTICS if name in sys.modules]
worthwhile = ahead.worthwhile()
with ahead.started():
    pool = ahead._running[-1] if ahead._running else None
    helped = ahead.classification_quality(labels, predicted, confidence, 5)
    helpers = [p.pid for p in (pool._processes or {}).values()] if pool else []
    if sys.argv[1] == "kill":  # the helper dies: the quality is computed here
        for process in list(pool._processes.values()):
            process.kill()
            process.join()
        after_kill = ahead.classification_quality(labels, predicted, confidence, 5)
    else:
        after_kill = helped
left = [p for p in (pool._processes or {}).values() if p.is_alive()] if pool else []
here = ahead._quality(labels, predicted, confidence, 5)  # in this process, once the helper is gone
print(json.dumps({"worthwhile": worthwhile, "statistics_before": statistics_before, "helpers": len(helpers),
                  "same": helped == here, "same_after_kill": after_kill == here, "left": len(left)}))
"""


def run_script(mode: str) -> dict:
    done = subprocess.run([sys.executable, "-c", SCRIPT, mode], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_helper_gives_the_quality_computed_here_and_ends_with_its_block():
    seen = run_script("plain")
    assert seen["worthwhile"] and seen["statistics_before"] == []  # importing the module imports none of them
    assert seen["helpers"] == 1
    assert seen["same"]
    assert seen["left"] == 0


def test_a_dead_helper_leaves_the_quality_to_this_process():
    seen = run_script("kill")
    assert seen["helpers"] == 1 and seen["same"] and seen["same_after_kill"] and seen["left"] == 0


def test_no_helper_where_the_statistics_are_imported_already():
    from analysis.stats import ahead
    from analysis.stats import classification  # noqa: F401  the statistics, imported in this process

    assert not ahead.worthwhile()
    with ahead.started():
        assert ahead._running == []


@pytest.mark.slow  # a build in a fresh interpreter
def test_a_build_with_the_helper_writes_the_store_of_a_build_without_it(assignment_build, default_checkpoint,
                                                                       tmp_path):
    """The session's assignment build ran forked from the test zygote, which has the statistics imported: no
    helper. The same command in a fresh interpreter starts one (assignment sections: no whole-split statistics)
    and must write the same store, byte for byte."""
    out = tmp_path / "out"
    done = run_cli("--checkpoint", str(default_checkpoint), "--out", str(out), "--sections", "assignment",
                   "--format", "html", fresh=True)
    assert done.returncode == 0, done.stderr
    first, second = current_store(assignment_build), current_store(out)
    assert first.name == second.name
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    assert [f for f in files if (first / f).read_bytes() != (second / f).read_bytes()] == []


def _helpers(process: "psutil.Process") -> list:
    import psutil

    found = []
    for child in process.children(recursive=True):
        try:
            if "spawn_main" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


@pytest.mark.slow  # a build in a fresh interpreter, stopped
@pytest.mark.parametrize("how", ["SIGKILL", "SIGINT to the group"])
def test_the_helper_ends_with_the_command(default_checkpoint, tmp_path, how):
    """Killed (it can clean nothing up) or stopped with Ctrl-C (the whole process group gets SIGINT; the helper
    ignores it and is stopped by the command): either way no helper outlives the command for long."""
    import os
    import signal
    import time

    import psutil

    command = subprocess.Popen(
        [sys.executable, "-m", "report", "--checkpoint", str(default_checkpoint), "--out", str(tmp_path / "out"),
         "--sections", "assignment", "--format", "html"],
        cwd=ROOT, env={**os.environ, "MPLBACKEND": "Agg"}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True, start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        helpers = []
        while not helpers:
            assert command.poll() is None, f"the command ended before its helper was seen: {command.stderr.read()}"
            assert time.monotonic() < deadline, "no helper after 120 s"
            helpers = _helpers(psutil.Process(command.pid))
            time.sleep(0.02)
        if how == "SIGKILL":
            command.kill()
        else:
            os.killpg(command.pid, signal.SIGINT)
        code = command.wait(60)
        assert code == (-signal.SIGKILL if how == "SIGKILL" else 130), (code, command.stderr.read())
        _, alive = psutil.wait_procs(helpers, timeout=10)  # the helper's watchdog looks at its parent every 0.2 s
        assert alive == [], [p.cmdline() for p in alive]
    finally:
        if command.poll() is None:
            command.kill()
            command.wait()
