"""The warm watch: one PDF worker for many PDFs, the HTML before the PDF, a look the moment a file settles,
any failure of one build as one line, and SIGINT or SIGTERM stopping it even in the background."""

import copy
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import copy_build
from synthetic import documents, write_store

from report import pipeline
from report.render.documents import PdfServer
from analysis.errors import RenderError
from report.watching import Watcher, build_safely, watch

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow  # three PDFs laid out by a worker process
def test_one_pdf_worker_renders_one_pdf_after_another_and_survives_a_refused_one(tmp_path):
    stores = [write_store(tmp_path / "stores", key=f"s{n}") for n in range(2)]
    with PdfServer(tmp_path) as server:
        pid = server.job.process.pid
        for store in stores:
            _, rendered = pipeline.render(pipeline.RenderPlan(tmp_path, store, ("html", "pdf"), force=True), server)
            assert rendered and (tmp_path / "report.pdf").read_bytes().startswith(b"%PDF")
        with pytest.raises(RenderError, match="outside the build folder"):
            server.finish('<img src="file:///etc/hostname">')
        pipeline.render(pipeline.RenderPlan(tmp_path, stores[0], ("html", "pdf"), force=True), server)
        assert server.job.process.pid == pid and server.rendered == 3
        scratch = server.job.scratch
    assert not scratch.exists()  # its temporary folder goes with it


@pytest.mark.slow  # a PDF laid out by a second worker process
def test_a_pdf_worker_that_died_is_replaced_for_the_next_pdf(tmp_path):
    store = write_store(tmp_path / "stores")
    with PdfServer(tmp_path) as server:
        dead = server.job.process
        dead.kill()
        dead.wait()
        _, rendered = pipeline.render(pipeline.RenderPlan(tmp_path, store, ("pdf",), force=True), server)
        assert rendered and server.rendered == 1 and server.job.process.pid != dead.pid
        assert (tmp_path / "report.pdf").read_bytes().startswith(b"%PDF")


def test_html_first_publishes_the_html_before_the_pdf_is_laid_out(synthetic_build, tmp_path):
    old = copy_build(synthetic_build, tmp_path)  # HTML and PDF of the synthetic store: the report it replaces
    docs = copy.deepcopy(documents())
    docs["evaluation.json"].update(correct=29, accuracy=29 / 30)
    new = write_store(tmp_path / "stores", docs, key="new")
    assert (tmp_path / "report.pdf").is_file() and old.name == "synthetic"

    class Slow:
        """A PDF worker that records what the build folder held when it was asked for the PDF."""
        seen = {}

        def finish(self, html):
            self.seen = {"html": (tmp_path / "report.html").read_text(), "record": pipeline.render_record(tmp_path)}
            return b"%PDF-1.7 new"

    job = Slow()
    _, rendered = pipeline.render(pipeline.RenderPlan(tmp_path, new, ("html", "pdf")), job, html_first=True)
    assert rendered and "96.7" in job.seen["html"] and job.seen["record"]["fingerprint"] is None
    assert (tmp_path / "report.pdf").read_bytes() == b"%PDF-1.7 new"
    assert pipeline.render_record(tmp_path)["fingerprint"] and (tmp_path / "current-store.txt").read_text() == "new\n"
    _, again = pipeline.render(pipeline.RenderPlan(tmp_path, new, ("html", "pdf")), job, html_first=True)
    assert not again  # up to date once the PDF is in place


def test_a_file_settles_by_its_modification_time_seen_at_two_looks(tmp_path):
    checkpoint = tmp_path / "e1.pt"
    checkpoint.write_bytes(b"weights")
    written = checkpoint.stat().st_mtime_ns / 1e9
    watcher = Watcher(tmp_path, settle=2.0)
    assert watcher.ready(now=100.0, wall=written + 0.1) == []           # first look: pending
    assert 1.85 < watcher.next_look(100.0, 5.0, wall=written + 0.1) < 1.95  # the next look when it settles
    assert watcher.ready(now=100.5, wall=written + 1.0) == []           # not settled yet
    assert watcher.ready(now=101.0, wall=written + 2.0) == [checkpoint]  # settled: 2 s after it was written
    watcher.built(checkpoint)
    assert watcher.ready(now=102.0, wall=written + 3.0) == [] and watcher.next_look(102.0, 0.5) == 0.5
    old = tmp_path / "e0.pt"
    old.write_bytes(b"copied with its old time")
    os.utime(old, (1.0, 1.0))
    assert watcher.ready(now=103.0) == [] and watcher.ready(now=103.01) == [old]  # old time: the second look


