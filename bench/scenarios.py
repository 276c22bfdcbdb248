"""Every report of the scenario zoo (tests/scenarios.py), its sentences and its size, to read them and to
record what a change did.

    .venv/bin/python bench/scenarios.py OUTDIR [--only NAME ...] [--repo PATH]

For each scenario: its inputs in OUTDIR/<name>/inputs, its report in OUTDIR/<name>/build (for one-epoch also
the compare report in OUTDIR/one-epoch/compare and the history in OUTDIR/one-epoch/history), every
sentence in OUTDIR/<name>/sentences.txt as "rule [branch]: text" in report order, and a table in
OUTDIR/summary.md: PDF pages (pypdf), HTML size, seconds per build, sentences. The inputs are always made
by this checkout's generators; --repo PATH runs another checkout's `python -m report` on them (its
folder first on PYTHONPATH; the report package it imports is printed and checked), to record the
sentences and pages before a change.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from scenarios import SCENARIOS, make  # noqa: E402


def environment(repo: Path) -> dict:
    return {**os.environ, "PYTHONPATH": str(repo), "MPLBACKEND": "Agg", "SOURCE_DATE_EPOCH": "1764000000"}


def report_package(repo: Path, cwd: Path) -> str:
    """The report package `python -m report` imports from ``cwd`` with ``repo`` on PYTHONPATH; it must be
    the one in ``repo``, or the numbers would come from other code."""
    found = subprocess.run([sys.executable, "-c", "import report; print(report.__file__)"], cwd=cwd,
                           env=environment(repo), capture_output=True, text=True, check=True).stdout.strip()
    if not Path(found).resolve().is_relative_to(repo.resolve()):
        raise SystemExit(f"report imports from {found}, not from {repo}")
    return found


def run_report(repo: Path, cwd: Path, args: list[str], out: Path) -> tuple[float, int, str]:
    """One command of the tool with --out ``out``, forced (a build folder left by an earlier run would make it a
    no-op and its seconds meaningless): (seconds, exit status, stderr's last lines)."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "report", *args, "--out", str(out), "--force", "--quiet"], cwd=cwd,
                          env=environment(repo), capture_output=True, text=True)
    return time.perf_counter() - started, done.returncode, "\n".join(done.stderr.strip().splitlines()[-5:])


NOTES = {"build": "notes.json", "compare": "compare-notes.json", "history": "history-notes.json"}


def sentences(out: Path, kind: str) -> list[str]:
    """The command's notes file as "rule [branch]: text"; a page without one gives its note paragraphs
    (data-rule) instead."""
    notes = out / NOTES[kind]
    if notes.exists():
        return [f"{n['rule']} [{n['branch']}]: {n['text']}" for n in json.loads(notes.read_text())["notes"]]
    lines = []
    for page in sorted(out.glob(f"{'report' if kind == 'build' else kind}.html")):
        for rule, text in re.findall(r'<p class="note"[^>]*data-rule="([^"]+)"[^>]*>(.*?)</p>', page.read_text(),
                                     re.S):
            lines.append(f"{rule} [page]: {' '.join(html.unescape(re.sub(r'<[^>]+>', '', text)).split())}")
    return lines


def pdf_pages(out: Path) -> str:
    from pypdf import PdfReader

    pdfs = sorted(out.glob("*.pdf"))
    return ", ".join(f"{len(PdfReader(p).pages)}" for p in pdfs) or "–"


def html_size(out: Path) -> str:
    pages = sorted(out.glob("*.html"))
    return ", ".join(f"{p.stat().st_size / 1024:.0f} KiB" for p in pages) or "–"


def commands(scenario) -> list[tuple[str, list[str]]]:
    made = [("build", scenario.build)]
    for kind in ("compare", "history"):
        if getattr(scenario, kind) is not None:
            made.append((kind, getattr(scenario, kind)))
    return made


def run_scenario(name: str, outdir: Path, repo: Path) -> list[dict]:
    folder = outdir / name
    generated = time.perf_counter()
    scenario = make(name, folder / "inputs")
    generated = time.perf_counter() - generated
    print(f"{name}: inputs in {generated:.1f} s; report from {report_package(repo, scenario.cwd)}", flush=True)
    rows, lines = [], []
    for kind, args in commands(scenario):
        out = folder / kind
        seconds, status, stderr = run_report(repo, scenario.cwd, args, out)
        said = sentences(out, kind) if status == 0 else []
        lines += [f"# {kind}: python -m report {shlex.join(args)}", *said,
                  *([f"! exit {status}: {stderr}"] if status else []), ""]
        rows.append({"scenario": name, "command": kind, "status": status, "seconds": seconds,
                     "pages": pdf_pages(out), "html": html_size(out), "sentences": len(said)})
        print(f"  {kind}: exit {status}, {seconds:.1f} s, {len(said)} sentences, PDF pages {rows[-1]['pages']}"
              + (f"\n    {stderr}" if status else ""), flush=True)
    (folder / "sentences.txt").write_text("\n".join(lines))
    return rows


def summary(rows: list[dict], repo: Path) -> str:
    head = [f"# Scenario zoo: reports by {repo}", "",
            "| scenario | command | exit | PDF pages | HTML | seconds | sentences |",
            "|---|---|---|---|---|---|---|"]
    body = [f"| {r['scenario']} | {r['command']} | {r['status']} | {r['pages']} | {r['html']} | "
            f"{r['seconds']:.1f} | {r['sentences']} |" for r in rows]
    return "\n".join(head + body) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--only", nargs="+", choices=list(SCENARIOS), metavar="NAME",
                        help=f"scenarios to build (default: all): {', '.join(SCENARIOS)}")
    parser.add_argument("--repo", type=Path, default=ROOT, help="the checkout whose report code runs")
    options = parser.parse_args(argv)
    outdir, repo = options.outdir.resolve(), options.repo.resolve()
    outdir.mkdir(parents=True, exist_ok=True)
    record = outdir / "summary.json"  # rows of earlier runs into OUTDIR, so --only adds to the table
    kept = json.loads(record.read_text()) if record.exists() else []
    rows = []
    for name in options.only or SCENARIOS:
        rows += run_scenario(name, outdir, repo)
    done = {r["scenario"] for r in rows}
    rows = sorted([r for r in kept if r["scenario"] not in done] + rows,
                  key=lambda r: list(SCENARIOS).index(r["scenario"]))
    record.write_text(json.dumps(rows, indent=1))
    (outdir / "summary.md").write_text(summary(rows, repo))
    print(f"summary: {outdir / 'summary.md'}")
    return 1 if any(r["status"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
