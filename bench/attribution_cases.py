"""Benchmark: what "Where the network looks" says, and what it costs, on the four kinds of network its checks are
meant to tell apart. Writes bench/ATTRIBUTION_CASES.md.

1. a trained CNN: the assignment CNN trained by the tool (10 epochs) on the embedded digits;
2. the same architecture with random weights, given as a checkpoint (so the report must find it untrained from its
   accuracy, not from the word "random");
3. a transformer: a small ViT (patches of 7 px, 2 blocks of attention), trained here on the embedded digits;
4. a network that looks only at a planted cue: the embedded digits with labels drawn at random and a 3×3 bright patch
   on the top rows whose position is the label, so the digit carries no information and the patch all of it.

Each case is built with the command line (``--sections accuracy,activations,embeddings,attribution`` and
``--sections accuracy,activations,embeddings``, fresh build folders, ``--runs`` times each, alternating); the table
gives every check's numbers, the verdicts and the median extra seconds.

    .venv/bin/python bench/attribution_cases.py [--runs 3]
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
WITH = "accuracy,activations,embeddings,attribution"
WITHOUT = "accuracy,activations,embeddings"
CUE = 3  # the planted patch's side

NETS = '''"""The bench's models (bench/attribution_cases.py)."""
import torch
from torch import nn
from torch.nn import functional as F


class Block(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.fc1, self.fc2 = nn.Linear(dim, 2 * dim), nn.Linear(2 * dim, dim)

    def forward(self, x):
        b, n, c = x.shape
        q, k, v = self.qkv(self.norm1(x)).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        x = x + self.proj(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, c))
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


