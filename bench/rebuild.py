"""Benchmark: regenerating the report. Writes bench/REBUILD.md.

Cases, each timed as a whole command in a fresh process (median of RUNS, range in brackets):
- no-op `make report` (nothing changed: must not import torch), target < 1 s;
- re-render only (the stylesheet changed), no analysis;
- full analysis and rendering of an existing checkpoint in a new build folder;
- `python -m report batch` of 8 checkpoints with 2 workers against 1 (serial).
"""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
RUNS = 5


def timed(command: list[str], cwd: Path = ROOT, env: dict | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, capture_output=True, env={**os.environ, **(env or {})})
    return time.perf_counter() - started


def row(name: str, seconds: list[float], target: str = "") -> str:
    line = (f"| {name} | {statistics.median(seconds):.2f} | {min(seconds):.2f}–{max(seconds):.2f} | "
            f"{len(seconds)} | {target} |")
    print(line, flush=True)
    return line


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-rebuild-"))
    repo = work / "repo"
    shutil.copytree(ROOT, repo, ignore=shutil.ignore_patterns(".venv", ".git", "build", "tests", "__pycache__"))
    os.symlink(ROOT / ".venv", repo / ".venv")
    out = repo / "build"
    subprocess.run(["make", "-s", "report"], cwd=repo, check=True, capture_output=True)  # trains once
    checkpoint = next((out / "checkpoints").glob("default-*.pt"))
    rows = []

    noop = [timed(["make", "-s", "report"], cwd=repo) for _ in range(RUNS)]
    rows.append(row("no-op `make report` (nothing changed)", noop,
                    f"< 1 s: {'met' if statistics.median(noop) < 1 else 'MISSED'}"))

    css = repo / "templates" / "report.css"
    rerender = []
    for run in range(RUNS):
        css.write_text(css.read_text() + f"\n/* bench {run} */\n")
        rerender.append(timed([PY, "-m", "report", "--out", str(out)], cwd=repo))
    rows.append(row("re-render only (stylesheet changed)", rerender))

    full = []
    for run in range(RUNS):
        fresh = work / f"full{run}"
        full.append(timed([PY, "-m", "report", "--checkpoint", str(checkpoint), "--out", str(fresh)], cwd=repo))
    rows.append(row("analysis + HTML + PDF from an existing checkpoint", full))

    series = work / "series"
    series.mkdir()
    for epochs in range(1, 9):
        subprocess.run([PY, "-m", "report", "train", "--epochs", str(epochs), "--save", str(series / f"e{epochs}.pt"),
                        "--quiet"], cwd=repo, check=True, capture_output=True)
    for workers in (1, 2):
        runs = [timed([PY, "-m", "report", "batch", str(series), "--workers", str(workers),
                       "--out", str(work / f"batch{workers}-{run}")], cwd=repo) for run in range(3)]
        rows.append(row(f"batch of 8 checkpoints, {workers} worker{'s' if workers > 1 else ''}", runs))

    text = "\n".join([
        "# Regenerating the report: wall time of whole commands",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores; Python {platform.python_version()}. "
        "Each figure is a whole command in a fresh process, interpreter start-up included.",
        "",
        "| Case | Median s | Range s | Runs | Target |",
        "|---|---|---|---|---|",
        *rows, "",
    ])
    (ROOT / "bench" / "REBUILD.md").write_text(text)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
