"""Rules about test accuracy and training."""

from __future__ import annotations

from report.render import fmt
from report.render.findings import Findings
from report.render.interpret import Note
from report.render.interpret.regime import NEAR_CHANCE_MARGIN, chance_level, near_chance


def overall(f: Findings) -> Note:
    e = f.evaluation
    wrong = e.n_test - e.correct
    if wrong == 0:
        return Note("accuracy.overall", "perfect", "accuracy",
                    f"The network classifies all {fmt.integer(e.n_test)} test images correctly.",
                    {"accuracy": e.accuracy})
    chance = chance_level(f)
    evidence = {"accuracy": e.accuracy, "chance": chance, "margin": NEAR_CHANCE_MARGIN}
    if near_chance(f):
        return Note("accuracy.overall", "near-chance", "accuracy",
                    f"The network classifies {fmt.percent(e.accuracy)} of the {fmt.integer(e.n_test)} test images "
                    f"correctly, no better than always answering the most frequent class would "
                    f"({fmt.percent(chance)}): it has not learned the task, so the embeddings and distances below "
                    "describe an untrained network.", evidence)
    lowest = min(row.accuracy for row in e.per_class)
    weakest = [row for row in e.per_class if row.accuracy == lowest]
    evidence["weakest"] = [row.cls for row in weakest]
    which = (f"the weakest class is {f.class_name(weakest[0].cls)} ({fmt.percent(lowest)} of {weakest[0].n})"
             if len(weakest) == 1 else
             f"the weakest classes are {fmt.listing(f.class_name(row.cls) for row in weakest)} "
             f"({fmt.percent(lowest)} each)")
    return Note("accuracy.overall", "errors", "accuracy",
                f"The network classifies {fmt.percent(e.accuracy)} of the {fmt.integer(e.n_test)} test images "
                f"correctly ({fmt.integer(wrong)} errors); {which}.", evidence)


def training(f: Findings) -> Note:
    record = f.evaluation.training
    if f.weights != "checkpoint":
        return Note("accuracy.training", "untrained", "accuracy",
                    f"There is no checkpoint: the weights are {f.weights}, never trained.")
    if not record:
        return Note("accuracy.training", "external", "accuracy",
                    "The checkpoint carries no training record: it was trained outside this tool.")
    epochs = record["config"]["epochs"]
    return Note("accuracy.training", "recorded", "accuracy",
                f"This checkpoint was trained by this tool for {epochs} epoch{'s' if epochs != 1 else ''} on "
                f"{fmt.integer(record['n_train'])} images in {fmt.number(record['seconds'], 3)} s "
                f"(seed {record['config']['seed']}, {record['config']['threads']} threads), reaching "
                f"{fmt.percent(record['test_accuracy'])} on the {fmt.integer(record['n_test'])} test images.",
                {"seconds": record["seconds"], "epochs": epochs})


def non_finite(f: Findings) -> Note | None:
    """Images whose scores, or whose embedding, hold NaN or infinite values: what they do to the numbers (scores:
    predictions that mean nothing; whole-split embeddings: left out of every statistic; sampled embeddings:
    distances that cannot be measured)."""
    e = f.evaluation
    scores = e.non_finite_scores
    embedded, where = _non_finite_embeddings(f)
    if not scores and not embedded:
        return None
    layers = [(d.label, d.left_out) for d in (f.separation.depth if f.separation else []) if d.left_out]
    evidence = {"non_finite_scores": scores, "non_finite_embeddings": embedded, "test_images": e.n_test,
                "layers_left_out": dict(layers)}
    scored = (f"{fmt.integer(scores)} of the {fmt.integer(e.n_test)} test images get NaN or infinite scores from "
              "the network: their scores cannot rank the classes, so their predictions, counted in the accuracy "
              "and the confusion matrix, mean nothing")
    depth = (f" Layer by layer, images are left out where a layer's output is not finite: "
             f"{fmt.listing(f'{label} ({fmt.integer(n)})' for label, n in layers)}." if layers else "")
    cause = " Look for an overflow, a division by zero or a logarithm of a negative number in the forward pass."
    if scores and embedded:
        return Note("accuracy.non_finite", "both", "accuracy", f"{scored}; {where}.{depth}{cause}", evidence)
    if scores:
        kept = "; their embeddings are finite, so the whole-split statistics keep them" if f.separation else ""
        return Note("accuracy.non_finite", "scores", "accuracy", f"{scored}{kept}.{depth}{cause}", evidence)
    return Note("accuracy.non_finite", "embeddings", "accuracy",
                f"The network's scores are finite, but {where}.{depth}{cause}", evidence)


def _non_finite_embeddings(f: Findings) -> tuple[int, str]:
    """How many images have a non-finite embedding, and what that does: counted over the whole split when its
    pass ran, else over the sampled images (their stored vectors hold None where a value was not finite)."""
    e = f.evaluation
    if e.non_finite_embeddings:
        left = ("fewer than two images have a finite embedding, so the whole-split sections are left out"
                if f.separation is None else
                "every whole-split statistic of the embedding (spread, silhouette, centroids, maps) leaves them out")
        return e.non_finite_embeddings, (f"{fmt.integer(e.non_finite_embeddings)} of the {fmt.integer(e.n_test)} "
                                         f"test images have NaN or infinite values in their embedding, and {left}")
    samples = f.embeddings.samples if f.embeddings else []
    broken = [s.index for s in samples if any(v is None for v in s.vector)]
    if not broken:
        return 0, ""
    return len(broken), (f"{fmt.integer(len(broken))} of the {fmt.integer(len(samples))} sampled images "
                         f"({fmt.listing(f'#{i}' for i in broken[:4])}{' and more' if len(broken) > 4 else ''}) "
                         "have NaN or infinite values in their embedding, so their distances cannot be measured")
