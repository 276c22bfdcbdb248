"""The figures step: every image an analysis store's documents name, drawn from the arrays the analysis stored
(``arrays/<name>.npy``, ``analysis.store.schema.array_path``). Never torch (an import contract): a caption or a
colour changed here re-draws the figures from the store, the analysis does not run again.

The captions and axis labels are written here, from the documents; the numbers come from the arrays, unrounded, so
the images have the bytes the analysis drew before it stored arrays instead. ``report/figures.py`` reads the store
(through the report's one reader) and writes what this returns into the store's figures folder.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator

import numpy as np

from analysis.figures import images
from analysis.figures.words import (
    RANDOMISED_BELOW,
    attribution_chart,
    attribution_label,
    metric_heading,
    metric_name,
)
from analysis.store.schema import (
    FIGURE_GROUPS,
    MAP_CMAP,
    ActivationsDocument,
    AttributionDocument,
    CalibrationBin,
    EmbeddingsDocument,
    EvaluationDocument,
    ModelDocument,
    SeparationDocument,
    array_path,
    metric_rank,
)

INPUT_PX, SAMPLE_PX, SMALL_PX = 168, 112, 84  # the size each kind of test image is scaled up to

Figure = tuple[str, Callable[[], bytes]]  # (path in the figures folder, what draws its PNG bytes)


class Arrays:
    """The store's figure arrays by path (``.npy`` bytes, read and checked by the caller), loaded when asked."""

    def __init__(self, stored: dict[str, bytes]):
        self.stored = stored

    def __call__(self, image: str, part: str | None = None) -> np.ndarray:
        return np.load(io.BytesIO(self.stored[array_path(image, part)]), allow_pickle=False)


def figures(arrays: dict[str, bytes], model: ModelDocument, evaluation: EvaluationDocument,
            activations: ActivationsDocument | None, embeddings: EmbeddingsDocument | None,
            separation: SeparationDocument | None, seed: int,
            groups: tuple[str, ...] = FIGURE_GROUPS, *,
            attribution: AttributionDocument | None = None) -> Iterator[tuple[str, bytes]]:
    """(path, PNG bytes) of every image of ``groups`` that the documents name; ``arrays``: every ``arrays/`` file
    of the store, ``seed``: the analysis's seed (the t-SNE caption names it)."""
    array = Arrays(arrays)
    names = evaluation.class_names
    planners = {"kernels": lambda: _kernels(model, array), "calibration": lambda: _calibration(evaluation, array),
                "activations": lambda: _activations(activations, array),
                "samples": lambda: _samples(embeddings, names, array),
                "separation": lambda: _separation(separation, names, seed, array),
                "attribution": lambda: _attribution(attribution, array)}
    for group in FIGURE_GROUPS:
        if group in groups:
            for path, draw in planners[group]():
                yield path, draw()


def _class_name(names: list[str], label: int) -> str:
    return names[label] if label < len(names) else str(label)


def _picture(path: str, array: Arrays, size: int) -> Figure:
    return path, lambda: images.png_bytes(images.picture(array(path), size))


def _kernels(model: ModelDocument, array: Arrays) -> list[Figure]:
    k = model.kernel_image
    if k is None:
        return []

    def grid() -> bytes:
        shown = array(k.path)
        labels = [str(i) for i in range(len(shown))]
        if k.colouring == "rgb":
            return images.png_bytes(images.tile(images.rgb_tiles(shown), k.columns, labels))
        bound = float(array(k.path, "bound")[0])
        return images.png_bytes(images.grid(shown, -bound, bound, k.cmap, columns=k.columns, labels=labels))
    return [(k.path, grid), (k.colourbar, lambda: images.png_bytes(images.colourbar(k.cmap)))]


def _calibration(evaluation: EvaluationDocument, array: Arrays) -> list[Figure]:
    calibration = evaluation.quality.calibration if evaluation.quality else None
    if calibration is None or not calibration.reliability:
        return []
    from analysis.figures import calibration as charts  # matplotlib: only once there is something to draw

    def bins(path: str) -> list[CalibrationBin]:
        return [CalibrationBin(low=float(low), high=float(high), count=int(count), correct=int(correct),
                               confidence=None if np.isnan(confidence) else float(confidence))
                for low, high, count, correct, confidence in array(path)]
    return [(calibration.reliability, lambda: charts.reliability(bins(calibration.reliability))),
            (calibration.histogram, lambda: charts.confidence_histogram(bins(calibration.histogram)))]


def _activations(doc: ActivationsDocument | None, array: Arrays) -> list[Figure]:
    if doc is None:
        return []
    planned = [_picture(doc.input.path, array, INPUT_PX),
               (doc.colourbar, lambda: images.png_bytes(images.colourbar(MAP_CMAP)))]
    for grid in doc.grids:
        def draw(grid=grid) -> bytes:
            vmin, vmax = (float(v) for v in array(grid.path, "range"))
            return images.png_bytes(images.grid(array(grid.path), vmin, vmax, grid.cmap, grid.columns,
                                                [str(c) for c in grid.shown_channels]))
        planned.append((grid.path, draw))
    return planned


