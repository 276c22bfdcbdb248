"""A series of checkpoints: how accuracy and class separation evolve, from their cached stores.

Torch-free: it reads the JSON of stores that the analysis already wrote and draws line plots.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from analysis import plots
from analysis.config import sha256_of_json
from analysis.store import MANIFEST, StoreWriter


def _summary(checkpoint: str, store: Path) -> dict:
    manifest = json.loads((store / MANIFEST).read_text())
    evaluation = json.loads((store / "evaluation.json").read_text())
    embeddings = json.loads((store / "embeddings.json").read_text())
    separation = json.loads((store / "separation.json").read_text())
    per_class = separation["per_class"]
    counts = np.array([c["n"] for c in per_class], dtype=np.float64)
    intra = sum(c["intra_mean"] * c["pairs"] for c in per_class) / max(1, sum(c["pairs"] for c in per_class))
    matrix = np.asarray(separation["inter_matrix"])
    weights = np.outer(counts, counts)
    np.fill_diagonal(weights, 0)
    inter = float((matrix * weights).sum() / weights.sum()) if weights.sum() else None
    two = embeddings["distances"]["mse"]
    return {
        "checkpoint": Path(checkpoint).name, "store": store.name, "sha256": manifest["inputs"]["checkpoint"]["sha256"],
        "position": evaluation.get("position"), "accuracy": evaluation["accuracy"],
        "metric": separation["metric"], "intra_mean": intra, "inter_mean": inter, "ratio": separation["ratio"],
        "silhouette": separation["silhouette"], "nearest_centroid_accuracy": separation["nearest_centroid_accuracy"],
        "two_sample": {"classes": embeddings["classes"], "intra_mean": two["intra_mean"], "inter_mean": two["inter_mean"]},
        "class_intra": {str(c["class"]): c["intra_mean"] for c in per_class},
        "class_names": evaluation["class_names"],
    }


def _order(rows: list[dict], order: str) -> list[dict]:
    if order != "step":
        return rows
    def key(row):
        position = row["position"] or {}
        return next((position[k] for k in ("step", "global_step", "iteration", "epoch") if k in position), 1 << 60)
    return sorted(rows, key=key)


def build(series: list[tuple[str, Path]], series_dir: Path, order: str = "name") -> Path:
    """Summarise each checkpoint's store, plot the series, publish ``series_dir/<key>/``."""
    rows = _order([_summary(checkpoint, Path(store)) for checkpoint, store in series], order)
    key = sha256_of_json({"stores": [r["store"] for r in rows], "order": order})[:16]
    writer = StoreWriter(Path(series_dir) / key)
    try:
        labels = [r["checkpoint"] for r in rows]
        writer.write_bytes("images/accuracy.png", plots.series(
            labels, {"test accuracy": [r["accuracy"] for r in rows],
                     "nearest-centroid accuracy": [r["nearest_centroid_accuracy"] for r in rows]},
            "Accuracy over the series", "share of test images"))
        writer.write_bytes("images/distances.png", plots.series(
            labels, {"mean intra-class distance": [r["intra_mean"] for r in rows],
                     "mean inter-class distance": [r["inter_mean"] for r in rows]},
            f"Mean distances ({rows[0]['metric'] if rows else ''}) over the series", "distance"))
        writer.write_bytes("images/separation.png", plots.series(
            labels, {"inter / intra ratio": [r["ratio"] for r in rows]}, "Separation over the series", "ratio",
            secondary={"silhouette": [r["silhouette"] for r in rows]}))
        writer.write_json("history.json", {"order": order, "rows": rows,
                                           "images": {"accuracy": "images/accuracy.png",
                                                      "distances": "images/distances.png",
                                                      "separation": "images/separation.png"}})
        return writer.commit({"key": key, "kind": "history", "inputs": {"stores": [r["store"] for r in rows]}})
    except BaseException:
        writer.abort()
        raise
