"""The house counts of issue 31, printed so that they can be given before and after the refactor.

    .venv/bin/python bench/house.py [ROOT]        # ROOT: a checkout (default: this one)

1. Import cycles: the strongly connected components of grimp's module graph of report/ and analysis/ (every
   import counts, at module level or inside a function), each with its modules; then the package-level loops
   that import-linter's ``acyclic_siblings`` contract sees (siblings of one package, each taken with its
   subpackages), as the imports that would break them.
2. Where ``argv`` goes: ``report.cli.main(["--out", OUT, "--checkpoint", CKPT, "--sections", "assignment"])`` on
   a fresh build folder and an untrained assignment checkpoint, traced with ``sys.setprofile`` in a fresh
   interpreter and stopped when torch is first imported (the analysis is about to start: nothing before it
   may import torch). Counted: the project modules in which a function ran, leaving out whatever runs while
   a module is being imported (its top-level code, dataclass fields, registries); per module its *entries*,
   calls into one of its functions from another file (argparse calling an option check counts; a call within
   the file does not), and its function calls in all; comprehensions and resumed generators are no calls.
   Deterministic for a given tree (a fresh interpreter, the tool's environment variables removed); it costs
   a few seconds, most of them saving the checkpoint with torch beforehand.
3. Where the analysis options are declared: for five options, the places in the Python files of report/ and
   analysis/ that declare the option (AST, not grep): a function parameter of that name, a class field of
   that name (a dataclass), or the name or the flag as a string literal of its own (an argparse flag, a
   tuple/set of option names, a dict of checks). report/render/ and analysis/store/ are left out: there the
   same names are stored results (how many samples per class were embedded), not the option.
4. Files that mention each section id (ids from the section templates, ``templates/_<id>.html.j2``): a Python
   or template file under analysis/, report/ or templates/ mentions an id when it holds it as a quoted
   literal ("id" or 'id') or is its template; README.md and ARCHITECTURE.md when they hold `id`; tests/
   counted apart. Grep-based: a quoted "errors" used for something else counts too, before as after.
"""

from __future__ import annotations

import ast
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 and not sys.argv[1].startswith("-") \
    else Path(__file__).resolve().parent.parent
PACKAGES = ("report", "analysis")
OPTIONS = {"per_class": "--per-class", "image_index": "--image-index", "max_channels": "--max-channels",
           "embedding_layer": "--embedding-layer", "input_size": "--input-size"}
NOT_OPTIONS = ("report/render/", "analysis/store/")  # the same names are stored results there
ARGV = ["--sections", "assignment"]  # after --out and --checkpoint


# --- 1. import cycles --------------------------------------------------------------------------------------

def module_graph():
    import grimp

    sys.path.insert(0, str(ROOT))
    return grimp.build_graph(*PACKAGES, cache_dir=None)


def import_cycles(graph) -> list[list[str]]:
    """The strongly connected components of more than one module: a module with the modules it imports, at
    any depth, that import it back."""
    cycles = set()
    for module in graph.modules:
        component = graph.find_upstream_modules(module) & graph.find_downstream_modules(module)
        if component:
            cycles.add(tuple(sorted(component | {module})))
    return [list(cycle) for cycle in sorted(cycles)]


def sibling_loops(graph) -> dict[str, list[tuple[str, str]]]:
    """What import-linter's acyclic_siblings contract reports: per package, the imports whose removal would
    leave its children (each with its descendants) without a loop."""
    packages = sorted(m for m in graph.modules if m.split(".")[0] in PACKAGES and len(graph.find_children(m)) >= 2)
    loops = {}
    for package in packages:
        breakers = graph.nominate_cycle_breakers(package)
        if breakers:
            loops[package] = sorted(breakers)
    return loops


# --- 2. where argv goes ------------------------------------------------------------------------------------

