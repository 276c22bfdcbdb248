"""Benchmark: models from timm and Hugging Face transformers, by name, on the command line and through the API.
Writes bench/LIBRARY_MODELS.md.

For each timm model: ``timm.create_model(NAME, num_classes=10)`` in memory is built with ``report.build(model=...)``
(its weights saved as ``checkpoints/module-<hash>.pt``, its recipe recorded); then the command line is run on that
checkpoint with the recorded recipe (``--model timm:NAME --model-kwargs '{"num_classes": 10}'``), and the two
stores must be one (the same folder name, the same bytes). For each Hugging Face model: a ``save_pretrained``
folder of a small configuration, given as ``--checkpoint`` on the command line and through ``report.build``.
Parameters are checked against the model's own count (sum of ``numel``), MACs against torch's own counter
(``torch.utils.flop_counter.FlopCounterMode``, FLOPs / 2, attention through its math backend so that its two
matrix products are counted) on one image of the size the report used. Each command
is timed from outside, once, in a fresh process (the first run of a model: torch, timm and the model's code are
imported, the data resized, the report rendered).

    .venv/bin/python bench/library_models.py [--timm resnet18,...] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIMM_MODELS = ("resnet18", "convnext_atto", "efficientnet_b0", "vit_tiny_patch16_224", "levit_128s")
SECTIONS = "parameters,shapes,accuracy"


def write_data(path: Path) -> Path:
    import numpy as np

    rng = np.random.default_rng(0)
    shape = (20, 32, 32, 3)
    np.savez(path, x_train=rng.integers(0, 256, shape, dtype=np.uint8), y_train=np.arange(20) % 10,
             x_test=rng.integers(0, 256, shape, dtype=np.uint8), y_test=np.arange(20) % 10)
    return path


def timed(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"{shlex.join(command)} failed: {result.stderr.strip()}")
    return time.perf_counter() - started


def api_script(lines: str) -> list[str]:
    return [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r})\n{lines}"]


def counted_macs(model, size: int, channels: int = 3) -> int:
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    # The math backend of scaled_dot_product_attention runs as matrix products the counter sees; the CPU's fused
    # kernel is not counted by it (the attention's two products would be missing).
    with torch.no_grad(), sdpa_kernel([SDPBackend.MATH]), FlopCounterMode(display=False) as counter:
        model.eval()(torch.zeros(1, channels, size, size))
    return counter.get_total_flops() // 2


def store_of(out: Path) -> str:
    return (out / "current-store.txt").read_text().strip()


def same_store(a: Path, b: Path) -> bool:
    name = store_of(a)
    if name != store_of(b):
        return False
    left, right = a / "stores" / name, b / "stores" / name
    files = sorted(p.relative_to(left) for p in left.rglob("*") if p.is_file())
    return files == sorted(p.relative_to(right) for p in right.rglob("*") if p.is_file()) and all(
        (left / f).read_bytes() == (right / f).read_bytes() for f in files)


def findings(out: Path):
    sys.path.insert(0, str(ROOT))
    import report

    return report.rerender(out, formats="html", quiet=True)


def timm_row(name: str, data: Path, work: Path) -> dict:
    import timm

    api_out, cli_out = work / f"{name}-api", work / f"{name}-cli"
    api_seconds = timed(api_script(
        f"import timm, report\nreport.build(model=timm.create_model({name!r}, num_classes=10), data={str(data)!r}, "
        f"out={str(api_out)!r}, sections={SECTIONS!r}, formats='html')"), work)
    checkpoint = next((api_out / "checkpoints").glob("module-*.pt"))
    command = [sys.executable, "-m", "report", "--checkpoint", str(checkpoint), "--model", f"timm:{name}",
               "--model-kwargs", '{"num_classes": 10}', "--data", str(data), "--sections", SECTIONS,
               "--format", "html", "--out", str(cli_out), "--quiet"]
    cli_seconds = timed(command, ROOT)
    made = findings(cli_out)
    model = timm.create_model(name, num_classes=10)
    size = made.findings.model.model.input_shape[-1]
    return {"model": f"timm:{name}", "command": shlex.join(["python", *command[1:]]).replace(str(work) + "/", ""),
            "parameters": made.summary.parameters, "own parameters": sum(p.numel() for p in model.parameters()),
            "macs": made.summary.macs, "torch macs": counted_macs(model, size), "size": size,
            "cli s": cli_seconds, "api s": api_seconds, "same store": same_store(api_out, cli_out)}


def huggingface_rows(data: Path, work: Path) -> list[dict]:
    import transformers

    configs = {
        "vit": transformers.ViTConfig(image_size=32, patch_size=8, hidden_size=96, num_hidden_layers=4,
                                      num_attention_heads=4, intermediate_size=192, num_labels=10),
        "convnext": transformers.ConvNextConfig(num_channels=3, hidden_sizes=[24, 48, 96, 192], depths=[1, 1, 2, 1],
                                                num_labels=10, image_size=32),
    }
    rows = []
    for name, config in configs.items():
        folder = work / f"hf-{name}"
        model = transformers.AutoModelForImageClassification.from_config(config).eval()
        model.save_pretrained(folder)
        cli_out, api_out = work / f"hf-{name}-cli", work / f"hf-{name}-api"
        command = [sys.executable, "-m", "report", "--checkpoint", str(folder), "--data", str(data), "--sections",
                   SECTIONS, "--format", "html", "--out", str(cli_out), "--quiet"]
        cli_seconds = timed(command, ROOT)
        api_seconds = timed(api_script(
            f"import report\nreport.build(checkpoint={str(folder)!r}, data={str(data)!r}, out={str(api_out)!r}, "
            f"sections={SECTIONS!r}, formats='html')"), work)
        made = findings(cli_out)
        size = made.findings.model.model.input_shape[-1]
        rows.append({"model": f"{type(model).__name__} ({name}, save_pretrained folder)",
                     "command": shlex.join(["python", *command[1:]]).replace(str(work) + "/", ""),
                     "parameters": made.summary.parameters,
                     "own parameters": sum(p.numel() for p in model.parameters()),
                     "macs": made.summary.macs, "torch macs": counted_macs(model, size), "size": size,
                     "cli s": cli_seconds, "api s": api_seconds, "same store": same_store(api_out, cli_out)})
    return rows


def write(rows: list[dict], path: Path) -> None:
    lines = ["# Models by name: timm and Hugging Face", "",
             f"Written by `bench/library_models.py` ({time.strftime('%Y-%m-%d')}). Data: 20 random 32×32 RGB test images "
             f"in a `.npz`, 10 classes; `--sections {SECTIONS}`. Parameters: the report's against the model's own "
             "`numel` sum; MACs: the report's against torch's `FlopCounterMode` (FLOPs / 2; attention through its "
             "math backend, whose matrix products the counter sees: its fused CPU kernel is not counted) at the size the report "
             "used (timm: its pretrained_cfg, 224; the Hugging Face configurations: their image_size, 32). Times: one "
             "fresh process each, from outside, on this 2-core machine.", "",
             "| model | parameters (report / own) | MACs (report / torch) | size | CLI s | API s | CLI store = API store |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['model']} | {row['parameters']:,} / {row['own parameters']:,} | {row['macs']:,} / "
                     f"{row['torch macs']:,} | {row['size']} | {row['cli s']:.1f} | {row['api s']:.1f} | "
                     f"{'yes' if row['same store'] else 'NO'} |")
    lines += ["", "Commands (the data file `d.npz`; the timm checkpoints are the API's saved `module-<hash>.pt`):", ""]
    lines += [f"    {row['command']}" for row in rows]
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timm", default=",".join(TIMM_MODELS))
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        work = args.work or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        data = write_data(work / "d.npz")
        rows = [timm_row(name, data, work) for name in args.timm.split(",") if name]
        rows += huggingface_rows(data, work)
        write(rows, ROOT / "bench" / "LIBRARY_MODELS.md")
    print((ROOT / "bench" / "LIBRARY_MODELS.md").read_text())


if __name__ == "__main__":
    main()
