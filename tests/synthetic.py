"""A small, torch-free store built from plain numbers, for rule and rendering tests.

``documents()`` returns the store's JSON documents, built from the records of ``analysis.store.schema``
(the same the analysis writes), for a tiny CNN
(1×8×8 input, conv1 4×3×3, pool, fc1 36→6, fc2 6→3); tests change any number
and ``write_store`` publishes a valid, hashed store from the result.
"""

from __future__ import annotations

import copy
import functools
import io
from pathlib import Path

import numpy as np

from analysis.figures import images
from analysis.stats.embeddings import distance_tables
from analysis.store.schema import (
    ActivationsDocument,
    AttributionDocument,
    AttributionMap,
    CheckImage,
    Interval,
    RoadCurve,
    FaithfulnessCurve,
    MethodChecks,
    RandomisationStep,
    ClassAccuracy,
    CentroidAccuracy,
    ClassSpread,
    EuclideanSeparation,
    EmbeddingsDocument,
    EvaluationDocument,
    FilterStats,
    InputImage,
    KernelImage,
    LayerParams,
    LayerSeparation,
    MapGrid,
    PairSelection,
    ParamTensor,
    ClassPair,
    ModelDocument,
    ModelInfo,
    Parameters,
    Sample,
    SeparationDocument,
    Trace,
    TraceRow,
    array_path,
    to_json,
)
from analysis.store.writer import StoreWriter

VECTORS = [[1.0, 0.0, 2.0, 0.5, 0.0, 1.0], [1.2, 0.0, 2.1, 0.4, 0.0, 1.1],
           [4.0, 3.0, 0.0, 0.0, 2.0, 0.0], [3.5, 3.5, 0.0, 0.2, 2.5, 0.0]]
LABELS = [1, 1, 2, 2]


def _layer(name, type_, weight_shape, formula, trainable=True) -> LayerParams:
    weights = int(np.prod(weight_shape))
    biases = weight_shape[0]
    total = weights + biases
    return LayerParams(name=name, type=type_, weight_shape=weight_shape, bias_shape=[biases], weights=weights,
                       biases=biases, other=0, total=total, trainable=total if trainable else 0, formula=formula,
                       shared_with=[], aliases=[], kind="convolution" if type_.startswith("Conv") else "linear",
                       tensors=[ParamTensor("weight", "weight", list(weight_shape), weights),
                                ParamTensor("bias", "bias", [biases], biases)])


def _row(order, name, type_, shape_in, shape_out, params=0, geometry=None, macs=0) -> TraceRow:
    return TraceRow(order=order, name=name, type=type_, depth=1, is_leaf=True, input_shape=shape_in,
                    output_shape=shape_out, params=params, geometry=geometry or {}, macs=macs)


def _grid(module, label, shape, vmax, dead=(), near=()) -> MapGrid:
    channels = shape[0]
    return MapGrid(module=module, label=label, path=f"images/maps_{module}.png", cmap="viridis", columns=8,
                   shape=shape, vmin=0.0, vmax=vmax,
                   channel_peak=[0.0 if c in dead else vmax for c in range(channels)],
                   channel_mean=[0.0 if c in dead else vmax / 4 for c in range(channels)],
                   channel_zero_share=[1.0 if c in dead else 0.5 for c in range(channels)],
                   dead_channels=list(dead), near_zero_channels=list(near), near_zero_threshold=0.05,
                   zero_share=0.5, shown_channels=list(range(channels)), selection="all")


def embeddings_doc(vectors=VECTORS, labels=LABELS, predicted=None, per_class=2) -> dict:
    predicted = labels if predicted is None else predicted
    samples = [Sample(index=10 + i, label=labels[i], predicted=predicted[i], confidence=0.9,
                      path=f"images/sample_{i}.png", vector=vectors[i]) for i in range(len(vectors))]
    return to_json(EmbeddingsDocument(
        layer="fc1", module="relu2", side="output", description="fc1 after ReLU", after_relu=True,
        dimensions=len(vectors[0]), classes=sorted(set(labels)), per_class=per_class, samples=samples,
        distances=distance_tables(np.array(vectors), list(labels))))


