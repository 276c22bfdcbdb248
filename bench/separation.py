"""Benchmark: the whole-split separation analysis at 1,000 and 10,000 test images.

Each measurement runs in a fresh process: wall time of `analysis.stats.fullsplit.results` (the batched
embedding pass, exact chunked statistics, bootstrap, silhouette, per-layer separation, PCA, t-SNE,
plots) and the process's peak resident memory, with the increase over the memory held before the call.
10,000 images are the embedded test digits replicated ten times.

    .venv/bin/python bench/separation.py            # prints a table and rewrites bench/SEPARATION.md
"""

from __future__ import annotations

import json
import platform
import resource
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZES = (1_000, 10_000)
RUNS = 3
LIMITS = {10_000: (30.0, 1024.0)}  # seconds, MiB (issue 4)


def measure(size: int) -> dict:
    sys.path.insert(0, str(ROOT))
    import dataclasses
    import tempfile

    import numpy as np
    import sklearn.manifold  # noqa: F401 (imported by the analysis; counted in the baseline)
    import torch

    from analysis.config import MNIST_MEAN, MNIST_STD
    from analysis.data.datasets import ImageSet, load_embedded
    from analysis.models.assignment import AssignmentCNN
    from analysis.models.inference import to_input
    from analysis.models.layers import embedding_point
    from analysis.stats import fullsplit
    from analysis.store.writer import StoreWriter

    imports = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # torch, numpy, sklearn loaded
    torch.set_num_threads(2)
    torch.manual_seed(0)
    splits = load_embedded()
    repeat = -(-size // len(splits.test))
    test = ImageSet(np.tile(splits.test.images, (repeat, 1, 1, 1))[:size], np.tile(splits.test.labels, repeat)[:size])
    splits = dataclasses.replace(splits, test=test)
    model = AssignmentCNN().eval()
    x = to_input(test.images, MNIST_MEAN, MNIST_STD)
    point = embedding_point(model, None)
    sampled = types.SimpleNamespace(distances={}, classes=[6, 7])  # no two-sample distances to check
    with tempfile.TemporaryDirectory() as tmp:
        writer = StoreWriter(Path(tmp) / "store")
        started = time.perf_counter()
        result = fullsplit.results(model, x, fullsplit.split_pass(model, x, point), splits, point, "mse", 0,
                                   sampled, writer)
        seconds = time.perf_counter() - started
        writer.abort()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"size": size, "seconds": seconds, "peak_mib": peak, "increase_mib": peak - imports,
            "silhouette": result.silhouette}


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--one":
        print(json.dumps(measure(int(sys.argv[2]))))
        return
    rows = []
    for size in SIZES:
        runs = [json.loads(subprocess.run([sys.executable, __file__, "--one", str(size)], capture_output=True,
                                          text=True, check=True, cwd=ROOT).stdout) for _ in range(RUNS)]
        seconds = [r["seconds"] for r in runs]
        peaks = [r["peak_mib"] for r in runs]
        increase = [r["increase_mib"] for r in runs]
        limit = LIMITS.get(size)
        verdict = "" if limit is None else (
            "met" if statistics.median(seconds) < limit[0] and max(peaks) < limit[1] else "MISSED")
        rows.append(f"| {size:,} | {statistics.median(seconds):.2f} ({min(seconds):.2f}–{max(seconds):.2f}) | "
                    f"{statistics.median(peaks):.0f} ({min(peaks):.0f}–{max(peaks):.0f}) | "
                    f"{statistics.median(increase):.0f} | "
                    f"{'' if limit is None else f'< {limit[0]:.0f} s, < {limit[1]:.0f} MiB: {verdict}'} |")
        print(rows[-1], flush=True)
    table = "\n".join([
        "# Whole-split separation analysis: time and memory",
        "",
        f"Machine: {platform.machine()}, {platform.processor() or 'cpu'}, 2 threads; Python {platform.python_version()}.",
        f"Median of {RUNS} runs in fresh processes (range in brackets). Peak = the process's maximum resident memory,",
        "torch, scikit-learn and the model included; increase = peak minus the memory once those were imported",
        "(the data, the model's predictions and the analysis itself).",
        "",
        "| Test images | Seconds | Peak MiB | Increase MiB | Target |",
        "|---|---|---|---|---|",
        *rows, "",
    ])
    (ROOT / "bench" / "SEPARATION.md").write_text(table)


if __name__ == "__main__":
    main()
