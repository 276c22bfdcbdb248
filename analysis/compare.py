"""Two models analysed on one test split: whether one classifies it better than the other (McNemar's test on their
per-image results) and the scale each one's embedding values are on; for two checkpoints of one architecture
also how far each parameter tensor moved from A to B and their first kernels on one colour scale."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch
from scipy.stats import binomtest

from analysis.config import sha256_of_json
from analysis.figures import images, plots
from analysis.models.checkpoint import read_checkpoint
from analysis.run import KERNEL_CMAP, MAX_KERNELS
from analysis.store.schema import (
    CompareDocument,
    CompareSide,
    DriftRow,
    EmbeddingScale,
    McNemarTest,
    PairedComparison,
    SideAccuracy,
)
from analysis.store.writer import StoreWriter

ALPHA = 0.05  # one checkpoint is called better than the other only when McNemar's p is below this


@dataclasses.dataclass(frozen=True)
class SideResults:
    """What the paired statistics need from one store, read by the caller through the report's reader (this
    module reads no store): plain numbers and lists."""

    split: dict                   # the test split's identity the store records (its data files' hashes, the split)
    correct: int                  # test images classified correctly
    n: int                        # test images
    labels: list[int]             # each test image's true class, in split order (empty: stored before they were kept)
    predicted: list[int]          # each test image's predicted class, likewise
    sample_vectors: list[list[float]] = dataclasses.field(default_factory=list)  # the sample embeddings


def side_accuracy(correct: int, n: int) -> SideAccuracy:
    interval = binomtest(correct, n).proportion_ci(confidence_level=0.95, method="wilson")
    return SideAccuracy(correct=correct, n=n, accuracy=correct / n, ci_low=float(interval.low),
                        ci_high=float(interval.high))


def split_digest(split: dict) -> str:
    return sha256_of_json(split)


def mcnemar(correct_a: list[bool], correct_b: list[bool]) -> McNemarTest:
    """McNemar's exact test on two lists of per-image correctness over the same images, in the same order."""
    pairs = list(zip(correct_a, correct_b))
    a_only = sum(1 for a, b in pairs if a and not b)
    b_only = sum(1 for a, b in pairs if b and not a)
    discordant = a_only + b_only
    p_value = float(binomtest(a_only, discordant, 0.5).pvalue) if discordant else 1.0
    return McNemarTest(n=len(pairs), both_right=sum(1 for a, b in pairs if a and b), a_only=a_only, b_only=b_only,
                       both_wrong=sum(1 for a, b in pairs if not a and not b), p_value=p_value, alpha=ALPHA)


def why_not_paired(a: SideResults, b: SideResults) -> str | None:
    """Why McNemar's test cannot pair A's and B's images, or None when it can: it needs each image's result in
    both, on one test split (the same data files, split the same way, the same labels in the same order)."""
    if split_digest(a.split) != split_digest(b.split):
        return (f"A and B were analysed on different test splits (data sha256 {split_digest(a.split)[:12]}… "
                f"against {split_digest(b.split)[:12]}…), so their images cannot be paired")
    for name, side in (("A", a), ("B", b)):
        if not side.predicted or len(side.predicted) != side.n or len(side.labels) != side.n:
            return (f"the analysis of {name} holds no per-image results (it was stored before they were kept), "
                    "so its images cannot be paired with the other's")
    if a.labels != b.labels:
        return "A's and B's test images carry different labels, so they are not one test split and cannot be paired"
    return None


def paired_comparison(a: SideResults, b: SideResults) -> PairedComparison:
    """Each side's accuracy with its Wilson interval, and McNemar's test where the images pair up."""
    refused = why_not_paired(a, b)
    test = None
    if refused is None:
        test = mcnemar([p == y for p, y in zip(a.predicted, a.labels)], [p == y for p, y in zip(b.predicted, b.labels)])
    return PairedComparison(a=side_accuracy(a.correct, a.n), b=side_accuracy(b.correct, b.n),
                            split_a=split_digest(a.split), split_b=split_digest(b.split), mcnemar=test,
                            refused=refused)


def root_mean_square(vectors: list[list[float]]) -> float | None:
    """The root mean square of the finite values: the scale the embedding's distances are on."""
    values = np.asarray(vectors, dtype=np.float64).ravel()
    values = values[np.isfinite(values)]
    return float(np.sqrt(np.mean(values ** 2))) if values.size else None


def embedding_scale(a: SideResults, b: SideResults) -> EmbeddingScale:
    return EmbeddingScale(a=root_mean_square(a.sample_vectors), b=root_mean_square(b.sample_vectors),
                          images_a=len(a.sample_vectors), images_b=len(b.sample_vectors))


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


def draw_drift(rows: list[DriftRow], writer: StoreWriter) -> dict:
    """The bar chart of each tensor's relative change; the record of ``CompareDocument.images``."""
    shown = [r for r in rows if r.relative is not None]
    writer.write_bytes("images/drift.png", plots.bars(
        [r.name for r in shown], np.array([r.relative for r in shown]),
        "Relative change of each parameter tensor, ‖B − A‖ / ‖A‖", "relative change", "parameter tensor"))
    return {"drift": "images/drift.png"}


def build(checkpoint_a: Path, checkpoint_b: Path, store_a: Path, store_b: Path, compares_dir: Path,
          sha256_a: str, sha256_b: str, results: tuple[SideResults, SideResults] | None = None,
          same_architecture: bool = True) -> Path:
    """``sha256_a``/``sha256_b``: each checkpoint's digest as its store's manifest records it (hashed when the
    store was analysed), and ``results`` what each store says about the test split: both read by the caller
    through the report's reader. ``same_architecture``: A and B are one model's checkpoints, so their tensors
    pair up name by name; otherwise no drift and no kernels are stored (tensors of two architectures that
    happen to share a name and a shape are not one unit moved by training)."""
    rows, unmatched, states = [], [], None
    if same_architecture:
        states = (read_checkpoint(checkpoint_a, sha256_a)[0],  # the bytes its store was analysed from, or refused
                  read_checkpoint(checkpoint_b, sha256_b)[0])
        rows, unmatched = drift(*states)
    key = sha256_of_json({"a": Path(store_a).name, "b": Path(store_b).name})[:16]
    writer = StoreWriter(Path(compares_dir) / key)
    try:
        images = draw_drift(rows, writer) if states else {}
        kernels = draw_kernels(*states, writer) if states else None
        writer.write_record("compare.json", CompareDocument(
            a=CompareSide(file=Path(checkpoint_a).name, sha256=sha256_a, store=Path(store_a).name),
            b=CompareSide(file=Path(checkpoint_b).name, sha256=sha256_b, store=Path(store_b).name),
            drift=rows, unmatched=unmatched, images=images, kernels=kernels,
            paired=paired_comparison(*results) if results else None,
            scale=embedding_scale(*results) if results else None))
        return writer.commit({"key": key, "kind": "compare",
                              "inputs": {"a": Path(store_a).name, "b": Path(store_b).name}})
    except BaseException:
        writer.abort()
        raise
