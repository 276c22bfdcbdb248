"""`pip install -e .` and `pip install .` in a fresh virtual environment give the console script `cnn-report`,
which runs the real command line: the editable one from the checkout, the installed one with its templates
packaged, from a folder outside the repository."""

import os
import site
import subprocess
import sys
from pathlib import Path

import pytest
from synthetic import write_store

from conftest import ROOT
from report import pipeline
from report.buildfolder import prepare


def fresh_venv(where: Path) -> Path:
    """A new venv whose only third-party packages are this suite's, seen through a .pth file (no download:
    pip installs the project alone, ``--no-deps``, and the dependencies it declares are already there). It has no
    pip of its own: the venv module bundles an old setuptools without ``bdist_wheel``, which would shadow the
    suite's."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True, capture_output=True)
    (purelib,) = (where / "lib").glob("python3*/site-packages")
    (purelib / "suite-dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return where / "bin"


def checkout_copy(target: Path) -> Path:
    """The tracked files only, so that the install sees what a clean clone holds and writes nothing here."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, files.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            (target / name).write_bytes(source.read_bytes())
    return target


def pip_install(bin_dir: Path, *args: str) -> None:
    result = subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "--no-deps", "--no-build-isolation",
                             "--no-index", "--quiet", *args], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


def run_script(bin_dir: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    return subprocess.run([str(bin_dir / "cnn-report"), *args], cwd=cwd, env={**env, "MPLBACKEND": "Agg"},
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow  # two fresh venvs and two installs: about 6 s
def test_pip_install_gives_a_working_console_script(tmp_path):
    source = checkout_copy(tmp_path / "checkout")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    editable = fresh_venv(tmp_path / "editable")
    pip_install(editable, "-e", str(source))
    where = subprocess.run([str(editable / "python"), "-c", "import report; print(report.__file__)"], cwd=elsewhere,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where) == source / "report" / "__init__.py"
    helped = run_script(editable, "--help", cwd=elsewhere)
    assert helped.returncode == 0 and all(c in helped.stdout for c in ("render", "watch", "history", "compare"))
    refused = run_script(editable, "render", "--out", str(tmp_path / "never built"), cwd=elsewhere)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and "make report" in refused.stderr

    installed = fresh_venv(tmp_path / "installed")
    pip_install(installed, str(source))
    out = tmp_path / "build"
    prepare(out)
    pipeline.render(pipeline.RenderPlan(out, write_store(out / "stores"), ("html",)))
    (out / "report.html").unlink()
    rendered = run_script(installed, "render", "--out", str(out), "--format", "html", cwd=elsewhere)
    assert rendered.returncode == 0, rendered.stderr
    assert "<!DOCTYPE html>" in (out / "report.html").read_text()[:200]
    packaged = subprocess.run([str(installed / "python"), "-c", "from report.render import TEMPLATE_DIR; "
                               "print(TEMPLATE_DIR)"], cwd=elsewhere, capture_output=True, text=True, check=True)
    assert "site-packages" in packaged.stdout  # the templates were packaged, not read from the checkout
