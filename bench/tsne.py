"""Benchmark: which t-SNE the whole-split map uses. Writes bench/TSNE.md.

The same 1,000 × 64 points (the fc2 embedding of the default report's test split, from a store in
``build/stores`` or ``--embeddings``; seeded data with 10 clusters when there is none), mapped by
scikit-learn's ``TSNE`` (Barnes-Hut, PCA start; its OpenMP threads set through threadpoolctl) and by
openTSNE's ``TSNE`` (Barnes-Hut, PCA start, exact neighbours, ``n_jobs`` threads), each on 2 threads and on 1,
on the machine as found (its load is listed) and with two busy processes (``while True: pass``) of ours on the
2 cores. Every run is a fresh process; the time is the fit alone, measured in that process (the import is
timed apart and listed). Also: whether the runs give the same bytes, and how well each map keeps the classes
apart (share of points whose nearest neighbour in the map has their label; scikit-learn's trustworthiness
with 10 neighbours).

    .venv/bin/python bench/tsne.py [--runs 3] [--embeddings FILE --labels FILE] [--png-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

from speed import busy  # noqa: E402  bench/ is the script's folder, so on sys.path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable

# One fit in a fresh process: prints a JSON line (import seconds, fit seconds, its CPU seconds, sha256 of the map).
FIT = r"""
import hashlib, json, sys, time
import numpy as np
points = np.load(sys.argv[1]).astype(np.float64)
implementation, threads, out = sys.argv[2], int(sys.argv[3]), sys.argv[4]
perplexity = min(30.0, (len(points) - 1) / 3)
started = time.perf_counter()
from threadpoolctl import threadpool_limits
if implementation == "scikit-learn":
    from sklearn.manifold import TSNE
else:
    from openTSNE import TSNE
imported, cpu = time.perf_counter(), time.process_time()
with threadpool_limits(limits=threads):
    if implementation == "scikit-learn":
        mapped = TSNE(n_components=2, random_state=0, init="pca", perplexity=perplexity).fit_transform(points)
    else:
        mapped = np.array(TSNE(n_components=2, perplexity=perplexity, initialization="pca", neighbors="exact",
                               negative_gradient_method="bh", n_jobs=threads, random_state=0).fit(points))
fitted = time.perf_counter()
np.save(out, mapped)
print(json.dumps({"import": imported - started, "fit": fitted - imported, "cpu": time.process_time() - cpu,
                  "sha256": hashlib.sha256(np.ascontiguousarray(mapped).tobytes()).hexdigest()}))
