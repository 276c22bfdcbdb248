"""The tool installs two top-level packages, ``report`` and ``analysis``. Run from a folder holding its own
``analysis`` package (or ``analysis.py``), Python imports the user's in place of the tool's (the working folder
comes first on sys.path): ``import report`` says so in one line, naming the folder and the fix, instead of failing
later with ``No module named 'analysis.config'``; ``python -m report`` says it as the command line's error line."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT


def python(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The tool found through PYTHONPATH, as an installed one is, after the working folder."""
    return subprocess.run([sys.executable, *args], cwd=cwd, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=60)


@pytest.fixture(params=["package", "module"])
def shadowing(request, tmp_path) -> Path:
    """A user's project folder with an ``analysis`` package, or an ``analysis.py``, of its own."""
    if request.param == "package":
        (tmp_path / "analysis").mkdir()
        (tmp_path / "analysis" / "__init__.py").write_text("MINE = True\n")
        return tmp_path / "analysis"
    (tmp_path / "analysis.py").write_text("MINE = True\n")
    return tmp_path / "analysis.py"


def test_import_report_names_the_shadowing_folder_and_the_fix(shadowing):
    result = python("-c", "import report", cwd=shadowing.parent)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last == (f"ImportError: the {'folder' if shadowing.is_dir() else 'file'} {shadowing} shadows this "
                    f"tool's analysis package ({ROOT / 'analysis'}): rename it or run from another folder")


def test_the_users_own_analysis_imported_first_is_named_too(shadowing):
    result = python("-c", "import analysis; assert analysis.MINE; import report", cwd=shadowing.parent)
    assert result.returncode == 1 and f"{shadowing} shadows this tool's analysis package" in result.stderr


def test_python_m_report_says_it_in_one_line_with_exit_code_2(shadowing):
    result = python("-m", "report", "--help", cwd=shadowing.parent)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.startswith("report: error: the ") and result.stderr.count("\n") == 1
    assert f"{shadowing} shadows this tool's analysis package" in result.stderr and "Traceback" not in result.stderr


def test_a_folder_named_analysis_that_is_no_package_does_not_shadow(tmp_path):
    """A folder without __init__.py is a namespace portion: a regular package later on sys.path wins."""
    (tmp_path / "analysis").mkdir()
    (tmp_path / "analysis" / "notes.txt").write_text("not code\n")
    result = python("-c", "import report; print(report.InputError.__module__); import analysis.config",
                    cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "analysis.errors"


def test_the_tools_own_folder_is_not_taken_for_a_shadow():
    result = python("-c", "import analysis, report; import analysis.config; print(report.build.__module__)",
                    cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "report.api"