def model_document() -> ModelDocument:
    layers = [_layer("conv1", "Conv2d", [4, 1, 3, 3], "4·1·3·3 + 4"), _layer("fc1", "Linear", [6, 36], "6·36 + 6"),
              _layer("fc2", "Linear", [3, 6], "3·6 + 3")]
    total = sum(layer.total for layer in layers)
    rows = [
        _row(0, "conv1", "Conv2d", [1, 8, 8], [4, 6, 6], 40,
             {"kernel_size": [3, 3], "stride": [1, 1], "padding": [0, 0], "dilation": [1, 1]}, macs=4 * 36 * 9),
        _row(1, "relu1", "ReLU", [4, 6, 6], [4, 6, 6]),
        _row(2, "pool1", "MaxPool2d", [4, 6, 6], [4, 3, 3], 0, {"kernel_size": 2, "stride": 2, "padding": 0}),
        _row(3, "flatten", "Flatten", [4, 3, 3], [36]),
        _row(4, "fc1", "Linear", [36], [6], 222, {"in_features": 36, "out_features": 6}, macs=216),
        _row(5, "relu2", "ReLU", [6], [6]),
        _row(6, "fc2", "Linear", [6], [3], 21, {"in_features": 6, "out_features": 3}, macs=18),
    ]
    return ModelDocument(
        model=ModelInfo(class_name="TinyCNN", source="tiny:TinyCNN", weights="checkpoint", input_shape=[1, 8, 8],
                        normalisation={"mean": [0.5], "std": [0.5]}, kwargs={}),
        parameters=Parameters(layers=layers, total=total, trainable=total, non_trainable=0, buffers=0,
                              buffer_list=[], bytes_float32=total * 4, unused_known=True),
        trace=Trace(batch_size=1, input_shape=[1, 8, 8], output_shape=[3], rows=rows,
                    functional_note="Functional calls are rows too.", total_macs=sum(row.macs for row in rows),
                    counting="dispatch"),
        kernels=[{"name": "conv1", "type": "Conv2d", "shape": [4, 1, 3, 3], "groups": 1}],
        kernel_image=KernelImage(layer="conv1", path="images/conv1_kernels.png", shape=[4, 1, 3, 3], shown=4,
                                 colouring="single channel", vmin=-0.5, vmax=0.5, cmap="RdBu_r",
                                 colourbar="images/kernel_colourbar.png", columns=8))


# The test split's labels and predictions (10 images per class; one "one" read as "two", two "two"s as "one"):
# 27 of 30 right, class accuracies 10, 9 and 8 of 10. Confidence: 0.9 when right, 0.6 when wrong.
TEST_LABELS = [0] * 10 + [1] * 10 + [2] * 10
TEST_PREDICTED = [0] * 10 + [1] * 9 + [2] + [2] * 8 + [1] * 2
CALIBRATION_FIGURES = ("images/reliability.png", "images/confidence.png")


def evaluation_doc(labels=TEST_LABELS, predicted=TEST_PREDICTED, confidence=None,
                   class_names=("zero", "one", "two"), outputs=None, quality: bool = True, **fields) -> dict:
    """evaluation.json for these labels and predictions, its quality computed as the analysis computes it
    (analysis.stats.classification); ``quality=False``: as a store written before it existed."""
    from analysis.stats.classification import classification_quality

    labels, predicted = np.asarray(labels), np.asarray(predicted)
    right = predicted == labels
    confidence = np.where(right, 0.9, 0.6) if confidence is None else np.asarray(confidence, dtype=float)
    per_class = [ClassAccuracy(cls=int(c), n=int((labels == c).sum()), correct=int(right[labels == c].sum()),
                               accuracy=float(right[labels == c].mean())) for c in np.unique(labels)]
    extra = dict(quality=classification_quality(labels, predicted, confidence, len(class_names))
                 .with_calibration_figures(*CALIBRATION_FIGURES),
                 predicted=predicted.tolist(), confidence=confidence.tolist(),
                 labels=labels.tolist()) if quality else {}
    return to_json(EvaluationDocument(
        n_test=len(labels), correct=int(right.sum()), accuracy=float(right.mean()), per_class=per_class,
        training=None, class_names=list(class_names), outputs=outputs or len(class_names), **extra, **fields))


