"""Two checkpoints of one architecture: how far each parameter tensor moved from A to B."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from analysis.config import sha256_of_json
from analysis.figures import images, plots
from analysis.models.checkpoint import read_checkpoint
from analysis.run import KERNEL_CMAP, MAX_KERNELS
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


KERNEL_COLUMNS = 8


def first_kernels(state_a: dict, state_b: dict) -> str | None:
    """The layer whose kernels are set side by side: the first 4-D floating-point ``<layer>.weight`` of A (a
    state_dict lists its modules in the order the model registers them, so the first 2-D convolution's comes
    first) that B has in the same shape. The compare view shows the grids only when this is the layer each
    store's own kernel picture shows."""
    for name, weight in state_a.items():
        other = state_b.get(name)
        if (name.endswith(".weight") and weight.ndim == 4 and torch.is_floating_point(weight)
                and other is not None and other.shape == weight.shape and torch.is_floating_point(other)):
            return name[:-len(".weight")]
    return None


def draw_kernels(state_a: dict, state_b: dict, writer: StoreWriter) -> dict | None:
    """A's and B's first-convolution kernels on one symmetric colour scale, ±(largest finite |weight| of
    either), and its colour bar; the record of ``CompareDocument.kernels``, or None when A and B have no such
    layer in common."""
    layer = first_kernels(state_a, state_b)
    if layer is None:
        return None
    weights = [state[f"{layer}.weight"].detach().double().numpy() for state in (state_a, state_b)]
    shown = min(len(weights[0]), MAX_KERNELS)
    (picture_a, picture_b), bound, colouring = images.shared_kernel_grids(weights, KERNEL_CMAP, KERNEL_COLUMNS,
                                                                          shown)
    writer.write_bytes("images/kernels_a.png", images.png_bytes(picture_a))
    writer.write_bytes("images/kernels_b.png", images.png_bytes(picture_b))
    bar = images.grey_ramp() if colouring == "rgb" else images.colourbar(KERNEL_CMAP)
    writer.write_bytes("images/kernel_colourbar.png", images.png_bytes(bar))
    return {"layer": layer, "shape": list(weights[0].shape), "shown": shown, "columns": KERNEL_COLUMNS,
            "colouring": colouring, "cmap": "gray" if colouring == "rgb" else KERNEL_CMAP,
            "vmin": -bound, "vmax": bound, "a": "images/kernels_a.png", "b": "images/kernels_b.png",
            "colourbar": "images/kernel_colourbar.png"}


def build(checkpoint_a: Path, checkpoint_b: Path, store_a: Path, store_b: Path, compares_dir: Path,
          sha256_a: str, sha256_b: str) -> Path:
    """``sha256_a``/``sha256_b``: each checkpoint's digest as its store's manifest records it (hashed when the
    store was analysed), read by the caller through the report's reader."""
    state_a, _ = read_checkpoint(checkpoint_a, sha256_a)  # the bytes its store was analysed from, or refused
    state_b, _ = read_checkpoint(checkpoint_b, sha256_b)
    rows, unmatched = drift(state_a, state_b)
    key = sha256_of_json({"a": Path(store_a).name, "b": Path(store_b).name})[:16]
    writer = StoreWriter(Path(compares_dir) / key)
    try:
        shown = [r for r in rows if r.relative is not None]
        writer.write_bytes("images/drift.png", plots.bars(
            [r.name for r in shown], np.array([r.relative for r in shown]),
            "Relative change of each parameter tensor, ‖B − A‖ / ‖A‖", "relative change", "parameter tensor"))
        kernels = draw_kernels(state_a, state_b, writer)
        writer.write_record("compare.json", CompareDocument(
            a=CompareSide(file=Path(checkpoint_a).name, sha256=sha256_a, store=Path(store_a).name),
            b=CompareSide(file=Path(checkpoint_b).name, sha256=sha256_b, store=Path(store_b).name),
            drift=rows, unmatched=unmatched, images={"drift": "images/drift.png"}, kernels=kernels))
        return writer.commit({"key": key, "kind": "compare",
                              "inputs": {"a": Path(store_a).name, "b": Path(store_b).name}})
    except BaseException:
        writer.abort()
        raise
