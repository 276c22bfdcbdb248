"""Notebooks: a ``Report`` shows itself as an escaped HTML block (headline numbers, alerts, links), its tables
come as pandas DataFrames (pandas loaded only then: never by ``import report`` or a build), and
examples/report.ipynb runs top to bottom, offline, in a kernel of this interpreter."""

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from analysis.errors import InputError
from conftest import ROOT
from report.render.alerts import Alert
from report.results import Report

NOTEBOOK = ROOT / "examples" / "report.ipynb"


def offline_environment() -> dict[str, str]:
    """The tool importable as an installed one is, and any attempt to reach the network failing at once."""
    dead = "http://127.0.0.1:9"
    return {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg", "HTTP_PROXY": dead, "HTTPS_PROXY": dead,
            "http_proxy": dead, "https_proxy": dead, "NO_PROXY": "", "no_proxy": ""}


def synthetic_report(build: Path, checkpoint: Path | None = None) -> Report:
    (store,) = (build / "stores").iterdir()
    return Report(out=build, store=store, outputs={"html": build / "report.html", "pdf": build / "report.pdf"},
                  checkpoint=checkpoint)


def test_a_report_shows_its_numbers_alerts_and_documents_as_escaped_html(synthetic_build):
    result = synthetic_report(synthetic_build, checkpoint=Path("runs") / '<img src=x onerror="alert(1)">&.pt')
    shown = result._repr_html_()
    assert "<img" not in shown and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;.pt" in shown
    summary = result.summary
    assert f"{summary.parameters:,}" in shown and summary.model in shown
    assert "95% CI" in shown and "Multiply-accumulates per image" in shown and "Separation" in shown
    assert result.alerts == [] and "No alerts." in shown
    result.__dict__["alerts"] = [Alert("warning", "classes.small", "Class <b>6</b> & co has 3 test images.")]
    shown = result._repr_html_()  # alerts name classes: text from the data
    assert "<li><strong>warning</strong>: Class &lt;b&gt;6&lt;/b&gt; &amp; co has 3 test images.</li>" in shown
    assert f'href="{(synthetic_build / "report.html").as_uri()}"' in shown and ">PDF</a>" in shown


def test_a_report_whose_store_was_removed_still_shows(tmp_path):
    result = Report(out=tmp_path, store=tmp_path / "stores" / "gone", outputs={"html": Path("build/report.html")},
                    checkpoint=None)
    shown = result._repr_html_()
    assert "Numbers unavailable" in shown and 'href="build/report.html"' in shown


def test_tables_are_dataframes_typed_as_stored(synthetic_build):
    result = synthetic_report(synthetic_build)
    parameters = result.table("parameters")
    assert list(parameters.columns)[:2] == ["layer", "type"] and parameters["total"].dtype.kind == "i"
    assert set(result.frames) == set(result.tables) and len(result.frames["parameters"]) == len(parameters)
    with pytest.raises(InputError, match=r"^no table 'nope' in .*: the tables are .*parameters"):
        result.table("nope")


def test_without_pandas_a_table_is_one_line_naming_the_extra(synthetic_build):
    code = ("import sys; sys.modules['pandas'] = None\n"  # what an environment without pandas gives: ImportError
            "from pathlib import Path; from report.results import Report; from analysis.errors import InputError\n"
            f"out = Path({str(synthetic_build)!r}); (store,) = (out / 'stores').iterdir()\n"
            "try:\n    Report(out=out, store=store, outputs={}, checkpoint=None).table('parameters')\n"
            "except InputError as error:\n    print(error)\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.stdout == "pandas is not installed: pip install 'cnn-report[notebook]' (or pip install pandas)\n"


@pytest.mark.slow  # a build of a small model: about 10 s
def test_neither_import_report_nor_a_build_loads_pandas(tmp_path):
    code = """
import sys, torch, report
from torch import nn
assert "pandas" not in sys.modules, "import report"
class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(28 * 28, 10)
    def forward(self, x):
        return self.fc(x.flatten(1))
result = report.build(model=Tiny(), sections="parameters,shapes", formats="html", out="build", quiet=True)
assert result.tables and "pandas" not in sys.modules, "a build"
print(len(result.table("parameters")), "pandas" in sys.modules)
"""
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=offline_environment(),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["1", "True"]


@pytest.mark.slow  # a kernel and a build of a small model defined in a cell: about 15 s
def test_the_example_notebook_runs_offline_in_a_kernel_of_this_interpreter(tmp_path, monkeypatch):
    for name, value in offline_environment().items():
        monkeypatch.setenv(name, value)  # the kernel inherits this process's environment
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell("import sys; print(sys.executable)"))
    NotebookClient(notebook, kernel_name="python3", timeout=300,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()

    outputs = [cell.outputs for cell in notebook.cells if cell.cell_type == "code"]
    assert not [o for cell in outputs for o in cell if o.output_type == "error"]
    assert outputs[-1][0].text.strip() == sys.executable  # the kernel runs this venv's interpreter
    shown = outputs[1][-1].data
    assert "text/html" in shown and "TinyNet" in shown["text/html"] and "27,090" in shown["text/html"]
    frame = outputs[2][-1].data
    assert "text/html" in frame and "conv" in frame["text/html"] and "fc" in frame["text/html"]
    assert (tmp_path / "build" / "report.html").is_file()
