"""A series of checkpoints: how accuracy and class separation evolve, from their cached stores.

Torch-free: it draws line plots and writes the history store from summary rows it is given; the rows
come from the stores through the report's reader (report/render/history.py), never from here.
"""

from __future__ import annotations

from pathlib import Path

from analysis.config import sha256_of_json
from analysis.figures import plots
from analysis.store.schema import HistoryDocument, HistoryRow
from analysis.store.writer import StoreWriter


def run_of(row: HistoryRow) -> str | None:
    """The id of the training run the row's checkpoint records; None for every checkpoint that records none."""
    return row.run.id if row.run else None


def _step(row: HistoryRow) -> int:
    position = row.position or {}
    return next((position[k] for k in ("step", "global_step", "iteration", "epoch") if k in position), 1 << 60)


def _order(rows: list[HistoryRow], order: str) -> list[HistoryRow]:
    """The checkpoints of one training run together, runs in the order their first checkpoint comes in;
    within a run by the stored step or epoch (``order`` "step"), else as given (natural file-name order). A
    separate run's epoch 1 is never placed among another run's epochs."""
    runs: dict[str | None, list[HistoryRow]] = {}
    for row in rows:
        runs.setdefault(run_of(row), []).append(row)
    if order == "step":
        runs = {run: sorted(members, key=_step) for run, members in runs.items()}
    return [row for members in runs.values() for row in members]


def run_breaks(rows: list[HistoryRow]) -> tuple[int, ...]:
    """The positions in the ordered series where another training run starts."""
    return tuple(i for i in range(1, len(rows)) if run_of(rows[i]) != run_of(rows[i - 1]))


def build(rows: list[HistoryRow], series_dir: Path, order: str = "name") -> Path:
    """Order the summary rows (one per checkpoint), plot the series, publish ``series_dir/<key>/``. A row of a
    store without whole-split results holds None there: its points are left out of those plots. The plots'
    lines break between training runs."""
    rows = _order(rows, order)
    breaks = run_breaks(rows)
    metric = next((r.metric for r in rows if r.metric is not None), None)
    key = sha256_of_json({"stores": [r.store for r in rows], "order": order})[:16]
    writer = StoreWriter(Path(series_dir) / key)
    try:
        labels = [r.checkpoint for r in rows]
        writer.write_bytes("images/accuracy.png", plots.series(
            labels, {"test accuracy": [r.accuracy for r in rows],
                     "nearest-centroid accuracy": [r.nearest_centroid_accuracy for r in rows]},
            "Accuracy over the series", "share of test images", breaks=breaks))
        writer.write_bytes("images/distances.png", plots.series(
            labels, {"mean intra-class distance": [r.intra_mean for r in rows],
                     "mean inter-class distance": [r.inter_mean for r in rows]},
            f"Mean distances ({metric}) over the series" if metric else "Mean distances over the series",
            "distance", breaks=breaks))
        writer.write_bytes("images/separation.png", plots.series(
            labels, {"inter / intra ratio": [r.ratio for r in rows]}, "Separation over the series", "ratio",
            secondary={"silhouette": [r.silhouette for r in rows]}, breaks=breaks))
        writer.write_record("history.json", HistoryDocument(
            order=order, rows=rows, images={"accuracy": "images/accuracy.png", "distances": "images/distances.png",
                                            "separation": "images/separation.png"}))
        return writer.commit({"key": key, "kind": "history", "inputs": {"stores": [r.store for r in rows]}})
    except BaseException:
        writer.abort()
        raise
