"""Figures and pages at any size (issue 30, item 7).

- The PDF keeps to a page budget: 60 samples (30 per class) or 100 classes give at most 30 pages, the default
  report about 16; long lists are summarised (the extremes of 1,770 sample pairs, a heat map for a 60 × 60 distance
  matrix), their full tables in tables/*.csv; nothing is wider than the page's text box (the laid-out boxes).
- The confusion matrix is coloured by each cell's share of its row (its true class), with the counts in the cells.
- PCA and t-SNE are drawn with one scale on both axes; each class keeps one colour in every figure, and a class
  named after a colour is drawn in that colour, never another class's colour name; at 100 classes the names are
  written on the map instead of a legend.
- Activation maps smaller than 3 × 3 are left out of the map grids, and the report says so.
"""

from __future__ import annotations

import json

import numpy as np
import pagefill
import pytest
from conftest import run_cli
from matplotlib.colors import to_rgb
from synthetic import documents, embeddings_doc, write_store

from analysis.figures import plots
from analysis.store.schema import DISTANCE_TABLE_MAX_SAMPLES, HEATMAP_NUMBERS_MAX_CLASSES
from report.pipeline import current_store
from report.render.load import load_findings
from report.render.views import Place
from report.render.views.network import activations_view
from report.render.views.samples import PAIR_EXTREMES, PAIRS_LISTED, distances_view, embeddings_view

PAGE_BUDGET = 30         # pages for 100 classes or 60 samples
DEFAULT_PAGES = 21       # "about 16" and 3 of attribution maps: the default report, with room for a section's growth,
                         # not for a list's
COLOURS = ["red", "green", "blue", "plate"]

# A model of four convolutions on 12 × 12 images: maps of 10 × 10, 3 × 3 and 1 × 1 (the last left out).
TINY_MODEL = '''
import torch
from torch import nn


class Tiny(nn.Module):
    def __init__(self, num_classes: int = 2):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(4, 8, 3)
        self.conv3 = nn.Conv2d(8, 8, 3)
        self.fc = nn.Linear(8, num_classes)

    def forward(self, x):
        x = self.pool(torch.relu(self.conv1(x)))
        x = torch.relu(self.conv2(x))
        return self.fc(torch.flatten(torch.relu(self.conv3(x)), 1))
'''


# --- class colours ------------------------------------------------------------------------------------------

def test_a_class_named_after_a_colour_is_drawn_in_it_and_no_other_class_looks_like_it():
    colours = plots.class_colours(COLOURS)
    assert colours[:3] == [to_rgb("red"), to_rgb("green"), to_rgb("blue")]
    assert not any(plots.same_colour_name(colours[3], named) for named in colours[:3])  # "plate" is none of them
    # the same classes in another order keep their colours; a lone colour name still gets its own colour
    assert dict(zip(COLOURS[::-1], plots.class_colours(COLOURS[::-1])))["red"] == to_rgb("red")
    assert plots.class_colours(["plate", "Dark_Green"])[1] == to_rgb("darkgreen")
    # two names of one colour: the second is a grey, not the first one's colour
    assert plots.class_colours(["red", "crimson", "x"])[1] in plots.NEUTRALS
    # single letters are letters, not matplotlib's "r", "g", "b"
    assert plots.colour_name("b") is None and plots.colour_name("Light Blue") == "lightblue"


def test_plain_class_names_keep_the_ten_usual_colours_and_twenty_are_distinct():
    assert plots.class_colours([str(d) for d in range(10)]) == list(plots.colormaps["tab10"].colors)
    assert len(set(plots.class_colours([f"c{i}" for i in range(20)]))) == 20
    assert len(set(plots.class_colours(["red", "green", "blue", *(f"c{i}" for i in range(17))]))) == 20


def _blobs(classes: int, each: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(classes), each)
    centres = rng.normal(size=(classes, 2)) * 10
    return centres[labels] + rng.normal(size=(len(labels), 2)) * np.array([4.0, 0.5]), labels


def test_scatter_is_equal_aspect_and_draws_each_class_in_its_colour():
    points, labels = _blobs(4, 30)
    figure = plots.scatter_figure(points, labels, COLOURS, "PCA", "PC 1", "PC 2")
    axes = figure.axes[0]
    assert axes.get_aspect() == 1.0  # one unit as long on both axes
    drawn = {c.get_label(): tuple(c.get_facecolor()[0][:3]) for c in axes.collections}
    assert drawn == {name: tuple(colour) for name, colour in zip(COLOURS, plots.class_colours(COLOURS))}
    assert [t.get_text() for t in axes.get_legend().get_texts()] == COLOURS


