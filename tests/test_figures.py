"""Pictures that cannot mislead (issue 13, item 6).

- No chart clips its title, axis labels, tick labels, legend or colour bar, at 2, 3, 10 and 100 classes (or
  layers, checkpoints, tensors, filters) and with long names.
- A heat map prints its numbers at least 7 pt high in print, or none at all.
- compare draws both checkpoints' kernels on one colour scale.
- The same inputs give the same PNG bytes.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from matplotlib.text import Text

from analysis.figures import images, plots
from analysis.store.schema import HEATMAP_NUMBERS_MAX_CLASSES

COUNTS = (2, 3, 10, 100)
LONG = "a_rather_long_class_name_from_a_hostile_data_set"
TOLERANCE_PX = 0.5


def names_for(count: int, long: bool) -> list[str]:
    return [f"{LONG}_{i}" if long else str(i) for i in range(count)]


def _heatmap(count, long):
    rng = np.random.default_rng(count)
    matrix = rng.uniform(0, 3, (count, count))
    return plots.heatmap_figure(matrix, names_for(count, long), "Mean mse between classes (diagonal: within a class) "
                                "of a data set whose title is long enough to need wrapping", "mse")


def _confusion(count, long):
    matrix = np.random.default_rng(count).integers(0, 1000, (count, count))
    return plots.confusion_figure(matrix, names_for(count, long), "Confusion matrix (rows: true class, columns: "
                                  "predicted; colour: each cell's share of its row)")


def _scatter(count, long):
    rng = np.random.default_rng(count)
    labels = np.arange(400) % count
    return plots.scatter_figure(rng.normal(size=(400, 2)) * 100, labels, names_for(count, long),
                                "PCA of the fc1 embedding (10,000 test images)", "PC 1 (41% of variance)",
                                "PC 2 (12%)")


def _depth(count, long):
    layers = [f"features.{i}.conv (call 2)" if long else f"conv{i}" for i in range(count)]
    values = np.linspace(0.1, 3.0, count)
    return plots.depth_lines_figure(layers, [None, *values[1:]], list(values / 3), "mse")


def _filters(count, long):
    rng = np.random.default_rng(count)
    label = "features.module_with_a_long_name.7" if long else "relu1"
    return plots.filter_bars_figure(rng.uniform(0, 2, count), rng.uniform(0, 1, count),
                                    f"{label}: mean activation per filter (darker: more often all zero)")


def _series(count, long):
    labels = [f"checkpoint_epoch_{i:04d}_step_{i * 1200:07d}.pt" if long else f"e{i}.pt" for i in range(count)]
    values = list(np.linspace(0.5, 0.99, count))
    return plots.series_figure(labels, {"test accuracy": values, "nearest-centroid accuracy": [None, *values[1:]]},
                               "Accuracy over the series", "share of test images",
                               secondary={"silhouette": list(np.linspace(0, 1, count))})


def _bars(count, long):
    names = [f"layer{i}.0.downsample.1.running_var" if long else f"t{i}" for i in range(count)]
    return plots.bars_figure(names, np.linspace(0, 0.4, count),
                             "Relative change of each parameter tensor, ‖B − A‖ / ‖A‖", "relative change",
                             "parameter tensor")


PLOTS = {"heatmap": _heatmap, "confusion": _confusion, "scatter": _scatter, "depth_lines": _depth,
         "filter_bars": _filters, "series": _series, "bars": _bars}


def _drawn(figure):
    figure.canvas.draw()
    return figure.canvas.get_renderer()


def _in_view(label: Text, axis) -> bool:
    low, high = sorted(axis.get_view_interval())
    position = label.get_position()[0 if axis.axis_name == "x" else 1]
    return low - 1e-9 <= position <= high + 1e-9


def _texts(figure) -> list[Text]:
    """Every piece of text the figure draws: titles, axis labels, tick labels in view, legends, annotations."""
    texts = [t for t in (figure._suptitle, figure._supxlabel, figure._supylabel) if t is not None]
    for axes in figure.axes:
        texts += [axes.title, axes._left_title, axes._right_title, *axes.texts]
        for axis in (axes.xaxis, axes.yaxis):
            if not axis.get_visible():  # the shared axis of a twin
                continue
            texts.append(axis.label)
            texts += [t for t in axis.get_ticklabels() if _in_view(t, axis)]
        if axes.get_legend():
            texts += axes.get_legend().get_texts()
    return [t for t in texts if t.get_visible() and t.get_text()]


@pytest.mark.slow  # every plot at every class count: the full suite, not the editing loop
@pytest.mark.parametrize("count", COUNTS)
@pytest.mark.parametrize("name", sorted(PLOTS))
def test_no_text_is_clipped(name, count):
    figure = PLOTS[name](count, True)  # long class names: the harder case for every layout
    renderer = _drawn(figure)
    canvas = figure.bbox
    for text in _texts(figure):
        box = text.get_window_extent(renderer)
        assert (box.x0 >= canvas.x0 - TOLERANCE_PX and box.y0 >= canvas.y0 - TOLERANCE_PX
                and box.x1 <= canvas.x1 + TOLERANCE_PX and box.y1 <= canvas.y1 + TOLERANCE_PX), \
            f"{name} at {count}: {text.get_text()!r} at {box} outside {canvas}"
    tight = figure.get_tightbbox(renderer)  # in inches: everything drawn, legends and colour bars included
    assert tight.x0 >= -0.01 and tight.y0 >= -0.01, (name, count, tight)
    assert tight.x1 <= figure.get_figwidth() + 0.01 and tight.y1 <= figure.get_figheight() + 0.01, (name, count, tight)


@pytest.mark.slow  # every plot at every class count: the full suite, not the editing loop
@pytest.mark.parametrize("count", COUNTS)
@pytest.mark.parametrize("name", ["heatmap", "depth_lines", "series", "bars"])
def test_categorical_tick_labels_do_not_overlap(name, count):
    figure = PLOTS[name](count, True)
    renderer = _drawn(figure)
    axes = figure.axes[0]
    boxes = [t.get_window_extent(renderer) for t in axes.xaxis.get_ticklabels() if _in_view(t, axes.xaxis)]
    assert len(boxes) <= plots.TICK_LABELS
    # rotated labels: their baselines are spaced; compare their right ends along the axis
    ends = sorted(b.x1 for b in boxes)
    assert all(b - a >= plots.TICK_PT * 0.9 * figure.dpi / 72 for a, b in itertools.pairwise(ends)), (name, count)


def test_long_titles_are_wrapped_and_cut():
    text = " ".join(["word"] * 200) + " " + "x" * 300
    wrapped = plots.wrap(text, 10, 400)
    lines = wrapped.split("\n")
    assert len(lines) == plots.TITLE_LINES and lines[-1].endswith("…")
    assert all(plots.text_width(line, 10) <= 400 for line in lines)
    assert plots.wrap("x" * 300, 10, 100, lines=100).count("\n") >= 3  # a long word is cut
    assert plots.wrap("price in $ and $$", 10, 400) == r"price in \$ and \$\$"  # never math mode


def test_tick_step_labels_at_most_the_limit():
    assert [plots.tick_step(n) for n in (2, 25, 26, 100, 1000)] == [1, 1, 2, 5, 50]


# --- heat-map numbers ---------------------------------------------------------------------------------------

@pytest.mark.slow  # every plot at every class count: the full suite, not the editing loop
@pytest.mark.parametrize("count", [2, 3, 5, HEATMAP_NUMBERS_MAX_CLASSES, HEATMAP_NUMBERS_MAX_CLASSES + 1, 20, 100])
@pytest.mark.parametrize("kind", ["heatmap", "confusion"])
def test_heatmap_numbers_are_at_least_7_pt_in_print_or_left_out(kind, count):
    figure = PLOTS[kind](count, False)
    renderer = _drawn(figure)
    axes = figure.axes[0]
    numbers = axes.texts
    if count > HEATMAP_NUMBERS_MAX_CLASSES:
        assert len(numbers) == 0
        return
    assert len(numbers) == count * count
    scale = plots.print_scale(figure)
    assert all(t.get_fontsize() * scale >= plots.MIN_PRINT_PT - 1e-9 for t in numbers)
    cell = axes.get_window_extent(renderer).width / count
    assert all(t.get_window_extent(renderer).width <= cell for t in numbers)  # each fits its cell


def test_the_print_scale_follows_the_stylesheet():
    """report.css prints `figure.plot img` at most 70% of the A4 text width (178 mm)."""
    figure = plots._new(6.4, 5.8)
    assert plots.print_scale(figure) == pytest.approx(0.70 * 178 / 25.4 / 6.4)
    small = plots._new(2.0, 2.0)  # narrower than the cap: printed at its CSS pixel size
    assert plots.print_scale(small) == pytest.approx(plots.DPI / plots.CSS_PX_PER_IN)


def test_heatmap_axes_say_class():
    figure = PLOTS["heatmap"](3, False)
    assert (figure.axes[0].get_xlabel(), figure.axes[0].get_ylabel()) == ("class", "class")
    figure = PLOTS["confusion"](3, False)
    assert (figure.axes[0].get_xlabel(), figure.axes[0].get_ylabel()) == ("predicted class", "true class")
    assert PLOTS["heatmap"](100, False).axes[0].get_xlabel() == "class (every 5th labelled)"


def test_values_too_wide_for_the_cells_are_left_out_with_a_note():
    matrix = np.full((10, 10), 123456.789)
    figure = plots.heatmap_figure(matrix, names_for(10, False), "t", "x")
    assert len(figure.axes[0].texts) == 0 and "too wide" in figure._suptitle.get_text()


def test_filter_bars_show_their_shading_on_a_colour_bar():
    figure = PLOTS["filter_bars"](10, False)
    assert len(figure.axes) == 2  # the bars and the colour bar of the shades
    bar = figure.axes[1]
    assert [t.get_text() for t in bar.get_yticklabels()] == ["0%", "50%", "100%"]
    assert "never positive" in bar.get_ylabel()
    assert all(float(t).is_integer() for t in figure.axes[0].get_xticks())  # channel indices, never 0.5


# --- compare's kernels --------------------------------------------------------------------------------------

def _states(a_max: float, b_max: float, channels: int = 1):
    import torch

    a = torch.linspace(-a_max, a_max, 6 * channels * 9).reshape(6, channels, 3, 3)
    b = torch.linspace(-b_max, b_max, 6 * channels * 9).reshape(6, channels, 3, 3).flip(0)
    return ({"conv1.weight": a, "conv1.bias": torch.zeros(6), "fc.weight": torch.ones(2, 4)},
            {"conv1.weight": b, "conv1.bias": torch.zeros(6), "fc.weight": torch.ones(2, 4)})


def test_compare_draws_both_kernel_grids_on_one_scale(tmp_path):
    from analysis import compare
    from analysis.store.writer import StoreWriter

    state_a, state_b = _states(0.5, 2.0)
    writer = StoreWriter(tmp_path / "k")
    record = compare.draw_kernels(state_a, state_b, writer)
    assert record["layer"] == "conv1" and (record["vmin"], record["vmax"]) == (-2.0, 2.0)
    assert record["colouring"] == "single channel" and record["shape"] == [6, 1, 3, 3]
    writer.commit({"key": "k", "kind": "compare", "inputs": {}})
    store = tmp_path / "k"
    assert {record["a"], record["b"], record["colourbar"]} == {"images/kernels_a.png", "images/kernels_b.png",
                                                              "images/kernel_colourbar.png"}
    from PIL import Image

    grid_a = np.asarray(Image.open(store / record["a"]))
    grid_b = np.asarray(Image.open(store / record["b"]))
    # the same bound for both: B's largest weight takes the end of the scale, A's only a quarter of the way
    expected_a = images.grid(state_a["conv1.weight"].numpy()[:, 0], -2.0, 2.0, record["cmap"], 8,
                             [str(i) for i in range(6)])
    expected_b = images.grid(state_b["conv1.weight"].numpy()[:, 0], -2.0, 2.0, record["cmap"], 8,
                             [str(i) for i in range(6)])
    assert np.array_equal(grid_a, expected_a) and np.array_equal(grid_b, expected_b)
    table = images.colour_table(record["cmap"])
    colours_a = {tuple(c) for c in grid_a.reshape(-1, 3)}
    assert tuple(table[255]) not in colours_a and tuple(table[0]) not in colours_a  # A never reaches ±2
    colours_b = {tuple(c) for c in grid_b.reshape(-1, 3)}
    assert tuple(table[255]) in colours_b and tuple(table[0]) in colours_b


def test_shared_kernel_grids_share_the_bound():
    a = np.full((2, 1, 3, 3), 0.5)
    b = np.full((2, 1, 3, 3), -2.0)
    (grid_a, grid_b), bound, colouring = images.shared_kernel_grids([a, b], "RdBu_r", columns=8)
    assert bound == 2.0 and colouring == "single channel"
    first = images.GAP_PX + images.LABEL_PX + 1, images.GAP_PX + 1
    table = images.colour_table("RdBu_r")
    assert tuple(grid_a[first]) == tuple(table[int((0.5 / 2.0 + 1) / 2 * 256)])
    assert tuple(grid_b[first]) == tuple(table[0])


def test_shared_rgb_kernels_keep_zero_grey_on_one_scale():
    a = np.zeros((1, 3, 3, 3))
    a[0, 0] = 1.0  # red channel at +1
    b = np.full((1, 3, 3, 3), -4.0)
    (grid_a, grid_b), bound, colouring = images.shared_kernel_grids([a, b], "RdBu_r", columns=8)
    assert (bound, colouring) == (4.0, "rgb")
    first = images.GAP_PX + images.LABEL_PX + 1, images.GAP_PX + 1
    assert tuple(grid_a[first]) == (159, 128, 128) and tuple(grid_b[first]) == (0, 0, 0)


def test_compare_kernels_need_a_convolution_in_both(tmp_path):
    import torch

    from analysis import compare
    from analysis.store.writer import StoreWriter

    state_a, state_b = _states(1.0, 1.0)
    state_b["conv1.weight"] = torch.zeros(6, 1, 5, 5)  # another shape: nothing to set side by side
    writer = StoreWriter(tmp_path / "k")
    try:
        assert compare.draw_kernels(state_a, state_b, writer) is None
        assert compare.draw_kernels({"fc.weight": torch.ones(2, 2)}, {"fc.weight": torch.ones(2, 2)}, writer) is None
    finally:
        writer.abort()


def test_compare_kernels_ignore_non_finite_weights(tmp_path):
    from analysis import compare
    from analysis.store.writer import StoreWriter

    state_a, state_b = _states(0.5, 1.5)
    state_a["conv1.weight"][0, 0, 0, 0] = float("nan")
    state_b["conv1.weight"][0, 0, 0, 0] = float("inf")
    writer = StoreWriter(tmp_path / "k")
    try:
        record = compare.draw_kernels(state_a, state_b, writer)
        assert record["vmax"] == pytest.approx(1.5)
    finally:
        writer.abort()


# --- the same inputs, the same bytes ------------------------------------------------------------------------

def test_every_plot_gives_the_same_bytes_for_the_same_inputs():
    rng = np.random.default_rng(0)
    matrix = rng.uniform(0, 3, (4, 4))
    calls = [
        lambda: plots.heatmap(matrix, names_for(4, True), "t", "mse"),
        lambda: plots.heatmap(np.arange(144).reshape(12, 12), names_for(12, False), "t", "images", integer=True),
        lambda: plots.scatter(np.arange(40.0).reshape(20, 2), np.arange(20) % 3, ["a", "b", "c"], "t", "x", "y"),
        lambda: plots.depth_lines(["a", "b", "c"], [None, 1.0, 2.0], [0.1, 0.2, 0.3], "mse"),
        lambda: plots.filter_bars(np.arange(8.0), np.linspace(0, 1, 8), "t"),
        lambda: plots.series(["x", "y"], {"a": [1, None]}, "t", "y", secondary={"s": [0.1, 0.2]}),
        lambda: plots.bars(["a", "b"], np.array([0.1, 0.2]), "t", "y"),
        lambda: images.png_bytes(images.shared_kernel_grids([matrix[None, None], -matrix[None, None]], "RdBu_r",
                                                            columns=8)[0][0]),
    ]
    for call in calls:
        assert call() == call()


# --- what the views say about the figures -------------------------------------------------------------------

SHARED = {"layer": "conv1", "shape": [4, 1, 3, 3], "shown": 4, "columns": 8, "colouring": "single channel",
          "cmap": "RdBu_r", "vmin": -0.75, "vmax": 0.75, "a": "images/kernels_a.png", "b": "images/kernels_b.png",
          "colourbar": "images/kernel_colourbar.png"}
COMPARE = {"a": {"file": "a.pt", "sha256": "12" * 32, "store": "a"}, "b": {"file": "b.pt", "sha256": "34" * 32,
                                                                           "store": "b"},
           "drift": [], "unmatched": [], "images": {"drift": "images/drift.png"}}


def _findings(tmp_path, change=None, key="synthetic"):
    from synthetic import documents, write_store

    from report.render.load import load_findings

    docs = documents()
    if change:
        change(docs)
    return load_findings(write_store(tmp_path / "stores", docs, key=key))


def _compare_page(view) -> str:
    from report.render.comparison import CompareContext
    from report.render.documents import render_template

    return render_template("compare.html.j2", CompareContext(title="t", generated="g", created_iso="c",
                                                             stylesheet="s.css", view=view))


def test_the_compare_view_shows_the_shared_scale_kernels(tmp_path):
    from report.render.views import compare_view

    a, b = _findings(tmp_path / "a", key="a"), _findings(tmp_path / "b", key="b")
    view = compare_view(a, b, {**COMPARE, "kernels": SHARED}, [], "stores/a", "stores/b", "compares/k")
    assert [k.src for k in view.kernels] == ["compares/k/images/kernels_a.png", "compares/k/images/kernels_b.png"]
    assert [k.caption for k in view.kernels] == ["A: conv1 kernels (all 4), kernel 0 at the top left.",
                                                 "B: conv1 kernels (all 4), kernel 0 at the top left."]
    assert (view.kernel_scale.src, view.kernel_scale.vmin, view.kernel_scale.vmax) == (
        "compares/k/images/kernel_colourbar.png", "−0.7500", "0.7500")
    assert view.kernel_note.startswith("Both grids share one colour scale, ±0.7500: the largest weight magnitude")
    assert "Blue negative, white zero, red positive" in view.kernel_note
    html = _compare_page(view)
    assert 'src="compares/k/images/kernel_colourbar.png"' in html and html.count('<div class="scale">') == 1
    assert "RdBu" not in html  # a colour map's name is no label

    rgb = {**SHARED, "colouring": "rgb", "cmap": "gray", "shape": [70, 3, 3, 3], "shown": 64}
    view = compare_view(a, b, {**COMPARE, "kernels": rgb}, [], "stores/a", "stores/b", "compares/k")
    assert view.kernels[0].caption == "A: conv1 kernels (the first 64 of 70), kernel 0 at the top left."
    assert "mid-grey (zero)" in view.kernel_note and "gray" not in _compare_page(view)


def test_an_older_comparison_falls_back_to_each_stores_own_kernels(tmp_path):
    from report.render.views import compare_view

    a, b = _findings(tmp_path / "a", key="a"), _findings(tmp_path / "b", key="b")
    for doc in (COMPARE, {**COMPARE, "kernels": None}, {**COMPARE, "kernels": {**SHARED, "layer": "other"}}):
        view = compare_view(a, b, doc, [], "stores/a", "stores/b", "compares/k")
        assert [k.src for k in view.kernels] == ["stores/a/images/conv1_kernels.png",
                                                 "stores/b/images/conv1_kernels.png"]
        assert view.kernel_scale is None and "its own checkpoint's colour scale" in view.kernel_note
        assert '<div class="scale">' not in _compare_page(view)


def test_heatmap_captions_say_when_the_cells_hold_no_numbers(tmp_path):
    from report.render.views import Place
    from report.render.views.whole_split import (
        errors_view,
        numbers_note,
        separation_view,
    )

    assert numbers_note(HEATMAP_NUMBERS_MAX_CLASSES) == ""
    assert "With 11 classes" in numbers_note(HEATMAP_NUMBERS_MAX_CLASSES + 1)
    place = Place("stores/synthetic", {}, "stores/synthetic")
    f = _findings(tmp_path)
    assert "classes" not in separation_view(f, place).heatmap.caption.split(".")[-2]
    assert "cells hold none" not in errors_view(f, place).confusion.caption
    many = _findings(tmp_path / "many", lambda d: d["separation.json"].update(classes=list(range(12))), key="many")
    view = separation_view(many, place)
    assert all("With 12 classes" in c for c in (view.heatmap.caption, view.centroids.caption,
                                                 errors_view(many, place).confusion.caption))


def test_the_filter_caption_names_what_the_shade_counts(tmp_path):
    from synthetic import separation_doc

    from report.render.views import Place
    from report.render.views.whole_split import filters_view

    place = Place("stores/synthetic", {}, "stores/synthetic")
    caption = filters_view(_findings(tmp_path), place).charts[0].caption
    assert "shade is the share of images on which the filter's map is all zero (darker: more of them)" in caption
    raw = _findings(tmp_path / "raw", lambda d: d.update({"separation.json": separation_doc(activated=False)}),
                    key="raw")
    assert "map is never positive" in filters_view(raw, place).charts[0].caption


def test_a_heatmap_of_thousands_of_classes_is_drawn_in_blocks_within_bounded_memory():
    """5,000 classes: drawn whole, matplotlib converted 25 million cells to RGBA (763 MiB) and the run failed."""
    import tracemalloc

    from analysis.figures import plots

    size = 3000
    matrix = np.add.outer(np.arange(size), np.arange(size)).astype(np.float64)
    tracemalloc.start()
    png = plots.heatmap(matrix, [f"c{i}" for i in range(size)], "title", "MSE")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert png.startswith(b"\x89PNG") and peak < 300 * 2**20, f"peak {peak / 2**20:.0f} MiB"
    shown, factor = plots._blocks(matrix)
    assert factor == 6 and shown.shape == (500, 500)
    assert shown[0, 0] == matrix[:6, :6].mean()
    assert plots._blocks(matrix[:2999, :2999])[0][-1, -1] == matrix[2994:2999, 2994:2999].mean()  # a partial block
    small = np.arange(16.0).reshape(4, 4)
    assert plots._blocks(small)[1] == 1 and plots._blocks(small)[0] is small  # small matrices drawn as they are


def test_characters_the_figure_font_lacks_are_one_line_and_other_warnings_pass_through():
    """matplotlib warns once per missing character and drawing (dozens for a few class names in another script):
    the figures step says it in one line, none under --quiet, and lets every other warning through."""
    import io
    import warnings

    from matplotlib.figure import Figure

    from report.figures import glyphs_missing

    def draw(text):
        figure = Figure()
        figure.text(0.5, 0.5, text)
        figure.savefig(io.BytesIO(), format="png")

    lines = []
    with pytest.warns(UserWarning, match="another warning"):
        with glyphs_missing(lines.append):
            draw("日本 cat")
            draw("日本語")
            warnings.warn("another warning")
    assert lines == ["report: the figures' font (DejaVu Sans) lacks 3 characters of the class names or labels "
                     "(日 本 語): the figures draw them as empty boxes"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a glyph warning that escaped would fail here
        with glyphs_missing(None):
            draw("日本")
        with glyphs_missing(lines.append):
            draw("plain")
    assert len(lines) == 1
