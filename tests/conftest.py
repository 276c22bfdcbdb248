"""Shared fixtures: a synthetic store (torch-free), and the builds and trainings that several test files read,
each made once per session (a test that must change one works on a copy: `shutil.copytree` of a finished
build folder takes milliseconds, a build seconds)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"
sys.path.insert(0, str(Path(__file__).resolve().parent))


# Fixtures that train or build a whole report: a test that uses one is slow by nature.
SLOW_FIXTURES = {"default_build", "default_checkpoint", "single_file_build", "series", "baseline", "image_folder",
                 "assignment_build"}


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", help="rewrite golden files from current output")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: trains, builds whole reports or runs many processes "
                                       "(`make test-fast` leaves these out; `make test` runs everything)")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def pytest_collection_finish(session):
    """The zygote that `run_cli` forks commands from imports torch and the rest in its own process for a few
    seconds: started now, in the background, when a selected test runs commands, so that the first one does not
    wait for it."""
    from clirunner import start_zygote

    if session.config.option.collectonly:
        return
    modules = {getattr(item, "module", None) for item in session.items}
    if any(hasattr(module, name) for module in modules for name in ("run_cli", "run_process")):
        start_zygote()


@pytest.fixture
def golden(request):
    """golden(name, text): compare with tests/golden/name, or rewrite it with --update-golden."""
    def check(name: str, text: str) -> None:
        path = GOLDEN / name
        if request.config.getoption("--update-golden") or not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            if not request.config.getoption("--update-golden"):
                pytest.fail(f"golden file {name} did not exist; written now: review and commit it")
        assert text == path.read_text(), f"output differs from tests/golden/{name} (update with --update-golden)"
    return check


@pytest.fixture
def synthetic_store(tmp_path):
    from synthetic import write_store

    return write_store(tmp_path / "stores")


@pytest.fixture(scope="session")
def synthetic_build(tmp_path_factory):
    """The synthetic store rendered (HTML and PDF) into a build folder, once: read it, or copy it where a test
    needs a previous report to keep (the copy's render.json names this folder's store, so a copy is rendered
    again unless the render is forced anyway)."""
    from synthetic import write_store

    from report import pipeline

    def build(folder: Path) -> dict:
        out = folder / "out"
        outputs, _ = pipeline.render(pipeline.RenderPlan(out, write_store(out / "stores"), ("html", "pdf")))
        assert [p.name for p in outputs] == ["report.html", "report.pdf"]
        return {}

    return built_once(tmp_path_factory, "synthetic", build)[0] / "out"


def built_once(tmp_path_factory, name: str, build) -> tuple[Path, dict]:
    """A session build made once per `pytest` run, however many xdist workers (`make test` runs two) ask for it.
    The first worker to ask builds into ``<the run's temporary folder>/shared/<name>`` under a file lock and
    records what ``build(folder)`` returned (a JSON-able dict); the others wait on the lock, then read the same
    folder. A failed build records nothing, so the next worker to ask tries again and fails the same way. Tests
    read a shared build, or copy it to change it (`copy_build`)."""
    import json

    from filelock import FileLock

    if "PYTEST_XDIST_WORKER" not in os.environ:  # one process: the session's own folder
        folder = tmp_path_factory.mktemp(name)
        return folder, build(folder)
    shared = tmp_path_factory.getbasetemp().parent / "shared"  # the run's folder, above each worker's own
    shared.mkdir(exist_ok=True)
    folder, record = shared / name, shared / f"{name}.json"
    with FileLock(str(shared / f"{name}.lock")):
        if not record.exists():
            shutil.rmtree(folder, ignore_errors=True)  # what a failed attempt left
            folder.mkdir()
            record.write_text(json.dumps(build(folder)))
    return folder, json.loads(record.read_text())


def _completed(result: subprocess.CompletedProcess) -> dict:
    return {"args": list(result.args), "returncode": result.returncode, "stdout": result.stdout,
            "stderr": result.stderr}


def copy_build(build: Path, to: Path) -> Path:
    """A copy of a finished build folder (`to` may exist, empty); its store, as the copy's current store."""
    from report.pipeline import current_store

    shutil.copytree(build, to, symlinks=True, dirs_exist_ok=True)
    return current_store(to)