def test_a_hundred_classes_are_named_on_the_map_without_overlaps():
    points, labels = _blobs(100, 5)
    names = ["red", "green", "blue", "plate", *(f"k{i}" for i in range(4, 100))]
    figure = plots.scatter_figure(points, labels, names, "PCA", "PC 1", "PC 2")
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    axes = figure.axes[0]
    assert axes.get_legend() is None and axes.get_aspect() == 1.0
    written = [t for t in axes.texts if t.get_text()]
    left_out = 100 - len(written)
    assert len(written) >= 30, "most names fit beside each other"
    boxes = [t.get_window_extent(renderer) for t in written]
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    frame = axes.get_window_extent(renderer)
    assert all(frame.x0 <= b.x0 and b.x1 <= frame.x1 and frame.y0 <= b.y0 and b.y1 <= frame.y1 for b in boxes)
    title = figure._suptitle.get_text()
    assert "written at the middle of its points" in title
    assert (f"{left_out} of them left out" in title) if left_out else "left out" not in title


# --- confusion matrix ---------------------------------------------------------------------------------------

def test_the_confusion_matrix_is_coloured_by_row_share_with_the_counts_printed():
    counts = np.array([[5, 5, 0], [500, 500, 0], [0, 3, 997]])  # rows of 10, 1,000 and 1,000 images
    figure = plots.confusion_figure(counts, ["a", "b", "c"], "Confusion matrix")
    axes = figure.axes[0]
    shares = axes.images[0].get_array()
    assert shares[0, 0] == shares[1, 0] == 0.5 and shares[2, 1] == pytest.approx(0.003)  # 5 of 10 = 500 of 1,000
    assert axes.images[0].norm(0.003) > 0.05 and axes.images[0].norm(0.0) == 0  # a 0.3% error stands apart from 0
    assert sorted(t.get_text() for t in axes.texts) == sorted(str(n) for n in counts.ravel())
    assert "share of the true class" in figure.axes[1].get_ylabel()
    assert [t.get_text() for t in figure.axes[1].get_yticklabels()][-1] == "100%"
    # beyond the heat map's rule the counts are left out, the shares still colour the cells
    many = HEATMAP_NUMBERS_MAX_CLASSES + 2
    big = plots.confusion_figure(np.eye(many, dtype=int) * 9 + 1, [str(i) for i in range(many)], "t")
    assert len(big.axes[0].texts) == 0 and big.axes[0].images[0].get_array()[0, 0] == pytest.approx(10 / (9 + many))


def test_the_errors_caption_says_what_the_colour_and_the_numbers_are(tmp_path):
    from report.render.views.whole_split import errors_view

    docs = documents()
    caption = errors_view(load_findings(write_store(tmp_path / "s", docs)), Place("s", {}, "s")).confusion.caption
    assert "colour is its share of its row" in caption and "number in a cell is its count" in caption
    docs["separation.json"]["confusion_colour"] = "images"  # an older store: its figure coloured the counts
    old = errors_view(load_findings(write_store(tmp_path / "old", docs)), Place("s", {}, "s")).confusion.caption
    assert "share" not in old


# --- sample distances: the extremes of many pairs, a heat map for wide matrices -----------------------------

