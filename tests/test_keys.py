"""Keys on what computes (issue 31): the analysis key covers the code that computes what a store holds, not the
drawing code nor the error messages; figures are drawn from the store's arrays in a step of their own
(``build/figures/<store key>/``), keyed on the drawing code, without torch; the store package is a leaf; the page's
words for the metrics are the render stage's."""

from __future__ import annotations

import ast
import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, run_cli

from analysis import keys
from analysis.store.schema import FIGURE_GROUPS

# ---------------------------------------------------------------- the key rule


def _copy_of_analysis(tmp_path: Path) -> Path:
    package = tmp_path / "analysis"
    shutil.copytree(ROOT / "analysis", package, ignore=shutil.ignore_patterns("__pycache__"))
    return package


def _edit(path: Path) -> None:
    with open(path, "a") as handle:
        handle.write("# a caption, a colour or a message edited\n")


@pytest.mark.parametrize("edited", ["figures/plots.py", "figures/calibration.py", "figures/images.py", "errors.py"])
def test_an_edit_of_the_drawing_code_or_a_message_keeps_the_analysis_key(tmp_path, edited):
    package = _copy_of_analysis(tmp_path)
    analysis_key, drawing_key = keys.code_version(package_dir=package), keys.drawing_version(package)
    _edit(package / edited)
    assert keys.code_version(package_dir=package) == analysis_key
    assert (keys.drawing_version(package) != drawing_key) == edited.startswith("figures/")


@pytest.mark.parametrize("edited", ["stats/separation.py", "run.py", "store/schema.py", "progress.py",
                                    "figure_arrays.py", "a_new_module.py"])
def test_an_edit_of_the_code_that_computes_changes_the_analysis_key_only(tmp_path, edited):
    package = _copy_of_analysis(tmp_path)
    analysis_key, drawing_key = keys.code_version(package_dir=package), keys.drawing_version(package)
    _edit(package / edited)
    assert keys.code_version(package_dir=package) != analysis_key
    assert keys.drawing_version(package) == drawing_key


def _module_file(module: str) -> str:
    """analysis.stats.fullsplit -> stats/fullsplit.py (a package: its __init__.py), relative to analysis/."""
    relative = Path(*module.split(".")[1:])
    return (relative / "__init__.py" if (ROOT / "analysis" / relative).is_dir() else relative.with_suffix(".py")).as_posix()


def test_nothing_the_analysis_imports_is_left_out_of_its_key_but_the_error_types():
    """The key may leave a module out only if the analysis never runs it: every module analysis.run imports,
    directly or not, at the top or inside a function, is keyed (the error types apart: they hold no logic)."""
    import grimp

    graph = grimp.build_graph("analysis")
    ran = {_module_file(m) for m in graph.find_upstream_modules("analysis.run") | {"analysis.run"}}
    assert ran - set(keys.computing_files()) == {"errors.py"}
    errors = ast.parse((ROOT / "analysis" / "errors.py").read_text())
    functions = [node.name for node in errors.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]
    assert not functions, f"analysis/errors.py now holds logic ({functions}): key it (analysis/keys.py NOT_COMPUTING)"