def documents() -> dict:
    """The store's documents in their stored (JSON) form, built from the schema's records (a copy of its own:
    callers change theirs)."""
    return copy.deepcopy(_documents())


@functools.cache
def _documents() -> dict:
    """Built once per test process: the evaluation's quality runs scikit-learn and a bootstrap (half of what
    writing a synthetic store costs), and every synthetic store starts from these documents."""
    evaluation = evaluation_doc()
    activations = ActivationsDocument(
        input=InputImage(index=12, label=2, predicted=2, confidence=0.95, path="images/input.png",
                         chosen_by="first test image of class 2"),
        colourbar="images/map_colourbar.png",
        grids=[_grid("relu1", "conv1 after ReLU", [4, 6, 6], 2.0),
               _grid("pool1", "conv1 after ReLU and 2×2 max pooling", [4, 3, 3], 2.0)],
        convolutions=1, chosen="default")
    return {
        "model.json": to_json(model_document()),
        "evaluation.json": evaluation,
        "activations.json": to_json(activations),
        "embeddings.json": embeddings_doc(),
        "separation.json": separation_doc(),
        "attribution.json": attribution_doc(),
    }


def _estimate(value, low, high) -> Interval:
    return Interval(value=value, low=low, high=high)


def _curve(method, random, difference) -> FaithfulnessCurve:
    fractions = [0.0, 0.25, 0.5, 0.75, 1.0]
    auc, random_auc = float(np.trapezoid(method, fractions)), float(np.trapezoid(random, fractions))
    return FaithfulnessCurve(fractions=fractions, method=method, random=random,
                             auc=_estimate(auc, auc - 0.05, auc + 0.05),
                             random_auc=_estimate(random_auc, random_auc - 0.05, random_auc + 0.05),
                             difference=_estimate(*difference))


def _attribution_map(method, role, index, label, predicted, target, probability, image_path) -> AttributionMap:
    return AttributionMap(method=method, role=role, index=index, label=label, predicted=predicted, target=target,
                          probability=probability, path=f"images/attribution_{method}_{role}_{index}_{target}.png",
                          image_path=image_path, cmap="inferno", centre_share=0.4, object_share=0.6, object_area=0.3)


def attribution_doc() -> dict:
    """Two methods' maps (the activation maps' image, an error's pair: its predicted class and its true one) and
    checks: Grad-CAM at conv1 passes the randomisation, is faithful on deletion only, puts its evidence on the
    object and in the centre, its errors' maps less on the object; Integrated Gradients fails the randomisation, is
    faithful on insertion only, puts its evidence on the background and cannot say about the centre."""
    maps = [m for method in ("gradcam", "integrated_gradients") for m in (
        _attribution_map(method, "activation", 12, 2, 2, 2, 0.95, "images/input.png"),
        _attribution_map(method, "error", 5, 0, 1, 1, 0.8, "images/misclassified_0.png"),
        _attribution_map(method, "error", 5, 0, 1, 0, 0.15, "images/misclassified_0.png"))]
    steps = ("fc2", "fc1", "conv1")
    gradcam = MethodChecks(
        method="gradcam", layer="conv1", images=6,
        randomisation=[RandomisationStep(layer, _estimate(r, r - 0.1, r + 0.1), _estimate(s, s - 0.1, s + 0.1))
                       for layer, r, s in zip(steps, (0.8, 0.4, 0.1), (0.7, 0.35, 0.15))],
        deletion=_curve([0.9, 0.5, 0.3, 0.2, 0.1], [0.9, 0.75, 0.55, 0.35, 0.1], (-0.12, -0.2, -0.05)),
        insertion=_curve([0.1, 0.4, 0.6, 0.8, 0.9], [0.1, 0.35, 0.55, 0.75, 0.9], (0.03, -0.02, 0.08)),
        centre_share=_estimate(0.4, 0.3, 0.5), object_share=_estimate(0.55, 0.45, 0.65),
        object_excess=_estimate(0.2, 0.1, 0.3), errors_vs_correct=_estimate(-0.15, -0.3, -0.05),
        road=_road((0.2, 0.1, 0.3)), per_image=_check_images(6))
    gradients = MethodChecks(
        method="integrated_gradients", layer=None, images=6,
        randomisation=[RandomisationStep(layer, _estimate(r, r - 0.1, r + 0.1), _estimate(s, s - 0.1, s + 0.1))
                       for layer, r, s in zip(steps, (0.9, 0.8, 0.7), (0.85, 0.8, 0.75))],
        deletion=_curve([0.9, 0.7, 0.5, 0.3, 0.1], [0.9, 0.7, 0.5, 0.3, 0.1], (0.01, -0.03, 0.05)),
        insertion=_curve([0.1, 0.6, 0.8, 0.85, 0.9], [0.1, 0.3, 0.5, 0.7, 0.9], (0.1, 0.04, 0.16)),
        centre_share=_estimate(0.26, 0.2, 0.3), object_share=_estimate(0.25, 0.2, 0.3),
        object_excess=_estimate(-0.1, -0.2, -0.02), errors_vs_correct=None,
        road=_road((0.02, -0.05, 0.09)), per_image=_check_images(6))
    return to_json(AttributionDocument(library="captum 0.9.0", maps=maps, checks=[gradcam, gradients],
                                       images_per_class=2, baseline="the mean pixel of the training split", seed=0,
                                       steps=16))