TRACER = r"""
import json, os, sys
from collections import Counter
from pathlib import Path

root, out, checkpoint = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
argv = ["--out", out, "--checkpoint", checkpoint, *json.loads(sys.argv[4])]
sys.path.insert(0, str(root))
import importlib.util
torch_dir = str(Path(importlib.util.find_spec("torch").origin).parent) + os.sep
project = tuple(str(root / package) + os.sep for package in ("report", "analysis"))
GENERATOR = 0x20 | 0x80 | 0x200  # CO_GENERATOR, CO_COROUTINE, CO_ASYNC_GENERATOR


class TorchImported(BaseException):  # not an Exception: the command's error handling lets it through
    pass


entries, calls, functions, started, stop = Counter(), Counter(), set(), {}, []
INNER = {"<module>", "<listcomp>", "<dictcomp>", "<setcomp>", "<genexpr>"}  # a module's import, a comprehension


def name(filename):
    return os.path.relpath(filename, root)


def profile(frame, event, arg):
    if event != "call":
        return
    filename = frame.f_code.co_filename
    if filename.startswith(torch_dir):
        place = frame.f_back
        while place is not None and not place.f_code.co_filename.startswith(project):
            place = place.f_back
        stop.append(f"{name(place.f_code.co_filename)}:{place.f_lineno} ({place.f_code.co_name})" if place else "?")
        raise TorchImported
    if not filename.startswith(project) or frame.f_code.co_name in INNER or importing(frame):
        return
    if frame.f_code.co_flags & GENERATOR:
        if id(frame) in started:
            return  # a generator resumed, not entered
        started[id(frame)] = frame
    functions.add((name(filename), frame.f_code.co_firstlineno, frame.f_code.co_name))
    calls[name(filename)] += 1
    caller = frame.f_back
    entries[name(filename)] += caller is None or caller.f_code.co_filename != filename  # listed even when 0


def importing(frame):
    # whether a module is being imported (its top-level code runs below): what runs then is the module being
    # set up (dataclass fields, registries), not argv passing through
    frame = frame.f_back
    while frame is not None:
        if frame.f_code.co_name == "<module>" and frame.f_code.co_filename != "<string>":
            return True
        frame = frame.f_back
    return False


import report.cli

sys.setprofile(profile)
try:
    code = report.cli.main(argv)
    outcome = f"ended with exit code {code} before importing torch"
except TorchImported:
    outcome = "stopped at the first import of torch, from " + stop[0]
finally:
    sys.setprofile(None)
print(json.dumps({"outcome": outcome, "entries": dict(entries), "calls": dict(calls), "functions": len(functions)}))
"""

CHECKPOINT = r"""
import sys, torch
sys.path.insert(0, sys.argv[1])
from analysis.models.assignment import AssignmentCNN
torch.manual_seed(0)
torch.save(AssignmentCNN().state_dict(), sys.argv[2])
"""


def quiet_environment() -> dict[str, str]:
    """This environment without the variables the tool reads, so that the traced path is the same anywhere."""
    dropped = re.compile(r"^(REPORT_|TQDM_|SOURCE_DATE_EPOCH$|GITHUB_STEP_SUMMARY$|PYTHONPATH$)")
    return {**{k: v for k, v in os.environ.items() if not dropped.match(k)}, "MPLBACKEND": "Agg"}


def trace_argv() -> dict:
    import json

    with tempfile.TemporaryDirectory(prefix="house.") as scratch:
        checkpoint = Path(scratch) / "untrained.pt"
        env = quiet_environment()
        subprocess.run([sys.executable, "-c", CHECKPOINT, str(ROOT), str(checkpoint)], check=True, env=env,
                       cwd=scratch, capture_output=True, text=True, timeout=300)
        result = subprocess.run([sys.executable, "-c", TRACER, str(ROOT), str(Path(scratch) / "out"), str(checkpoint),
                                 json.dumps(ARGV)], env=env, cwd=scratch, capture_output=True, text=True, timeout=300)
        if result.returncode != 0:
            return {"outcome": "the traced run failed: " + " | ".join(result.stderr.strip().splitlines()[-3:]),
                    "entries": {}, "calls": {}, "functions": 0}
        return json.loads(result.stdout.strip().splitlines()[-1])


# --- 3. where the analysis options are declared ------------------------------------------------------------

def python_files(*folders: str) -> list[Path]:
    return sorted(path for folder in folders for path in (ROOT / folder).rglob("*.py") if "__pycache__" not in path.parts)