def test_the_store_package_is_a_leaf():
    """Importing every module of analysis.store loads nothing of analysis/ or report/ outside it (the error types
    apart), nor torch or numpy: the content keys, which read data files, checkpoints and options, are elsewhere."""
    code = ("import importlib, pkgutil, sys\nimport analysis.store as store\n"
            "for info in pkgutil.walk_packages(store.__path__, 'analysis.store.'):\n"
            "    importlib.import_module(info.name)\n"
            "print(sorted(name for name in sys.modules if name.split('.')[0] in ('analysis', 'report', 'torch', 'numpy')))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    loaded = ast.literal_eval(done.stdout.strip())
    assert [name for name in loaded if not name.startswith("analysis.store") and name not in
            ("analysis", "analysis.errors")] == []


# ---------------------------------------------------------------- presentation words

def test_the_figures_and_the_page_name_every_metric_alike():
    from analysis.figures.words import METRIC_WORDS
    from analysis.store.schema import METRIC_IDS
    from report.render.words import METRIC_BY_ID, WORDS

    assert set(METRIC_WORDS) == set(WORDS) == set(METRIC_IDS)
    assert {m: (w.name, w.heading) for m, w in METRIC_BY_ID.items()} == METRIC_WORDS
    assert list(METRIC_BY_ID) == list(METRIC_IDS)


def test_the_render_stage_takes_no_words_from_the_schema():
    """How the page names a metric is the render stage's (report/render/words.py): a word edited there re-renders,
    while the schema is analysis code, under the analysis key."""
    words = {"METRIC_NAMES", "METRIC_BY_ID", "METRICS", "Metric"}
    found = {}
    for path in sorted((ROOT / "report").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "analysis.store.schema":
                taken = words & {alias.name for alias in node.names}
                if taken:
                    found[path.relative_to(ROOT).as_posix()] = sorted(taken)
    assert found == {}


# ---------------------------------------------------------------- the figures step, on a real store

CLI = ("--model", "torchvision:resnet18", "--model-kwargs", '{"num_classes": 3}', "--input-size", "16",
       "--per-class", "4", "--classes", "0", "1", "2", "--format", "html", "--quiet")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A resnet18 report (random weights) on 12 small test images: every kind of figure, the sample distances'
    heat maps included (12 samples), in about 15 s."""
    from synthetic import make_image_folder

    root = tmp_path_factory.mktemp("keys")
    data = make_image_folder(root / "data", per_split=4, size=16)
    out = root / "build"
    done = run_cli(*CLI, "--data", str(data), "--out", str(out))
    assert done.returncode == 0, done.stderr
    return out, data


def _copy(built, tmp_path) -> tuple[Path, Path, Path]:
    out = tmp_path / "build"
    shutil.copytree(built[0], out, symlinks=True)
    (store,) = (out / "stores").iterdir()
    return out, store, out / "figures" / store.name


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


@pytest.mark.slow
def test_the_store_holds_arrays_and_its_figures_folder_every_image(built, tmp_path):
    from report.render.load import load_findings

    out, store, figures = _copy(built, tmp_path)
    stored = _manifest(store)["files"]
    assert not [name for name in stored if name.startswith("images/")], "the analysis drew a figure"
    assert "arrays/sample_distances.mse.npy" in stored and "arrays/kernels.npy" in stored
    drawn = _manifest(figures)
    assert drawn["kind"] == "figures" and drawn["key"] == store.name
    # every section rendered: every group of images drawn, recorded beside what they were drawn from
    assert drawn["inputs"] == {**keys.figures_inputs(hashlib.sha256((store / "manifest.json").read_bytes()).hexdigest()),
                               "groups": list(FIGURE_GROUPS)}
    findings = load_findings(store)
    assert findings.images_dir == figures
    named = {findings.kernel_image.path, findings.kernel_image.colourbar, findings.input_image.path,
             findings.map_colourbar, *(g.path for g in findings.map_grids), findings.embeddings.matrix_image,
             *(s.path for s in findings.embeddings.samples), *findings.separation.images.values(),
             findings.evaluation.quality.calibration.reliability, findings.evaluation.quality.calibration.histogram}
    assert named <= set(drawn["files"]) and all(name.startswith("images/") for name in drawn["files"])
    sources = re.findall(r'<img src="([^"]+)"', (out / "report.html").read_text())
    assert sources and all(src.startswith(f"figures/{store.name}/images/") and (out / src).is_file() for src in sources)


# The command line with torch not importable, the drawing code's hash changed and the computing code's hash the
# one the store records (argv[1]): only the drawing code was edited since the store was analysed, whatever else
# changes in the working tree meanwhile.
BLOCKED = """
import runpy, sys
sys.modules["torch"] = sys.modules["torchvision"] = None  # any import of torch fails
import analysis.keys as keys
computing, recorded = keys.code_version, sys.argv[1]
keys.code_version = lambda files=None, package_dir=keys.PACKAGE_DIR: recorded if files is None else computing(files)
keys.drawing_version = lambda package_dir=None: "a caption edited"
sys.argv = ["report", *sys.argv[2:]]
runpy.run_module("report", run_name="__main__")
"""


@pytest.mark.slow
def test_a_drawing_code_edit_redraws_the_figures_without_torch_and_keeps_the_store(built, tmp_path):
    """The build's own command line again, with the drawing code's hash changed and torch not importable: the
    valid store serves (no analysis), the figures are drawn again from its arrays, the report is rendered again."""
    out, store, figures = _copy(built, tmp_path)
    before, images = _files(store), _files(figures)
    record = json.loads((out / "render.json").read_text())["fingerprint"]
    recorded = _manifest(store)["inputs"]["code_version"]
    done = subprocess.run([sys.executable, "-c", BLOCKED, recorded, *CLI, "--data", str(built[1]), "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert _files(store) == before
    assert _manifest(figures)["inputs"]["drawing_code"] == "a caption edited"
    redrawn = _files(figures)
    assert {k: v for k, v in redrawn.items() if k != "manifest.json"} == \
        {k: v for k, v in images.items() if k != "manifest.json"}  # the same code draws the same bytes
    assert json.loads((out / "render.json").read_text())["fingerprint"] != record


@pytest.mark.slow
def test_damaged_figures_are_refused_then_drawn_again(built, tmp_path):
    from analysis.errors import StoreError
    from report.figures import ensure_figures
    from report.render.load import load_findings

    out, store, figures = _copy(built, tmp_path)
    images = _files(figures)
    victim = figures / "images" / "confusion.png"
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01
    victim.write_bytes(bytes(data))
    findings = load_findings(store)  # the numbers still read: only the images are refused
    assert findings.evaluation.n_test == 12
    with pytest.raises(StoreError, match="figures in .* are missing or damaged: draw them again"):
        findings.images_dir
    assert ensure_figures(store) == figures
    assert _files(figures) == images and load_findings(store).images_dir == figures


@pytest.mark.slow
def test_figures_of_another_store_content_are_not_shown(built, tmp_path):
    from analysis.errors import StoreError
    from report.render.load import load_findings

    out, store, figures = _copy(built, tmp_path)
    manifest = _manifest(figures)
    manifest["inputs"]["store"] = "0" * 64
    (figures / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(StoreError, match="drawn from another store's contents"):
        load_findings(store).images_dir


@pytest.mark.slow
def test_clean_removes_the_figures_folder(built, tmp_path):
    out, _, figures = _copy(built, tmp_path)
    assert figures.is_dir()
    done = run_cli("clean", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert not (out / "figures").exists()


@pytest.mark.slow
def test_a_rendering_draws_the_images_of_its_sections_and_a_later_one_adds_the_rest(built, tmp_path):
    """`render --sections assignment` of a fresh copy draws the kernels', maps' and samples' images only (the
    calibration charts, which need matplotlib, and the whole-split charts are not drawn); a rendering of every
    section then adds the other groups, the images drawn before unchanged."""
    import shutil as sh

    out, store, figures = _copy(built, tmp_path)
    everything = _files(figures)
    sh.rmtree(figures)
    done = run_cli("render", "--out", str(out), "--sections", "assignment", "--format", "html")
    assert done.returncode == 0, done.stderr
    drawn = _manifest(figures)
    assert drawn["inputs"]["groups"] == ["kernels", "activations", "samples"]
    names = set(drawn["files"])
    assert "images/kernels.png" in names and "images/sample_0.png" in names
    later = {"images/reliability.png", "images/confidence.png", "images/map_pca.png", "images/confusion.png"}
    assert later <= set(everything) and not names & later
    first = _files(figures)
    done = run_cli("render", "--out", str(out), "--format", "html")
    assert done.returncode == 0, done.stderr
    assert _manifest(figures)["inputs"]["groups"] == list(FIGURE_GROUPS)
    again = _files(figures)
    assert {k: v for k, v in again.items() if k != "manifest.json"} == \
        {k: v for k, v in everything.items() if k != "manifest.json"}
    assert all(again[k] == v for k, v in first.items() if k != "manifest.json")
    # asking for fewer groups again keeps the folder as it is (nothing drawn, nothing dropped)
    done = run_cli("render", "--out", str(out), "--sections", "kernels", "--format", "html")
    assert done.returncode == 0, done.stderr
    assert _files(figures) == again