def run_main(*args: str, env: dict | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """`python -m report ARGS` answered by `report.cli.main` in this process: for what a command decides before
    any work (its arguments, a refusal, the state of the build folder), without a process's start-up. What it
    gives is what `run_cli` gives (exit code, stdout, stderr as Python writes them; `sys.argv[0]`, the
    environment and the working folder as a process would have them, put back afterwards); what only a process
    shows (its exit path, signals, output of its children, start-up variables) is `run_cli`'s."""
    import contextlib
    import io

    from report.cli import main

    saved_environ, saved_argv, saved_cwd = dict(os.environ), list(sys.argv), os.getcwd()
    stdout, stderr = io.StringIO(), io.StringIO()
    try:
        os.environ.update({"MPLBACKEND": "Agg", "SOURCE_DATE_EPOCH": "1764000000", **(env or {})})
        sys.argv[:] = [str(ROOT / "report" / "__main__.py"), *args]
        os.chdir(cwd)
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                code = main(list(args))
            except SystemExit as stop:  # argparse: --help, or a refused argument after its line
                code = stop.code if isinstance(stop.code, int) else int(stop.code is not None)
    finally:
        os.chdir(saved_cwd)
        sys.argv[:] = saved_argv
        os.environ.clear()
        os.environ.update(saved_environ)
    return subprocess.CompletedProcess([sys.executable, "-m", "report", *args], code, stdout.getvalue(),
                                       stderr.getvalue())


def run_cli(*args: str, env: dict | None = None, cwd: Path = ROOT, fresh: bool = False,
            timeout: float = 600) -> subprocess.CompletedProcess:
    """`python -m report ARGS` in a process of its own, as `subprocess.run(capture_output=True, text=True)`
    gives it. The process is a fork of a zygote that imported torch and the other heavy libraries once
    (tests/clirunner.py: what it changes, and when a fresh interpreter is used instead); `fresh=True` asks for a
    fresh interpreter (two runs compared for determinism, a process's own start-up under test)."""
    from clirunner import run_process

    full_env = {**os.environ, "MPLBACKEND": "Agg", "SOURCE_DATE_EPOCH": "1764000000", **(env or {})}
    return run_process(list(args), full_env, Path(cwd), env or {}, fresh, timeout)


@pytest.fixture(scope="session")
def default_build(tmp_path_factory):
    """`python -m report` with no checkpoint: trains, analyses and renders once per `pytest` run."""
    def build(out: Path) -> dict:
        result = run_cli("--out", str(out))
        assert result.returncode == 0, result.stderr
        return _completed(result)

    out, result = built_once(tmp_path_factory, "build", build)
    return out, subprocess.CompletedProcess(**result)


@pytest.fixture(scope="session")
def single_file_build(default_build, tmp_path_factory):
    """The session build re-rendered with --single-file into a copy (HTML only)."""
    def build(folder: Path) -> dict:
        out = folder / "build"
        shutil.copytree(default_build[0], out, ignore=shutil.ignore_patterns("report.*", "render.json"))
        result = run_cli("render", "--out", str(out), "--single-file", "--format", "html")
        assert result.returncode == 0, result.stderr
        return {}

    return built_once(tmp_path_factory, "single", build)[0] / "build"


@pytest.fixture(scope="session")
def default_checkpoint(default_build):
    out, _ = default_build
    (checkpoint,) = (out / "checkpoints").glob("default-*.pt")
    return checkpoint


@pytest.fixture(scope="session")
def assignment_build(default_checkpoint, tmp_path_factory):
    """`--checkpoint <the default checkpoint> --sections assignment` (HTML and PDF), built once: the build
    folder that the hostile suite, the signal tests and the store-state tests start from (read it, or copy it
    to change it; the copy's render.json still names this folder's store, so its first render renders)."""
    def build(folder: Path) -> dict:
        result = run_cli("--checkpoint", str(default_checkpoint), "--out", str(folder / "out"), "--sections",
                         "assignment")
        assert result.returncode == 0, result.stderr
        return {}

    return built_once(tmp_path_factory, "assignment", build)[0] / "out"


@pytest.fixture(scope="session")
def baseline(assignment_build, tmp_path_factory):
    """A finished build (assignment sections, HTML and PDF) with a user's hidden files planted in it: the
    previous report that the hostile suite's cases and the signal tests copy and must leave as it was."""
    from test_hostile_suite import SENTINELS, write

    out = tmp_path_factory.mktemp("baseline") / "out"
    shutil.copytree(assignment_build, out, symlinks=True)
    for name in SENTINELS:
        write(out / name, f"user data {name}")
    return out


@pytest.fixture(scope="session")
def series(tmp_path_factory):
    """Three short trainings (three separate runs): the checkpoints a training run would leave after epochs 1,
    2 and 3 (`python -m report train --epochs N`), read by the history, batch and watch tests and the
    training's determinism and sensitivity tests."""
    def build(folder: Path) -> dict:
        for epochs in (1, 2, 3):
            result = run_cli("train", "--epochs", str(epochs), "--save", str(folder / f"epoch{epochs}.pt"),
                             "--quiet")
            assert result.returncode == 0, result.stderr
        return {}

    return built_once(tmp_path_factory, "series", build)[0]
