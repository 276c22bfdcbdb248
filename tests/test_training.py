"""Reports that follow training: the plain-loop Reporter and the Lightning callback write a report per
checkpoint and a running history beside the training, skip to the newest checkpoint when training outpaces
them, and never stop training when a report fails."""

import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from torch.nn import functional as F

from analysis.data.datasets import load
from analysis.errors import InputError
from report.training import Reporter, source_of

FIXTURES = Path(__file__).resolve().parent / "fixtures"
QUICK = {"sections": "assignment", "formats": "html", "data": "embedded"}  # data: required but for the assignment CNN


@pytest.fixture(autouse=True)
def models_importable(monkeypatch):
    monkeypatch.syspath_prepend(str(FIXTURES))  # the report process (spawned) inherits sys.path


@pytest.fixture(scope="module")
def digits():
    splits = load(None)
    x = torch.from_numpy(splits.train.images[:800]).float().div(255).sub(0.1307).div(0.3081)
    return x, torch.from_numpy(splits.train.labels[:800]).long()


def train_epoch(model, digits, learning_rate=0.05):
    x, y = digits
    optimiser = torch.optim.SGD(model.parameters(), lr=learning_rate)
    model.train()
    for start in range(0, len(x), 100):
        optimiser.zero_grad()
        F.cross_entropy(model(x[start:start + 100]), y[start:start + 100]).backward()
        optimiser.step()


@pytest.mark.slow  # a report process and two reports
def test_a_plain_loop_gets_a_report_per_epoch_and_a_running_history(tmp_path, digits):
    from user_models import ReusedBlockNet

    torch.manual_seed(0)
    model, lines = ReusedBlockNet(), []
    with Reporter(out=tmp_path / "out", every=1, log=lines.append, **QUICK) as reporter:
        for epoch in range(2):
            train_epoch(model, digits)
            saved = reporter.epoch_end(model, epoch)
            assert saved.parent == tmp_path / "out" / "training" and saved.name.startswith(f"epoch-{epoch + 1:04d}-")
            while reporter.results[-1].status in ("waiting", "building"):  # this test wants both reports
                time.sleep(0.1)
    assert [r.status for r in reporter.results] == ["done", "done"], lines
    assert [r.summary["position"]["epoch"] for r in reporter.results] == [0, 1]
    assert all(r.summary["model"] == "ReusedBlockNet" and r.summary["parameters"] == sum(
        p.numel() for p in model.parameters()) for r in reporter.results)
    out = tmp_path / "out"
    assert (out / "report.html").is_file() and (out / "history.html").is_file()
    history = pd.read_csv(out / "history.csv")
    accuracy = history[history.metric == "accuracy"]
    assert list(accuracy.epoch) == [0, 1] and list(accuracy.value) == [r.summary["accuracy"] for r in reporter.results]
    assert len(lines) == 2 and all("report: epoch" in line for line in lines)


@pytest.mark.slow  # a report process
def test_when_training_outpaces_the_reports_the_waiting_one_is_skipped_for_the_newest(tmp_path, digits):
    from user_models import ReusedBlockNet

    model, lines = ReusedBlockNet(), []
    reporter = Reporter(out=tmp_path / "out", every=1, log=lines.append, **QUICK)
    reporter.epoch_end(model, 0)
    while reporter.results[0].status == "waiting":
        time.sleep(0.01)
    started = time.perf_counter()
    reporter.epoch_end(model, 1)
    reporter.epoch_end(model, 2)  # epoch 2's report is still waiting: it is dropped for epoch 3's
    assert time.perf_counter() - started < 2  # training never waited for a report
    reporter.close(wait=True, timeout=300)
    assert [r.status for r in reporter.results] == ["done", "skipped", "done"], lines
    assert any("skipped the report of epoch 2" in line for line in lines)


@pytest.mark.slow  # a report process
def test_a_failing_report_is_one_line_and_training_goes_on(tmp_path, digits):
    from user_models import ReusedBlockNet

    model, lines = ReusedBlockNet(), []
    with Reporter(out=tmp_path / "out", every=1, log=lines.append, classes=["zebra", "7"], **QUICK) as reporter:
        for epoch in range(2):
            train_epoch(model, digits)
            reporter.epoch_end(model, epoch)
    assert [r.status for r in reporter.results][-1] == "failed" and "done" not in [r.status for r in reporter.results]
    failed = [line for line in lines if "failed" in line]
    assert failed and all("unknown class 'zebra'" in line and line.endswith("(training goes on)") for line in failed)
    assert not (tmp_path / "out" / "report.html").exists()


