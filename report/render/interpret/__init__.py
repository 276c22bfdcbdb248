"""Interpretation text: small pure functions of the stored numbers.

Each rule takes ``Findings`` and returns notes (possibly none). A note keeps the
rule id, which branch of the rule fired, and the numbers it used, so every
sentence in the report can be traced back to the store.
"""

from __future__ import annotations

import dataclasses

from report.render.findings import Findings


@dataclasses.dataclass(frozen=True)
class Note:
    rule: str        # stable id, e.g. "params.dominant"
    branch: str      # which side of the rule fired
    section: str     # report section the note belongs to
    text: str
    evidence: dict = dataclasses.field(default_factory=dict)


from report.render.interpret import accuracy, activations, embeddings, params, separation, shapes  # noqa: E402

RULES = (
    params.total, params.dominant_layer, params.conv_versus_dense, params.unused,
    shapes.steps, shapes.batch, shapes.gaps, shapes.macs, shapes.output,
    activations.kernels, activations.input_prediction, activations.dead_maps, activations.pooling_keeps_peak,
    embeddings.compactness, embeddings.separation, embeddings.sample_size, embeddings.metrics_agree,
    embeddings.zero_dimensions, embeddings.sample_predictions, embeddings.course_report,
    accuracy.overall, accuracy.class_comparison, accuracy.prediction_spread, accuracy.calibration,
    accuracy.training, accuracy.non_finite,
    separation.overall, separation.compactness, separation.closest_pair, separation.two_sample_check,
    separation.depth, separation.dead_filters, separation.errors,
)


# Rules that read a document written only when its sections are asked for (--sections): rule -> the field of
# Findings that holds it. They do not run when it is absent, and their sections are not shown.
NEEDS = {rule: "activations" for rule in (activations.input_prediction, activations.dead_maps,
                                           activations.pooling_keeps_peak)} | {
    rule: "embeddings" for rule in (embeddings.compactness, embeddings.separation, embeddings.sample_size,
                                    embeddings.metrics_agree, embeddings.zero_dimensions,
                                    embeddings.sample_predictions, embeddings.course_report)}


def run_rules(findings: Findings) -> list[Note]:
    notes: list[Note] = []
    for rule in RULES:
        if rule in NEEDS and getattr(findings, NEEDS[rule]) is None:
            continue
        result = rule(findings)
        if isinstance(result, Note):
            notes.append(result)
        elif result:
            notes.extend(result)
    return notes


def by_section(notes: list[Note]) -> dict[str, list[Note]]:
    grouped: dict[str, list[Note]] = {}
    for note in notes:
        grouped.setdefault(note.section, []).append(note)
    return grouped
