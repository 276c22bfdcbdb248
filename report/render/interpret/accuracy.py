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
