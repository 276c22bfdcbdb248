"""Calibration figures, in the style of ``analysis.figures.plots`` (matplotlib's object API on the Agg canvas, a
fixed size in inches at plots.DPI, so the same bins give the same PNG bytes): the reliability diagram and the
confidence histogram of correct against wrong predictions. Both take the stored ``CalibrationBin`` records.

``<name>_figure`` builds a figure; ``<name>`` returns it as PNG bytes.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from analysis.figures.plots import LABEL_PT, LEGEND_PT, TICK_PT, _new, _png, _title
from analysis.store.schema import CalibrationBin

ACCURACY_COLOUR = "#2458a6"
GAP_COLOUR = "#c2410c"
CORRECT_COLOUR = "#2458a6"
WRONG_COLOUR = "#c2410c"
COUNT_PT = 6.5   # the images in each bin, printed at the foot of its bar
COUNT_INSIDE = 0.12  # bars at least this high hold their count


def _geometry(bins: list[CalibrationBin]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    low = np.array([b.low for b in bins])
    high = np.array([b.high for b in bins])
    return low, high - low, np.array([b.count for b in bins])


def _percent_axis(axis) -> None:
    axis.set_ticks(np.linspace(0, 1, 6), labels=[f"{p}%" for p in range(0, 101, 20)], fontsize=TICK_PT)


def reliability_figure(bins: list[CalibrationBin]) -> Figure:
    """Accuracy per confidence bin as bars (empty bins left out), the bin's mean confidence as a tick at that
    height over the bar (the gap between them is the bin's calibration error), the diagonal a perfectly calibrated
    network would follow, and each bin's image count at the foot of its bar."""
    low, width, count = _geometry(bins)
    filled = count > 0
    accuracy = np.array([b.correct / b.count if b.count else 0.0 for b in bins])
    confidence = np.array([b.confidence if b.confidence is not None else 0.0 for b in bins])
    figure = _new(5.2, 4.4)
    axes = figure.add_subplot()
    axes.bar(low[filled], accuracy[filled], width=width[filled], align="edge", color=ACCURACY_COLOUR,
             edgecolor="white", linewidth=0.6, label="accuracy in the bin")
    # the bin's mean confidence at the height it would have if calibrated: the gap to the bar is its error
    axes.scatter((low + width / 2)[filled], confidence[filled], marker="_", s=160, linewidths=2, color=GAP_COLOUR,
                 zorder=3, label="mean confidence in the bin")
    axes.plot([0, 1], [0, 1], linestyle="--", color="#555555", linewidth=1, label="perfect calibration")
    for x, w, y, n in zip(low[filled], width[filled], accuracy[filled], count[filled]):
        inside = y > COUNT_INSIDE  # white at the foot of a tall enough bar, dark above a short one
        axes.text(x + w / 2, 0.012 if inside else y + 0.012, f"{n:,}", ha="center", va="bottom", fontsize=COUNT_PT,
                  color="white" if inside else "#222222", rotation=90)
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.08)
    axes.set_aspect("equal", adjustable="box")
    _percent_axis(axes.xaxis)
    _percent_axis(axes.yaxis)
    axes.set_xlabel("confidence (largest softmax probability)", fontsize=LABEL_PT)
    axes.set_ylabel("accuracy", fontsize=LABEL_PT)
    axes.legend(fontsize=LEGEND_PT, frameon=False, loc="best")
    _title(figure, f"Reliability: accuracy against confidence, {len(bins)} equal-width bins")
    return figure


def reliability(bins: list[CalibrationBin]) -> bytes:
    return _png(reliability_figure(bins))


def confidence_histogram_figure(bins: list[CalibrationBin]) -> Figure:
    """Images per confidence bin, right predictions and wrong ones stacked."""
    low, width, count = _geometry(bins)
    right = np.array([b.correct for b in bins])
    figure = _new(6.4, 3.0)
    axes = figure.add_subplot()
    axes.bar(low, right, width=width, align="edge", color=CORRECT_COLOUR, edgecolor="white", linewidth=0.6,
             label="classified correctly")
    axes.bar(low, count - right, bottom=right, width=width, align="edge", color=WRONG_COLOUR, edgecolor="white",
             linewidth=0.6, label="misclassified")
    axes.set_xlim(0, 1)
    _percent_axis(axes.xaxis)
    axes.tick_params(axis="y", labelsize=TICK_PT)
    axes.set_xlabel("confidence (largest softmax probability)", fontsize=LABEL_PT)
    axes.set_ylabel("test images", fontsize=LABEL_PT)
    axes.legend(fontsize=LEGEND_PT, frameon=False, loc="best")
    _title(figure, "Confidence of the predictions, right and wrong")
    return figure


def confidence_histogram(bins: list[CalibrationBin]) -> bytes:
    return _png(confidence_histogram_figure(bins))