def declarations(option: str, flag: str) -> list[str]:
    """``file:line kind`` of each place in report/ and analysis/ (outside NOT_OPTIONS) that declares ``option``."""
    places = []
    for path in python_files(*PACKAGES):
        relative = path.relative_to(ROOT).as_posix()
        if relative.startswith(NOT_OPTIONS):
            continue
        tree = ast.parse(path.read_text(), filename=relative)
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                      and node.body and isinstance(node.body[0], ast.Expr)}
        for node in ast.walk(tree):
            if isinstance(node, ast.arg) and node.arg == option:
                places.append((relative, node.lineno, "parameter"))
            elif isinstance(node, ast.ClassDef):
                places += [(relative, item.lineno, f"field of {node.name}") for item in node.body
                           if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)
                           and item.target.id == option]
            elif isinstance(node, ast.Constant) and node.value in (option, flag) and id(node) not in docstrings:
                places.append((relative, node.lineno, f"literal {node.value!r}"))
    return [f"{file}:{line} {kind}" for file, line, kind in sorted(places)]


# --- 4. files that mention each section id -----------------------------------------------------------------

def section_ids() -> list[str]:
    return sorted(path.name[1:-len(".html.j2")] for path in (ROOT / "templates").glob("_*.html.j2")
                  if path.name != "_macros.html.j2")


def mentions(section: str) -> tuple[list[str], list[str]]:
    """The files of the tool (code, templates, README, ARCHITECTURE) and the test files that mention ``section``."""
    quoted = re.compile(rf"""["']{re.escape(section)}["']""")
    ticked = re.compile(rf"`{re.escape(section)}`")
    tool, tests = [], []
    candidates = [*python_files(*PACKAGES), *sorted((ROOT / "templates").glob("*")),
                  ROOT / "README.md", ROOT / "ARCHITECTURE.md", *python_files("tests")]
    for path in candidates:
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        relative = path.relative_to(ROOT).as_posix()
        pattern = ticked if path.suffix == ".md" else quoted
        if pattern.search(text) or path.name == f"_{section}.html.j2":
            (tests if relative.startswith("tests/") else tool).append(relative)
    return tool, tests


# --- the report --------------------------------------------------------------------------------------------

def main() -> None:
    print(f"house counts of {ROOT}")
    graph = module_graph()
    cycles = import_cycles(graph)
    print(f"\n1. import cycles among the modules of report/ and analysis/ (grimp, strongly connected components): "
          f"{len(cycles)}")
    for component in cycles:
        print(f"   - {len(component)} modules: {', '.join(component)}")
    loops = sibling_loops(graph)
    print(f"   package-level loops between siblings (acyclic_siblings): {len(loops)} package(s)")
    for package, breakers in loops.items():
        print(f"   - in {package}, broken by removing: " + "; ".join(f"{a} -> {b}" for a, b in breakers))

    traced = trace_argv()
    entries = traced["entries"]
    print(f"\n2. argv from report.cli.main: report --out OUT --checkpoint CKPT {' '.join(ARGV)}")
    print(f"   {traced['outcome']}")
    print(f"   project modules a function ran in: {len(entries)}; distinct functions: {traced['functions']}; "
          f"entries from another file: {sum(entries.values())}")
    for focus in ("report/api.py", "report/options.py"):
        print(f"   {focus}: {entries.get(focus, 0)} entries from another file, {traced['calls'].get(focus, 0)} "
              "function calls in all")
    print("   every module (entries/calls): " + ", ".join(f"{m} {n}/{traced['calls'][m]}"
                                                      for m, n in sorted(entries.items())))

    print("\n3. places the analysis options are declared (report/ and analysis/ outside report/render/ and "
          "analysis/store/; AST)")
    for option, flag in OPTIONS.items():
        places = declarations(option, flag)
        print(f"   {option}: {len(places)} places in {len({p.split(':')[0] for p in places})} files")
        if option == "per_class":
            for place in places:
                print(f"     {place}")

    print("\n4. files that mention each section id (tool: analysis/, report/, templates/, README.md, "
          "ARCHITECTURE.md; tests apart)")
    counts = {}
    for section in section_ids():
        tool, tests = mentions(section)
        counts[section] = len(tool)
        print(f"   {section}: {len(tool)} files of the tool, {len(tests)} test files")
    if counts:
        print(f"   tool files per section: min {min(counts.values())}, median {statistics.median(counts.values()):g}, "
              f"max {max(counts.values())}")
    tool, _ = mentions("shapes")
    print("   e.g. shapes: " + ", ".join(tool))


if __name__ == "__main__":
    main()
