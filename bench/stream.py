"""The whole-split pass at real data sizes, against a bare inference loop on the same data (issue 15).

    .venv/bin/python bench/stream.py [--sizes 10000,50000] [--runs 3] [--formats folder,parquet] [--workers N]
                                     [--out F.md]

Generates N RGB 64×64 PNG images in 10 classes (an image folder, ``test/<class>/*.png``, and the same
images as one parquet file in the Hugging Face layout) under ``bench/.data/`` (kept between runs: it is
made once), then for each size and format, in fresh processes on 2 threads:

- **ours**: the tool's whole-split pass (``analysis.stats.fullsplit.split_pass``: logits, the embedding of
  every image, the per-filter statistics) over ``Inputs`` as the analysis builds them, a ResNet-18
  (torchvision, 10 classes, random weights) at 64 px;
- **bare**: the floor, a ``DataLoader`` with the same workers and batch size decoding the same files,
  and ``model(x)`` under ``inference_mode``, nothing else.

``--workers`` defaults to the tool's own default for image files on this machine
(``analysis.batches.file_workers``: none on 2 cores). Note that the tool's workers are spawned (each
imports torch afresh: about 260 MiB private memory), while the bare loop's are forked and share its pages.

Images per second and peak memory are the medians of ``--runs`` runs. Memory is sampled every 20 ms as the
sum over the child and its DataLoader workers of their proportional set size (PSS: a page shared by k of
these processes counts 1/k in each), which is what the machine must hold; the sum of resident sizes (RSS)
counts the torch libraries once per worker, which each spawned worker maps again, and is given beside it.
Writes a Markdown table (default ``bench/STREAM.md``).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench" / ".data"
CLASSES = 10
SIDE = 64
BATCH = 250

CHILD = r"""
import json, sys, time
import numpy as np, torch
torch.set_num_threads(2)
from torchvision import models
mode, data, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
torch.manual_seed(0)
model = models.resnet18(num_classes=10).eval()
if mode == "bare":
    import io, pyarrow.parquet as pq
    from PIL import Image
    from torchvision import datasets, transforms
    norm = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])
    if data.endswith(".parquet") or "parquet" in data:
        class Rows(torch.utils.data.Dataset):
            def __init__(self, path):
                self.path = path; self.table = None
                self.n = pq.ParquetFile(path).metadata.num_rows
            def __len__(self): return self.n
            def __getitem__(self, i):
                if self.table is None: self.table = pq.read_table(self.path, columns=["image"]).column(0)
                return norm(Image.open(io.BytesIO(self.table[i].as_py()["bytes"])).convert("RGB")), 0
        import glob
        dataset = Rows(glob.glob(data + "/data/test-*.parquet")[0])
    else:
        dataset = datasets.ImageFolder(data + "/test", transform=norm)
    loader = torch.utils.data.DataLoader(dataset, batch_size=250, num_workers=workers)
    start = time.perf_counter(); n = 0
    with torch.inference_mode():
        for x, _ in loader:
            model(x); n += len(x)
else:
    from analysis.batches import Inputs
    from analysis.capture.trace import trace_shapes
    from analysis.data.datasets import load
    from analysis.models.layers import embedding_point
    from analysis.stats import fullsplit
    splits = load(data)
    start = time.perf_counter()
    inputs = Inputs(splits.test.images, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), batch_size=250, workers=workers)
    traced, usage = trace_shapes(model, inputs.take([0]))
    with torch.no_grad():
        passed = fullsplit.split_pass(model, inputs, embedding_point(model, None, traced), usage.ran, show_progress=False)
    n = len(passed.logits)
