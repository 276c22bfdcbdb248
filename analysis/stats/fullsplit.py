"""Beyond two samples: embeddings of the whole test split and how well they separate the classes."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

from analysis import figure_arrays
from analysis.batches import as_inputs
from analysis.capture import forward as capture
from analysis.capture.failures import run_model
from analysis.data.datasets import DataSplits
from analysis.models.hints import hints_of
from analysis.errors import InputError
from analysis.models.inference import accuracy
from analysis.models.layers import EmbeddingPoint, activation_layers, features, is_activated
from analysis.figure_arrays import npy_bytes
from analysis.rows import Allocate, RowBuffer, in_memory
from analysis.stats import separation
from analysis.store.schema import (
    CLOSEST_PAIRS_KEPT,
    PAIR_MATRIX_MAX_CLASSES,
    ROW_SHARE,
    CentroidAccuracy,
    ClassPair,
    ClassSpread,
    EuclideanSeparation,
    EmbeddingsDocument,
    FilterStats,
    LayerSeparation,
    PairSelection,
    SeparationDocument,
)
from analysis.store.writer import StoreWriter

LAYER_SAMPLE = 1000        # images used for the per-layer separation (seeded sample beyond this)
TSNE_SAMPLE = 1000         # points in the t-SNE map
MAX_DEPTH_LAYERS = 8
DEAD_SHARE, NEAR_DEAD_SHARE = 0.99, 0.90
CLOSEST_PAIRS = 3
MISCLASSIFIED_SHOWN = 8
FILTER_CHARTS = 4


def depth_layers(model: nn.Module) -> list[tuple[str, str]]:
    declared = hints_of(model).depth_layers
    if declared is not None:
        return list(declared)
    children = [name for name, _ in model.named_children()]
    if len(children) > MAX_DEPTH_LAYERS:
        picks = np.linspace(0, len(children) - 1, MAX_DEPTH_LAYERS).round().astype(int)
        children = [children[i] for i in sorted(set(picks.tolist()))]
    return [(name, name) for name in children]


def filter_layers(model: nn.Module, ran: frozenset[str] | None = None) -> list[tuple[str, str]]:
    """The declared filter layers, else the default activation-map layers; only modules that ran."""
    declared = hints_of(model).filter_layers
    if declared is not None:
        return [layer for layer in declared if ran is None or layer[0] in ran]
    return activation_layers(model, None, ran)


class _Accumulator:
    """Per-filter mean activation and share of images whose map is never positive, batch by batch."""

    def __init__(self):
        self.sum, self.never_positive, self.images = None, None, 0

    @staticmethod
    def summary(maps) -> tuple[torch.Tensor, torch.Tensor, int] | None:
        """What one call adds, taken at hook time (nothing of the maps is kept): each filter's mean
        activation and the images whose map is never positive, summed over the batch. None: not maps."""
        if not isinstance(maps, torch.Tensor) or maps.dim() != 4:
            return None
        flat = maps.detach().flatten(2)
        # On the CPU, where float64 exists on every device type (MPS has none); the sums are exact either way.
        return flat.mean(2).cpu().double().sum(0), (flat.amax(2) <= 0).cpu().double().sum(0), len(maps)

    def add(self, summary: tuple[torch.Tensor, torch.Tensor, int]) -> None:
        means, peaks, images = summary
        self.sum = means if self.sum is None else self.sum + means
        self.never_positive = peaks if self.never_positive is None else self.never_positive + peaks
        self.images += images


@dataclasses.dataclass
class SplitPass:
    """What one pass over the test split gives: the network's outputs, the embedding of every image and
    the per-filter statistics of the layers in ``filters``."""

    logits: torch.Tensor
    embeddings: np.ndarray
    accumulators: dict[str, _Accumulator]
    filters: list[tuple[str, str]]


def split_pass(model: nn.Module, x, point: EmbeddingPoint, ran: frozenset[str] | None = None,
               show_progress: bool = True, dask: str | None = None, allocate: Allocate = in_memory) -> SplitPass:
    """The one forward pass over the test split that both the evaluation and the separation read. ``x``:
    the split's Inputs (or a normalised tensor); ``ran``: the modules the traced pass called (filter
    statistics only for those); ``dask``: a scheduler's address, to run the pass as shards there;
    ``allocate``: where the N × D embedding matrix is kept (analysis.rows)."""
    filters = filter_layers(model, ran)
    modules = [m for m, _ in filters]
    if dask:
        shards = run_shards(dask, model, as_inputs(x), point, modules)
    else:
        shards = [shard_pass(model, x, point, modules, show_progress, allocate)]
    emb, accumulators, logits = merge_shards(shards, modules, allocate)
    return SplitPass(logits, emb, accumulators, filters)


def _features_copy(point: EmbeddingPoint):
    """A probe function: the embedding vectors of a batch, reduced at hook time (analysis.models.layers.features)."""
    def copy(value) -> torch.Tensor | None:
        tensor = capture.first_tensor(value)
        return None if tensor is None else features(tensor, point).clone()
    return copy


@dataclasses.dataclass
class Shard:
    """What the pass over consecutive images gives, before anything is summed: merging the shards of a split
    in order repeats the single pass's additions in its order, so the result is the same to the bit.
    Every result is one block filled batch by batch (analysis.rows: memory stays flat over many batches)."""

    outputs: torch.Tensor | None                 # (n, outputs), on the CPU
    embeddings: np.ndarray | None                # (n, D) float32: the first call of the embedding module
    summaries: dict[str, tuple[np.ndarray, np.ndarray]]  # module -> ((calls, 2, C) float64: each call's
                                                 # per-filter mean sums and never-positive counts; (calls,) images)
    skipped: int = 0                             # filter calls whose channels differ from the module's first


def shard_pass(model: nn.Module, x, point: EmbeddingPoint, filter_modules: list[str],
               show_progress: bool = True, allocate: Allocate = in_memory) -> Shard:
    """The embedding of each image (the first call of the embedding module in each batch), the filter
    summaries of every call of a filter module, and the outputs. ``allocate``: where the embedding matrix
    lives (analysis.rows; a memory-mapped file for a large split)."""
    on_input = point.side == "input"
    keep = _features_copy(point)
    probe = capture.Probe(inputs=keep, output=None) if on_input else capture.Probe(output=keep)
    embedding = capture.forward(model, {point.module: probe})
    filters = capture.forward(model, {m: capture.Probe(output=_Accumulator.summary) for m in filter_modules})
    inputs = as_inputs(x)
    outputs, vectors = RowBuffer(len(inputs)), RowBuffer(len(inputs), allocate)
    calls: dict[str, RowBuffer] = {}
    images: dict[str, list[int]] = {}
    skipped = 0
    with embedding, filters:
        what = "classifying and embedding the test split"
        for batch in inputs.batches(what, show_progress):
            outputs.append(run_model(model, batch, f" while {what}").detach().cpu())
            first = next((c.inputs if on_input else c.output for c in embedding.drain() if c.repeat == 0), None)
            if first is None:
                raise InputError(f"the embedding layer {point.module} did not run for every batch: choose "
                                 "another with --embedding-layer")
            vectors.append(first.float().cpu().numpy())
            for call in filters.drain():
                if call.output is None:
                    continue
                means, peaks, count = call.output
                rows = calls.setdefault(call.name, RowBuffer())
                if rows.block is not None and tuple(rows.block.shape[2:]) != tuple(means.shape):
                    skipped += 1  # a shared module called on maps of another width: not one filter bank
                    continue
                rows.append(torch.stack([means, peaks]).numpy()[None])
                images.setdefault(call.name, []).append(count)
    if vectors.filled != len(inputs):
        raise AssertionError(f"the pass gave {vectors.filled} embeddings for {len(inputs)} images")
    summaries = {name: (rows.result(), np.asarray(images[name], np.int64)) for name, rows in calls.items()}
    return Shard(outputs.result(), vectors.result(), summaries, skipped)


def merge_shards(shards: list[Shard], filter_modules: list[str], allocate: Allocate = in_memory):
    """(embeddings, accumulators, logits) of the shards in order; one shard's blocks are used as they are."""
    accumulators = {m: _Accumulator() for m in filter_modules}
    for shard in shards:
        for name, (rows, counts) in shard.summaries.items():
            for row, count in zip(rows, counts):
                accumulators[name].add((torch.from_numpy(row[0]), torch.from_numpy(row[1]), int(count)))
    if len(shards) == 1:
        return shards[0].embeddings, accumulators, shards[0].outputs
    total = sum(len(shard.embeddings) for shard in shards)
    vectors, outputs = RowBuffer(total, allocate), RowBuffer(total)
    for shard in shards:
        vectors.append(shard.embeddings)
        outputs.append(shard.outputs)
    return vectors.result(), accumulators, outputs.result()