def _samples(doc: EmbeddingsDocument | None, names: list[str], array: Arrays) -> list[Figure]:
    if doc is None:
        return []
    planned = [_picture(sample.path, array, SAMPLE_PX) for sample in doc.samples]
    if doc.matrix_image:
        labels = [sample.label for sample in doc.samples]

        def matrices() -> bytes:
            from analysis.figures import plots  # matplotlib: only when there is a figure to draw

            return plots.sample_distances(
                [(metric_heading(m), array(doc.matrix_image, m)) for m in sorted(doc.distances, key=metric_rank)],
                [_class_name(names, c) for c in labels],
                f"Distances between every two of the {len(labels)} samples S1–S{len(labels)} (diagonal: zero)")
        planned.append((doc.matrix_image, matrices))
    return planned


def _separation(s: SeparationDocument | None, names: list[str], seed: int, array: Arrays) -> list[Figure]:
    if s is None:
        return []
    from analysis.figures import plots  # matplotlib: only when there is a figure to draw

    class_names = [_class_name(names, c) for c in s.classes]
    metric, word = s.metric, metric_name(s.metric)
    paths = s.images

    def depth() -> bytes:
        ratios, silhouettes = array(paths["depth"])
        return plots.depth_lines([d.label for d in s.depth], list(ratios), list(silhouettes), metric)

    def pca() -> bytes:
        variance = array(paths["pca"], "variance")
        labels = array(paths["pca"], "labels")
        return plots.scatter(array(paths["pca"]), labels, names,
                             f"PCA of the {s.layer} embedding ({len(labels):,} test images)",
                             f"PC 1 ({variance[0]:.0%} of variance; one scale on both axes)", f"PC 2 ({variance[1]:.0%})")

    def tsne() -> bytes:
        labels = array(paths["tsne"], "labels")
        return plots.scatter(array(paths["tsne"]), labels, names, f"t-SNE of the {s.layer} embedding "
                             f"({len(labels):,} test images, seed {seed})", "t-SNE 1", "t-SNE 2")

    def confusion() -> bytes:
        counts = array(paths["confusion"])
        return plots.confusion(counts[:, :len(s.classes)], class_names, "Confusion matrix (rows: true class, columns: "
                               "predicted; colour: each cell's share of its row)", totals=counts.sum(axis=1))

    planned = [
        (paths["heatmap"], lambda: plots.heatmap(array(paths["heatmap"]), class_names, f"Mean {word} between the "
                                                 "images of two classes (diagonal: within a class; whole test split)",
                                                 metric)),
        (paths["centroids"], lambda: plots.heatmap(array(paths["centroids"]), class_names,
                                                   f"{word} between class centroids (whole test split)", metric)),
        (paths["depth"], depth), (paths["pca"], pca), (paths["confusion"], confusion),
    ]
    if paths.get("tsne"):
        planned.append((paths["tsne"], tsne))
    planned += [_picture(m["path"], array, SMALL_PX) for m in s.misclassified]
    planned += [_picture(e["path"], array, SMALL_PX) for pair in s.closest_pairs for e in pair["examples"]]
    for f in s.filters:
        if f.path:
            def bars(f=f) -> bytes:
                means, zero = array(f.path)
                return plots.filter_bars(means, zero, f"{f.label}: mean activation per filter")
            planned.append((f.path, bars))
    return planned


def _attribution(doc: AttributionDocument | None, array: Arrays) -> list[Figure]:
    """Each map over its image, and per method its checks' charts (drawn from the document's numbers, no array)."""
    if doc is None:
        return []
    from analysis.figures import attribution as charts  # matplotlib: only when there is something to draw

    planned: list[Figure] = [(m.path, lambda m=m: images.png_bytes(charts.overlay(array(m.image_path), array(m.path),
                                                                                   m.cmap)))
                             for m in [*doc.maps, *doc.layer_maps]]
    for c in doc.checks:
        name = attribution_label(c.method, c.layer)
        planned.append((attribution_chart(c.method, "faithfulness"), lambda c=c, name=name: charts.faithfulness(
            c.deletion, c.insertion, f"{name}: probability of the class as pixels are removed or revealed, in the "
                                     f"map's order and at random ({c.images} images)")))
        if c.randomisation:
            planned.append((attribution_chart(c.method, "randomisation"), lambda c=c, name=name: charts.randomisation(
                c.randomisation, RANDOMISED_BELOW, f"{name}: similarity of the maps to the network's own as "
                                                   f"its weights are re-drawn ({c.images} images, 95% intervals)")))
    return planned
