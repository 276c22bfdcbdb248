"""Benchmark of every speed and size target of the report; writes bench/RESULTS.md.

Each case is a whole command in a fresh process (interpreter start-up and shutdown included), timed from
outside, RUNS times; the table gives the median and the range. Peak memory is the largest sum of the
resident memory of the command and all its child processes (the PDF worker runs beside the analysis),
sampled every 10 ms.

    .venv/bin/python bench/results.py            # about 15 minutes, 8 of them for the fresh clones
    RUNS=5 CLONES=0 .venv/bin/python bench/results.py   # without the fresh-clone case
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import psutil
from pypdf import PdfReader

ROOT = Path(__file__).resolve().parent.parent
PY = str(ROOT / ".venv" / "bin" / "python")
RUNS = int(os.environ.get("RUNS", 5))
CLONES = int(os.environ.get("CLONES", 5))
ENV = {**os.environ, "MPLBACKEND": "Agg"}


def measure(command: list[str], cwd: Path = ROOT) -> tuple[float, float, str]:
    """Wall seconds, peak MiB of the whole process tree, and stdout of one command."""
    started = time.perf_counter()
    process = psutil.Popen(command, cwd=cwd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    while process.poll() is None:
        try:
            tree = [process, *process.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.01)
    seconds = time.perf_counter() - started
    out, err = process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{err}")
    return seconds, peak / 2**20, out


class Table:
    def __init__(self):
        self.rows: list[str] = []

    def add(self, case: str, runs: list[tuple[float, float, str]], target_s: float | None = None,
            target_mib: float | None = None, note: str = "") -> None:
        seconds, mib = [r[0] for r in runs], [r[1] for r in runs]
        verdicts = []
        if target_s is not None:
            verdicts.append(f"< {target_s:g} s: " + ("met" if statistics.median(seconds) < target_s else "**missed**"))
        if target_mib is not None:
            verdicts.append(f"< {target_mib / 1024:g} GiB: " + ("met" if max(mib) < target_mib else "**missed**"))
        row = (f"| {case} | {statistics.median(seconds):.2f} | {min(seconds):.2f}–{max(seconds):.2f} | "
               f"{statistics.median(mib):.0f} ({min(mib):.0f}–{max(mib):.0f}) | {len(runs)} | "
               f"{'; '.join(verdicts)} | {note} |")
        print(row, flush=True)
        self.rows.append(row)


def fresh_build(work: Path, name: str, cache: Path) -> Path:
    """A new build folder holding only the parsed-digits cache, as after any earlier run."""
    out = work / name
    shutil.copytree(cache, out / "cache")
    for marker in ("CACHEDIR.TAG", ".report-build"):  # the tool adopts only folders it marked
        shutil.copy2(cache.parent / marker, out / marker)
    return out


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "unknown CPU")
    memory = psutil.virtual_memory().total / 2**30
    versions = subprocess.run([PY, "-c", "import torch, weasyprint; print(torch.__version__, weasyprint.__version__)"],
                              capture_output=True, text=True, check=True).stdout.split()
    return (f"{cpu}, {os.cpu_count()} cores, {memory:.0f} GiB RAM, no GPU; {platform.system()} "
            f"{platform.release()}; Python {platform.python_version()}, torch {versions[0]}, "
            f"WeasyPrint {versions[1]}")


def html_sizes(out: Path) -> tuple[float, float]:
    """KiB of report.html alone, and with every file it links (stylesheet, images)."""
    html = (out / "report.html").read_text()
    linked = set(re.findall(r'(?:src|href)="([^"#:]+)"', html))
    total = len(html.encode()) + sum((out / link).stat().st_size for link in linked if (out / link).is_file())
    return len(html.encode()) / 1024, total / 1024


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-results-"))
    table = Table()
    base = work / "base"
    subprocess.run([PY, "-m", "report", "--out", str(base), "--quiet"], cwd=ROOT, env=ENV, check=True)
    checkpoint = next((base / "checkpoints").glob("default-*.pt"))
    cache = base / "cache"

    runs = [measure([PY, "-m", "report", "--checkpoint", str(checkpoint), "--sections", "assignment", "--out",
                     str(fresh_build(work, f"assignment{i}", cache))]) for i in range(RUNS)]
    table.add("`--sections assignment` from an existing checkpoint: analysis, HTML, PDF", runs, 2.5)

    runs = [measure([PY, "-m", "report", "--checkpoint", str(checkpoint), "--out",
                     str(fresh_build(work, f"full{i}", cache))]) for i in range(RUNS)]
    table.add("full default report from an existing checkpoint: analysis, HTML, PDF", runs, 10, 1536)
    full = work / "full0"

    copy = work / "repo"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(".venv", ".git", "build", "__pycache__"))
    os.symlink(ROOT / ".venv", copy / ".venv")
    again = ["--checkpoint", str(checkpoint), "--out", str(full)]
    css = copy / "templates" / "report.css"
    for formats, label, note in (
            ("html", "HTML", "`make html`"),
            ("html,pdf", "HTML and PDF", "the PDF alone needs 1.3 s of WeasyPrint layout and writing for its 16 "
                                          "pages, measured in a warm process, plus 0.4 s to import it")):
        runs = []
        for i in range(RUNS):
            css.write_text(css.read_text() + f"\n/* bench {formats} {i} */\n")
            runs.append(measure([PY, "-m", "report", *again, "--format", formats], cwd=copy))
        table.add(f"stylesheet changed: re-render {label} (no torch)", runs, 1.0, None, note)
    measure([PY, "-m", "report", *again], cwd=copy)  # both formats again after the HTML-only case
    runs = [measure([PY, "-m", "report", *again], cwd=copy) for _ in range(RUNS)]
    table.add("nothing changed: `python -m report` (no torch)", runs, 0.2)
    make = ["make", "-s", "report", f"OUT={full}", f"CHECKPOINT={checkpoint}"]
    measure(make, cwd=copy)  # once untimed: make reinstalls (a no-op pip run) if requirements*.txt are newer
    runs = [measure(make, cwd=copy) for _ in range(RUNS)]
    table.add("nothing changed: `make report CHECKPOINT=…`", runs, 0.2)

    runs, accuracies = [], []
    for i in range(RUNS):
        runs.append(measure([PY, "-m", "report", "train", "--save", str(work / f"t{i}.pt"), "--quiet"]))
        accuracies.append(float(re.search(r"test accuracy ([\d.]+)%", runs[-1][2]).group(1)))
    table.add("training the default checkpoint: 10 epochs, whole command", runs, 60, None,
              f"test accuracy {min(accuracies):.1f}–{max(accuracies):.1f} % (target ≥ 97 %)")

    if CLONES:
        runs = []
        for i in range(CLONES):
            clone = work / f"clone{i}"
            subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
            runs.append(measure(["make", "report"], cwd=clone))
            shutil.rmtree(clone, ignore_errors=True)
        table.add("`make report` on a fresh clone: venv, install, training, report", runs, 300)

    page, linked = html_sizes(full)
    single = work / "single"
    shutil.copytree(full, single)
    subprocess.run([PY, "-m", "report", "render", "--out", str(single), "--single-file", "--format", "html",
                    "--quiet"], cwd=ROOT, env=ENV, check=True)
    pdf = (full / "report.pdf").stat().st_size / 1024
    images = len(re.findall("<img ", (full / "report.html").read_text()))
    page_count = len(PdfReader(full / "report.pdf").pages)  # pypdf (a dev requirement), not poppler's pdfinfo

    text = "\n".join([
        "# Benchmark results",
        "",
        f"Machine: {machine()}.",
        "",
        f"Written by `bench/results.py` on {time.strftime('%Y-%m-%d')}. Every figure is a whole command in a fresh "
        "process, timed from outside (start-up and shutdown included); median and range of the runs. \"From an "
        "existing checkpoint\" means a new build folder that holds only the parsed-digits cache "
        "(`build/cache/`), so the analysis runs in full. Peak memory is the largest sum of the resident memory of "
        "the command and its child processes (the PDF worker runs beside the analysis), sampled every 10 ms.",
        "",
        "| Case | Median s | Range s | Peak MiB, median (range) | Runs | Target | Note |",
        "|---|---|---|---|---|---|---|",
        *table.rows,
        "",
        "Sizes of the default report:",
        "",
        f"- `report.html` alone: {page:.0f} KiB; with everything it links (stylesheet and {images} images): "
        f"{linked:.0f} KiB.",
        f"- `--single-file` `report.html` (stylesheet and images inside): "
        f"{(single / 'report.html').stat().st_size / 1024:.0f} KiB.",
        f"- `report.pdf`: {pdf:.0f} KiB, {page_count} A4 pages.",
        "",
    ])
    results = ROOT / "bench" / "RESULTS.md"
    # The sections other scripts' figures were summarised in (## headings) stay as they were.
    previous = results.read_text() if results.exists() else ""
    kept = previous[previous.index("\n## ") + 1:] if "\n## " in previous else ""
    results.write_text(text + ("\n" + kept if kept else ""))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