def test_any_failure_of_one_build_is_one_line_and_the_watch_goes_on(tmp_path):
    for name in ("a.pt", "b.pt", "c.pt"):
        (tmp_path / name).write_bytes(b"x")
        os.utime(tmp_path / name, (1.0, 1.0))
    built, lines = [], []

    def build_one(path):
        if path.name == "a.pt":
            raise RuntimeError("a fault of the tool\nover two lines")
        if path.name == "b.pt":
            raise MemoryError()
        built.append(path.name)

    assert watch(tmp_path, build_one, settle=0, interval=0.01, max_builds=1, log=lines.append) == 1
    assert built == ["c.pt"]  # only a published report counts toward max_builds
    errors = [line for line in lines if "error" in line]
    assert len(errors) == 2 and all(line.endswith("(still watching)") and "\n" not in line for line in errors)
    assert "internal error (RuntimeError: a fault of the tool over two lines)" in errors[0]
    build_safely(lambda path: (_ for _ in ()).throw(OSError(28, "No space left on device", "x")), Path("d.pt"),
                 lines.append)
    assert lines[-1] == "report: error: d.pt: x: No space left on device (still watching)"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_watch_started_in_the_background_stops_on_sigint_and_sigterm(tmp_path, sig):
    folder = tmp_path / "runs"
    folder.mkdir()
    # A shell starts a background job with SIGINT ignored: so does this test.
    process = subprocess.Popen([sys.executable, "-m", "report", "watch", str(folder), "--out", str(tmp_path / "out"),
                                "--interval", "0.1"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env={**os.environ, "MPLBACKEND": "Agg"},
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    deadline = time.monotonic() + 60
    while not (tmp_path / "out" / ".lock").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    process.send_signal(sig)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 128 + sig, stderr
    assert f"report: stopped by {sig.name}" in stderr and "Traceback" not in stderr


def test_a_failed_build_does_not_count_and_the_file_is_retried_once_it_changes(tmp_path):
    """`watch --max-builds 1` used to end with no report when the first file it saw failed (a checkpoint still
    being written): the failure counted as a build."""
    from analysis.errors import InputError

    checkpoint = tmp_path / "e1.pt"
    checkpoint.write_bytes(b"half")
    os.utime(checkpoint, (1.0, 1.0))
    attempts, built = [], []

    def build_one(path):
        attempts.append(path.read_bytes())
        if path.read_bytes() == b"half":
            path.write_bytes(b"half and the rest")  # its writer goes on while the build fails
            raise InputError("e1.pt is truncated")
        built.append(path.name)

    assert watch(tmp_path, build_one, settle=0, interval=0.01, max_builds=1, timeout=20, log=lambda line: None) == 1
    assert attempts == [b"half", b"half and the rest"] and built == ["e1.pt"]


def test_the_timeout_ends_the_watch_even_while_a_build_hangs(tmp_path):
    """--timeout was looked at between builds only: a model whose forward never returns kept the watch running."""
    checkpoint = tmp_path / "e1.pt"
    checkpoint.write_bytes(b"weights")
    os.utime(checkpoint, (1.0, 1.0))
    cleaned, lines = [], []

    def hanging_build(path):
        try:
            time.sleep(60)
        finally:
            cleaned.append(path.name)  # the build's clean-up runs, as on Ctrl-C

    started = time.monotonic()
    assert watch(tmp_path, hanging_build, settle=0, interval=0.01, timeout=1, log=lines.append) == 0
    assert time.monotonic() - started < 10 and cleaned == ["e1.pt"]
    assert "ended after its --timeout of 1 s" in lines[-1]
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)  # no timer left behind for the caller
