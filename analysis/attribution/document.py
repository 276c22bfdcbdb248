"""attribution.json: each offered method's maps of the images the report shows (the activation-map image, the
embedded samples, the most confident errors) and its checks on the check images (``check_images``). The maps'
arrays go to ``array_path(path)``, the images' to ``array_path(image_path)`` unless the store holds them already.
Everything is seeded (``config.seed``) and computed on copies: the analysed model is left as it was."""

from __future__ import annotations

import dataclasses
import itertools
import math

import captum
import numpy as np
import torch

from analysis import figure_arrays
from analysis.attribution import checks, gradcam
from analysis.attribution.method import Context, Method, Offer, maps
from analysis.attribution.methods import METHODS
from analysis.data.lazy import LazyImages, take
from analysis.models.memory import copy_module
from analysis.store.schema import (
    AttributionDocument,
    AttributionMap,
    CheckImage,
    FaithfulnessCurve,
    LayerMap,
    MethodChecks,
    RandomisationStep,
    RoadCurve,
    array_path,
)

STEPS = 16                 # Integrated Gradients' integration points
CMAP = "inferno"           # the maps' colour map, over the image in grey
CHECK_IMAGES = 40          # check images at most (the first classes, when more than 40 classes have test images)
# The checks cost about 400 passes per check image (Integrated Gradients' steps at every randomisation step, the
# deletion and insertion curves): a large model gets fewer check images, so that their forward passes stay within
# CHECK_MACS multiply-accumulates, but never fewer than CHECK_IMAGES_LEAST (resnet18 at 224 px, 1.8 GMACs: 4).
CHECK_MACS = 2 * 10**9
CHECK_IMAGES_LEAST = 4
ERRORS_SHOWN = 4           # the most confident errors whose maps are shown
SAMPLES_SHOWN = 8          # sampled images whose maps are shown at most (taken from each class in turn)
GRADIENT_BYTES = 1 << 30   # activations held for one backward pass at most: it keeps every layer's output
BASELINE_IMAGES = 1000     # training images averaged for the baseline when they are files (read one by one)


@dataclasses.dataclass(frozen=True)
class Shown:
    role: str     # "activation", "sample", "error"
    index: int
    target: int


def attribution_results(run, x_test, config, evaluation, activations, embeddings, separation,
                        writer) -> AttributionDocument:
    """The document for the prepared run ``run`` (analysis.run.Prepared), its test images ``x_test`` (on the
    analysis's device), the documents already written (activations, embeddings, separation: None where their part
    did not run) and the store ``writer``."""
    model, splits = run.model, run.splits
    labels, predicted = np.asarray(splits.test.labels), np.asarray(evaluation.predicted)
    per_class, check = check_images(labels, run.traced.total_macs, config.attribution_images)
    baseline, words = baseline_pixel(splits, run.setup.mean, run.setup.std)
    context = Context(baseline, STEPS, gradient_batch(run.traced, config.batch_size))
    offered = [(method, offer) for method in METHODS
               if (offer := method.offer(model, run.traced, run.usage)) is not None]
    shown = shown_images(labels, evaluation, activations, embeddings)
    images = x_test.take(check)
    targets = torch.as_tensor(predicted[check], dtype=torch.long, device=images.device)
    originals = {method.id: maps(method, model, offer.layer, images, targets, context)
                 for method, offer in offered}
    randomised = _randomisation(run, offered, images, targets, context, originals, config.seed)
    pixels = take(splits.test.images, check)
    random_curves = _curves(model, images, targets, checks.random_ranks(len(check), pixels[0, 0].size, config.seed),
                            baseline, config.batch_size)
    checked = [_method_checks(method, offer, model, images, targets, pixels, check, labels, predicted,
                              originals[method.id], randomised[method.id], random_curves, context, config)
               for method, offer in offered]
    drawn = _shown_maps(offered, model, shown, x_test, splits, labels, predicted, context, separation, activations,
                        embeddings, writer)
    layer_maps = (_layer_maps(run, offered, shown[0], x_test, splits, activations, context, drawn, writer)
                  if config.attribution_layers == "activations" and shown else [])
    return AttributionDocument(library=f"captum {captum.__version__}", maps=drawn, checks=checked,
                               images_per_class=per_class, baseline=words, seed=config.seed, steps=STEPS,
                               layer_maps=layer_maps, check_limit=check_limit(config.attribution_images))