def _road(score: tuple[float, float, float]) -> RoadCurve:
    return RoadCurve(fractions=[0.2, 0.4, 0.6, 0.8], most_relevant_first=[0.7, 0.5, 0.35, 0.2],
                     least_relevant_first=[0.9, 0.85, 0.7, 0.45], score=_estimate(*score), noise=0.01)


def _check_images(count: int) -> list[CheckImage]:
    return [CheckImage(index=i, label=i % 3, predicted=i % 3, rank_correlation=0.1, ssim=0.2, deletion_auc=0.3,
                       deletion_random_auc=0.4, insertion_auc=0.6, insertion_random_auc=0.5, road=0.2,
                       centre_share=0.4, object_share=0.55, object_area=0.35) for i in range(count)]


def attribution_paths(doc: dict | None) -> set[str]:
    """The images attribution.json names: its maps, and each method's check charts (report/render/words.py)."""
    from report.render.words import attribution_chart

    if not doc:
        return set()
    return {*(m["path"] for m in doc["maps"]),
            *(attribution_chart(c["method"], check) for c in doc["checks"]
              for check in ("faithfulness", "randomisation"))}


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def attribution_arrays(doc: dict, channels: int = 1, size: int = 8) -> dict[str, bytes]:
    """The arrays the figures step draws attribution.json's maps from, as a store holds them (``array_path``): each
    image a uint8 (C, H, W) of a bright square on a dark ground, each map an (H, W) float32 in [0, 1] peaking on
    the square."""
    y, x = np.mgrid[0:size, 0:size]
    square = (abs(y - size / 2 + 0.5) < size / 4) & (abs(x - size / 2 + 0.5) < size / 4)
    image = np.repeat(np.where(square, 200, 20).astype(np.uint8)[None], channels, axis=0)
    heat = np.exp(-((y - size / 2) ** 2 + (x - size / 2) ** 2) / size).astype(np.float32)
    heat /= heat.max()
    arrays = {}
    for m in doc["maps"]:
        arrays[array_path(m["image_path"])] = _npy(image)
        arrays[array_path(m["path"])] = _npy(heat)
    return arrays


