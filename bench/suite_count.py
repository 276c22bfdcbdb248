"""How much the suite checks: collected tests, and the assertions written in tests/, so that making the suite
faster can be shown not to have made it check less.

    .venv/bin/python bench/suite_count.py [ROOT] [--no-collect] [--per-file] [--against OTHER_ROOT]

Tests: ``pytest --collect-only -q`` in ROOT (all of them, and those ``-m "not slow"`` selects), the test ids it
prints. Assertions (AST, every .py file under tests/ but the data of tests/fixtures/): ``assert`` statements,
``pytest.raises`` / ``pytest.warns`` / ``pytest.fail`` calls and ``unittest``-style ``self.assert*`` calls, each
counted once where it is written (an assertion in a loop or a parametrised test counts once). ``--per-file``:
both counts per test file. ``--against OTHER_ROOT``: per file, both counts here and there, for the files both
have (files added on one side are counted apart): where a refactor of the suite lost a test or an assertion.
``--no-collect`` skips pytest (the AST count alone takes a second).
"""

from __future__ import annotations

import ast
import collections
import subprocess
import sys
from pathlib import Path

CHECKING_CALLS = {"raises", "warns", "fail"}


def assertions_in(path: Path) -> collections.Counter:
    counts = collections.Counter()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Assert):
            counts["assert"] += 1
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and isinstance(node.func.value,
                                                                                                ast.Name):
            owner, attr = node.func.value.id, node.func.attr
            if owner == "pytest" and attr in CHECKING_CALLS:
                counts["pytest.raises/warns/fail"] += 1
            elif owner == "self" and attr.startswith("assert"):
                counts["self.assert*"] += 1
    return counts


def assertion_counts(root: Path) -> dict[str, collections.Counter]:
    tests = root / "tests"
    return {path.relative_to(root).as_posix(): assertions_in(path) for path in sorted(tests.rglob("*.py"))
            if "fixtures" not in path.relative_to(tests).parts}  # user models and data the tests load


def collected(root: Path, *marker: str) -> list[str]:
    result = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                             *marker], cwd=root, capture_output=True, text=True)
    ids = [line for line in result.stdout.splitlines() if "::" in line]
    if result.returncode != 0 or not ids:
        sys.exit(f"collection failed in {root}:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    return ids


def per_file(ids: list[str]) -> collections.Counter:
    return collections.Counter(test_id.split("::")[0] for test_id in ids)


def report(root: Path, collect: bool, files: bool) -> None:
    counts = assertion_counts(root)
    if collect:
        every = collected(root)
        print(f"tests collected:          {len(every)}")
        print(f"tests not slow:           {len(collected(root, '-m', 'not slow'))}")
    total = sum(counts.values(), collections.Counter())
    for kind in ("assert", "pytest.raises/warns/fail", "self.assert*"):
        print(f"{kind + ':':<26}{total[kind]}")
    print(f"{'assertions in all:':<26}{sum(total.values())}")
    if files:
        tests = per_file(every) if collect else {}
        for name, found in counts.items():
            print(f"  {name:<40} tests {tests.get(name, 0):>4}  assertions {sum(found.values()):>4}")


def compare(root: Path, other: Path) -> None:
    here, there = assertion_counts(root), assertion_counts(other)
    tests_here, tests_there = per_file(collected(root)), per_file(collected(other))
    print(f"{'file':<40} {'tests':>13} {'assertions':>15}   ({other} -> {root})")
    for name in sorted(set(here) | set(there)):
        a, b = sum(there.get(name, {}).values()), sum(here.get(name, {}).values())
        t_a, t_b = tests_there.get(name, 0), tests_here.get(name, 0)
        side = "" if name in here and name in there else ("  (only here)" if name in here else "  (only there)")
        flag = "  FEWER" if side == "" and (b < a or t_b < t_a) else ""
        print(f"{name:<40} {t_a:>5} -> {t_b:<5} {a:>6} -> {b:<6}{side}{flag}")
    common = set(here) & set(there)
    print(f"{'files in both':<40} {sum(tests_there[n] for n in common):>5} -> {sum(tests_here[n] for n in common):<5} "
          f"{sum(sum(there[n].values()) for n in common):>6} -> {sum(sum(here[n].values()) for n in common):<6}")


def main(argv: list[str]) -> None:
    args = [a for a in argv if not a.startswith("--")]
    root = Path(args[0]).resolve() if args else Path(__file__).resolve().parents[1]
    if "--against" in argv:
        other = Path(argv[argv.index("--against") + 1]).resolve()
        root = Path(args[0]).resolve() if args and args[0] != str(other) and len(args) > 1 else \
            Path(__file__).resolve().parents[1]
        compare(root, other)
        return
    report(root, "--no-collect" not in argv, "--per-file" in argv)


if __name__ == "__main__":
    main(sys.argv[1:])
