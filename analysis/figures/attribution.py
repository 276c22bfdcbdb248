"""The figures of "Where the network looks", in the style of ``analysis.figures.plots`` (matplotlib's object API on
the Agg canvas, a fixed size at plots.DPI, so the same numbers give the same PNG bytes):

- ``overlay``: a test image in grey with an attribution map over it (the map's colour map, each pixel as opaque as
  its value: weak evidence fades into the image) and the colour scale under it, 0 to the map's maximum;
- ``faithfulness``: a method's deletion and insertion curves against a random order;
- ``randomisation``: a method's rank correlation and SSIM with the maps of the network re-drawn step by step, each
  with its 95% interval.

The charts are drawn from attribution.json's numbers (no array of their own).
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from PIL import Image, ImageDraw, ImageFont

from analysis.figures import images
from analysis.figures.plots import LABEL_PT, LEGEND_PT, TICK_PT, _categories, _every, _new, _png, _plain, _title
from analysis.store.schema import FaithfulnessCurve, Interval, RandomisationStep

OVERLAY_PX = 112      # the image is scaled up by an integer factor to about this size
OPACITY = 0.75        # a map pixel at the map's maximum covers the image this much; at 0 not at all
BAR_PX, BAR_LABEL_PX = 8, 12  # the colour bar under the image, and the band of its labels
METHOD_COLOUR, RANDOM_COLOUR = "#2458a6", "#6b7280"
RANK_COLOUR, SSIM_COLOUR = "#2458a6", "#c2410c"
# The page shows a method's two charts side by side at half the text width (about 3.4 in on A4): drawn at this
# size, their 8-point ticks print at about 6.5 points.
CHART_IN = (4.2, 2.6)


def _nearest(values: np.ndarray, height: int, width: int) -> np.ndarray:
    """A 2-D array resampled to height × width by nearest neighbour (the map has the image's size: a no-op then)."""
    rows = np.arange(height) * values.shape[0] // height
    columns = np.arange(width) * values.shape[1] // width
    return values[rows][:, columns]


def grey(image: np.ndarray) -> np.ndarray:
    """A uint8 (C, H, W) image as one grey channel (1, H, W): an RGB image by its luminance (ITU-R BT.601), so that
    the map's colours are the only colours of an overlay."""
    array = np.asarray(image, dtype=np.uint8)
    if array.shape[0] < 3:
        return array[:1]
    luminance = np.tensordot(np.array([0.299, 0.587, 0.114]), array[:3].astype(np.float64), axes=1)
    return np.round(luminance).astype(np.uint8)[None]


def overlay(image: np.ndarray, heat: np.ndarray, cmap: str, target_px: int = OVERLAY_PX) -> np.ndarray:
    """A uint8 (C, H, W) image (grey or RGB) and an (H, W) map in [0, 1] -> RGB uint8: the map through ``cmap`` over
    the image in grey, as opaque as its value (``OPACITY`` at 1), and the colour scale, 0 to the map's maximum, under
    it."""
    picture = images.picture(grey(image), target_px).astype(np.float64)
    height, width = picture.shape[:2]
    values = np.nan_to_num(np.clip(np.asarray(heat, dtype=np.float64), 0.0, 1.0), nan=0.0)
    values = _nearest(values, height, width)
    colours = images.colourise(values, 0.0, 1.0, cmap).astype(np.float64)
    alpha = OPACITY * values[..., None]
    blended = np.round(picture * (1 - alpha) + colours * alpha).astype(np.uint8)
    return np.concatenate([blended, _scale(cmap, width)], axis=0)


def _scale(cmap: str, width: int) -> np.ndarray:
    """The colour bar under an overlay: a white gap, the colour map from 0 to 1, "0" and "max" under its ends."""
    bar = images.colourbar(cmap, width=width, height=BAR_PX)
    band = Image.new("RGB", (width, BAR_LABEL_PX), (255, 255, 255))
    draw = ImageDraw.Draw(band)
    font = ImageFont.load_default(size=10)
    draw.text((0, -1), "0", fill=(60, 60, 60), font=font)
    right = draw.textlength("max", font=font)
    draw.text((width - right, -1), "max", fill=(60, 60, 60), font=font)
    gap = np.full((2, width, 3), 255, dtype=np.uint8)
    return np.concatenate([gap, bar, np.asarray(band)], axis=0)


# --- the checks' charts ---------------------------------------------------------------------------------------

def _interval(e: Interval) -> str:
    return f"{e.value:.2f} (95% CI {e.low:.2f} to {e.high:.2f})".replace("-", "−")


def faithfulness_figure(deletion: FaithfulnessCurve, insertion: FaithfulnessCurve, title: str) -> Figure:
    """Two panels: the mean probability of the class attributed as pixels are removed (deletion) and revealed
    (insertion), in the map's order and in a random order; each panel's heading gives the paired difference of
    the areas under the curves with its 95% interval."""
    figure = _new(*CHART_IN)
    panels = figure.subplots(1, 2, sharey=True)
    for axes, (check, curve) in zip(panels, (("removed", deletion), ("revealed", insertion))):
        fractions = np.asarray(curve.fractions, dtype=np.float64)
        axes.plot(fractions, curve.method, marker="o", markersize=3, color=METHOD_COLOUR, label="in the map's order")
        axes.plot(fractions, curve.random, marker="s", markersize=3, color=RANDOM_COLOUR, linestyle="--",
                  label="in a random order")
        axes.set_xlim(0, 1)
        axes.set_ylim(0, 1.05)
        axes.set_xlabel(f"share of pixels {check}", fontsize=LABEL_PT)
        axes.set_title(_plain(f"{'deletion' if check == 'removed' else 'insertion'}: difference of areas\n"
                              f"{_interval(curve.difference)}"), fontsize=LEGEND_PT - 1)
        axes.tick_params(labelsize=TICK_PT)
    panels[0].set_ylabel("mean probability of the class", fontsize=LABEL_PT)
    panels[0].legend(fontsize=LEGEND_PT, frameon=False, loc="best")
    _title(figure, title)
    return figure


def faithfulness(deletion: FaithfulnessCurve, insertion: FaithfulnessCurve, title: str) -> bytes:
    return _png(faithfulness_figure(deletion, insertion, title))


def randomisation_figure(steps: list[RandomisationStep], threshold: float, title: str) -> Figure:
    """Per step of the cascade (parameters re-drawn from the output layer down to that layer), the mean rank
    correlation and SSIM of the maps with the network's own (trained or not), each with its 95% interval as an
    error bar; a dashed line at ``threshold``, the value the last step's rank correlation is judged against."""
    figure = _new(*CHART_IN)
    axes = figure.add_subplot()
    positions = np.arange(len(steps), dtype=np.float64)
    for offset, (name, colour, marker, pick) in zip((-0.08, 0.08), (
            ("rank correlation", RANK_COLOUR, "o", lambda s: s.rank_correlation),
            ("SSIM", SSIM_COLOUR, "s", lambda s: s.ssim))):
        values = [pick(s) for s in steps]
        centre = np.array([v.value for v in values])
        below = centre - np.array([v.low for v in values])
        above = np.array([v.high for v in values]) - centre
        axes.errorbar(positions + offset, centre, yerr=np.vstack([below, above]), marker=marker, color=colour,
                      capsize=3, label=name)
    axes.axhline(threshold, color="#555555", linestyle="--", linewidth=1,
                 label=f"{threshold:g}: the last step judged against it")
    axes.set_ylim(min(-0.1, *(min(s.rank_correlation.low, s.ssim.low) - 0.05 for s in steps)), 1.05)
    step = _categories(axes.xaxis, [s.layer for s in steps], rotate=len(steps) > 4)
    axes.set_xlabel("parameters re-drawn from the output layer down to" + _every(step), fontsize=LABEL_PT)
    axes.set_ylabel("similarity to its own maps", fontsize=LABEL_PT)
    axes.tick_params(axis="y", labelsize=TICK_PT)
    axes.legend(fontsize=LEGEND_PT, frameon=False, loc="best")
    _title(figure, title)
    return figure


def randomisation(steps: list[RandomisationStep], threshold: float, title: str) -> bytes:
    return _png(randomisation_figure(steps, threshold, title))