def check_images(labels: np.ndarray, macs: int = 0, given: int | None = None) -> tuple[int, list[int]]:
    """The first ``per_class`` test images of every class in index order (correctly classified or not), per_class =
    max(1, min(2, limit // classes)) with limit = ``given`` (--attribution-images), else CHECK_IMAGES, fewer for a
    model whose passes cost more than CHECK_MACS together (``macs``: per image), CHECK_IMAGES_LEAST at least;
    returns per_class and the indices, class by class."""
    limit = given if given is not None else max(CHECK_IMAGES_LEAST, min(CHECK_IMAGES, CHECK_MACS // max(1, int(macs))))
    classes = np.unique(labels)
    per_class = max(1, min(2 if given is None else limit, limit // max(1, len(classes))))
    chosen = [int(i) for c in classes for i in np.flatnonzero(labels == c)[:per_class]]
    return per_class, chosen[:limit]


def check_limit(given: int | None) -> str:
    """How the number of check images was set, in words."""
    if given is not None:
        return f"at most {given}, as --attribution-images asked"
    return (f"at most {CHECK_IMAGES}, fewer for a model whose passes over them would pass 2·10⁹ multiply-accumulates "
            f"({CHECK_IMAGES_LEAST} at least)")


def gradient_batch(traced, batch_size: int) -> int:
    """Images (or integration points) per backward pass: ``batch_size`` at most, fewer where the outputs of every
    call of the shape trace (kept for the backward pass with their gradients: about three times their size) would
    pass GRADIENT_BYTES."""
    per_image = sum(math.prod(row.output_shape) for row in traced.rows if row.output_shape) * 4 * 3
    return max(1, min(batch_size, GRADIENT_BYTES // max(1, per_image)))


def baseline_pixel(splits, mean, std) -> tuple[torch.Tensor, str]:
    """What a removed pixel becomes (normalised, (C, 1, 1)), and its words: the mean pixel of the training split
    (of BASELINE_IMAGES evenly spaced ones when its images are files), else 0 after normalisation."""
    train = splits.train.images
    count = len(splits.train)
    if count == 0:
        return torch.zeros(len(mean), 1, 1), "zero after normalisation (the data have no training split)"
    words = "the mean pixel of the training split"
    if isinstance(train, LazyImages) and count > BASELINE_IMAGES:
        train = take(train, np.linspace(0, count - 1, BASELINE_IMAGES).round().astype(np.int64))
        words = f"the mean pixel of {BASELINE_IMAGES:,} training images, evenly spaced"
    elif isinstance(train, LazyImages):
        train = take(train, np.arange(count))
    pixel = np.asarray(train).mean(axis=(0, 2, 3), dtype=np.float64) / 255.0
    normalised = (pixel - np.asarray(mean, dtype=np.float64)) / np.asarray(std, dtype=np.float64)
    return torch.tensor(normalised, dtype=torch.float32).view(-1, 1, 1), words


def shown_images(labels: np.ndarray, evaluation, activations, embeddings) -> list[Shown]:
    """The images whose maps the report shows, each for its predicted class; an error also for its true one."""
    predicted = evaluation.predicted
    first = activations.input.index if activations is not None else 0
    shown = [Shown("activation", first, int(predicted[first]))]
    # a sample that is the activation maps' image is shown once, as that image
    shown += [Shown("sample", s.index, int(predicted[s.index])) for s in sample_maps(embeddings) if s.index != first]
    for index in most_confident_errors(labels, np.asarray(predicted), evaluation.confidence):
        shown += [Shown("error", index, int(predicted[index])), Shown("error", index, int(labels[index]))]
    return shown


def sample_maps(embeddings) -> list:
    """The sampled images whose maps are shown: all of them up to SAMPLES_SHOWN, else that many taken from each class
    in turn (60 samples would be 120 tiles), in their stored order."""
    samples = list(embeddings.samples) if embeddings else []
    by_class: dict[int, list] = {}
    for sample in samples:
        by_class.setdefault(sample.label, []).append(sample.index)
    in_turn = [i for group in itertools.zip_longest(*by_class.values()) for i in group if i is not None]
    chosen = set(in_turn[:SAMPLES_SHOWN])
    return [sample for sample in samples if sample.index in chosen]


def most_confident_errors(labels: np.ndarray, predicted: np.ndarray, confidence) -> list[int]:
    """As the errors section finds them (analysis.stats.fullsplit): misclassified, most confident first."""
    confidence = np.asarray([np.nan if c is None else c for c in confidence], dtype=np.float64)
    wrong = np.flatnonzero(predicted != labels)
    return [int(i) for i in wrong[np.argsort(-confidence[wrong], kind="stable")][:ERRORS_SHOWN]]


def _randomisation(run, offered, images, targets, context, originals, seed) -> dict[str, list]:
    """Each method's maps by a copy of the model whose layers are re-drawn cumulatively from the output down: per
    step, its record and the per-image values (rank correlations, SSIMs) behind it."""
    steps = checks.randomisation_steps(run.model, run.traced, run.usage)
    out = {method.id: [] for method, _ in offered}
    if not steps or not offered:
        return out
    copy = copy_module(run.model).to(images.device).eval()  # the analysed model keeps its parameters
    for position, layers in enumerate(steps):
        checks.redraw(copy, layers, seed * 1000 + position)
        for method, offer in offered:
            other = maps(method, copy, offer.layer, images, targets, context)
            original = originals[method.id]
            rhos, ssims = checks.rank_correlations(original, other), checks.similarities(original, other)
            out[method.id].append((RandomisationStep(
                layer=layers[-1], rank_correlation=checks.estimate(rhos, seed), ssim=checks.estimate(ssims, seed)),
                (rhos, ssims)))
    return out


def _curves(model, images, targets, ranks, baseline, batch_size) -> dict[str, np.ndarray]:
    return {kind: checks.curve(model, images, targets, ranks, baseline, kind == "insertion", batch_size)
            for kind in ("deletion", "insertion")}


def _method_checks(method: Method, offer: Offer, model, images, targets, pixels, check, labels, predicted,
                   original, randomisation, random_curves, context, config) -> MethodChecks:
    """One method's checks on the check images (``check``: their test indices), from its maps ``original`` and
    its randomisation steps (each with the per-image values behind it)."""
    ranks = checks.map_ranks(original)
    curves = _curves(model, images, targets, ranks, context.baseline, config.batch_size)
    seed = config.seed
    morf, lerf = checks.road_curves(model, images, targets, ranks, seed, config.batch_size)
    masks = [checks.foreground(p) for p in pixels]
    centre = checks.centre_mask(*original.shape[1:])
    values = {  # one value per check image: the means below, and the CSV of the check images, are made of these
        "deletion_auc": checks.areas(curves["deletion"]), "deletion_random_auc": checks.areas(random_curves["deletion"]),
        "insertion_auc": checks.areas(curves["insertion"]),
        "insertion_random_auc": checks.areas(random_curves["insertion"]),
        "road": (lerf - morf).mean(1),
        "centre_share": np.array([checks.share(m, centre) for m in original]),
        "object_share": np.array([checks.share(m, mask) for m, mask in zip(original, masks)]),
        "object_area": np.array([mask.mean() for mask in masks], dtype=np.float64),
    }
    if randomisation:
        values["rank_correlation"], values["ssim"] = randomisation[-1][1]
    wrong = labels[check] != predicted[check]
    share = values["object_share"]
    return MethodChecks(
        method=method.id, layer=offer.layer, images=len(original), randomisation=[step for step, _ in randomisation],
        deletion=_faithfulness(curves["deletion"], random_curves["deletion"], seed),
        insertion=_faithfulness(curves["insertion"], random_curves["insertion"], seed),
        centre_share=checks.estimate(values["centre_share"], seed), object_share=checks.estimate(share, seed),
        object_excess=checks.estimate(share - values["object_area"], seed),
        errors_vs_correct=checks.difference(share[wrong], share[~wrong], seed),
        road=RoadCurve(fractions=list(checks.ROAD_FRACTIONS), most_relevant_first=morf.mean(0).tolist(),
                       least_relevant_first=lerf.mean(0).tolist(), score=checks.estimate(values["road"], seed),
                       noise=checks.ROAD_NOISE),
        per_image=_check_images(check, labels, predicted, values))


def _check_images(check, labels, predicted, values: dict[str, np.ndarray]) -> list[CheckImage]:
    """The CheckImage records of the check images, from one array per field (rank_correlation and ssim absent
    where no randomisation step ran)."""
    return [CheckImage(index=int(index), label=int(labels[index]), predicted=int(predicted[index]),
                       rank_correlation=float(values["rank_correlation"][i]) if "rank_correlation" in values else None,
                       ssim=float(values["ssim"][i]) if "ssim" in values else None,
                       **{name: float(values[name][i]) for name in (
                           "deletion_auc", "deletion_random_auc", "insertion_auc", "insertion_random_auc", "road",
                           "centre_share", "object_share", "object_area")})
            for i, index in enumerate(check)]


def _faithfulness(method_curve: np.ndarray, random_curve: np.ndarray, seed: int) -> FaithfulnessCurve:
    auc, random_auc = checks.areas(method_curve), checks.areas(random_curve)
    return FaithfulnessCurve(
        fractions=list(checks.FRACTIONS), method=method_curve.mean(0).tolist(), random=random_curve.mean(0).tolist(),
        auc=checks.estimate(auc, seed), random_auc=checks.estimate(random_auc, seed),
        difference=checks.estimate(auc - random_auc, seed))


def _shown_maps(offered, model, shown: list[Shown], x_test, splits, labels, predicted, context, separation,
                activations, embeddings, writer) -> list[AttributionMap]:
    """Each offered method's map of every shown image, its array and the image's written to the store."""
    if not shown:
        return []
    pairs = list(dict.fromkeys((s.index, s.target) for s in shown))
    images = x_test.take([i for i, _ in pairs])
    targets = torch.as_tensor([t for _, t in pairs], dtype=torch.long, device=images.device)
    with torch.no_grad():
        probabilities = torch.softmax(model(images).double(), dim=1).gather(1, targets.view(-1, 1)).view(-1)
    probability = dict(zip(pairs, probabilities.cpu().tolist()))
    image_paths = _image_paths([i for i, _ in pairs], splits, separation, activations, embeddings, writer)
    indices = list(dict.fromkeys(i for i, _ in pairs))  # each image read once, whatever its maps
    masks = dict(zip(indices, (checks.foreground(p) for p in take(splits.test.images, indices))))
    out = []
    for method, offer in offered:
        drawn = dict(zip(pairs, maps(method, model, offer.layer, images, targets, context)))
        for s in shown:
            map_ = drawn[(s.index, s.target)]
            path = figure_arrays.write(writer, f"images/attribution_{method.id}_{s.index}_{s.target}.png", map_)
            mask = masks[s.index]
            out.append(AttributionMap(
                method=method.id, role=s.role, index=s.index, label=int(labels[s.index]),
                predicted=int(predicted[s.index]), target=s.target, probability=probability[(s.index, s.target)],
                path=path, image_path=image_paths[s.index], cmap=CMAP,
                centre_share=checks.share(map_, checks.centre_mask(*map_.shape)),
                object_share=checks.share(map_, mask), object_area=float(mask.mean())))
    return out


def _image_paths(indices: list[int], splits, separation, activations, embeddings, writer) -> dict[int, str]:
    """Where each image is in the store: the path another document already stored it under, else a new one."""
    held = {activations.input.index: activations.input.path} if activations is not None else {}
    for s in (embeddings.samples if embeddings is not None else []):
        held.setdefault(s.index, s.path)
    for m in (separation.misclassified if separation is not None else []):
        held.setdefault(m["index"], m["path"])
    out = {}
    for index in dict.fromkeys(indices):
        path = held.get(index)
        if path is None or array_path(path) not in writer.files:
            path = figure_arrays.picture(writer, f"images/attribution_image_{index}.png",
                                         take(splits.test.images, [index])[0])
        out[index] = path
    return out


def _layer_maps(run, offered, first: Shown, x_test, splits, activations, context, drawn: list[AttributionMap],
                writer) -> list[LayerMap]:
    """Grad-CAM of the activation maps' image, for its predicted class, at each layer the activation section shows
    whose output is a map Grad-CAM can read (gradcam.readable), in the section's order."""
    method = next((m for m, _ in offered if m.id == "gradcam"), None)
    if method is None or activations is None:
        return []
    names = list(dict.fromkeys(grid.module for grid in activations.grids))
    layers = gradcam.readable(run.model, run.traced, names)
    if not layers:
        return []
    image = x_test.take([first.index])
    target = torch.as_tensor([first.target], dtype=torch.long, device=image.device)
    image_path = next(m.image_path for m in drawn if m.index == first.index)
    mask = checks.foreground(take(splits.test.images, [first.index])[0])
    out = []
    for position, (layer, side) in enumerate(layers):
        map_ = maps(method, run.model, layer, image, target, context)[0]
        path = figure_arrays.write(writer, f"images/attribution_layer_{position:02d}_{_file_part(layer)}_{first.index}.png", map_)
        out.append(LayerMap(layer=layer, side=side, positive=bool(map_.max() > 0), index=first.index,
                            target=first.target, path=path,
                            image_path=image_path, cmap=CMAP,
                            centre_share=checks.share(map_, checks.centre_mask(*map_.shape)),
                            object_share=checks.share(map_, mask), object_area=float(mask.mean())))
    return out


def _file_part(layer: str) -> str:
    """A module name as part of a file name: dots and anything but letters, digits, - and _ as "_"."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in layer)