def whole_split_pass(model: nn.Module, x, point: EmbeddingPoint, filter_modules: list[str],
                     show_progress: bool = True) -> tuple[np.ndarray, dict[str, _Accumulator], torch.Tensor]:
    """One batched pass in this process: the embeddings, per-filter statistics and outputs."""
    return merge_shards([shard_pass(model, x, point, filter_modules, show_progress)], filter_modules)


SHARD_BATCHES = 8  # batches per shard on a cluster


def run_shards(address: str, model: nn.Module, inputs, point: EmbeddingPoint, filter_modules: list[str]) -> list[Shard]:
    """The pass as shards of whole batches on the Dask scheduler at ``address`` (batch boundaries as in one
    process, so every batch computes what it would there), gathered in order."""
    from analysis.cluster import connect

    size = inputs.batch_size * SHARD_BATCHES
    ranges = [range(start, min(start + size, len(inputs))) for start in range(0, len(inputs), size)]
    import pickle

    # Our own model, pickled here and unpickled by our task: Dask's own serializer for modules rebuilds
    # their hook handles from plain dicts and fails. The workers import the model's classes by name.
    payload = pickle.dumps(model)
    # The kernels' order of additions depends on the number of threads (a convolution on 1 thread and on 2
    # differs in the last bits): each shard runs on as many as this process, so every batch adds as it would here.
    threads = torch.get_num_threads()
    with connect(address) as client:
        shared = client.scatter(payload, broadcast=True)
        futures = [client.submit(_shard_task, shared, inputs.subset(list(r)), point, filter_modules, threads,
                                 pure=False) for r in ranges]
        return client.gather(futures)