def test_every_n_epochs_and_the_options_are_checked_when_made(tmp_path):
    with pytest.raises(InputError, match="argument --every: must be at least 1, got 0"):
        Reporter(out=tmp_path / "a", every=0)
    with pytest.raises(InputError, match="argument --seed"):
        Reporter(out=tmp_path / "b", seed=-3)
    with pytest.raises(InputError, match="does not take checkpoint"):
        Reporter(out=tmp_path / "c", checkpoint="x.pt")
    reporter = Reporter(out=tmp_path / "d", every=3)
    assert reporter.epoch_end(torch.nn.Linear(2, 2), 0) is None and reporter.results == []  # epoch 1 of 3
    reporter.close()


def test_a_model_class_another_process_cannot_build_is_refused_in_one_line():
    def local():
        class Inner(torch.nn.Module):
            pass
        return Inner()
    with pytest.raises(InputError, match="defined inside a function"):
        source_of(local())
    from user_models import ReusedBlockNet

    assert source_of(ReusedBlockNet()) == ("user_models:ReusedBlockNet", {})


@pytest.mark.slow  # Lightning trains 2 epochs; a report process builds 2 reports
def test_the_lightning_callback_writes_a_report_per_epoch_and_a_history(tmp_path, digits):
    import lightning.pytorch as pl
    from lightning_models import LitDigits

    from report.lightning import ReportCallback

    torch.manual_seed(0)
    x, y = digits
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=100)
    lines = []
    callback = ReportCallback(every_n_epochs=1, out=tmp_path / "out", log=lines.append, **QUICK)
    trainer = pl.Trainer(max_epochs=2, callbacks=[callback], logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, accelerator="cpu", devices=1)
    trainer.fit(LitDigits(width=4), loader)
    assert [r.status for r in callback.results] == ["done", "done"], lines  # the second waited for the first
    done = callback.results
    assert done[-1].summary["model"] == "LitDigits" and done[-1].summary["position"]["epoch"] == 1
    assert done[-1].summary["parameters"] == 4 * 9 + 4 + 4 * 13 * 13 * 10 + 10
    history = pd.read_csv(tmp_path / "out" / "history.csv")
    assert sorted(set(history.epoch)) == sorted(r.epoch for r in done)
    assert (tmp_path / "out" / "report.html").is_file() and len(list((tmp_path / "out" / "training").glob("*.pt"))) == 2


@pytest.mark.slow  # a training process, its report process and a kill
def test_the_report_process_ends_with_a_killed_training_process(tmp_path):
    """A training run killed with SIGKILL cannot stop its report process: the report process watches its parent
    and ends by itself, so nothing goes on publishing into the build folder without the training run."""
    import os
    import signal
    import subprocess
    import sys

    import psutil
    from conftest import ROOT

    script = tmp_path / "train.py"
    script.write_text(
        "import sys, time\n"
        f"sys.path.insert(0, {str(FIXTURES)!r})\n"
        "import torch\n"
        "from user_models import ReusedBlockNet\n"
        "from report.training import Reporter\n"
        "if __name__ == '__main__':\n"
        f"    reporter = Reporter(out={str(tmp_path / 'out')!r}, every=1, sections='assignment', formats='html',\n"
        "                        data='embedded')\n"
        "    reporter.epoch_end(ReusedBlockNet(), 0)\n"
        "    while reporter._process is None or reporter._process.pid is None:  # assigned, then started\n"
        "        time.sleep(0.05)\n"
        "    print(reporter._process.pid, flush=True)\n"
        "    time.sleep(600)\n")
    training = subprocess.Popen([sys.executable, str(script)], cwd=tmp_path, stdout=subprocess.PIPE, text=True,
                                env={**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"},
                                start_new_session=True)
    try:
        child = psutil.Process(int(training.stdout.readline()))
        training.send_signal(signal.SIGKILL)
        training.wait(10)
        child.wait(timeout=5)  # psutil.TimeoutExpired if the report process outlived its training run
        assert not (tmp_path / "out" / "report.html").exists(), "the report process published after its parent died"
    finally:
        with_group = [p for p in psutil.process_iter() if p.pid != os.getpid() and _session(p) == training.pid
                      and _running(p)]
        for p in with_group:
            p.kill()
    assert not with_group, "processes of the killed training run were left"


def _session(process) -> int | None:
    import os

    try:
        return os.getsid(process.pid)
    except OSError:
        return None


def _running(process) -> bool:
    """Not ended: a zombie (ended, its parent, now init, not yet told) runs nothing and publishes nothing."""
    import psutil

    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
