"""The default MNIST report's timings at an earlier revision and now, on the same machine in the same run.

    .venv/bin/python bench/against.py REV [--runs 5] [--out bench/AGAINST.md]

Figures measured on another day are not comparable (this machine's speed varies by a third between
sessions), so the target "the default report's timings do not get worse" is checked here: ``REV`` is checked
out into a temporary git worktree, both trees run with this checkout's ``.venv``, and their runs alternate
(old, new, old, new…) so that a slower minute weighs on both alike. Cases, each in a fresh build folder that
holds only the parsed-digits cache, with one checkpoint trained by the current tree:

- ``--sections assignment`` from an existing checkpoint: analysis, HTML, PDF;
- the full default report from an existing checkpoint: analysis, HTML, PDF;
- the stylesheet changed: re-render the HTML of that full report (no torch).

Whole commands timed from outside; peak memory of the process tree as in ``bench/results.py``.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import PY, ROOT, measure  # noqa: E402


def option(name: str, default: str) -> str:
    args = sys.argv[1:]
    return args[args.index(name) + 1] if name in args else default


def fresh_build(work: Path, name: str, base: Path) -> Path:
    out = work / name
    shutil.copytree(base / "cache", out / "cache", ignore=shutil.ignore_patterns("parquet", "matplotlib"))
    for marker in ("CACHEDIR.TAG", ".report-build"):
        shutil.copy2(base / marker, out / marker)
    return out


def tree_copy(source: Path, target: Path) -> Path:
    """A copy whose stylesheet may be changed; the virtual environment is this checkout's."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(".venv", ".git", "build", "__pycache__"))
    (target / ".venv").symlink_to(ROOT / ".venv")
    return target


def summary(runs: list[tuple[float, float, str]]) -> tuple[float, str, float]:
    seconds, mib = [r[0] for r in runs], [r[1] for r in runs]
    return statistics.median(seconds), f"{min(seconds):.2f}–{max(seconds):.2f}", statistics.median(mib)


def main() -> None:
    revision = sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("--") else "HEAD"
    runs = int(option("--runs", "5"))
    out_md = Path(option("--out", str(ROOT / "bench" / "AGAINST.md")))
    commit = subprocess.run(["git", "rev-parse", "--short", revision], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout.strip()
    work = Path(tempfile.mkdtemp(prefix="bench-against-"))
    worktree = work / "worktree"
    try:
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(worktree), commit], cwd=ROOT, check=True)
        trees = {f"{commit}": tree_copy(worktree, work / "old"), "now": tree_copy(ROOT, work / "new")}
        base = work / "base"
        subprocess.run([PY, "-m", "report", "--out", str(base), "--sections", "assignment", "--quiet"],
                       cwd=trees["now"], check=True)
        checkpoint = next((base / "checkpoints").glob("default-*.pt"))
        cases = {"`--sections assignment` from an existing checkpoint": {t: [] for t in trees},
                 "full default report from an existing checkpoint": {t: [] for t in trees},
                 "stylesheet changed: re-render HTML (no torch)": {t: [] for t in trees}}
        assignment, full, render = cases.values()
        for i in range(runs):
            for name, tree in trees.items():
                assignment[name].append(measure([PY, "-m", "report", "--checkpoint", str(checkpoint), "--sections",
                                                 "assignment", "--out", str(fresh_build(work, f"a-{name}-{i}", base))],
                                                cwd=tree))
                out = fresh_build(work, f"f-{name}-{i}", base)
                full[name].append(measure([PY, "-m", "report", "--checkpoint", str(checkpoint), "--out", str(out)],
                                          cwd=tree))
                css = tree / "templates" / "report.css"
                css.write_text(css.read_text() + f"\n/* bench {i} */\n")
                render[name].append(measure([PY, "-m", "report", "render", "--out", str(out), "--format", "html"],
                                            cwd=tree))
            print(f"round {i + 1} of {runs} done", flush=True)
        rows = ["| Case | Tree | Median s | Range s | Peak MiB (median) | Runs |", "|---|---|---|---|---|---|"]
        for case, by_tree in cases.items():
            for name, measured in by_tree.items():
                median, spread, mib = summary(measured)
                rows.append(f"| {case} | {name} | {median:.2f} | {spread} | {mib:.0f} | {len(measured)} |")
        text = (f"`bench/against.py {revision}`: the default MNIST report at `{commit}` and in the working tree, "
                "runs alternating, same machine, same `.venv`, analysis, HTML and PDF as whole commands.\n\n"
                + "\n".join(rows) + "\n")
        out_md.write_text(text)
        print(text)
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=ROOT, check=False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