def separation_doc(silhouettes=(0.1, 0.3, 0.6), ci=((0.5, 0.7), (0.9, 1.1), (1.2, 1.4)), confusion=None,
                   two_sample_full=(0.6, 1.0), dead=(), misclassified=True, activated=True,
                   pairs_kept: bool = False, left_out=(0, 0, 0), inter_ci=(2.3, 2.7), honest: bool = True,
                   images: int = 10) -> dict:
    """Whole-split statistics of the tiny model's 3 classes, 10 test images each. ``pairs_kept``: stored as the
    analysis stores more classes than PAIR_MATRIX_MAX_CLASSES (no matrices: the closest pairs, the non-zero
    confusion cells); ``left_out``: images each depth layer left out for a non-finite output; ``inter_ci``: the
    whole split's interval of the two sampled classes' mean distance (None: none stored); ``honest`` False: as
    stored before the left-out nearest-centroid accuracy and the Euclidean figures existed; ``images``: each class's
    test images as per_class records them (under regime.SMALL_CLASS, 20, no class is ranked by its spread)."""
    intra = [0.6, 1.0, 1.3]
    inter = [[0.6, 2.0, 3.0], [2.0, 1.0, 2.5], [3.0, 2.5, 1.3]]
    centroid = [[0, 1.5, 2.5], [1.5, 0, 2.0], [2.5, 2.0, 0]]
    confusion = confusion or [[9, 1, 0], [0, 8, 2], [0, 0, 10]]
    sparse = {}
    if pairs_kept:
        kept = sorted((inter[a][b] / ((intra[a] + intra[b]) / 2), a, b) for a in range(3) for b in range(a + 1, 3))
        sparse = {"pairs": PairSelection(total=3, kept=[ClassPair(a=a, b=b, inter_mean=inter[a][b],
                                                                  centroid=centroid[a][b], ratio=r)
                                                        for r, a, b in kept[:2]]),
                  "confusion_cells": [[r, c, n] for r, row in enumerate(confusion) for c, n in enumerate(row) if n]}
    return to_json(SeparationDocument(
        metric="mse", n=30, dimensions=6, layer="fc1", description="fc1 after ReLU",
        classes=[0, 1, 2], embeddings_file="embeddings_test.npy",
        per_class=[ClassSpread(cls=c, n=images, intra_mean=intra[c], intra_std=0.2, pairs=images * (images - 1) // 2,
                               ci_low=ci[c][0],
                               ci_high=ci[c][1], ci_sample=images, silhouette=0.5) for c in range(3)],
        inter_matrix=[] if pairs_kept else inter, centroid_matrix=[] if pairs_kept else centroid,
        ratio=2.5 / 0.97, silhouette=silhouettes[-1], nearest_centroid_accuracy=0.9, network_accuracy=0.9,
        closest_pairs=[{"a": 0, "b": 1, "ratio": 2.5, "inter_mean": 2.0,
                        "examples": [{"class": 0, "index": 3, "path": "images/closest_0_1_0.png"},
                                     {"class": 1, "index": 14, "path": "images/closest_0_1_1.png"}],
                        **({"euclidean_ratio": 1.6} if honest else {})}],
        two_sample={"classes": [1, 2], "intra": {"1": {"two_sample": 0.01167, "full": two_sample_full[0]},
                                                 "2": {"two_sample": 0.1317, "full": two_sample_full[1]}},
                    "inter": {"two_sample": 4.715, "full": 2.5,
                              **({"ci_low": inter_ci[0], "ci_high": inter_ci[1]} if inter_ci else {})}},
        depth=[LayerSeparation(module=f"l{i}", label=f"layer {i}", dims=36 // (i + 1), ratio=1.0 + s, silhouette=s,
                               left_out=left_out[i % len(left_out)])
               for i, s in enumerate(silhouettes)],
        depth_sample=30, pca_variance=[0.5, 0.3], tsne_sample=30,
        confusion=[] if pairs_kept else confusion, confusion_names=["zero", "one", "two"],
        confusion_colour="row share" if honest else "images",
        misclassified=[{"index": 5, "label": 0, "predicted": 1, "confidence": 0.8,
                        "path": "images/misclassified_0.png"}] if misclassified else [],
        wrong=3 if misclassified else 0,
        filters=[FilterStats(module="relu1", label="conv1 after ReLU", channels=4, mean=[0.5, 0.4, 0.0, 0.3],
                             zero_fraction=[0.1, 0.2, 1.0 if dead else 0.5, 0.95 if dead else 0.3], dead=list(dead),
                             activated=activated, near_dead=[3] if dead else [], images=30,
                             path="images/filters_00.png")],
        images={"heatmap": "images/separation_heatmap.png", "centroids": "images/centroid_heatmap.png",
                "depth": "images/separation_depth.png", "pca": "images/map_pca.png", "tsne": "images/map_tsne.png",
                "confusion": "images/confusion.png"},
        settings={"bootstrap_replicates": 200, "bootstrap_cap": 2000, "chunk": 1024, "dead_share": 0.99,
                  "near_dead_share": 0.9}, **sparse,
        **({"centroid_left_out": CentroidAccuracy(correct=26, judged=30, unjudged=0, accuracy=26 / 30,
                                                  ci_low=0.7032, ci_high=0.9469),
            "euclidean": EuclideanSeparation(intra_mean=0.95, inter_mean=1.52, ratio=1.6, silhouette=silhouettes[-1])}
           if honest else {})))


