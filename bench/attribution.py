"""Benchmark: what the attribution part (analysis/attribution/, attribution.json) adds to a run. Writes
bench/ATTRIBUTION.md.

- the default report (the assignment CNN, embedded MNIST, 10 classes: 20 check images): ``python -m report
  --checkpoint <default> --format html`` with every section but attribution, then with all of them (fresh build
  folders, alternating, ``--runs`` times each; the medians), and the analysis alone (``analysis.run.analyse`` with the
  default configuration, with and without ``attribution=True``, in this process after a warm-up run);
- torchvision's resnet18 (random weights, 224 px, 3 channels) and timm's vit_tiny_patch16_224 (random weights: Grad-CAM
  is not offered) on a small seeded .npz of 2 classes (4 check images), the analysis alone with and without the part
  (activation maps, samples and the whole-split pass off, so the rest of the run is small).

Times are wall seconds on the machine as found (its load average is listed) with the analysis's 2 torch threads; CPU
seconds beside them. The extra time per image divides the part's cost by its check images.

    .venv/bin/python bench/attribution.py [--checkpoint build/checkpoints/default-*.pt] [--runs 3] [--skip-cli]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WITHOUT = ("parameters,shapes,kernels,activations,embeddings,distances,accuracy,separation,depth,map,errors,filters,"
           "provenance")  # every section but attribution (the list --sections all gives)


def fresh(work: Path, name: str) -> Path:
    """A folder name not used yet in this run's temporary folder: every run writes into a new one (nothing is
    removed between runs; the temporary folder goes at the end)."""
    return Path(tempfile.mkdtemp(prefix=f"{name}-", dir=work)) / name


def cli_seconds(checkpoint: Path, sections: str, work: Path) -> float:
    out = fresh(work, "out")
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "report", "--checkpoint", str(checkpoint), "--sections", sections,
                    "--format", "html", "--out", str(out), "--quiet"], cwd=ROOT, check=True,
                   env={**os.environ, "MPLBACKEND": "Agg"})
    return time.perf_counter() - started


def analyse_seconds(checkpoint, data, config, work: Path) -> tuple[float, float, dict | None]:
    """One analysis into a fresh stores folder: wall and CPU seconds, and attribution.json when written."""
    from analysis.run import analyse

    stores = fresh(work, "stores")
    started, cpu = time.perf_counter(), time.process_time()
    store = analyse(checkpoint, data, config, stores, work / "cache", show_progress=False)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    document = store / "attribution.json"
    return wall, cpu, json.loads(document.read_text()) if document.exists() else None


def small_npz(path: Path, side: int, classes: int = 2, test_per_class: int = 2, train_per_class: int = 4) -> str:
    rng = np.random.default_rng(0)
    split = lambda n: (rng.integers(0, 256, size=(n * classes, side, side, 3), dtype=np.uint8),  # noqa: E731
                       np.arange(n * classes) % classes)
    (x_train, y_train), (x_test, y_test) = split(train_per_class), split(test_per_class)
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return str(path)


def compare(name: str, checkpoint, data, config, work: Path, runs: int) -> dict:
    """The analysis with and without the part, alternating; medians."""
    import dataclasses

    on_config = dataclasses.replace(config, attribution=True)
    config = dataclasses.replace(config, attribution=False)  # the configuration's default has the part on
    off, on, document = [], [], None
    for _ in range(runs):
        off.append(analyse_seconds(checkpoint, data, config, work)[:2])
        wall, cpu, document = analyse_seconds(checkpoint, data, on_config, work)
        on.append((wall, cpu))
    images = document["checks"][0]["images"] if document and document["checks"] else 0
    extra = statistics.median(w for w, _ in on) - statistics.median(w for w, _ in off)
    return {"name": name, "off": statistics.median(w for w, _ in off), "on": statistics.median(w for w, _ in on),
            "off_cpu": statistics.median(c for _, c in off), "on_cpu": statistics.median(c for _, c in on),
            "extra": extra, "images": images, "per_image": extra / images if images else None,
            "methods": [c["method"] + (f" ({c['layer']})" if c["layer"] else "") for c in document["checks"]],
            "steps": len(document["checks"][0]["randomisation"]) if document["checks"] else 0,
            "maps": len(document["maps"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    found = sorted((ROOT / "build" / "checkpoints").glob("default-*.pt"))
    parser.add_argument("--checkpoint", type=Path, default=found[-1] if found else None)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-cli", action="store_true")
    args = parser.parse_args()
    if args.checkpoint is None:
        parser.error("no build/checkpoints/default-*.pt: run `python -m report` once, or give --checkpoint")
    import torch

    from analysis.config import AnalysisConfig

    load_before = os.getloadavg()
    rows, cli = [], None
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        if not args.skip_cli:
            cli_seconds(args.checkpoint, WITHOUT, work)  # warm-up: the page cache, the bytecode
            times = {"without": [], "with": []}
            for _ in range(args.runs):
                times["without"].append(cli_seconds(args.checkpoint, WITHOUT, work))
                times["with"].append(cli_seconds(args.checkpoint, "all", work))
            cli = {k: statistics.median(v) for k, v in times.items()} | {"runs": times}
        analyse_seconds(args.checkpoint, None, AnalysisConfig(), work)  # warm-up: imports
        rows.append(compare("default report (assignment CNN, MNIST, 10 classes)", args.checkpoint, None,
                            AnalysisConfig(), work, args.runs))
        for name, model in (("resnet18, random weights, 224 px, 2 classes", "torchvision:resnet18"),
                            ("vit_tiny_patch16_224 (timm), random weights, 224 px, 2 classes",
                             "timm:vit_tiny_patch16_224")):
            data = small_npz(work / "small.npz", 224)
            config = AnalysisConfig(model=model, model_kwargs=json.dumps({"num_classes": 2}), whole_split=False,
                                    maps=False, samples=False)
            rows.append(compare(name, None, data, config, work, 1))
    write_markdown(rows, cli, load_before, os.getloadavg(), torch.__version__)


def write_markdown(rows: list[dict], cli: dict | None, load_before, load_after, torch_version: str) -> None:
    import captum

    lines = ["# What the attribution part costs", "",
             f"`bench/attribution.py` on {platform.platform()}, {os.cpu_count()} CPUs, torch {torch_version}, "
             f"captum {captum.__version__}; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after "
             "(the machine is shared: the CPU seconds are steadier than the wall ones).", ""]
    if cli:
        runs = {kind: ", ".join(f"{t:.2f}" for t in times) for kind, times in cli["runs"].items()}
        lines += ["## The default report, end to end", "",
                  "`python -m report --checkpoint <default> --format html`, every section but attribution, then "
                  "`--sections all`, fresh build folders (the analysis, the figures, the page):", "",
                  "| | median wall s | runs |", "|---|---:|---|",
                  f"| without attribution | {cli['without']:.2f} | {runs['without']} |",
                  f"| with attribution | {cli['with']:.2f} | {runs['with']} |",
                  f"| **extra** | **{cli['with'] - cli['without']:.2f}** | |", ""]
    lines += ["## The analysis alone", "",
              "`analysis.run.analyse` with and without `attribution=True` (medians; wall and CPU seconds):", "",
              "| model and data | methods | check images | randomisation steps | maps shown | without | with | "
              "extra | extra per check image | CPU without | CPU with |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        per_image = f"{r['per_image']:.3f}" if r["per_image"] is not None else "–"
        lines.append(f"| {r['name']} | {', '.join(r['methods'])} | {r['images']} | {r['steps']} | {r['maps']} | "
                     f"{r['off']:.2f} | {r['on']:.2f} | {r['extra']:.2f} | {per_image} | {r['off_cpu']:.2f} | "
                     f"{r['on_cpu']:.2f} |")
    lines += ["", "Where the time goes: Integrated Gradients (16 steps per image) once for the check images and once "
              "per randomisation step, on the check images; deletion and insertion curves (11 fractions, the map's "
              "order and a random one); the bootstrap intervals are milliseconds. The part's cost grows with the "
              "check images (at most 40) times the randomisation steps (at most 6), times a forward and backward "
              "pass of the model.", ""]
    (ROOT / "bench" / "ATTRIBUTION.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
