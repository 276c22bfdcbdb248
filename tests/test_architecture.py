"""The stages apart: report.render never imports torch, analysis never imports report.

The contracts live in .importlinter at the repository root; ``lint-imports`` checks every import, at module
level or inside a function, direct or through other modules. The second test checks what loading costs:
each module of report.render loads in a fresh interpreter without torch and without numpy.
"""

from __future__ import annotations

import configparser
import json
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
    parts = {f"analysis.{path.stem}" for path in (ROOT / "analysis").glob("*.py") if path.name != "__init__.py"}
    parts |= {f"analysis.{path.parent.name}" for path in (ROOT / "analysis").glob("*/__init__.py")}
    named = {name for name in forbidden if name.startswith("analysis.")}
    assert named == parts - RENDER_MAY_IMPORT, "classify each part of analysis/ in .importlinter or RENDER_MAY_IMPORT"
    store_forbids = set(_contracts()["store-without-torch"]["forbidden_modules"].split())
    assert {"torch", "torchvision", "numpy"} <= store_forbids


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

    from report.render.interpret import run_rules
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