def _shard_task(payload: bytes, inputs, point: EmbeddingPoint, filter_modules: list[str], threads: int) -> Shard:
    import pickle

    model = pickle.loads(payload)  # noqa: S301 - the model this analysis itself pickled in run_shards
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return shard_pass(model, dataclasses.replace(inputs, workers=0), point, filter_modules, show_progress=False)
    finally:
        torch.set_num_threads(before)


DEPTH_VALUES = 16384  # values per image that the per-layer measures use; a larger output is average-pooled


def depth_values(output) -> tuple[torch.Tensor, int] | None:
    """A layer's output for the per-layer separation, at most DEPTH_VALUES values per image, and how many it
    had. Distances over a million values per image (a ResNet's first layers at 224 px) would take gigabytes
    for a sample of 1,000 images and tell little more than a coarser grid: (C, H, W) maps are average-pooled
    over positions to the finest grid of the same aspect that fits (at least 1 × 1, so C values may remain);
    any other output too large is averaged over runs of consecutive values."""
    if not isinstance(output, torch.Tensor) or output.dim() < 2:
        return None
    flat = output.detach().flatten(1)
    size = flat.shape[1]
    if size <= DEPTH_VALUES:
        return flat.clone(), size
    if output.dim() == 4:
        channels, height, width = output.shape[1:]
        cells = max(1, DEPTH_VALUES // channels)
        rows = max(1, min(height, math.isqrt(cells * height // width)))
        columns = max(1, min(width, cells // rows))
        return torch.nn.functional.adaptive_avg_pool2d(output.detach().float(), (rows, columns)).flatten(1), size
    return torch.nn.functional.adaptive_avg_pool1d(flat.float().unsqueeze(1), DEPTH_VALUES).squeeze(1), size


def layer_features(model: nn.Module, x, modules: list[str],
                   show_progress: bool = True) -> list[tuple[str, int, np.ndarray, int]]:
    """Each call of the modules, for every image of ``x``, in the order the calls happen, as (module, call,
    values (images, ≤ DEPTH_VALUES), values the output had): a module called twice in one forward pass (a
    shared pool) gives two entries, (module, 0, ...) and (module, 1, ...). Reduced at hook time, so that only
    the reduced values of the sample are ever held."""
    keep = capture.Probe(output=depth_values)
    captured: dict[tuple[str, int], list[torch.Tensor]] = {}
    sizes: dict[tuple[str, int], int] = {}
    with capture.forward(model, {m: keep for m in modules}) as recording:
        for batch in as_inputs(x).batches("features by depth", show_progress):
            run_model(model, batch, " while measuring the separation layer by layer")
            for call in recording.drain():
                if call.output is not None:
                    values, sizes[call.name, call.repeat] = call.output
                    captured.setdefault((call.name, call.repeat), []).append(values.cpu())
    return [(name, repeat, torch.cat(chunks).float().numpy(), sizes[name, repeat])
            for (name, repeat), chunks in captured.items()]


EMBEDDINGS_FILE = "embeddings_test.npy"
MEMMAP_BYTES = 64 << 20  # an embedding matrix beyond this is kept in its store file, memory-mapped


def embeddings_allocator(writer: StoreWriter) -> Allocate:
    """Where the pass keeps the N × D embedding matrix: in memory, or, when large, memory-mapped in the
    store's own ``embeddings_test.npy`` (written there as it is filled: never held in memory, never copied)."""
    def allocate(shape: tuple[int, ...], dtype) -> np.ndarray:
        if int(np.prod(shape)) * np.dtype(dtype).itemsize < MEMMAP_BYTES:
            return in_memory(shape, dtype)
        return np.lib.format.open_memmap(writer.path_of(EMBEDDINGS_FILE), mode="w+", dtype=dtype, shape=shape)
    return allocate


def write_embeddings(emb: np.ndarray, writer: StoreWriter) -> None:
    """The matrix as ``embeddings_test.npy``: adopted where it is already that file, else written."""
    if isinstance(emb, np.memmap) and emb.filename and Path(emb.filename) == writer.path_of(EMBEDDINGS_FILE):
        emb.flush()
        writer.adopt(EMBEDDINGS_FILE)
    else:
        writer.write_bytes(EMBEDDINGS_FILE, npy_bytes(emb))


def _class_statistics(emb, labels, classes, metric, seed):
    """The class-pair statistics, the K × K matrix of mean distances (for the heat map), the silhouette and
    each class's spread with its bootstrap interval."""
    statistics = separation.pair_statistics(emb, labels, classes, metric)
    overall, per_class_silhouette = separation.silhouette(emb, labels, metric)
    order, _, starts, counts = separation.class_rows(labels, classes)  # each class's rows, in their order
    per_class = []
    for position, c in enumerate(classes):
        s = statistics.intra[position]
        start, count = starts[position], counts[position]
        interval = separation.bootstrap_intra(emb[order[start:start + count]], metric, seed + c)
        per_class.append(ClassSpread(cls=c, n=int(count), intra_mean=s["mean"], intra_std=s["std"],
                                     pairs=s["pairs"], ci_low=interval["low"], ci_high=interval["high"],
                                     ci_sample=interval["sample"], silhouette=per_class_silhouette.get(c)))
    return statistics, statistics.mean_matrix(), overall, per_class


def _closest_pairs(emb, labels, classes, statistics, metric, splits, writer, indices, euclidean=None):
    """The CLOSEST_PAIRS class pairs closest relative to their spread, each with the image of either class
    nearest to the other's centroid. ``indices``: the test index of each row of ``emb``; ``euclidean``: the
    Euclidean class sums (metric mse), which give each pair's ratio in Euclidean distance too."""
    position = {c: k for k, c in enumerate(classes)}
    centres = separation._prepare(separation.centroids(emb, labels, classes), metric)
    plain = (euclidean.means(), {c: k for k, c in enumerate(euclidean.classes)}) if euclidean is not None else None
    chosen = []
    for pair_ratio, a, b, inter_mean in statistics.closest(CLOSEST_PAIRS):
        examples = []
        for own, other in ((a, b), (b, a)):
            members = np.flatnonzero(labels == own)
            distances = separation.block(separation._prepare(emb[members], metric), centres[[position[other]]], metric)
            nearest = int(indices[members[distances[:, 0].argmin()]])
            path = figure_arrays.picture(writer, f"images/closest_{a}_{b}_{own}.png", splits.test.images[nearest])
            examples.append({"class": int(own), "index": nearest, "path": path})
        pair = {"a": int(a), "b": int(b), "ratio": pair_ratio, "inter_mean": inter_mean, "examples": examples}
        if plain is not None:
            pair["euclidean_ratio"] = _pair_ratio(*plain, a, b)
        chosen.append(pair)
    return chosen


def _pair_ratio(means: np.ndarray, position: dict[int, int], a: int, b: int) -> float | None:
    """A class pair's mean distance over the mean of the two classes' mean intra-class distances (``means``: the
    K × K mean distances, ``position``: each class's row in it)."""
    i, j = position[a], position[b]
    within = (means[i, i] + means[j, j]) / 2
    return float(means[i, j] / within) if np.isfinite(within) and within > 0 else None


def _euclidean(sums: separation.ClassSums | None) -> EuclideanSeparation | None:
    if sums is None:
        return None
    intra, inter = sums.pooled()
    return EuclideanSeparation(intra_mean=intra, inter_mean=inter, ratio=sums.ratio(), silhouette=sums.silhouette)


def _centroid_left_out(emb, labels, classes, metric) -> CentroidAccuracy:
    counted = separation.nearest_centroid_left_out(emb, labels, classes, metric)
    low, high = separation.wilson(counted.correct, counted.judged)
    return CentroidAccuracy(correct=counted.correct, judged=counted.judged, unjudged=counted.unjudged,
                            accuracy=counted.correct / counted.judged if counted.judged else None,
                            ci_low=low, ci_high=high)


def _pair_selection(statistics: separation.PairStatistics, centres: np.ndarray) -> PairSelection | None:
    """Beyond PAIR_MATRIX_MAX_CLASSES classes, the CLOSEST_PAIRS_KEPT closest class pairs (relative to their
    spread) stand for the K × K matrices, which are not stored; None when the matrices are."""
    classes = statistics.classes
    if len(classes) <= PAIR_MATRIX_MAX_CLASSES:
        return None
    position = {c: k for k, c in enumerate(classes)}
    kept = [ClassPair(a=a, b=b, inter_mean=inter_mean, centroid=float(centres[position[a], position[b]]),
                      ratio=pair_ratio) for pair_ratio, a, b, inter_mean in statistics.closest(CLOSEST_PAIRS_KEPT)]
    return PairSelection(total=int(np.triu(statistics.pairs > 0, 1).sum()), kept=kept)


def _two_sample(sampled: EmbeddingsDocument, statistics: separation.PairStatistics, metric: str,
                emb: np.ndarray, labels: np.ndarray, seed: int) -> dict | None:
    """The two-sample distances of embeddings.json beside the same statistics over the whole split, with a
    95% bootstrap interval of the whole split's mean distance between the two classes (the per-class intervals
    are in per_class): report.render.interpret.versus decides on them what the whole split says of the
    sampled reading."""
    table = sampled.distances.get(metric)
    classes = sampled.classes
    if table is None or len(classes) < 2:
        return None

    def full(a: int, b: int) -> float | None:
        known = a in statistics.classes and b in statistics.classes
        return statistics.stats(a, b)["mean"] if known else None

    rows = {str(c): {"two_sample": table.intra_by_class.get(str(c), {}).get("mean"), "full": full(c, c)}
            for c in classes}
    a, b = sorted(classes[:2])
    inter = {"two_sample": table.inter_by_class_pair.get(f"{a}-{b}", {}).get("mean"), "full": full(a, b)}
    if inter["full"] is not None:
        interval = separation.bootstrap_inter(emb[labels == a], emb[labels == b], metric, seed + 7919 * (a + 1) + b)
        inter |= {"ci_low": interval["low"], "ci_high": interval["high"]}
    return {"classes": classes[:2], "intra": rows, "inter": inter}


def _confusion(logits: torch.Tensor, labels: np.ndarray, classes: list[int]) -> np.ndarray:
    predicted = logits.argmax(1).numpy()
    size = max(classes) + 1
    matrix = np.zeros((size, size + 1), dtype=np.int64)  # last column: an output index beyond the classes
    np.add.at(matrix, (labels, np.where(predicted < size, predicted, size)), 1)
    out = matrix[np.ix_(classes, [*classes, size])]
    return out if out[:, -1].any() else out[:, :-1]


def _confusion_cells(confusion: np.ndarray) -> list[list[int]]:
    """The non-zero cells as [row, column, images]: at most one per test image, whatever the classes."""
    rows, columns = np.nonzero(confusion)
    return [[int(r), int(c), int(confusion[r, c])] for r, c in zip(rows, columns)]


def _misclassified(logits, labels, splits, writer):
    probabilities = torch.softmax(logits, 1)
    confidence, predicted = probabilities.max(1)
    wrong = np.flatnonzero(predicted.numpy() != labels)
    order = wrong[np.argsort(-confidence.numpy()[wrong], kind="stable")][:MISCLASSIFIED_SHOWN]
    shown = []
    for rank, index in enumerate(order):
        path = figure_arrays.picture(writer, f"images/misclassified_{rank}.png", splits.test.images[index])
        shown.append({"index": int(index), "label": int(labels[index]), "predicted": int(predicted[index]),
                      "confidence": float(confidence[index]), "path": path})
    return shown, len(wrong)


def _filters(model, accumulators, layers, writer):
    out = []
    chart_every = max(1, -(-len(layers) // FILTER_CHARTS))
    for position, (module, label) in enumerate(layers):
        acc = accumulators[module]
        if acc.sum is None:
            continue
        means = (acc.sum / acc.images).numpy()
        zero = (acc.never_positive / acc.images).numpy()
        path = None
        if position % chart_every == 0:  # a chart of each filter's mean and silent share, drawn from these
            path = figure_arrays.write(writer, f"images/filters_{position:02d}.png", np.stack([means, zero]))
        activated = is_activated(model, module)
        dead = np.flatnonzero(zero >= DEAD_SHARE) if activated else []
        near = np.flatnonzero((zero >= NEAR_DEAD_SHARE) & (zero < DEAD_SHARE)) if activated else []
        out.append(FilterStats(module=module, label=label, channels=len(means), mean=means.tolist(),
                               zero_fraction=zero.tolist(), activated=activated, dead=[int(i) for i in dead],
                               near_dead=[int(i) for i in near], images=acc.images, path=path))
    return out


def results(model: nn.Module, x_test, passed: SplitPass, splits: DataSplits,
            point: EmbeddingPoint, metric: str, seed: int, sampled: EmbeddingsDocument, writer: StoreWriter,
            show_progress: bool = True) -> SeparationDocument | None:
    """Every whole-split statistic and figure, from the pass's logits, embeddings and filter activity.
    ``sampled``: the two-sample embeddings, checked against the whole split. Images whose embedding holds NaN
    or infinite values are left out of every statistic of the embeddings (evaluation.json counts them); with
    fewer than two left there are none, and None is returned (the report says why)."""
    labels = splits.test.labels
    classes = sorted(set(labels.tolist()))
    logits, emb = passed.logits, passed.embeddings
    write_embeddings(emb, writer)
    finite = separation.finite_rows(emb)
    if finite.sum() < 2:
        return None
    indices = np.flatnonzero(finite)
    if not finite.all():
        emb, labels = np.asarray(emb[indices]), labels[indices]
    statistics, inter, overall, per_class = _class_statistics(emb, labels, classes, metric, seed)
    # MSE is a squared distance: the same pairs in Euclidean distance give a ratio that reads as one
    euclidean = separation.class_sums(emb, labels, "euclidean") if metric == "mse" else None
    class_names = [splits.class_names[c] if c < len(splits.class_names) else str(c) for c in classes]
    centres = separation.centroid_distances(emb, labels, classes, metric)
    _heatmaps(inter, centres, writer)
    rng = np.random.default_rng(seed)  # one generator: the depth sample is drawn first, then the t-SNE sample
    depth, depth_sample = _depth(model, x_test, splits.test.labels, classes, metric, rng, show_progress, writer)
    variance, tsne_sample, tsne_path = _maps(emb, labels, rng, seed, writer)
    confusion, confusion_names = _confusion_figure(logits, splits.test.labels, classes, class_names, writer)
    misclassified, wrong = _misclassified(logits, splits.test.labels, splits, writer)
    matrices = len(classes) <= PAIR_MATRIX_MAX_CLASSES  # else the closest pairs and the non-zero cells stand for them
    return SeparationDocument(
        metric=metric, n=int(len(splits.test.labels)), dimensions=int(emb.shape[1]), layer=point.layer,
        description=point.label, classes=classes, embeddings_file=EMBEDDINGS_FILE,
        per_class=per_class, inter_matrix=inter.tolist() if matrices else [],
        centroid_matrix=centres.tolist() if matrices else [],
        ratio=statistics.ratio(), silhouette=overall,
        nearest_centroid_accuracy=separation.nearest_centroid_accuracy(emb, labels, classes, metric),
        network_accuracy=accuracy(logits, splits.test.labels),
        closest_pairs=_closest_pairs(emb, labels, classes, statistics, metric, splits, writer, indices, euclidean),
        two_sample=_two_sample(sampled, statistics, metric, emb, labels, seed),
        depth=depth, depth_sample=depth_sample, pca_variance=list(variance), tsne_sample=tsne_sample,
        confusion=confusion.tolist() if matrices else [], confusion_names=confusion_names,
        confusion_colour=ROW_SHARE, misclassified=misclassified, wrong=int(wrong),
        filters=_filters(model, passed.accumulators, passed.filters, writer),
        images={"heatmap": "images/separation_heatmap.png", "centroids": "images/centroid_heatmap.png",
                "depth": "images/separation_depth.png", "pca": "images/map_pca.png", "tsne": tsne_path,
                "confusion": "images/confusion.png"},
        settings={"bootstrap_replicates": separation.BOOTSTRAP_REPLICATES, "bootstrap_cap": separation.BOOTSTRAP_CAP,
                  "chunk": separation.CHUNK, "dead_share": DEAD_SHARE, "near_dead_share": NEAR_DEAD_SHARE},
        pairs=_pair_selection(statistics, centres),
        confusion_cells=[] if matrices else _confusion_cells(confusion),
        centroid_left_out=_centroid_left_out(emb, labels, classes, metric), euclidean=_euclidean(euclidean),
    )


def _heatmaps(inter: np.ndarray, centres: np.ndarray, writer: StoreWriter) -> None:
    """The K × K matrices of the two heat maps, unrounded (their classes and metric are in separation.json)."""
    figure_arrays.write(writer, "images/separation_heatmap.png", inter)
    figure_arrays.write(writer, "images/centroid_heatmap.png", centres)


def _depth(model, x_test, labels, classes, metric, rng, show_progress, writer) -> tuple[list[LayerSeparation], int]:
    """Separation layer by layer, on a seeded sample of at most LAYER_SAMPLE test images; at each layer the
    images whose output holds NaN or infinite values are left out (and counted)."""
    sample = np.arange(len(labels)) if len(labels) <= LAYER_SAMPLE else \
        np.sort(rng.choice(len(labels), LAYER_SAMPLE, replace=False))
    layers = dict(depth_layers(model))
    features = layer_features(model, as_inputs(x_test).subset(sample), list(layers), show_progress)
    calls = {name: sum(1 for other, *_ in features if other == name) for name in layers}
    depth = []
    for module, repeat, feats, size in features:
        label = layers[module] if calls[module] == 1 else f"{layers[module]} (call {repeat + 1})"
        ratio, silhouette, left_out = _layer_separation(feats, labels[sample], classes, metric)
        depth.append(LayerSeparation(module=module, label=label, dims=int(feats.shape[1]), ratio=ratio,
                                     silhouette=silhouette, pooled_from=size if size != feats.shape[1] else None,
                                     left_out=left_out))
    figure_arrays.write(writer, "images/separation_depth.png", np.array(  # rows: ratio, silhouette (NaN: none)
        [[np.nan if d.ratio is None else d.ratio for d in depth], [d.silhouette for d in depth]],
        dtype=np.float64).reshape(2, len(depth)))
    return depth, int(len(sample))


def _layer_separation(feats: np.ndarray, labels: np.ndarray, classes: list[int],
                      metric: str) -> tuple[float | None, float, int]:
    """(ratio, silhouette, images left out) of one layer's output: NaN silhouette when fewer than two images
    have finite values there."""
    finite = separation.finite_rows(feats)
    left_out = int((~finite).sum())
    if finite.sum() < 2:
        return None, math.nan, left_out
    if left_out:
        feats, labels = feats[finite], labels[finite]
    return (separation.pair_statistics(feats, labels, classes, metric).ratio(),
            separation.silhouette(feats, labels, metric)[0], left_out)


def _maps(emb, labels, rng, seed: int, writer) -> tuple[list[float], int, str | None]:
    """PCA of every embedding, t-SNE of a seeded sample, stored for their figures: (PCA variance shares, t-SNE
    points, the t-SNE figure's path or None)."""
    points, variance = separation.pca_2d(emb)
    _scatter_arrays(writer, "images/map_pca.png", points, labels)
    figure_arrays.write(writer, "images/map_pca.png", np.asarray(variance, dtype=np.float64), "variance")
    tsne_sample = np.arange(len(labels)) if len(labels) <= TSNE_SAMPLE else \
        np.sort(rng.choice(len(labels), TSNE_SAMPLE, replace=False))
    tsne = _tsne(emb[tsne_sample], seed)
    if tsne is None:
        return variance, 0, None
    _scatter_arrays(writer, "images/map_tsne.png", tsne, labels[tsne_sample])
    return variance, int(len(tsne_sample)), "images/map_tsne.png"


def _scatter_arrays(writer: StoreWriter, image: str, points: np.ndarray, labels: np.ndarray) -> None:
    """A map's 2-D points and each point's class."""
    figure_arrays.write(writer, image, points)
    figure_arrays.write(writer, image, labels, "labels")


def _confusion_figure(logits, labels, classes, class_names, writer) -> tuple[np.ndarray, list[str]]:
    confusion = _confusion(logits, labels, classes)
    confusion_names = class_names + (["other"] if confusion.shape[1] > len(classes) else [])
    figure_arrays.write(writer, "images/confusion.png", confusion)  # the "other" column counts in the row totals
    return confusion, confusion_names


def _tsne(points: np.ndarray, seed: int) -> np.ndarray | None:
    """openTSNE's Barnes-Hut t-SNE from the PCA start, on one thread: two OpenMP threads spin against any other
    work on the machine (bench/TSNE.md), and one gives the same bytes on every machine. None for fewer than 5
    points, or points that are all the same (the PCA start divides by the spread of the first component)."""
    if len(points) < 5 or not np.ptp(points, axis=0).any():
        return None
    from openTSNE import TSNE
    from threadpoolctl import threadpool_limits

    points = points.astype(np.float64)
    # One scale for every axis, which leaves the map as it is: magnitudes near 1e30 overflow the affinities.
    points = (points - points.mean(axis=0)) / points.std()
    if points.shape[1] == 1:  # a constant second axis, so that the PCA start has two components to take
        points = np.pad(points, ((0, 0), (0, 1)))
    perplexity = min(30.0, (len(points) - 1) / 3)
    tsne = TSNE(n_components=2, perplexity=perplexity, initialization="pca", neighbors="exact",
                negative_gradient_method="bh", n_jobs=1, random_state=seed)
    # Every pool on one thread, torch's too (restored after): with torch loaded, scikit-learn's neighbour search
    # runs its OpenMP loop in torch's runtime, on torch's thread count.
    with threadpool_limits(limits=1):
        return np.array(tsne.fit(points), dtype=np.float64)
