"""Parameters and MACs of every torchvision classification model against torchvision's published figures.

    .venv/bin/python bench/counts.py [OUT.md] [--limit SECONDS]

Each model runs in a fresh process on 2 threads, as the tool runs it: built with weights=None, traced once at
its weights' crop size with the dispatch-level counter (analysis.capture.trace). Published: the default
weights' meta["num_params"] and meta["_ops"] (GMACs). "Seconds" is the child's wall time for building and
counting (imports excluded); a model over the limit is listed as left out. Writes a Markdown table.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
import torch
torch.set_num_threads(2)
from torchvision import models
from analysis.capture.trace import trace_shapes
from analysis.models.build import build_model, expected_input
from analysis.stats.params import count_parameters
name = sys.argv[1]
weights = models.get_model_weights(name).DEFAULT
start = time.perf_counter()
torch.manual_seed(0)
model = build_model(f"torchvision:{name}", {}).eval()
size = expected_input(f"torchvision:{name}", {}).size
trace, usage = trace_shapes(model, torch.zeros(1, 3, size, size))
counts = count_parameters(model, usage.ran, usage.storages)
print(json.dumps({"name": name, "size": size, "params": counts.total, "unused": counts.unused,
                  "macs": trace.total_macs, "uncounted": [u.op for u in trace.uncounted],
                  "published_params": weights.meta["num_params"], "published_gmacs": weights.meta["_ops"],
                  "seconds": time.perf_counter() - start}))
"""


def measure(name: str, limit: float) -> dict:
    try:
        done = subprocess.run([sys.executable, "-c", CHILD, name], cwd=ROOT, capture_output=True, text=True,
                              timeout=limit + 30)
    except subprocess.TimeoutExpired:
        return {"name": name, "left_out": f"over {limit:.0f} s"}
    if done.returncode != 0:
        return {"name": name, "left_out": (done.stderr.strip().splitlines() or ["failed"])[-1][:120]}
    row = json.loads(done.stdout.strip().splitlines()[-1])
    if row["seconds"] > limit:
        row["left_out"] = f"{row['seconds']:.0f} s, over the {limit:.0f} s limit"
    return row


def agrees(r: dict) -> bool:
    """Within 0.5% of the published figure, or equal to it at its three decimals (0.057 admits 0.0565-0.0575)."""
    ours = r["macs"] / 1e9
    return abs(ours - r["published_gmacs"]) <= 0.005 * r["published_gmacs"] or round(ours, 3) == r["published_gmacs"]


def table(rows: list[dict]) -> str:
    lines = ["| model | px | published params | ours | published GMACs | ours | difference | within 0.5% or rounds to it "
             "| seconds |", "|---|---|---|---|---|---|---|---|---|"]
    left = []
    for r in rows:
        if "left_out" in r and "macs" not in r:
            left.append(f"- {r['name']}: {r['left_out']}")
            continue
        ours = r["macs"] / 1e9
        diff = (ours - r["published_gmacs"]) / r["published_gmacs"] * 100
        params = f"{r['params']:,}" + (f" ({r['params'] - r['unused']:,} at inference)" if r["unused"] else "")
        flag = "" if r["params"] == r["published_params"] or r["params"] - r["unused"] == r["published_params"] \
            else " ≠"
        lines.append(f"| {r['name']} | {r['size']} | {r['published_params']:,} | {params}{flag} | "
                     f"{r['published_gmacs']:.3f} | {ours:.3f} | {diff:+.2f}% | {'yes' if agrees(r) else '**no**'} | "
                     f"{r['seconds']:.1f} |")
        if "left_out" in r:
            left.append(f"- {r['name']}: {r['left_out']} (measured all the same, in the table)")
    return "\n".join(lines + ([""] + ["Left out:"] + left if left else [])) + "\n"


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    limit = float(sys.argv[sys.argv.index("--limit") + 1]) if "--limit" in sys.argv else 60.0
    out = Path(args[0]) if args else ROOT / "bench" / "counts.md"
    from torchvision import models

    rows = []
    for name in models.list_models(module=models):
        started = time.perf_counter()
        rows.append(measure(name, limit))
        print(f"{name}: {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
        out.write_text(table(rows))
    within = [r for r in rows if "macs" in r and agrees(r)]
    print(f"{len(within)} of {sum('macs' in r for r in rows)} measured models within 0.5% of the published MACs")


if __name__ == "__main__":
    main()
