"""How the page names what the store records by id: each distance metric in a sentence (``name``), as a table's
column (``heading``) and in a table's caption (``definition``). Presentation, so the render stage's and not the
schema's: a word edited here re-renders the report, and the analysis key (which covers the schema) stays.

The figures say the same words in their captions (analysis/figures/words.py, drawing code: the render stage cannot
import it, nor it this); tests/test_keys.py checks that the two agree and that every stored metric has its words."""

from __future__ import annotations

import dataclasses

from analysis.store.schema import METRIC_IDS


@dataclasses.dataclass(frozen=True)
class Metric:
    """A distance between embeddings: its stored id and how the report names it."""

    id: str
    name: str         # in sentences
    heading: str      # as a table column
    definition: str   # in a table's caption
    silhouette: str   # the distance its silhouette is computed on (schema.SILHOUETTE_METRICS), in words


WORDS = {  # metric id -> (name, heading, definition, silhouette)
    # MSE's silhouette is on the squared Euclidean distance: a ratio does not see MSE's constant 1/dimensions.
    "mse": ("MSE", "MSE", "MSE (mean over dimensions)", "squared Euclidean distance"),
    "euclidean": ("Euclidean distance", "Euclidean", "Euclidean distance", "Euclidean distance"),
    "cosine": ("cosine distance", "Cosine", "Cosine distance (1 − cosine similarity)", "cosine distance"),
}
# In the registry's order (analysis.store.schema.METRIC_IDS); a metric without words here is named by its id.
METRICS = tuple(Metric(id, *WORDS.get(id, (id, id, id, id))) for id in METRIC_IDS)
METRIC_BY_ID = {metric.id: metric for metric in METRICS}
METRIC_NAMES = {metric.id: metric.name for metric in METRICS}


# --- attribution methods (attribution.json: schema.ATTRIBUTION_METHODS) -----------------------------------------
# The figures name them the same way (analysis/figures/words.py); tests/test_attribution_render.py checks it.
ATTRIBUTION_NAMES = {"gradcam": "Grad-CAM", "integrated_gradients": "Integrated Gradients"}
# Where the figures step draws a method's check charts ("faithfulness": deletion and insertion curves;
# "randomisation": the cascade's steps) from attribution.json's numbers: the same pattern as analysis/figures/words.py.
ATTRIBUTION_CHART = "images/attribution_{check}_{method}.png"


def attribution_name(method: str) -> str:
    """"Grad-CAM", "Integrated Gradients"; a method without words here is named by its id."""
    return ATTRIBUTION_NAMES.get(method, method)


def attribution_description(method: str, layer: str | None, steps: int, baseline: str) -> str:
    """The method as a heading names it: "Grad-CAM at conv2", "Integrated Gradients (16 steps, baseline: …)"."""
    if method == "integrated_gradients":
        return f"{attribution_name(method)} ({steps} steps, baseline: {baseline})"
    return attribution_label(method, layer)


def attribution_label(method: str, layer: str | None) -> str:
    """The method and the layer it reads: "Grad-CAM at pool2"; "Integrated Gradients" (the input pixels)."""
    return f"{attribution_name(method)} at {layer}" if layer else attribution_name(method)


def attribution_chart(method: str, check: str) -> str:
    return ATTRIBUTION_CHART.format(check=check, method=method)
