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
