"""Signals (issue 29, point 3): every command of ``python -m report`` ends together with its children on
SIGINT and SIGTERM, publishes nothing after it ended, and says how it ended.

Each test starts a command in a session of its own, waits until it is in the middle of its work (a progress
line, a file appearing, a worker process started), sends the signal (to the process, or to its process
group as a terminal's Ctrl-C does) and checks that the command:
- exits within ``STOP_WITHIN`` seconds with 128 + the signal's number and one line saying it was stopped,
  no traceback, no warning (a worker killed with a named semaphore makes the resource tracker print one);
- leaves no process of its session behind (pool workers, DataLoader workers, the PDF worker);
- publishes nothing into the build folder after it ended (compared after ``QUIET_FOR`` seconds);
- leaves the previous report as it was, its lock released, and no temporaries once the next run started.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
from conftest import ROOT
from test_hostile_suite import STATE  # the previous report's files; `baseline` (conftest) is a finished build

from analysis.store.writer import STALE_PREFIX, TMP_PREFIX

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process sessions and /proc")

STOP_WITHIN = 5.0    # seconds from the signal to the command's exit
DATALOADER_STOP_WITHIN = 10.0  # torch joins each DataLoader worker, which takes seconds when it is still starting
QUIET_FOR = 1.0      # seconds the build folder must stay unchanged after the command ended (once no process of
                     # its session runs: what could still publish is a process that left it, and would show soon)
ENV = {**os.environ, "MPLBACKEND": "Agg", "SOURCE_DATE_EPOCH": "1764000000"}


def hangup_as_in_a_terminal() -> None:
    """The command starts with SIGHUP's default disposition, as in a terminal: a suite run under nohup (which
    the command would rightly keep ignoring) must not change what is tested."""
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


class Command:
    """``python -m report ARGS`` in a session (and process group) of its own, its stderr read line by line."""

    def __init__(self, *args: str):
        self.process = subprocess.Popen([sys.executable, "-m", "report", *args], cwd=ROOT, env=ENV,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                        start_new_session=True, preexec_fn=hangup_as_in_a_terminal)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, ready, what: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            assert self.process.poll() is None, f"ended before {what}: {self.lines}"
            assert time.monotonic() < deadline, f"no {what} after {timeout} s: {self.lines}"
            time.sleep(0.05)

    def said(self, text: str) -> bool:
        return any(text in line for line in self.lines)

    def children(self, *marks: str) -> list[psutil.Process]:
        """Its descendants whose command line holds every one of ``marks``."""
        found = []
        for child in psutil.Process(self.process.pid).children(recursive=True):
            try:
                if all(mark in " ".join(child.cmdline()) for mark in marks):
                    found.append(child)
            except psutil.NoSuchProcess:
                continue
        return found

    def signal(self, sig: int, group: bool = False) -> None:
        """Send ``sig``: to the process, or to its process group (every process of it, as Ctrl-C in a terminal)."""
        if group:
            os.killpg(self.process.pid, sig)
        else:
            self.process.send_signal(sig)

    def ended(self, within: float = STOP_WITHIN) -> int:
        """The exit code, which must come within ``within`` seconds."""
        try:
            return self.process.wait(timeout=within)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running {within} s after the signal: {self.lines}")

    def stop(self, sig: int, group: bool = False, within: float = STOP_WITHIN) -> int:
        self.signal(sig, group)
        return self.ended(within)

    def gone(self, within: float) -> bool:
        """Whether no process of its session runs any more, waiting up to ``within`` seconds."""
        deadline = time.monotonic() + within
        while self.session() and time.monotonic() < deadline:
            time.sleep(0.1)
        return not self.session()

    def session(self) -> list[psutil.Process]:
        """The processes of its session still running (zombies run nothing)."""
        left = []
        for process in psutil.process_iter():
            try:
                if os.getsid(process.pid) == self.process.pid and process.status() != psutil.STATUS_ZOMBIE:
                    left.append(process)
            except (ProcessLookupError, PermissionError, psutil.NoSuchProcess):
                continue
        return left

    def kill_session(self) -> None:
        """After a failed test: nothing of it may run on (the session's processes, by their ids)."""
        for process in [*self.session(), psutil.Process(self.process.pid) if self.process.poll() is None else None]:
            if process is not None:
                try:
                    process.kill()
                except psutil.NoSuchProcess:
                    pass


@pytest.fixture
def command():
    started: list[Command] = []

    def start(*args: str) -> Command:
        started.append(Command(*args))
        return started[-1]

    yield start
    for run in started:
        run.kill_session()


@pytest.fixture(scope="module")
def variants(default_checkpoint, tmp_path_factory) -> list[Path]:
    """Three checkpoints of the default model with distinct bytes (one weight nudged): each needs an analysis."""
    import torch

    folder = tmp_path_factory.mktemp("variants")
    for step in (1, 2, 3):
        checkpoint = torch.load(default_checkpoint, weights_only=True)
        weights = checkpoint["state_dict"]
        name = next(n for n, t in weights.items() if t.is_floating_point())
        weights[name] = weights[name] + 1e-4 * step
        torch.save(checkpoint, folder / f"epoch{step}.pt")
    return sorted(folder.glob("*.pt"))


@pytest.fixture
def out(baseline, tmp_path) -> Path:  # noqa: F811
    """A copy of a finished build: the previous report that a stopped command must leave as it was."""
    copy = tmp_path / "out"
    shutil.copytree(baseline, copy, symlinks=True)
    return copy


def files(folder: Path) -> dict[str, tuple[int, int, int]]:
    """Every entry under ``folder`` with its size, inode and modification time: a replaced file shows."""
    found = {}
    for path in folder.rglob("*"):
        status = path.lstat()
        found[str(path.relative_to(folder))] = (status.st_size, status.st_ino, status.st_mtime_ns)
    return found


def previous(out: Path) -> dict[str, bytes]:
    return {name: (out / name).read_bytes() for name in STATE if (out / name).is_file()}


def assert_quiet(folder: Path) -> None:
    ended = files(folder)
    time.sleep(QUIET_FOR)
    assert files(folder) == ended, "something was published into the build folder after the command ended"


def assert_next_run_cleans_up(out: Path) -> None:
    """The next run takes the lock (it is free) and removes the temporaries of stopped or killed runs: none may
    be left where it does not look."""
    from report.buildfolder import exclusive

    with exclusive(out, 0, log=lambda line: None):
        pass
    left = [p for p in out.rglob("*") if p.name.startswith((TMP_PREFIX, STALE_PREFIX))]
    assert not left, f"temporaries left once the next run started: {left}"


def assert_ended_cleanly(run: Command, code: int, sig: int, out: Path, before: dict[str, bytes] | None,
                         next_run: bool = True) -> None:
    """The command's end, checked as the module's docstring says. ``before``: the previous report's files
    (None: the command replaced some before it was stopped, as a watch does). ``next_run``: ``out`` is a build
    folder, whose lock the next run takes."""
    name = signal.Signals(sig).name
    assert code == 128 + sig, run.lines
    run.reader.join(timeout=5)  # stderr ends once no process holds it
    assert not run.reader.is_alive(), f"a process of the command still holds its stderr: {run.session()}"
    lines = run.lines
    assert lines and lines[-1].startswith(f"report: stopped by {name}; "), lines
    assert [line for line in lines if "stopped by" in line] == lines[-1:], lines
    problems = [line for line in lines if any(word in line.lower() for word in ("traceback", "error", "warn",
                                                                                 "leaked", "still watching"))]
    assert not problems, lines
    # within 2 s: the resource tracker ends once it reads the end of its pipe, and an orphaned DataLoader
    # worker would take 5 s to notice that its parent is gone
    assert run.gone(within=2), [p.cmdline() for p in run.session()]
    assert_quiet(out)
    if before is not None:
        assert previous(out) == before, "the previous report changed"
    if next_run:
        assert_next_run_cleans_up(out)


# ------------------------------------------------------------------------------------------------- build

def test_build_stopped_by_sigterm_during_the_analysis(command, out, variants):
    before = previous(out)
    run = command("--checkpoint", str(variants[0]), "--out", str(out), "--sections", "assignment")
    run.wait_for(lambda: run.said("report: analysing"), "analysis")
    time.sleep(0.3)
    assert_ended_cleanly(run, run.stop(signal.SIGTERM), signal.SIGTERM, out, before)


def waiting_in_stdin(process: psutil.Process) -> int:
    """Bytes written into ``process``'s stdin (a pipe) that it has not read yet (FIONREAD on a second read
    end, opened through /proc: nothing is read from it)."""
    import fcntl
    import termios

    try:
        descriptor = os.open(f"/proc/{process.pid}/fd/0", os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return 0
    try:
        return int.from_bytes(fcntl.ioctl(descriptor, termios.FIONREAD, b"\0\0\0\0"), sys.byteorder)
    finally:
        os.close(descriptor)


def stop_while_the_pdf_is_laid_out(run) -> None:
    """SIGTERM to ``run`` exactly while it waits for its PDF: the worker is held (SIGSTOP) until the HTML waits in
    its stdin, and let go right after the signal."""
    run.wait_for(lambda: run.children("report.render.pdfworker"), "PDF worker")
    (worker,) = run.children("report.render.pdfworker")
    worker.suspend()
    try:
        run.wait_for(lambda: waiting_in_stdin(worker) > 0, "HTML sent to the PDF worker")
        run.signal(signal.SIGTERM)
    finally:
        worker.resume()


def test_build_stopped_by_sigterm_while_the_pdf_is_laid_out(command, out, variants):
    """The PDF worker is held (SIGSTOP) as soon as it starts, so that the signal comes exactly while the command
    waits for its PDF: the HTML waits in the worker's stdin. The worker is let go right after the signal."""
    before = previous(out)
    run = command("--checkpoint", str(variants[1]), "--out", str(out), "--sections", "assignment")
    stop_while_the_pdf_is_laid_out(run)
    assert_ended_cleanly(run, run.ended(), signal.SIGTERM, out, before)


def test_render_stopped_by_sigterm_while_the_pdf_is_laid_out(command, out):
    """Re-rendering loads no torch, so the command ends through the interpreter's own exit: it too leaves no
    PDF worker and publishes nothing afterwards."""
    before = previous(out)
    run = command("render", "--out", str(out), "--force")
    stop_while_the_pdf_is_laid_out(run)
    assert_ended_cleanly(run, run.ended(), signal.SIGTERM, out, before)


def test_build_stopped_while_dataloader_workers_decode_images(command, out, tmp_path):
    """Image files are decoded in DataLoader workers (spawned processes): they end with the command."""
    from test_hostile_suite import image_folder, image_folder_args

    images = image_folder(tmp_path / "inputs", per_class=50)
    before = previous(out)
    run = command(*image_folder_args(images), "--workers", "2", "--out", str(out), "--sections", "all",
                  "--format", "html")
    run.wait_for(lambda: len(run.children("spawn_main")) >= 2, "DataLoader workers")
    code = run.stop(signal.SIGTERM, within=DATALOADER_STOP_WITHIN)
    assert_ended_cleanly(run, code, signal.SIGTERM, out, before)


# ------------------------------------------------------------------------------------------------- watch

def test_watch_stopped_by_sigterm_during_a_build_stops(command, out, variants, tmp_path):
    """SIGTERM while a watch builds ends the watch: it is never one build's 'internal error (still watching)'."""
    folder = tmp_path / "runs"
    folder.mkdir()
    before = previous(out)
    run = command("watch", str(folder), "--out", str(out), "--settle", "0", "--interval", "0.1",
                  "--sections", "assignment")
    run.wait_for(lambda: run.said("report: watching"), "watch")
    shutil.copy(variants[0], folder / "epoch1.pt")
    run.wait_for(lambda: run.said("report: analysing"), "analysis")
    time.sleep(0.3)
    assert_ended_cleanly(run, run.stop(signal.SIGTERM), signal.SIGTERM, out, before)


def test_watch_stopped_by_sigint_while_its_pdf_worker_lays_out(command, out, variants, tmp_path):
    """The watch publishes the HTML first; the signal comes while its kept PDF worker (held with SIGSTOP)
    has the PDF to lay out. The HTML stays, the previous PDF too, and the worker ends with the watch."""
    folder = tmp_path / "runs"
    folder.mkdir()
    pdf = (out / "report.pdf").read_bytes()
    run = command("watch", str(folder), "--out", str(out), "--settle", "0", "--interval", "0.1",
                  "--sections", "assignment")
    run.wait_for(lambda: run.children("report.render.pdfworker"), "PDF worker")
    (worker,) = run.children("report.render.pdfworker")
    worker.suspend()
    try:
        shutil.copy(variants[1], folder / "epoch2.pt")
        run.wait_for(lambda: waiting_in_stdin(worker) > 0, "HTML sent to the PDF worker")
        run.signal(signal.SIGINT)
    finally:
        worker.resume()
    assert_ended_cleanly(run, run.ended(), signal.SIGINT, out, None)
    assert (out / "report.pdf").read_bytes() == pdf, "a PDF was published after the signal"


# --------------------------------------------------------------------------------------- batch, history

def store_under_way(out: Path) -> bool:
    return any((out / "stores").glob(f"{TMP_PREFIX}*"))


def test_history_stopped_by_sigterm_ends_its_pool_workers(command, out, variants):
    """Its pool's workers are stopped and waited for: none publishes a store after the command ended."""
    folder = variants[0].parent
    before = previous(out)
    run = command("history", str(folder), "--out", str(out), "--format", "html")
    run.wait_for(lambda: store_under_way(out), "analysis in a worker")
    time.sleep(0.5)
    assert len(run.children("spawn_main")) == 2
    assert_ended_cleanly(run, run.stop(signal.SIGTERM), signal.SIGTERM, out, before)
    assert not list(out.glob("history.*"))


def test_batch_stopped_by_sigint_to_its_process_group(command, out, variants):
    """Ctrl-C in a terminal: SIGINT reaches the command and every worker at once."""
    folder = variants[0].parent
    before = previous(out)
    run = command("batch", str(folder), "--out", str(out))
    run.wait_for(lambda: store_under_way(out), "analysis in a worker")
    time.sleep(0.5)
    assert_ended_cleanly(run, run.stop(signal.SIGINT, group=True), signal.SIGINT, out, before)


def test_batch_workers_end_when_the_command_is_killed(command, out, variants):
    """SIGKILL leaves the command no clean-up: its pool's workers notice that their parent is gone, stop their
    analyses and end, so that none publishes a store without the lock; the next run removes what they left."""
    folder = variants[0].parent
    before = previous(out)
    run = command("batch", str(folder), "--out", str(out))
    run.wait_for(lambda: store_under_way(out), "analysis in a worker")
    run.process.kill()
    run.process.wait()
    assert run.gone(within=STOP_WITHIN), [p.cmdline() for p in run.session()]
    assert_quiet(out)
    assert previous(out) == before
    assert_next_run_cleans_up(out)


PDF_PARENT = """
import subprocess, sys
rows = "".join(f"<tr><td>row {i}</td><td>{'x' * 40}</td></tr>" for i in range(5000))  # ~20 s of layout
worker = subprocess.Popen([sys.executable, "-m", "report.render.pdfworker", sys.argv[1]], stdin=subprocess.PIPE,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
worker.stdin.write(f"<table>{rows}</table>".encode())
worker.stdin.close()  # returns once the worker has read nearly all of it: it is laying out from here on
print(worker.pid, flush=True)
worker.wait()
"""


def test_a_pdf_worker_laying_out_ends_when_its_parent_is_killed(tmp_path):
    """Killed, a command cannot cancel its PDF worker: the worker notices that its parent is gone and ends,
    instead of laying out a PDF nobody reads for up to its timeout."""
    parent = subprocess.Popen([sys.executable, "-c", PDF_PARENT, str(tmp_path)], cwd=ROOT, env=ENV,
                              stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        worker = psutil.Process(int(parent.stdout.readline()))
        time.sleep(0.5)
        parent.kill()
        parent.wait()
        try:
            worker.wait(timeout=STOP_WITHIN)
        except psutil.TimeoutExpired:
            pytest.fail(f"the PDF worker still runs {STOP_WITHIN} s after its parent was killed")
    finally:
        for process in psutil.process_iter():
            try:
                if os.getsid(process.pid) == parent.pid:
                    process.kill()
            except (ProcessLookupError, PermissionError, psutil.NoSuchProcess):
                continue
    assert not list(tmp_path.iterdir()), "the worker left files in the build folder"


# ------------------------------------------------------------------------------------------ compare, train

def test_compare_stopped_by_sigterm_during_an_analysis(command, out, variants):
    before = previous(out)
    run = command("compare", str(variants[0]), str(variants[2]), "--out", str(out))
    run.wait_for(lambda: run.said("report: analysing"), "analysis")
    time.sleep(0.3)
    assert_ended_cleanly(run, run.stop(signal.SIGTERM), signal.SIGTERM, out, before)
    assert not list(out.glob("compare.*"))


def test_train_stopped_by_sigint_leaves_the_previous_checkpoint(command, default_checkpoint, tmp_path):
    folder = tmp_path / "runs"
    folder.mkdir()
    save = folder / "model.pt"
    shutil.copy(default_checkpoint, save)
    run = command("train", "--epochs", "3", "--save", str(save))
    run.wait_for(lambda: run.said("epoch 1/3"), "first epoch")
    assert_ended_cleanly(run, run.stop(signal.SIGINT, group=True), signal.SIGINT, folder, None, next_run=False)
    assert save.read_bytes() == default_checkpoint.read_bytes()
    assert sorted(p.name for p in folder.iterdir()) == ["model.pt"]


# ------------------------------------------------------------------------------ DataLoader workers, SIGHUP

def has_loaded(process: psutil.Process, library: str) -> bool:
    """Whether ``process`` has a shared library whose path holds ``library`` mapped (/proc/PID/maps)."""
    try:
        return library in Path(f"/proc/{process.pid}/maps").read_text()
    except OSError:  # ended meanwhile
        return False


def test_dataloader_workers_end_when_the_command_is_killed(command, out, tmp_path):
    """SIGKILL during a pass over image files: the DataLoader workers (and the resource tracker, whose pipe they
    hold) notice that their parent is gone and end, instead of waiting for ever on results nobody reads."""
    from test_hostile_suite import image_folder, image_folder_args

    images = image_folder(tmp_path / "inputs", per_class=50)
    run = command(*image_folder_args(images), "--workers", "2", "--out", str(out), "--sections", "all",
                  "--format", "html")
    # killed once two workers have started (torch imported: they then send batches), not after a fixed wait,
    # which a fast machine can outlast (the pass over 100 images ends) and a slow one may not reach
    run.wait_for(lambda: len([w for w in run.children("spawn_main") if has_loaded(w, "libtorch")]) >= 2,
                 "DataLoader workers with torch imported")
    run.process.kill()
    run.process.wait()
    assert run.gone(within=DATALOADER_STOP_WITHIN), [p.cmdline() for p in run.session()]
    assert_next_run_cleans_up(out)


def test_build_stopped_by_sighup_when_its_terminal_closes(command, out, tmp_path):
    """A closed terminal sends SIGHUP to the command's whole process group: the command stops as on SIGTERM
    (exit 129, one line, temporaries removed); its DataLoader workers leave the stop to it."""
    from test_hostile_suite import image_folder, image_folder_args

    images = image_folder(tmp_path / "inputs", per_class=50)
    before = previous(out)
    run = command(*image_folder_args(images), "--workers", "2", "--out", str(out), "--sections", "all",
                  "--format", "html")
    run.wait_for(lambda: len(run.children("spawn_main")) >= 2, "DataLoader workers")
    time.sleep(3)
    code = run.stop(signal.SIGHUP, group=True, within=DATALOADER_STOP_WITHIN)
    assert_ended_cleanly(run, code, signal.SIGHUP, out, before)