@pytest.mark.parametrize("classes", [2, 30])
def test_the_sample_distance_heat_maps_keep_their_text_inside_the_figure(classes):
    from test_figures import TOLERANCE_PX, _texts

    rng = np.random.default_rng(classes)
    groups = [f"a_rather_long_class_name_{c}" for c in np.repeat(np.arange(classes), 60 // classes)]
    matrix = rng.uniform(0, 5, (60, 60))
    figure = plots.sample_distances_figure([("MSE", matrix), ("Euclidean", matrix), ("Cosine", matrix / 5)], groups,
                                           "Distances between every two of the 60 samples S1–S60 (diagonal: zero)")
    figure.canvas.draw()
    renderer, canvas = figure.canvas.get_renderer(), figure.bbox
    for text in _texts(figure):
        box = text.get_window_extent(renderer)
        assert canvas.x0 - TOLERANCE_PX <= box.x0 and box.x1 <= canvas.x1 + TOLERANCE_PX, text.get_text()
        assert canvas.y0 - TOLERANCE_PX <= box.y0 and box.y1 <= canvas.y1 + TOLERANCE_PX, text.get_text()
    assert [a.get_title() for a in figure.axes[:3]] == ["MSE", "Euclidean", "Cosine"]


def _many_samples(tmp_path, per_class: int, image: str | None = "images/sample_distances.png"):
    rng = np.random.default_rng(1)
    labels = [1] * per_class + [2] * per_class
    vectors = (rng.normal(size=(len(labels), 6)) + np.array(labels)[:, None]).round(3).tolist()
    docs = documents()
    docs["embeddings.json"] = embeddings_doc(vectors=vectors, labels=labels, per_class=per_class)
    if image:
        docs["embeddings.json"]["matrix_image"] = image
    return load_findings(write_store(tmp_path / "stores", docs, key=f"many{per_class}{bool(image)}"))


def test_sixty_samples_show_the_extreme_pairs_and_heat_maps_instead_of_1770_rows(tmp_path):
    f = _many_samples(tmp_path, 30)
    view = distances_view(f, Place("stores/x", {}, "stores/x"))
    pairs = f.embeddings.distances["mse"].pairs
    assert len(pairs) == 1770 and len(view.pairs) == 2 * PAIR_EXTREMES
    intra = sorted((p for p in pairs if p.kind == "intra"), key=lambda p: -p.distance)[:PAIR_EXTREMES]
    inter = sorted((p for p in pairs if p.kind == "inter"), key=lambda p: p.distance)[:PAIR_EXTREMES]
    assert [r.samples for r in view.pairs] == [f"S{p.i + 1}–S{p.j + 1}" for p in intra + inter]
    assert "of all 1,770 pairs" in view.pairs_caption and "tables/distance_pairs.csv" in view.pairs_caption
    assert view.matrices == [] and view.matrix_figure.src == "stores/x/images/sample_distances.png"
    assert "60 × 60" in view.matrix_figure.caption and view.matrix_note == ""
    embeddings = embeddings_view(f, Place("stores/x", {}, "stores/x"))
    assert embeddings.sheet.startswith("The 60 samples S1–S60") and len(embeddings.blocks) == 1  # 60 lines, not 240
    # an older store without the figure says where the numbers are
    old = distances_view(_many_samples(tmp_path, 30, image=None), Place("stores/x", {}, "stores/x"))
    assert old.matrix_figure is None and "tables/distance_matrices.csv" in old.matrix_note


def test_a_few_samples_keep_every_pair_and_the_full_matrices(tmp_path):
    f = _many_samples(tmp_path, 4, image=None)  # 8 samples: 28 pairs
    view = distances_view(f, Place("stores/x", {}, "stores/x"))
    assert len(view.pairs) == PAIRS_LISTED == 28 and view.pairs_caption.startswith("Distances between every pair")
    assert len(view.matrices) == 3 and view.matrix_figure is None and view.matrix_note == ""
    assert view.sample_labels == [f"S{n}" for n in range(1, 9)] and 8 <= DISTANCE_TABLE_MAX_SAMPLES
    assert embeddings_view(f, Place("stores/x", {}, "stores/x")).sheet == ""


def test_many_classes_of_one_sample_keep_the_closest_pairs_of_classes_in_the_mean_table(tmp_path):
    rng = np.random.default_rng(2)
    docs = documents()
    docs["embeddings.json"] = embeddings_doc(vectors=rng.normal(size=(10, 6)).round(3).tolist(), labels=list(range(10)),
                                             per_class=1)
    f = load_findings(write_store(tmp_path / "stores", docs, key="ten"))
    view = distances_view(f, Place("stores/x", {}, "stores/x"))
    assert view.pairs_caption.startswith("The 10 inter-class pairs closest together by MSE, of all 45 pairs")
    assert len(view.means) == PAIR_EXTREMES and "the 10 pairs of classes closest together" in view.means_caption
    means = [float(row.values[0]) for row in view.means]
    assert means == sorted(means) and means[0] == pytest.approx(min(p.distance for p in f.embeddings.distances["mse"]
                                                                    .pairs), rel=1e-3)
    assert len(view.matrices) == 3  # ten samples: the matrices still fit as tables


def test_layers_with_maps_smaller_than_three_pixels_are_named_as_left_out(tmp_path):
    docs = documents()
    docs["activations.json"]["small"] = [{"module": "head", "label": "head (Conv2d output)", "shape": [16, 1, 1]}]
    view = activations_view(load_findings(write_store(tmp_path / "s", docs)), Place("s", {}, "s"))
    assert view.left_out.startswith("Left out of the grids: head (Conv2d output), whose maps are 1 × 1 pixels. A map "
                                    "smaller than 3 × 3 pixels is one number or a few per channel")
    assert activations_view(load_findings(write_store(tmp_path / "t", documents(), "t")), Place("s", {}, "s")).left_out == ""


# --- whole reports --------------------------------------------------------------------------------------------

def overflowing(document, tolerance: float = 1.0) -> list[tuple]:
    """(page, box, its left and right edge, the text box's right edge) of every table, cell, line or picture that
    reaches outside the page's text box: on paper that part is cut off."""
    from weasyprint.formatting_structure import boxes

    found = []
    for number, page in enumerate(document.pages, start=1):
        left = page._page_box.content_box_x()
        right = left + page._page_box.width
        for box in pagefill._content(page):
            if isinstance(box, (boxes.TableBox, boxes.TableCellBox, boxes.ReplacedBox, boxes.LineBox)):
                x0, x1 = box.border_box_x(), box.border_box_x() + box.border_width()
                if x0 < left - tolerance or x1 > right + tolerance:
                    found.append((number, type(box).__name__, box.element_tag, round(x0), round(x1), round(right)))
    return found


def _npz(path, classes: int, per_class: int):
    rng = np.random.default_rng(0)

    def split(each):
        labels = np.repeat(np.arange(classes), each)
        # each class a pattern of its own, with noise: the classes are not all alike
        patterns = rng.integers(0, 256, (classes, 12, 12))
        noise = rng.integers(-40, 40, (len(labels), 12, 12))
        return np.clip(patterns[labels] + noise, 0, 255).astype(np.uint8), labels.astype(np.int64)

    (x_train, y_train), (x_test, y_test) = split(2), split(per_class)
    np.savez_compressed(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path


def _build(tmp_path, classes: int, per_class: int, *options: str):
    (tmp_path / "budget_models.py").write_text(TINY_MODEL)
    data = _npz(tmp_path / "data.npz", classes, per_class)
    out = tmp_path / "build"
    result = run_cli("--model", "budget_models:Tiny", "--model-kwargs", json.dumps({"num_classes": classes}),
                     "--data", str(data), "--out", str(out), "--quiet", *options, env={"PYTHONPATH": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    return out


def _pages(out) -> int:
    from pypdf import PdfReader

    return len(PdfReader(out / "report.pdf").pages)


@pytest.mark.slow  # builds a whole report
def test_sixty_samples_fit_the_page_budget_and_nothing_is_cut_off(tmp_path):
    out = _build(tmp_path, 2, 40, "--per-class", "30")
    pages = _pages(out)
    assert pages <= PAGE_BUDGET, f"{pages} pages"
    document = pagefill.layout(out)
    assert len(document.pages) == pages
    assert overflowing(document) == []
    html = (out / "report.html").read_text()
    assert "of all 1,770 pairs" in html and 'class="sample-sheet"' in html
    assert 'data-table="distance_matrices"' not in html and "sample_distances.png" in html
    rows = (out / "tables" / "distance_pairs.csv").read_text().splitlines()
    assert len(rows) == 1 + 3 * 1770  # the CSV keeps every pair of every metric


@pytest.mark.slow  # builds a whole report
def test_a_hundred_classes_fit_the_page_budget_and_nothing_is_cut_off(tmp_path):
    # one name of 80 letters without a space: its column must not push the table's last columns off the page
    names = ",".join([*COLOURS, "apple", "baby", *(f"k{i}" for i in range(6, 99)), "x" * 80])
    out = _build(tmp_path, 100, 5, "--class-names", names)
    pages = _pages(out)
    assert pages <= PAGE_BUDGET, f"{pages} pages"
    assert overflowing(pagefill.layout(out)) == []
    f = load_findings(current_store(out))
    assert [(s.module, s.shape) for s in f.activations.small] == [("conv3", [8, 1, 1])]
    assert [g.module for g in f.map_grids] == ["conv1", "conv2"]
    assert f.separation.confusion_colour == "row share"
    html = (out / "report.html").read_text()
    assert "Left out of the grids: conv3" in html and "share of its row" in html


@pytest.mark.slow  # builds (trains) the default report
def test_the_default_report_stays_about_sixteen_pages(default_build):
    out = default_build[0]
    assert _pages(out) <= DEFAULT_PAGES
    assert overflowing(pagefill.layout(out)) == []
    assert load_findings(current_store(out)).separation.confusion_colour == "row share"