"""


def default_points(work: Path) -> tuple[Path, Path | None, str]:
    """The newest default-report embedding in build/stores (with the test labels of the default data), else
    seeded clusters."""
    import numpy as np

    stores = sorted((ROOT / "build" / "stores").glob("*/embeddings_test.npy"), key=lambda p: p.stat().st_mtime)
    for path in reversed(stores):
        embedding = np.load(path)
        if embedding.shape == (1000, 64):
            labels = work / "labels.npy"
            np.save(labels, default_labels())
            return path, labels, f"the fc2 embedding of the default report's 1,000 test images ({path.parent.name})"
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 100)
    points = rng.normal(size=(10, 64))[labels] * 3 + rng.normal(size=(1000, 64))
    np.save(work / "points.npy", points.astype(np.float32))
    np.save(work / "labels.npy", labels)
    return work / "points.npy", work / "labels.npy", "seeded data: 10 clusters of 100 points in 64 dimensions"


def default_labels():
    sys.path.insert(0, str(ROOT))
    from analysis.data import datasets

    return datasets.load(None, ROOT / "build" / "cache").test.labels


def fit(points: Path, implementation: str, threads: int, out: Path) -> dict:
    done = subprocess.run([PY, "-c", FIT, str(points), implementation, str(threads), str(out)], check=True,
                          capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1]) | {"load": os.getloadavg()[0]}


def agreement(mapped, labels) -> float:
    """The share of points whose nearest other point in the map has their label."""
    import numpy as np
    from sklearn.neighbors import NearestNeighbors

    _, index = NearestNeighbors(n_neighbors=2).fit(mapped).kneighbors(mapped)
    return float(np.mean(labels[index[:, 1]] == labels))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--embeddings", type=Path)
    parser.add_argument("--labels", type=Path)
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench-tsne"))
    parser.add_argument("--png-dir", type=Path, help="draw each implementation's map (2 threads, quiet) here")
    parser.add_argument("--write", type=Path, default=ROOT / "bench" / "TSNE.md")
    args = parser.parse_args()
    import numpy as np

    args.work.mkdir(parents=True, exist_ok=True)
    if args.embeddings:
        points, labels_path, what = args.embeddings, args.labels, f"{args.embeddings}"
    else:
        points, labels_path, what = default_points(args.work)
    labels = np.load(labels_path) if labels_path else None
    rows, maps = [], {}
    for load in ("as found", "+2 busy"):
        with busy(2 if load == "+2 busy" else 0):
            for implementation in ("scikit-learn", "openTSNE"):
                for threads in (2, 1):
                    out = args.work / f"{implementation}-{threads}-{load}.npy"
                    runs = [fit(points, implementation, threads, out) for _ in range(args.runs)]
                    mapped = np.load(out)
                    maps[implementation, threads] = mapped
                    shared = agreement(mapped, labels) if labels is not None else None
                    fits = [r["fit"] for r in runs]
                    row = {"implementation": implementation, "threads": threads, "load": load,
                           "fit_median": statistics.median(fits), "fit_min": min(fits), "fit_max": max(fits),
                           "import_median": statistics.median(r["import"] for r in runs),
                           "cpu_median": statistics.median(r["cpu"] for r in runs),
                           "same_bytes": len({r["sha256"] for r in runs}) == 1, "sha256": runs[0]["sha256"][:12],
                           "load_avg": statistics.median(r["load"] for r in runs), "agreement": shared}
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    trust = {}
    if labels is not None:
        from sklearn.manifold import trustworthiness

        raw = np.load(points).astype(np.float64)
        for key, mapped in maps.items():
            trust[key] = trustworthiness(raw, mapped, n_neighbors=10)
    if args.png_dir and labels is not None:
        draw(maps, labels, args.png_dir)
    write(args.write, rows, trust, what, args.runs)


def draw(maps, labels, folder: Path) -> None:
    sys.path.insert(0, str(ROOT))
    from analysis.figures import plots

    folder.mkdir(parents=True, exist_ok=True)
    names = [str(k) for k in range(int(labels.max()) + 1)]
    for (implementation, threads), mapped in maps.items():
        if threads == 1:
            (folder / f"tsne-{implementation}.png").write_bytes(plots.scatter(
                mapped, labels, names, f"t-SNE by {implementation} (1,000 test images, seed 0)", "t-SNE 1",
                "t-SNE 2"))


def write(path: Path, rows: list[dict], trust: dict, what: str, runs: int) -> None:
    import numpy
    import sklearn
    import openTSNE

    lines = [
        "# t-SNE: scikit-learn against openTSNE, on the machine as found and with two busy processes",
        "",
        f"Written by `bench/tsne.py`. Points: {what}. Machine: {platform.machine()}, {os.cpu_count()} cores; "
        f"Python {platform.python_version()}, numpy {numpy.__version__}, scikit-learn {sklearn.__version__}, "
        f"openTSNE {openTSNE.__version__}.",
        "",
        f"Each cell: the fit alone, timed inside a fresh process (median and range of {runs} runs; the import, "
        "timed apart, is a column) and its CPU seconds (all threads: a thread spinning at a barrier counts). "
        "+2 busy: two processes of ours spin on the 2 cores the whole time. Load: the 1-minute load average after "
        "each run, median (other work on the machine included). Same bytes: every run gave the same map to the "
        "bit. Agreement: the share of points whose nearest neighbour in the map has their label. The openTSNE "
        "rows are the configuration `analysis/stats/fullsplit.py:_tsne` uses (which also centres and scales the "
        "points first: the same work).",
        "",
        "| Implementation | Threads | Machine | Fit s, median | Range s | CPU s | Import s | Load | Same bytes | "
        "Agreement |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        share = "" if r["agreement"] is None else f"{r['agreement']:.3f}"
        cpu = f"{r['cpu_median']:.2f}" if "cpu_median" in r else "—"
        lines.append(f"| {r['implementation']} | {r['threads']} | {r['load']} | {r['fit_median']:.2f} | "
                     f"{r['fit_min']:.2f}–{r['fit_max']:.2f} | {cpu} | {r['import_median']:.2f} | "
                     f"{r['load_avg']:.1f} | {'yes' if r['same_bytes'] else 'no'} | {share} |")
    if trust:
        lines += ["", "Trustworthiness (10 neighbours) of each map: " + ", ".join(
            f"{impl} on {threads} thread{'s' if threads > 1 else ''} {value:.3f}"
            for (impl, threads), value in trust.items()) + "."]
    kept = ""
    if path.exists() and "<!-- notes -->" in path.read_text():
        kept = path.read_text().split("<!-- notes -->", 1)[1]
    path.write_text("\n".join(lines) + "\n\n<!-- notes -->" + (kept or "\n"))


if __name__ == "__main__":
    main()
