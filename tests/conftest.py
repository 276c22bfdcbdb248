"""Shared fixtures: a synthetic store (torch-free) and one real end-to-end build per session."""

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
SLOW_FIXTURES = {"default_build", "default_checkpoint", "single_file_build", "series", "baseline", "image_folder"}


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", help="rewrite golden files from current output")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: trains, builds whole reports or runs many processes "
                                       "(`make test-fast` leaves these out; `make test` runs everything)")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


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


def run_cli(*args: str, env: dict | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "MPLBACKEND": "Agg", "SOURCE_DATE_EPOCH": "1764000000", **(env or {})}
    return subprocess.run([sys.executable, "-m", "report", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="session")
def default_build(tmp_path_factory):
    """`python -m report` with no checkpoint: trains, analyses and renders once per session."""
    out = tmp_path_factory.mktemp("build")
    result = run_cli("--out", str(out))
    assert result.returncode == 0, result.stderr
    return out, result


@pytest.fixture(scope="session")
def single_file_build(default_build, tmp_path_factory):
    """The session build re-rendered with --single-file into a copy (HTML only)."""
    out = tmp_path_factory.mktemp("single") / "build"
    shutil.copytree(default_build[0], out, ignore=shutil.ignore_patterns("report.*", "render.json"))
    result = run_cli("render", "--out", str(out), "--single-file", "--format", "html")
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="session")
def default_checkpoint(default_build):
    out, _ = default_build
    (checkpoint,) = (out / "checkpoints").glob("default-*.pt")
    return checkpoint
