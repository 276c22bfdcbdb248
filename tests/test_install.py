"""The three ways a user installs the package, each from a copy of the checkout's tracked files (what a clean clone
holds) and with pip's DEFAULT build isolation, so that setuptools comes from the package registry into an empty
build environment, as on a user's machine: `pip install .`, `pip install -e .` and `pip wheel . --no-deps`.
(`--no-build-isolation` built with the suite's own setuptools and hid a configuration only a clean build
environment refused: `error in 'egg_base' option: '.setuptools-build' does not exist`.)

Without the registry (no network), the tests are skipped with the reason, not failed."""

import os
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from synthetic import write_store

from conftest import ROOT
from report import pipeline
from report.buildfolder import prepare

pytestmark = pytest.mark.slow  # each: a fresh venv and a build of the package in an isolated environment (4-8 s)

BUILD_REQUIRES = "setuptools>=70.1"  # pyproject.toml's [build-system] requires


def pip_environment() -> dict[str, str]:
    """The caller's environment without what would change how pip builds or what Python imports."""
    dropped = {"PYTHONPATH", "PIP_NO_BUILD_ISOLATION", "PIP_NO_INDEX", "PIP_USER"}
    return {key: value for key, value in os.environ.items() if key not in dropped} | {"MPLBACKEND": "Agg"}


def pip(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args], cwd=cwd,
                          env=pip_environment(), capture_output=True, text=True, timeout=180)


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """Skip unless pip can fetch what an isolated build installs (the registry, or whatever pip is configured
    to use in its place)."""
    probe = pip("download", "--no-deps", "--quiet", "--retries", "1", "--timeout", "15",
                "--dest", str(tmp_path_factory.mktemp("probe")), BUILD_REQUIRES, cwd=tmp_path_factory.getbasetemp())
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["no output"])[-1]
        pytest.skip(f"pip cannot fetch {BUILD_REQUIRES} for an isolated build (no network?): {last}")


def checkout_copy(target: Path) -> Path:
    """What a clean clone of the next commit holds (the files git tracks or would add, none it ignores), so that
    the install sees no build output and writes nothing here."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, check=True).stdout
    for name in filter(None, files.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            (target / name).write_bytes(source.read_bytes())
    return target


def fresh_venv(where: Path) -> Path:
    """A new venv without pip or setuptools of its own (the suite's pip installs into it with ``--python``)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True, capture_output=True)
    return where


def install(venv: Path, *args: str, cwd: Path) -> None:
    """``pip install --no-deps`` with build isolation, then the suite's dependencies made visible to the venv
    through a .pth file: added only after the build, so that the build environment holds the registry's
    setuptools alone (nothing of the suite's is downloaded: torch is gigabytes)."""
    result = pip("--python", str(venv / "bin" / "python"), "install", "--no-deps", "--quiet", *args, cwd=cwd)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    (purelib,) = (venv / "lib").glob("python3*/site-packages")
    (purelib / "suite-dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")


def in_venv(venv: Path, *command: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(venv / "bin" / command[0]), *command[1:]], cwd=cwd, env=pip_environment(),
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def elsewhere(tmp_path) -> Path:
    """A working folder outside the checkout: what is imported there comes from the installation."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    return folder


def test_pip_install_dot_packages_the_templates_and_the_console_script_renders(registry, tmp_path, elsewhere):
    source = checkout_copy(tmp_path / "clone")
    venv = fresh_venv(tmp_path / "venv")
    install(venv, ".", cwd=source)

    out = tmp_path / "build"
    prepare(out)
    pipeline.render(pipeline.RenderPlan(out, write_store(out / "stores"), ("html",)))
    (out / "report.html").unlink()
    rendered = in_venv(venv, "cnn-report", "render", "--out", str(out), "--format", "html", cwd=elsewhere)
    assert rendered.returncode == 0, rendered.stderr
    assert "<!DOCTYPE html>" in (out / "report.html").read_text()[:200]
    packaged = in_venv(venv, "python", "-c", "from report.render import TEMPLATE_DIR; import analysis; "
                       "print(TEMPLATE_DIR); print(analysis.__file__)", cwd=elsewhere)
    assert packaged.returncode == 0, packaged.stderr
    assert all(str(venv) in line and "site-packages" in line for line in packaged.stdout.splitlines())


def test_pip_install_editable_runs_the_checkout(registry, tmp_path, elsewhere):
    source = checkout_copy(tmp_path / "clone")
    venv = fresh_venv(tmp_path / "venv")
    install(venv, "-e", ".", cwd=source)

    where = in_venv(venv, "python", "-c", "import report, analysis.config; print(report.__file__); "
                    "print(analysis.config.__file__)", cwd=elsewhere)
    assert where.returncode == 0, where.stderr
    assert [Path(line) for line in where.stdout.split()] == [source / "report" / "__init__.py",
                                                             source / "analysis" / "config.py"]
    helped = in_venv(venv, "cnn-report", "--help", cwd=elsewhere)
    assert helped.returncode == 0 and all(c in helped.stdout for c in ("render", "watch", "history", "compare"))
    refused = in_venv(venv, "cnn-report", "render", "--out", str(tmp_path / "never built"), cwd=elsewhere)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and "make report" in refused.stderr


def test_pip_wheel_builds_a_wheel_of_both_packages_with_templates_and_extras(registry, tmp_path):
    source = checkout_copy(tmp_path / "clone")
    built = pip("wheel", "--no-deps", "--quiet", "--wheel-dir", str(tmp_path / "wheels"), ".", cwd=source)
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-3000:]
    (wheel,) = (tmp_path / "wheels").glob("cnn_report-*-py3-none-any.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"report/__init__.py", "report/templates/report.html.j2", "report/templates/report.css",
            "analysis/__init__.py", "analysis/config.py"} <= names
    assert not {name for name in names if name.startswith(("tests/", "bench/", "build/", "templates/"))}
    (metadata,) = [name for name in names if name.endswith(".dist-info/METADATA")]
    text = zipfile.ZipFile(wheel).read(metadata).decode()
    assert "Provides-Extra: notebook" in text and "pandas>=2; extra == \"notebook\"" in text
    (entry_points,) = [name for name in names if name.endswith(".dist-info/entry_points.txt")]
    assert "cnn-report = report.cli:console" in zipfile.ZipFile(wheel).read(entry_points).decode()
