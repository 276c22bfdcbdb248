"""Rules about test accuracy and training."""

from __future__ import annotations

from report.render import fmt
from report.render.findings import Findings
from report.render.interpret import Note


def overall(f: Findings) -> Note:
    e = f.evaluation
    wrong = e.n_test - e.correct
    if wrong == 0:
        return Note("accuracy.overall", "perfect", "accuracy",
                    f"The network classifies all {fmt.integer(e.n_test)} test images correctly.",
                    {"accuracy": e.accuracy})
    weakest = min(e.per_class, key=lambda row: (row.accuracy, row.cls))
    return Note("accuracy.overall", "errors", "accuracy",
                f"The network classifies {fmt.percent(e.accuracy)} of the {fmt.integer(e.n_test)} test images "
                f"correctly ({fmt.integer(wrong)} errors); the weakest class is {f.class_name(weakest.cls)} "
                f"({fmt.percent(weakest.accuracy)} of {weakest.n}).",
                {"accuracy": e.accuracy, "weakest": weakest.cls})


def training(f: Findings) -> Note:
    record = f.evaluation.training
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
