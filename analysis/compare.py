"""Two checkpoints of one architecture: how far each parameter tensor moved from A to B."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from analysis.config import sha256_of_json
from analysis.figures import plots
from analysis.models.checkpoint import read_checkpoint
from analysis.store.schema import CompareDocument, CompareSide, DriftRow
from analysis.store.writer import StoreWriter


def drift(state_a: dict, state_b: dict) -> tuple[list[DriftRow], list[str]]:
    """Per tensor present in both with the same shape: norms and the norm of the change, relative to A."""
    rows, unmatched = [], []
    for name in sorted(set(state_a) | set(state_b)):
        a, b = state_a.get(name), state_b.get(name)
        if a is None or b is None or a.shape != b.shape or not torch.is_floating_point(a):
            if a is None or b is None or a.shape != b.shape:
                unmatched.append(name)
            continue
        a64, b64 = a.double(), b.double()
        norm_a, change = float(a64.norm()), float((b64 - a64).norm())
        rows.append(DriftRow(name=name, shape=list(a.shape), norm_a=norm_a, norm_b=float(b64.norm()),
                             change=change, relative=change / norm_a if norm_a > 0 else None))
    return rows, unmatched


def build(checkpoint_a: Path, checkpoint_b: Path, store_a: Path, store_b: Path, compares_dir: Path,
          sha256_a: str, sha256_b: str) -> Path:
    """``sha256_a``/``sha256_b``: each checkpoint's digest as its store's manifest records it (hashed when the
    store was analysed), read by the caller through the report's reader."""
    state_a, _ = read_checkpoint(checkpoint_a)
    state_b, _ = read_checkpoint(checkpoint_b)
    rows, unmatched = drift(state_a, state_b)
    key = sha256_of_json({"a": Path(store_a).name, "b": Path(store_b).name})[:16]
    writer = StoreWriter(Path(compares_dir) / key)
    try:
        shown = [r for r in rows if r.relative is not None]
        writer.write_bytes("images/drift.png", plots.bars(
            [r.name for r in shown], np.array([r.relative for r in shown]),
            "Relative change of each parameter tensor, ‖B − A‖ / ‖A‖", "relative change"))
        writer.write_record("compare.json", CompareDocument(
            a=CompareSide(file=Path(checkpoint_a).name, sha256=sha256_a, store=Path(store_a).name),
            b=CompareSide(file=Path(checkpoint_b).name, sha256=sha256_b, store=Path(store_b).name),
            drift=rows, unmatched=unmatched, images={"drift": "images/drift.png"}))
        return writer.commit({"key": key, "kind": "compare",
                              "inputs": {"a": Path(store_a).name, "b": Path(store_b).name}})
    except BaseException:
        writer.abort()
        raise