def _separation_paths(doc: dict | None) -> set[str]:
    if not doc:
        return set()
    return {*(p for p in doc["images"].values() if p), *(e["path"] for pair in doc["closest_pairs"]
                                                          for e in pair["examples"]),
            *(m["path"] for m in doc["misclassified"]), *(f["path"] for f in doc["filters"] if f["path"])}


def _calibration_paths(evaluation: dict) -> set[str]:
    calibration = (evaluation.get("quality") or {}).get("calibration") or {}
    return {p for p in (calibration.get("reliability"), calibration.get("histogram")) if p}


@functools.cache
def _png(height: int = 8, width: int = 8) -> bytes:
    return images.png_bytes(np.full((height, width, 3), 128, dtype=np.uint8))


def write_store(stores_dir: Path, docs: dict | None = None, key: str = "synthetic",
                arrays: dict[str, bytes] | None = None) -> Path:
    """A published store of ``docs`` (default: ``documents()``), each image they name a grey PNG; ``arrays``:
    ``arrays/…`` files to store too (then the store draws its images from them, as a store since issue 31 does, and
    its configuration records the seed the figures step reads)."""
    docs = documents() if docs is None else copy.deepcopy(docs)
    writer = StoreWriter(Path(stores_dir) / key)
    for path, data in sorted((arrays or {}).items()):
        writer.write_bytes(path, data)
    maps, samples = docs.get("activations.json"), docs.get("embeddings.json")  # absent: --sections left them out
    paths = {docs["model.json"]["kernel_image"]["path"], docs["model.json"]["kernel_image"]["colourbar"],
             *((maps["input"]["path"], maps["colourbar"], *(g["path"] for g in maps["grids"])) if maps else ()),
             *(s["path"] for s in (samples["samples"] if samples else [])),
             *((samples["matrix_image"],) if samples and samples.get("matrix_image") else ()),
             *_separation_paths(docs.get("separation.json")), *_calibration_paths(docs["evaluation.json"]),
             *attribution_paths(docs.get("attribution.json"))}
    for path in sorted(paths):
        writer.write_bytes(path, _png())
    for name, doc in docs.items():
        if doc is not None:
            writer.write_json(name, doc)
    return writer.commit({
        "key": key, "data_description": "synthetic digits",
        "inputs": {"checkpoint": {"file": "tiny.pt", "sha256": "ab" * 32, "bytes": 1234},
                   "data": {"kind": "synthetic", "files": {}}, "config": {"digits": [1, 2], "per_class": 2,
                                                                  **({"seed": 0} if arrays else {})},
                   "config_sha256": "cd" * 32, "code_version": "ef" * 32},
        "producer": {"python": "3.11", "torch": "none"},
    })


def make_image_folder(root: Path, classes=("circle", "square", "stripes"), per_split=6, size=64, split=True):
    """Small RGB images of three drawable classes, as torchvision's ImageFolder reads them."""
    from PIL import Image  # only here: the rest of this module needs no imaging library

    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:size, 0:size]
    for split_name in (("train", "test") if split else ("",)):
        for label, name in enumerate(classes):
            folder = root / split_name / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_split):
                image = np.zeros((size, size, 3))
                if label == 0:
                    image[(x - size / 2) ** 2 + (y - size / 2) ** 2 < (size / 6 + i) ** 2] = (1, 0.3, 0.2)
                elif label == 1:
                    image[size // 4: 3 * size // 4, size // 4 + i: 3 * size // 4] = (0.2, 0.8, 0.3)
                else:
                    image[(x // (4 + i)) % 2 == 0] = (0.2, 0.3, 1)
                noisy = np.clip(image + rng.normal(0, 0.1, image.shape), 0, 1)
                Image.fromarray((noisy * 255).astype(np.uint8)).save(folder / f"{i}.png")
    return root