print(json.dumps({"images": n, "seconds": time.perf_counter() - start}))
"""


def make_data(n: int) -> dict[str, Path]:
    """An image folder and a parquet folder of ``n`` test images (and a few train images), made once."""
    import io

    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    from PIL import Image

    folder, parquet = DATA / f"folder-{n}", DATA / f"parquet-{n}"
    if not (folder / "done").exists():
        rng = np.random.default_rng(0)
        rows, labels = [], []
        for i in range(n):
            label = i % CLASSES
            # smooth noise compresses like photographs rather than like white noise
            small = rng.integers(0, 256, (8, 8, 3), np.uint8)
            image = Image.fromarray(small).resize((SIDE, SIDE), Image.Resampling.BICUBIC)
            path = folder / "test" / f"class{label}" / f"{i:06d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            image.save(path)
            rows.append({"bytes": path.read_bytes(), "path": path.name})
            labels.append(label)
        for label in range(CLASSES):  # the train split the loader expects beside test/
            target = folder / "train" / f"class{label}"
            target.mkdir(parents=True, exist_ok=True)
            (target / "0.png").write_bytes(rows[label]["bytes"])
        (parquet / "data").mkdir(parents=True, exist_ok=True)
        table = pa.table({"image": rows, "label": pa.array(labels, pa.int64())})
        pq.write_table(table, parquet / "data" / "test-00000-of-00001.parquet", row_group_size=1000)
        pq.write_table(table.slice(0, CLASSES), parquet / "data" / "train-00000-of-00001.parquet")
        (folder / "done").write_text("")
    return {"folder": folder, "parquet": parquet}


def measure(mode: str, data: Path, workers: int) -> dict:
    import psutil

    child = subprocess.Popen([sys.executable, "-c", CHILD, mode, str(data), str(workers)], cwd=ROOT,
                             stdout=subprocess.PIPE, text=True)
    process, peak_pss, peak_rss = psutil.Process(child.pid), 0, 0
    while child.poll() is None:
        try:
            tree = [process, *process.children(recursive=True)]
            infos = [p.memory_full_info() for p in tree]
            peak_pss = max(peak_pss, sum(i.pss for i in infos))
            peak_rss = max(peak_rss, sum(i.rss for i in infos))
        except psutil.Error:
            pass
        time.sleep(0.02)
    result = json.loads(child.stdout.read().strip().splitlines()[-1])
    return {**result, "peak_mib": peak_pss / 2**20, "peak_rss_mib": peak_rss / 2**20}


def main() -> None:
    args = sys.argv[1:]
    option = lambda name, default: args[args.index(name) + 1] if name in args else default  # noqa: E731
    sizes = [int(s) for s in option("--sizes", "10000,50000").split(",")]
    formats = option("--formats", "folder,parquet").split(",")
    runs = int(option("--runs", "3"))
    workers = int(option("--workers", "-1"))
    if workers < 0:  # the tool's default on this machine (none on 2 cores: decoding would take the model's)
        sys.path.insert(0, str(ROOT))
        from analysis.batches import file_workers
        workers = file_workers()
    out = Path(option("--out", str(ROOT / "bench" / "STREAM.md")))
    lines = ["| images | format | workers | ours img/s | bare img/s | time ours/bare | ours peak PSS MiB | bare peak PSS MiB "
             "| ours peak RSS MiB | bare peak RSS MiB | runs |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for n in sizes:
        data = make_data(n)
        for kind in formats:
            results = {mode: [measure(mode, data[kind], workers) for _ in range(runs)] for mode in ("ours", "bare")}
            rate = {m: statistics.median(r["images"] / r["seconds"] for r in results[m]) for m in results}
            peak = {m: statistics.median(r["peak_mib"] for r in results[m]) for m in results}
            rss = {m: statistics.median(r["peak_rss_mib"] for r in results[m]) for m in results}
            lines.append(f"| {n:,} | {kind} | {workers} | {rate['ours']:.0f} | {rate['bare']:.0f} | "
                         f"{rate['bare'] / rate['ours']:.2f} | {peak['ours']:.0f} | {peak['bare']:.0f} | "
                         f"{rss['ours']:.0f} | {rss['bare']:.0f} | {runs} |")
            print(lines[-1], flush=True)
    out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
