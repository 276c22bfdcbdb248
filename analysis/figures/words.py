"""What the figures call each distance metric: in captions (``name``, as in a sentence) and above a panel
(``heading``). Drawing code, so a changed word re-draws the figures and never re-analyses; the page's words for the
same metrics are the render stage's (report/render/words.py), and tests/test_keys.py checks that the two agree."""

from __future__ import annotations

METRIC_WORDS = {  # metric id -> (name, heading)
    "mse": ("MSE", "MSE"),
    "euclidean": ("Euclidean distance", "Euclidean"),
    "cosine": ("cosine distance", "Cosine"),
}


def metric_name(metric: str) -> str:
    return METRIC_WORDS[metric][0] if metric in METRIC_WORDS else metric


def metric_heading(metric: str) -> str:
    return METRIC_WORDS[metric][1] if metric in METRIC_WORDS else metric


# Attribution methods (schema.ATTRIBUTION_METHODS) as the charts' titles name them, and where a method's check charts
# are drawn: the page says the same (report/render/words.py; tests/test_attribution_render.py checks it).
ATTRIBUTION_NAMES = {"gradcam": "Grad-CAM", "integrated_gradients": "Integrated Gradients"}
ATTRIBUTION_CHART = "images/attribution_{check}_{method}.png"
ATTRIBUTION_CHECKS = ("faithfulness", "randomisation")
RANDOMISED_BELOW = 0.5  # the line on the randomisation chart: report/render/interpret/attribution.py's threshold


def attribution_name(method: str) -> str:
    return ATTRIBUTION_NAMES.get(method, method)


def attribution_label(method: str, layer: str | None) -> str:
    """The method and the layer it reads: "Grad-CAM at pool2"; "Integrated Gradients" (the input pixels)."""
    return f"{attribution_name(method)} at {layer}" if layer else attribution_name(method)


def attribution_chart(method: str, check: str) -> str:
    return ATTRIBUTION_CHART.format(check=check, method=method)
