"""The stages apart: report.render never imports torch, analysis never imports report.

The contracts live in .importlinter at the repository root; ``lint-imports`` checks every import, at module
level or inside a function, direct or through other modules. The second test checks what loading costs:
each module of report.render loads in a fresh interpreter without torch and without numpy.
"""

from __future__ import annotations

import ast
import configparser
import json
import re
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

CONTRACTS = ROOT / ".importlinter"
HEAVY = ("torch", "torchvision", "numpy")  # never loaded by loading the render stage


def _contracts() -> dict[str, configparser.SectionProxy]:
    parser = configparser.ConfigParser()
    parser.read(CONTRACTS)
    return {name.split(":", 2)[2]: parser[name] for name in parser.sections()
            if name.startswith("importlinter:contract:")}


def test_the_import_contracts_hold():
    lint_imports = Path(sys.executable).with_name("lint-imports")
    assert lint_imports.is_file(), f"{lint_imports} missing: install requirements-dev.txt (import-linter)"
    result = subprocess.run([str(lint_imports), "--no-cache", "--no-logo", str(CONTRACTS)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    # every declared contract was checked (a section import-linter did not recognise would not count)
    assert f"Contracts: {len(_contracts())} kept, 0 broken." in result.stdout, result.stdout


RENDER_MAY_IMPORT = {"analysis.store", "analysis.errors"}  # torch-free; the store package has its own contract


def test_the_render_contract_classifies_every_part_of_analysis():
    """torch, torchvision and numpy are forbidden at any depth. Besides, every top-level module and subpackage of
    analysis/ is either forbidden to the render stage by name or allowed here: a new one must be classified (the
    store package alone is shared, and its own contract keeps it free of torch and numpy)."""
    forbidden = set(_contracts()["render-without-torch"]["forbidden_modules"].split())
    assert {"torch", "torchvision", "numpy"} <= forbidden
    named = {name for name in forbidden if name.startswith("analysis.")}
    assert named == _analysis_parts() - RENDER_MAY_IMPORT, "classify each part of analysis/ in .importlinter or RENDER_MAY_IMPORT"
    store_forbids = set(_contracts()["store-without-torch"]["forbidden_modules"].split())
    assert {"torch", "torchvision", "numpy"} <= store_forbids


STORE_MAY_IMPORT = {"analysis.store", "analysis.errors"}  # itself, and the errors module (which imports nothing)


def _analysis_parts() -> set[str]:
    """Every top-level module and subpackage of analysis/, by its dotted name."""
    parts = {f"analysis.{path.stem}" for path in (ROOT / "analysis").glob("*.py") if path.name != "__init__.py"}
    return parts | {f"analysis.{path.parent.name}" for path in (ROOT / "analysis").glob("*/__init__.py")}


def test_the_store_is_a_leaf_of_every_part_of_analysis():
    """The store package (schema, writer) is what both stages share: the store-a-leaf contract forbids it every
    part of analysis/ but itself and the errors module, and all of report/. A new part must be named there."""
    forbidden = set(_contracts()["store-a-leaf"]["forbidden_modules"].split())
    assert "report" in forbidden and "analysis.data" in forbidden and "analysis.models" in forbidden
    assert forbidden - {"report"} == _analysis_parts() - STORE_MAY_IMPORT, \
        "name each part of analysis/ in the store-a-leaf contract of .importlinter"


def _import_graph():
    import grimp

    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return grimp.build_graph("report", "analysis", cache_dir=None)


def test_no_import_cycle_among_the_modules_of_report_and_analysis():
    """Every import counts (at module level or inside a function). A cycle is a set of modules that each import
    the others, directly or through others: a strongly connected component of the module graph. The acyclic
    contract in .importlinter sees loops between the parts of a package; this also sees a package's __init__
    importing a module that imports the package back."""
    graph = _import_graph()
    assert {"report.api", "report.render.documents", "analysis.store.schema"} <= graph.modules
    cycles = set()
    for module in graph.modules:
        component = graph.find_upstream_modules(module) & graph.find_downstream_modules(module)
        if component:
            cycles.add(", ".join(sorted(component | {module})))
    assert sorted(cycles) == [], "import cycles, each with its modules:\n" + "\n".join(sorted(cycles))


ERRORS_MODULE = ROOT / "analysis" / "errors.py"


def _exception_classes(tree: ast.AST, known: set[str]) -> list[tuple[str, int]]:
    """Classes of a module whose base is an Exception subclass by name: a built-in one or one in ``known``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            bases = {ast.unparse(base).rsplit(".", 1)[-1] for base in node.bases}
            if bases & known:
                found.append((node.name, node.lineno))
    return found


def test_every_error_type_is_defined_in_the_errors_module():
    """One errors module: every exception class of analysis/ and report/ that any other module names (raises,
    catches or re-exports) is defined in analysis/errors.py, the one module every part may import; it imports
    nothing, and ``report.ReportError`` and the others are its classes. A class private to its module (named in
    no other file) may stay there; stop signals (KeyboardInterrupt's Stopped, TimeUp) are no errors."""
    import builtins

    import analysis.errors
    import report

    errors_tree = ast.parse(ERRORS_MODULE.read_text())
    assert [node for node in ast.walk(errors_tree) if isinstance(node, (ast.Import, ast.ImportFrom))] == []
    defined_there = {node.name for node in ast.walk(errors_tree) if isinstance(node, ast.ClassDef)}
    assert {"ReportError", "InputError", "StoreError", "RenderError", "FailOnError"} <= defined_there

    sources = {path: path.read_text() for folder in ("analysis", "report") for path in sorted((ROOT / folder).rglob("*.py"))}
    trees = {path: ast.parse(text) for path, text in sources.items()}
    known = {name for name, value in vars(builtins).items()
             if isinstance(value, type) and issubclass(value, Exception)} | defined_there
    while True:  # subclasses of subclasses, across modules, by name
        more = {name for tree in trees.values() for name, _ in _exception_classes(tree, known)} - known
        if not more:
            break
        known |= more
    elsewhere = []
    for path, tree in trees.items():
        if path == ERRORS_MODULE:
            continue
        for name, line in _exception_classes(tree, known):
            named_outside = [other for other, text in sources.items()
                             if other != path and re.search(rf"\b{name}\b", text)]
            if named_outside:
                elsewhere.append(f"{path.relative_to(ROOT)}:{line} {name} (named in {named_outside[0].relative_to(ROOT)})")
    assert elsewhere == [], "define these error types in analysis/errors.py:\n" + "\n".join(elsewhere)

    public = [name for name in report.__all__ if name.endswith("Error")]
    assert len(public) == 5 and all(getattr(report, name) is getattr(analysis.errors, name) for name in public)


def test_the_render_stage_is_kept_from_every_orchestrator_module():
    """Every module of report/ outside report.render (the CLI, the API, the pipeline, the training hooks...) is
    named in the render-without-orchestrator contract: a new one cannot become a dependency of the render stage."""
    forbidden = set(_contracts()["render-without-orchestrator"]["forbidden_modules"].split())
    modules = {f"report.{path.stem}" for path in (ROOT / "report").glob("*.py") if path.name != "__init__.py"}
    assert "report.api" in modules and "report.training" in modules
    assert modules == forbidden, "name each module of report/ in the render-without-orchestrator contract"


RENDER_MODULES = sorted(
    ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1] if path.name == "__init__.py"
             else path.relative_to(ROOT).with_suffix("").parts)
    for path in (ROOT / "report" / "render").rglob("*.py"))

LOADER = """
import importlib, json, sys
heavy = {heavy!r}
loaded = {{}}
for name in {modules!r}:
    importlib.import_module(name)
    now = sorted(m for m in heavy if m in sys.modules)
    if now:
        loaded[name] = now
        break
print(json.dumps(loaded))
"""


def test_loading_the_render_stage_loads_neither_torch_nor_numpy():
    """Each module under report.render imported in turn in one fresh interpreter; the first that brings in
    torch or numpy is named. Functions may import numpy when they run (history rows do); loading may not."""
    assert "report.render" in RENDER_MODULES and "report.render.documents" in RENDER_MODULES
    assert len(RENDER_MODULES) >= 20
    code = LOADER.format(heavy=HEAVY, modules=RENDER_MODULES)
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {}, f"loading this module loaded {result.stdout.strip()}"


def test_the_render_fingerprint_covers_the_render_stage():
    """A change to any module of report.render (or a template) renders the report again."""
    from report.pipeline import render_code

    hashed = set(render_code())
    assert {path for path in (ROOT / "report" / "render").rglob("*.py")} <= hashed
    assert (ROOT / "report" / "pipeline.py") in hashed and (ROOT / "templates" / "report.css") in hashed


# Sections that are pictures or records only: no interpretation rule writes notes for them.
SECTIONS_WITHOUT_NOTES = {"map", "provenance"}


def test_every_section_is_complete(tmp_path):
    """The recipe in ARCHITECTURE.md: each section has its template, its README entry and, unless listed
    above, notes from the rules on the synthetic store; and every section template belongs to a section."""
    from synthetic import write_store

    from report.render.sections import run_rules
    from report.render.load import load_findings
    from report.render.sections import SECTIONS

    ids = {spec.id for spec in SECTIONS}
    templates = {path.name[1:-len(".html.j2")] for path in (ROOT / "templates").glob("_*.html.j2")}
    assert templates - {"macros"} == ids, "a section without its template, or a template without its section"
    readme = (ROOT / "README.md").read_text()
    assert [i for i in ids if f"`{i}`" not in readme] == [], "sections missing from the README's --sections row"
    noted = {note.section for note in run_rules(load_findings(write_store(tmp_path / "stores")))}
    assert ids - noted == SECTIONS_WITHOUT_NOTES, "a section without notes (or a listed one that now has some)"
    assert (ROOT / "ARCHITECTURE.md").read_text().count("\n") < 150


def test_no_module_of_report_imports_torch_itself():
    """torch is the analysis stage's: the orchestrator reaches it only through analysis/ (lazily, when an
    analysis must run), never by importing it in report/."""
    import re

    pattern = re.compile(r"^\s*(import|from)\s+(torch|torchvision)\b", re.MULTILINE)
    offenders = [str(path.relative_to(ROOT)) for path in sorted((ROOT / "report").rglob("*.py"))
                 if pattern.search(path.read_text())]
    assert offenders == []
