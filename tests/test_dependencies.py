"""Declared and used match: every third-party module the tool imports is in requirements.txt, and every
requirement there is used by the tool (the test-only ones live in requirements-dev.txt)."""

import ast
import re
import sys

from conftest import ROOT

# import name -> distribution name, where they differ
DISTRIBUTIONS = {"PIL": "pillow", "sklearn": "scikit-learn", "jinja2": "jinja2", "yaml": "pyyaml"}
OURS = {"analysis", "report"}


def requirement_names(path) -> set[str]:
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-r"):
            names.add(re.split(r"[<>=\[ ;]", line, maxsplit=1)[0].lower())
    return names


def imported_modules(folders) -> set[str]:
    found = set()
    for folder in folders:
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    found.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    found.add(node.module.split(".")[0])
            # packages found by name without importing them (the embedded digits' file)
            found.update(re.findall(r'find_spec\("([a-z_]+)"\)', path.read_text()))
            # optional dependencies imported by name (analysis.models.optional.optional_import)
            found.update(re.findall(r'optional_import\("([a-z_]+)"', path.read_text()))
    return {name for name in found if name not in sys.stdlib_module_names and name not in OURS}


# Imported only by an optional door: `--dask` (dask), report.lightning (lightning, or its older name),
# Report.table (pandas: the `notebook` extra), models by name (timm, transformers: the `timm` and `huggingface` extras)
OPTIONAL = {"dask": "dask", "lightning": "lightning", "pytorch_lightning": "lightning", "pandas": "pandas",
            "timm": "timm", "transformers": "transformers"}


def test_every_module_the_tool_imports_is_declared_and_every_declared_one_is_used():
    used = {DISTRIBUTIONS.get(name, name).lower() for name in imported_modules(("analysis", "report"))}
    declared = requirement_names(ROOT / "requirements.txt")
    assert used - declared == set(OPTIONAL), f"imported but not declared: {sorted(used - declared - set(OPTIONAL))}"
    assert declared - used == set(), f"declared but never imported: {sorted(declared - used)}"
    assert set(OPTIONAL.values()) <= requirement_names(ROOT / "requirements-dev.txt")


def test_the_package_declares_the_same_dependencies_and_every_package():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    names = lambda items: {re.split(r"[<>=\[ ;]", item, maxsplit=1)[0].lower() for item in items}  # noqa: E731
    assert names(project["project"]["dependencies"]) == requirement_names(ROOT / "requirements.txt")
    extras = project["project"]["optional-dependencies"]
    assert set(OPTIONAL.values()) <= names(extras["dev"]) and names(extras["lightning"]) == {"lightning"}
    assert names(extras["dev"]) == requirement_names(ROOT / "requirements-dev.txt")
    packages = {".".join(p.parent.relative_to(ROOT).parts) for folder in ("analysis", "report")
                for p in (ROOT / folder).rglob("__init__.py")}
    assert set(project["tool"]["setuptools"]["packages"]) == packages | {"report.templates"}
