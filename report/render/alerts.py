"""Problems a reader must see before any number, each with a level, from the stored numbers alone.

``error``: the numbers cannot be trusted or the network has learned nothing (non-finite weights or scores; a
checkpoint whose balanced accuracy is not established above chance, 1/K, or whose labels look permuted: see
report.render.interpret.regime). ``warning``: the
numbers hold, but not for what a reader may assume (random weights, checkpoint fields left out, more outputs
than classes, images left out for a non-finite embedding). ``info``: worth knowing before reading a section (the activation-map image is misclassified).
``--fail-on LEVEL`` fails a run on an alert of that level or above (report.api.check_fail_on)."""

from __future__ import annotations

import dataclasses

from report.render import fmt
from report.render.findings import Findings
from report.render.interpret.accuracy import ci
from report.render.interpret.regime import performance, quality

LEVELS = ("info", "warning", "error")  # in rising order


@dataclasses.dataclass(frozen=True)
class Alert:
    level: str       # info, warning or error
    id: str          # stable: "weights.non_finite", "accuracy.chance", ...
    text: str
    evidence: dict = dataclasses.field(default_factory=dict)


def alerts(f: Findings) -> list[Alert]:
    """Every alert of a store, most severe first (in the order of ALERTS within a level)."""
    found = [alert for rule in ALERTS for alert in rule(f)]
    return sorted(found, key=lambda a: -LEVELS.index(a.level))


def at_least(found: list[Alert], level: str) -> list[Alert]:
    return [a for a in found if LEVELS.index(a.level) >= LEVELS.index(level)]


def non_finite(f: Findings) -> list[Alert]:
    if not f.non_finite:
        return []
    return [Alert("error", "weights.non_finite",
                  f"The checkpoint holds NaN or infinite values in {fmt.listing(f.non_finite)}: every number "
                  "computed from these layers onwards is unreliable; check the training run that saved it."
                  + (" The whole-split sections are left out: their statistics of non-finite embeddings would "
                     "be meaningless." if f.separation is None else ""), {"tensors": list(f.non_finite)})]


def non_finite_outputs(f: Findings) -> list[Alert]:
    """Finite weights can still give NaN or infinite values (an overflow, a division by zero, a logarithm of a
    negative number in the forward pass): in the scores, the predictions mean nothing; in the embedding, the
    images are left out of the whole-split statistics."""
    e = f.evaluation
    found = []
    if e.non_finite_scores:
        found.append(Alert(
            "error", "scores.non_finite",
            f"The network gives NaN or infinite scores for {fmt.integer(e.non_finite_scores)} of the "
            f"{fmt.integer(e.n_test)} test images: their predictions mean nothing, yet the accuracy, the confusion "
            "matrix and the confidences count them; check the forward pass.",
            {"images": e.non_finite_scores, "test_images": e.n_test}))
    if e.non_finite_embeddings:
        what = ("fewer than two images are left to measure, so the whole-split sections are left out"
                if f.separation is None else "every whole-split statistic of the embedding leaves them out")
        found.append(Alert(
            "warning", "embeddings.non_finite",
            f"{fmt.integer(e.non_finite_embeddings)} of the {fmt.integer(e.n_test)} test images have NaN or infinite "
            f"values in their embedding: {what}.",
            {"images": e.non_finite_embeddings, "test_images": e.n_test, "separation": f.separation is not None}))
    return found


def at_chance(f: Findings) -> list[Alert]:
    """Only for a checkpoint's weights (random weights are at chance by construction; their own alert says so):
    the regime from the balanced accuracy's interval against chance, 1/K (regime.performance)."""
    verdict = performance(f)
    if f.weights != "checkpoint" or verdict not in ("near-chance", "below-chance", "permuted"):
        return []
    q = quality(f)
    evidence = {"balanced_accuracy": [q.balanced_accuracy.value, q.balanced_accuracy.low, q.balanced_accuracy.high],
                "chance": q.chance, "classes": q.test_classes, "regime": verdict}
    measured = (f"The network's balanced accuracy, {ci(q.balanced_accuracy)} over {fmt.integer(q.test_classes)} "
                f"classes, ")
    chance = f"chance (1/{fmt.integer(q.test_classes)} = {fmt.percent(q.chance)})"
    if verdict == "near-chance":
        return [Alert("error", "accuracy.chance",
                      f"{measured}is not distinguishable from {chance}: it has not learned the task.", evidence)]
    if verdict == "permuted":
        return [Alert("error", "accuracy.permuted",
                      f"{measured}is not above {chance}, and relabelling its predictions one-to-one would make "
                      f"{ci(q.relabelling.accuracy)} of them right: the labels look permuted; check the class order "
                      "the checkpoint was trained with (--class-names).", evidence)]
    return [Alert("error", "accuracy.below_chance",
                  f"{measured}is below {chance}: the network is systematically wrong.", evidence)]


def checkpoint_fields(f: Findings) -> list[Alert]:
    return [Alert("warning", "checkpoint.fields", f"{w[0].upper()}{w[1:]}.", {"warning": w})
            for w in f.evaluation.checkpoint_warnings if w]


def random_weights(f: Findings) -> list[Alert]:
    if f.weights == "checkpoint":
        return []
    return [Alert("warning", "weights.random",
                  f"No checkpoint: the weights are {f.weights}, so every number describes an untrained network.",
                  {"weights": f.weights})]


def outputs_and_classes(f: Findings) -> list[Alert]:
    classes = len(f.evaluation.class_names)
    if f.evaluation.outputs == classes:
        return []
    return [Alert("warning", "outputs.classes",
                  f"The model has {fmt.integer(f.evaluation.outputs)} outputs but the data has {classes} classes: "
                  "accuracy compares output index with class label.",
                  {"outputs": f.evaluation.outputs, "classes": classes})]


def misclassified_map_input(f: Findings) -> list[Alert]:
    if not f.activations or f.input_image.predicted == f.input_image.label:
        return []
    return [Alert("info", "activations.misclassified",
                  f"The activation-map input (a {f.class_name(f.input_image.label)}) is misclassified as "
                  f"{f.class_name(f.input_image.predicted)}.",
                  {"label": f.input_image.label, "predicted": f.input_image.predicted})]


ALERTS = (non_finite, non_finite_outputs, at_chance, checkpoint_fields, random_weights, outputs_and_classes,
          misclassified_map_input)