class SmallViT(nn.Module):
    def __init__(self, num_classes=10, patch=7, dim=48, depth=2, heads=4, side=28):
        super().__init__()
        self.patch_embed = nn.Conv2d(1, dim, patch, stride=patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, (side // patch) ** 2 + 1, dim) * 0.02)
        self.blocks = nn.Sequential(*[Block(dim, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x):
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = torch.cat((self.cls_token.expand(len(x), -1, -1), x), 1) + self.pos_embed
        return self.head(self.norm(self.blocks(x))[:, 0])
'''


def fresh(work: Path, name: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"{name}-", dir=work)) / name


def build(args: list[str], sections: str, work: Path, cwd: Path) -> tuple[float, Path]:
    out = fresh(work, "out")
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "report", *args, "--sections", sections, "--format", "html", "--out",
                    str(out), "--quiet"], cwd=cwd, check=True,
                   env={**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT)})
    return time.perf_counter() - started, out


def digits(work: Path):
    from analysis.data.datasets import load_embedded

    return load_embedded(work / "cache")


def write_npz(path: Path, splits, train_labels=None, test_labels=None, cue: bool = False) -> Path:
    x_train, x_test = splits.train.images[:, 0].copy(), splits.test.images[:, 0].copy()
    y_train = splits.train.labels if train_labels is None else train_labels
    y_test = splits.test.labels if test_labels is None else test_labels
    if cue:
        for images, labels in ((x_train, y_train), (x_test, y_test)):
            for image, label in zip(images, labels):
                image[1:1 + CUE, 1 + 2 * int(label):1 + 2 * int(label) + CUE] = 255
    np.savez(path, x_train=x_train, y_train=np.asarray(y_train), x_test=x_test, y_test=np.asarray(y_test))
    return path


def train(model, npz: Path, epochs: int, lr: float, seed: int = 0):
    import torch

    torch.manual_seed(seed)
    with np.load(npz) as data:
        x = (torch.from_numpy(data["x_train"]).float()[:, None] / 255 - 0.1307) / 0.3081
        y = torch.from_numpy(data["y_train"]).long()
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr)
    for _ in range(epochs):
        order = torch.randperm(len(x))
        for start in range(0, len(x), 64):
            batch = order[start:start + 64]
            optimiser.zero_grad()
            torch.nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
            optimiser.step()
    return model.eval()


def save(path: Path, model, source: str, kwargs: dict) -> Path:
    import torch

    torch.save({"state_dict": model.state_dict(), "model_config": {"source": source, "kwargs": kwargs}}, path)
    return path


def cases(work: Path) -> list[tuple[str, list[str], Path]]:
    """(name, command-line arguments, working folder) of each case; trains what needs training."""
    import torch

    from analysis.models.assignment import AssignmentCNN

    (work / "bench_nets.py").write_text(NETS)
    sys.path.insert(0, str(work))
    import bench_nets

    splits = digits(work)
    plain = write_npz(work / "digits.npz", splits)
    default = fresh(work, "default")
    subprocess.run([sys.executable, "-m", "report", "--sections", "parameters", "--format", "html", "--out",
                    str(default), "--quiet"], cwd=ROOT, check=True)
    trained = sorted((default / "checkpoints").glob("default-*.pt"))[-1]
    torch.manual_seed(1)
    random = work / "assignment-random.pt"
    torch.save(AssignmentCNN().state_dict(), random)
    vit = save(work / "vit.pt", train(bench_nets.SmallViT(), plain, epochs=8, lr=2e-3), "bench_nets:SmallViT", {})
    rng = np.random.default_rng(0)
    cue = write_npz(work / "cue.npz", splits, rng.integers(0, 10, len(splits.train)),
                    rng.integers(0, 10, len(splits.test)), cue=True)
    cue_net = save(work / "cue.pt", train(AssignmentCNN(), cue, epochs=4, lr=2e-3), "assignment", {})
    return [("trained CNN (assignment, 10 epochs, digits)", ["--checkpoint", str(trained)], ROOT),
            ("same CNN, random weights (a checkpoint of its initialisation)", ["--checkpoint", str(random)], ROOT),
            ("transformer (small ViT, 2 blocks, trained 8 epochs on the digits)",
             ["--checkpoint", str(vit), "--model", "bench_nets:SmallViT", "--data", str(plain)], work),
            ("planted cue (labels at random, a 3×3 patch on the top rows at the label's place)",
             ["--checkpoint", str(cue_net), "--data", str(cue)], ROOT)]


def summary(out: Path) -> dict:
    notes = json.loads((out / "notes.json").read_text())["notes"]
    store = out / "stores" / (out / "current-store.txt").read_text().strip()
    document = json.loads((store / "attribution.json").read_text())
    evaluation = json.loads((store / "evaluation.json").read_text())
    return {"accuracy": evaluation["accuracy"], "checks": document["checks"],
            "notes": [n for n in notes if n["section"] == "attribution"]}


def interval(e: dict | None) -> str:
    """"0.12 (0.05 to 0.19)"; four decimals where every number is under 0.01 in size."""
    if e is None:
        return "–"
    d = 2 if max(abs(e["value"]), abs(e["low"]), abs(e["high"])) >= 0.01 else 4
    return f"{e['value']:.{d}f} ({e['low']:.{d}f} to {e['high']:.{d}f})".replace("-", "−")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    load_before = os.getloadavg()
    results = []
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        for name, arguments, cwd in cases(work):
            build(arguments, WITHOUT, work, cwd)  # warm-up
            times: dict[str, list[float]] = {"without": [], "with": []}
            out = None
            for _ in range(args.runs):
                times["without"].append(build(arguments, WITHOUT, work, cwd)[0])
                seconds, out = build(arguments, WITH, work, cwd)
                times["with"].append(seconds)
            results.append({"name": name, **summary(out),
                            "extra": statistics.median(times["with"]) - statistics.median(times["without"]),
                            "times": times})
    write_markdown(results, load_before, os.getloadavg())


def write_markdown(results: list[dict], load_before, load_after) -> None:
    import torch

    lines = ["# What the attribution section says on four kinds of network, and what it costs", "",
             f"`bench/attribution_cases.py` on {platform.platform()}, {os.cpu_count()} CPUs, torch {torch.__version__}; "
             f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after. Each case built with "
             f"`--sections {WITH}` and without `attribution`, fresh build folders, alternating; the extra seconds are "
             "the difference of the medians. Intervals: 95% bootstrap over the check images.", "",
             "| case | accuracy | method | check images | ρ, all layers re-drawn (< 0.5 passes) | deletion − random "
             "(< 0) | insertion − random (> 0) | ROAD (> 0) | centre share | object − its area | verdict |",
             "|---|---:|---|---:|---|---|---|---|---|---|---|"]
    for r in results:
        verdicts = {n["evidence"]["method"]: n["branch"] for n in r["notes"] if n["rule"] == "attribution.verdict"}
        for c in r["checks"]:
            last = c["randomisation"][-1]["rank_correlation"] if c["randomisation"] else None
            name = c["method"] + (f" at {c['layer']}" if c["layer"] else "")
            lines.append(f"| {r['name']} | {r['accuracy']:.1%} | {name} | {c['images']} | {interval(last)} | "
                         f"{interval(c['deletion']['difference'])} | {interval(c['insertion']['difference'])} | "
                         f"{interval(c.get('road') and c['road']['score'])} | {interval(c['centre_share'])} | "
                         f"{interval(c['object_excess'])} | {verdicts.get(c['method'], '–')} |")
    lines += ["", "| case | extra s (median) | without attribution, s | with, s |", "|---|---:|---|---|"]
    for r in results:
        lines.append(f"| {r['name']} | {r['extra']:.2f} | "
                     + " | ".join(", ".join(f"{t:.2f}" for t in r["times"][k]) for k in ("without", "with")) + " |")
    lines += ["", "The sentences of each case's section:", ""]
    for r in results:
        lines += [f"**{r['name']}**", ""] + [f"- {n['text']}" for n in r["notes"]] + [""]
    (ROOT / "bench" / "ATTRIBUTION_CASES.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
