"""Figures drawn with matplotlib's object API on the Agg canvas: never pyplot, so nothing is kept open.

Every figure has a fixed size in inches, drawn at ``DPI``, so the same inputs give the same PNG bytes. Constrained
layout fits the title, axis labels, tick labels, legends and colour bars inside that canvas, and the text is
made to fit first: titles are wrapped to the figure's width (at most ``TITLE_LINES`` lines), labels longer than
``LABEL_CHARS`` are shortened, and an axis with more ticks than fit labels every k-th one (its label says so).

``<name>_figure`` builds a figure; ``<name>`` returns it as PNG bytes.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
from matplotlib import colormaps, patheffects
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import CSS4_COLORS, ListedColormap, Normalize, PowerNorm, to_rgb
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.textpath import text_to_path
from matplotlib.ticker import MaxNLocator

from analysis.figures import images
from analysis.store.schema import HEATMAP_NUMBERS_MAX_CLASSES

DPI = 110
HEATMAP_CMAP = "viridis"

# Print: a PNG is laid out at its pixel size in CSS pixels (1/96 in), and report.css caps `figure.plot img` at
# 70% of the A4 text width (210 mm less 2 × 16 mm margins). Text drawn at s pt prints at s × print_scale(figure).
CSS_PX_PER_IN = 96
PRINT_WIDTH_IN = 0.70 * (210 - 2 * 16) / 25.4
MIN_PRINT_PT = 7         # the smallest number a heat map prints in its cells

TITLE_PT = 10
LABEL_PT = 9             # axis and colour-bar labels
TICK_PT = 8
LEGEND_PT = 8
TITLE_LINES = 3
LABEL_CHARS = 22         # tick and legend labels longer than this are shortened, with an ellipsis
TICK_LABELS = 25         # at most this many labelled ticks on a categorical axis
LEGEND_CLASSES = 20      # beyond this many classes colours repeat, so a scatter plot names classes on the map
LEGEND_COLUMN = 10       # legend entries per column
CENTROID_LABELS = 100    # up to this many classes each class's name is written at the middle of its points
CENTROID_CHARS = 12      # those names are shortened to this many characters
MINOR_TICKS_MAX = 100    # a minor tick per class up to this many: beyond, they merge into a bar at the figure's
                         # size, and matplotlib builds an object per tick (seconds for a thousand classes)
ONE_COLLECTION_BEYOND = 100  # a scatter plot of more classes draws them as one collection
EDGE_PT = 6              # room kept free at the figure's edges for a wrapped title


def print_scale(figure: Figure) -> float:
    """Printed size over drawn size for the figure's text."""
    width = figure.get_figwidth()
    return min(width * DPI / CSS_PX_PER_IN, PRINT_WIDTH_IN) / width


def _png(figure: Figure) -> bytes:
    """RGB on white, not matplotlib's RGBA: the PDF can then embed the PNG data as it is, with no alpha mask."""
    canvas = FigureCanvasAgg(figure)
    figure.set_dpi(DPI)
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    return images.png_bytes(rgba[..., :3])


def _new(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


# --- text ---------------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=4096)
def text_width(text: str, size: float) -> float:
    """Width in points of plain text in the default font (what the Agg canvas draws)."""
    return text_to_path.get_text_width_height_descent(text, FontProperties(size=size), ismath=False)[0]


def _plain(text: str) -> str:
    """Text drawn as it is: a "$" would otherwise start matplotlib's math mode (and an odd one fail)."""
    return str(text).replace("$", r"\$")


def short(label, chars: int = LABEL_CHARS) -> str:
    """A label of at most ``chars`` characters, an ellipsis marking a cut."""
    label = " ".join(str(label).split())
    return label if len(label) <= chars else label[:chars - 1] + "…"


def wrap(text: str, size: float, width_pt: float, lines: int = TITLE_LINES) -> str:
    """``text`` broken into lines at most ``width_pt`` wide (a longer word is cut), at most ``lines`` of them."""
    out: list[str] = []
    for paragraph in str(text).split("\n"):
        line = ""
        for word in paragraph.split():
            candidate = f"{line} {word}" if line else word
            if text_width(candidate, size) <= width_pt:
                line = candidate
                continue
            if line:
                out.append(line)
            while len(word) > 1 and text_width(word, size) > width_pt:
                low, high = 1, len(word) - 1  # the longest start of the word that fits (at least a character)
                while low < high:
                    middle = (low + high + 1) // 2
                    low, high = (middle, high) if text_width(word[:middle], size) <= width_pt else (low, middle - 1)
                out.append(word[:low])
                word = word[low:]
            line = word
        out.append(line)
    if len(out) > lines:
        last = out[lines - 1]
        while last and text_width(last + "…", size) > width_pt:
            last = last[:-1]
        out = out[:lines - 1] + [last + "…"]
    return "\n".join(_plain(line) for line in out)


def _title(figure: Figure, text: str) -> None:
    """The figure's title, wrapped to its width (centred on the figure, so it never runs off either edge)."""
    figure.suptitle(wrap(text, TITLE_PT, figure.get_figwidth() * 72 - 2 * EDGE_PT), fontsize=TITLE_PT)


def _label(text: str, size: float, width_in: float) -> str:
    return wrap(text, size, width_in * 72 - 2 * EDGE_PT, lines=2)


def tick_step(count: int, most: int = TICK_LABELS) -> int:
    """1, 2, 5, 10, 20, 50...: the smallest that labels at most ``most`` of ``count`` ticks."""
    step, factors = 1, (2, 2.5, 2)
    index = 0
    while -(-count // step) > most:
        step = int(step * factors[index % 3])
        index += 1
    return step


def _every(step: int) -> str:
    return "" if step == 1 else f" (every {step}{'nd' if step == 2 else 'th'} labelled)"


def _categories(axis, names: list[str], rotate: bool) -> int:
    """One tick per name, a label on every k-th (k from ``tick_step``); returns k."""
    step = tick_step(len(names))
    shown = list(range(0, len(names), step))
    labels = [_plain(short(names[i])) for i in shown]
    if rotate:
        axis.set_ticks(shown, labels=labels, rotation=45, ha="right", rotation_mode="anchor", fontsize=TICK_PT)
    else:
        axis.set_ticks(shown, labels=labels, fontsize=TICK_PT)
    if step > 1 and len(names) <= MINOR_TICKS_MAX:
        axis.set_ticks(range(len(names)), minor=True)
    return step


def _long(names: list[str]) -> bool:
    return max((len(short(n)) for n in names), default=0) > 2


# --- heat map -----------------------------------------------------------------------------------------------

HEATMAP_SIZE = (6.4, 5.8)


def heatmap_figure(matrix: np.ndarray, names: list[str], title: str, colour_label: str, integer: bool = False,
                   row_label: str = "class", column_label: str = "class") -> Figure:
    """A square matrix with class names on both axes; its values printed in the cells when there are at most
    HEATMAP_NUMBERS_MAX_CLASSES classes and the numbers fit the cells at MIN_PRINT_PT in print (else the title
    says they are left out)."""
    matrix = np.asarray(matrix, dtype=np.float64)

    def cells() -> tuple[list[list[str]], np.ndarray]:
        decimals = cell_decimals(matrix, integer)
        finite = matrix[np.isfinite(matrix)]
        middle = (finite.max() + finite.min()) / 2 if finite.size else 0.0
        dark = np.isfinite(matrix) & (matrix <= middle)  # the dark end of viridis: white numbers
        return [[_cell_text(value, decimals) for value in row] for row in matrix], dark
    return _numbered(lambda heading: _heatmap_frame(matrix, names, heading, colour_label, row_label, column_label),
                     title, len(matrix), cells, "values")


def _numbered(frame, title: str, size: int, cells, what: str) -> Figure:
    """The heat map ``frame(title)`` draws, with the texts ``cells()`` gives in its cells (white where dark) when
    there are at most HEATMAP_NUMBERS_MAX_CLASSES rows and they fit; drawn again with a note in the title when they
    do not. (``cells`` is called only then: thousands of classes would make millions of strings.)"""
    figure, axes = frame(title)
    if 0 < size <= HEATMAP_NUMBERS_MAX_CLASSES:
        figure.draw_without_rendering()  # the layout, so the cells have their final size
        if _annotate(figure, axes, *cells()):
            # Kept as laid out: constrained layout run again on an axes of fixed aspect may move it.
            figure.set_layout_engine("none")
        else:
            figure, _ = frame(f"{title}\n(the {what} are too wide to print in the cells)")
    return figure


# The confusion matrix: each cell's share of its row (its true class), on a square-root scale so that the few
# errors of a good network (1-3% of a class) stand apart from 0% and from one another; a linear scale drew them
# all in the colour of zero.
ROW_SHARE_GAMMA = 0.5
ROW_SHARE_TICKS = (0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0)
ROW_SHARE_LABEL = "share of the true class's images (square-root scale)"
# (what the colour shows is recorded in the store: SeparationDocument.confusion_colour, schema.ROW_SHARE)


def confusion_figure(counts: np.ndarray, names: list[str], title: str, totals: np.ndarray | None = None,
                     row_label: str = "true class", column_label: str = "predicted class") -> Figure:
    """Rows: true class, columns: predicted class. Each cell coloured by its share of its row (of ``totals``,
    default the row sums: a row's images predicted as no class shown still count), 0 to 100% at any number of
    classes; the counts printed in the cells on the heat map's rule (at most HEATMAP_NUMBERS_MAX_CLASSES
    classes, if they fit). A class without test images is a blank row."""
    counts = np.asarray(counts, dtype=np.float64)
    totals = counts.sum(axis=1) if totals is None else np.asarray(totals, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(totals[:, None] > 0, counts / np.where(totals > 0, totals, 1.0)[:, None], np.nan)
    def cells() -> tuple[list[list[str]], np.ndarray]:
        dark = np.isfinite(share) & (np.nan_to_num(share) ** ROW_SHARE_GAMMA < 0.5)  # the scale's dark half
        return [[_cell_text(value, 0) for value in row] for row in counts], dark
    return _numbered(lambda heading: _heatmap_frame(share, names, heading, ROW_SHARE_LABEL, row_label, column_label,
                                                    PowerNorm(ROW_SHARE_GAMMA, 0.0, 1.0), ROW_SHARE_TICKS),
                     title, len(counts), cells, "counts")


def confusion(counts: np.ndarray, names: list[str], title: str, totals: np.ndarray | None = None) -> bytes:
    return _png(confusion_figure(counts, names, title, totals))


HEATMAP_MAX_CELLS = 500  # per side: more cells than the figure has pixels show nothing more


def _blocks(matrix: np.ndarray) -> tuple[np.ndarray, int]:
    """The matrix as at most HEATMAP_MAX_CELLS² cells, each the mean of a block of f × f classes, and f. Drawn
    whole, 5,000 classes made matplotlib convert 25 million cells to RGBA (763 MiB) for a 600-pixel image."""
    size = len(matrix)
    factor = -(-size // HEATMAP_MAX_CELLS)
    if factor <= 1:
        return matrix, 1
    padded = np.full((factor * -(-size // factor),) * 2, np.nan)
    padded[:size, :size] = matrix
    cells = padded.shape[0] // factor
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a block of padding only: NaN, drawn blank
        return np.nanmean(padded.reshape(cells, factor, cells, factor), axis=(1, 3)), factor


def _heatmap_frame(matrix, names, title, colour_label, row_label, column_label, norm=None, ticks=None):
    figure = _new(*HEATMAP_SIZE)
    axes = figure.add_subplot()
    shown, factor = _blocks(matrix)
    if factor > 1:
        title = f"{title}\n(each cell the mean of a block of {factor} × {factor} classes)"
    # The extent keeps the axes in class indices, so the class ticks stay where they belong.
    image = axes.imshow(shown, cmap=HEATMAP_CMAP, norm=norm, interpolation="nearest",
                        extent=(-0.5, len(matrix) - 0.5, len(matrix) - 0.5, -0.5))
    step = _categories(axes.xaxis, names, rotate=_long(names))
    _categories(axes.yaxis, names, rotate=False)
    axes.set_xlabel(_plain(column_label + _every(step)), fontsize=LABEL_PT)
    axes.set_ylabel(_plain(row_label + _every(step)), fontsize=LABEL_PT)
    bar = figure.colorbar(image, ax=axes, shrink=0.8)
    if ticks is not None:
        bar.set_ticks(list(ticks), labels=[f"{t:.0%}" for t in ticks])
    bar.set_label(_label(colour_label, LABEL_PT, HEATMAP_SIZE[1] * 0.8), fontsize=LABEL_PT)
    bar.ax.tick_params(labelsize=TICK_PT)
    _title(figure, title)
    return figure, axes


def cell_decimals(matrix: np.ndarray, integer: bool) -> int:
    """One number of decimals for every cell: three significant digits for the largest |value|."""
    finite = np.abs(matrix[np.isfinite(matrix)])
    if integer or not finite.size or finite.max() == 0:
        return 0
    return max(0, 2 - int(np.floor(np.log10(finite.max()))))


def _cell_text(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}" if np.isfinite(value) else "n/a"


def annotation_size(figure: Figure) -> float:
    """The font size (drawn) of a heat map's numbers: MIN_PRINT_PT in print."""
    return MIN_PRINT_PT / print_scale(figure)


def _annotate(figure: Figure, axes, texts: list[list[str]], dark: np.ndarray) -> bool:
    """``texts`` in the cells, white on ``dark`` ones, when the widest fits a cell at ``annotation_size``; False
    when it does not."""
    size = len(texts)
    fontsize = annotation_size(figure)
    box = axes.get_window_extent()
    cell_w, cell_h = box.width / size * 72 / figure.dpi, box.height / size * 72 / figure.dpi
    widest = max(text_width(t, fontsize) for row in texts for t in row)
    if widest > 0.9 * cell_w or 1.3 * fontsize > cell_h:
        return False
    for i in range(size):
        for j in range(size):
            axes.text(j, i, texts[i][j], ha="center", va="center", fontsize=fontsize,
                      color="white" if dark[i, j] else "black", in_layout=False)  # inside its cell: fitted above
    return True


def heatmap(matrix: np.ndarray, names: list[str], title: str, colour_label: str, integer: bool = False,
            row_label: str = "class", column_label: str = "class") -> bytes:
    return _png(heatmap_figure(matrix, names, title, colour_label, integer, row_label, column_label))


GROUP_RULES = 12  # classes parted by rules in a sample distance figure, at most


def sample_distances_figure(matrices: list[tuple[str, np.ndarray]], groups: list[str], title: str) -> Figure:
    """The distance matrices of the samples side by side, one panel per metric, each on its own colour bar.
    ``groups``: each sample's class, the samples grouped by class: thin white rules part the classes, and the
    ticks name each class at the middle of its block (every k-th, as class axes are labelled)."""
    figure = _new(6.4, 3.0)
    panels = figure.subplots(1, len(matrices), squeeze=False)[0]
    starts = [i for i in range(len(groups)) if i == 0 or groups[i] != groups[i - 1]]
    ends = starts[1:] + [len(groups)]
    middles = [(a + b - 1) / 2 for a, b in zip(starts, ends)]
    step = tick_step(len(starts), most=8)
    for axes, (heading, matrix) in zip(panels, matrices):
        size = len(matrix)
        image = axes.imshow(np.asarray(matrix, dtype=np.float64), cmap=HEATMAP_CMAP, interpolation="nearest",
                            extent=(-0.5, size - 0.5, size - 0.5, -0.5))
        for start in starts[1:] if len(starts) <= GROUP_RULES else []:  # more rules would hide the cells
            axes.axhline(start - 0.5, color="white", linewidth=0.6)
            axes.axvline(start - 0.5, color="white", linewidth=0.6)
        shown = list(range(0, len(starts), step))
        labels = [_plain(short(groups[starts[k]], 10)) for k in shown]
        axes.set_xticks([middles[k] for k in shown], labels=labels, rotation=45 if _long(labels) else 0,
                        ha="right" if _long(labels) else "center", rotation_mode="anchor", fontsize=TICK_PT)
        axes.set_yticks([middles[k] for k in shown], labels=labels, fontsize=TICK_PT)
        axes.set_title(_plain(short(heading, 30)), fontsize=LABEL_PT)
        bar = figure.colorbar(image, ax=axes, shrink=0.8, pad=0.02)
        bar.ax.tick_params(labelsize=TICK_PT - 1)
    figure.supxlabel("sample, grouped by class" + _every(step).replace("labelled", "class labelled"),
                     fontsize=LABEL_PT)
    _title(figure, title)
    return figure


def sample_distances(matrices: list[tuple[str, np.ndarray]], groups: list[str], title: str) -> bytes:
    return _png(sample_distances_figure(matrices, groups, title))


# --- class colours ------------------------------------------------------------------------------------------

# Candidates in the order they are handed out: tab10 (the first ten classes look as they always did), then the
# light half of tab20, then tab20b and tab20c for the rest.
_CANDIDATES = (*colormaps["tab10"].colors, *colormaps["tab20"].colors[1::2], *colormaps["tab20b"].colors,
               *colormaps["tab20c"].colors)
# Greys for a class named after a colour that another colour-named class already shows: the first that no
# colour-named class shows either.
NEUTRALS = tuple(to_rgb(grey) for grey in ("#7f7f7f", "#b4b4b4", "#4a4a4a"))
HUE_APART = 40.0             # degrees of hue: a colour this close to a colour-named class's reads as its name
NAMED_APART = 25.0           # two colour-named classes closer than this cannot be told apart ("red", "crimson")
GREYS_APART = 25.0           # CIELAB lightness: greys closer than this read as one name
CHROMATIC = 0.2              # HSV saturation (and value) above which a colour reads as a hue, not a grey
DISTINCT = 12.0              # CIELAB distance below which two candidates are too alike to tell apart
LIGHT = 0.85                 # relative luminance above which a colour needs an outline on white


def colour_name(name) -> str | None:
    """The CSS colour a class name is ("Light Blue", "dark_green" and "RED" count), else None. Single letters
    (matplotlib's "r", "g", "b") do not: a class named "b" is a letter, not blue."""
    key = "".join(ch for ch in str(name).lower() if ch.isalnum())
    return key if len(key) > 1 and key in CSS4_COLORS else None


def _lab(rgb) -> np.ndarray:
    """sRGB (0..1) to CIELAB (D65)."""
    rgb = np.asarray(rgb, dtype=np.float64)
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = linear @ np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]).T
    xyz = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


def _hue(rgb) -> float | None:
    """HSV hue in degrees, None for a grey (low saturation or dark): HSV, not CIELAB, whose hue puts pure blue
    beside purple."""
    high, low = max(rgb), min(rgb)
    if high < CHROMATIC or (high - low) / high < CHROMATIC:
        return None
    r, g, b = rgb
    span = high - low
    hue = (g - b) / span if high == r else 2 + (b - r) / span if high == g else 4 + (r - g) / span
    return (hue * 60) % 360


def same_colour_name(a, b, apart: float = HUE_APART) -> bool:
    """Whether a reader would give the two colours one name: two hues within ``apart`` degrees, or two greys of
    about one lightness (white, grey and black are three names)."""
    hue_a, hue_b = _hue(a), _hue(b)
    if hue_a is None or hue_b is None:
        return hue_a is None and hue_b is None and abs(_lab(a)[0] - _lab(b)[0]) < GREYS_APART
    return min(abs(hue_a - hue_b), 360 - abs(hue_a - hue_b)) < apart


def _luminance(rgb) -> float:
    linear = np.where(np.asarray(rgb) <= 0.04045, np.asarray(rgb) / 12.92, ((np.asarray(rgb) + 0.055) / 1.055) ** 2.4)
    return float(linear @ np.array([0.2126, 0.7152, 0.0722]))


def class_colours(names: list[str]) -> list[tuple[float, float, float]]:
    """One colour per class, decided by the whole list of class names so that a class has the same colour in
    every figure. A class named after a CSS colour ("red", "navy") is drawn in that colour (in a neutral grey
    when an earlier class already shows a colour of that name); every other class gets a colour that no
    colour-named class could be taken for: a class named "red" is never drawn green, and no other class is
    drawn red beside it. Colours repeat only beyond the distinct candidates left (about 20)."""
    named: dict[int, tuple | None] = {}  # None: drawn in a grey, its colour being shown by an earlier class
    kept: list[tuple] = []  # the colour-named classes drawn in their own colour
    for index, name in enumerate(names):
        colour = colour_name(name)
        if colour is not None:
            rgb = to_rgb(CSS4_COLORS[colour])
            clash = any(same_colour_name(rgb, other, NAMED_APART) for other in kept)
            named[index] = None if clash else rgb
            kept += [] if clash else [rgb]
    named = {index: _neutral(kept) if rgb is None else rgb for index, rgb in named.items()}
    claimed = list(named.values())
    palette: list[tuple] = []
    for candidate in _CANDIDATES:
        if any(same_colour_name(candidate, other) for other in claimed):
            continue
        if all(np.linalg.norm(_lab(candidate) - _lab(taken)) >= DISTINCT for taken in palette):
            palette.append(tuple(candidate))
        if len(palette) == LEGEND_CLASSES:
            break
    palette = palette or [_neutral(kept)]
    colours, unnamed = [], 0
    for index in range(len(names)):
        if index in named:
            colours.append(tuple(named[index]))
        else:
            colours.append(palette[unnamed % len(palette)])
            unnamed += 1
    return colours


def _neutral(shown: list[tuple]) -> tuple:
    return next((grey for grey in NEUTRALS if not any(same_colour_name(grey, other) for other in shown)), NEUTRALS[0])


def outline(rgb) -> str:
    """An edge for a marker of this colour: grey for a colour too light to see on white ("white", "ivory")."""
    return "#8a919c" if _luminance(rgb) > LIGHT else "none"


# --- scatter ------------------------------------------------------------------------------------------------

def scatter_figure(points: np.ndarray, labels: np.ndarray, names: list[str], title: str, xlabel: str,
                   ylabel: str, equal: bool = True) -> Figure:
    """One colour per class (``class_colours``: the same in every figure). Up to LEGEND_CLASSES classes a
    legend beside the axes; up to CENTROID_LABELS classes each class's name written at the middle (mean) of its
    points, where it does not cover another name (the title says how many were left out); beyond, no names.
    ``equal``: one unit is as long on both axes (a PCA keeps distances within its plane only drawn so)."""
    figure = _new(6.4, 4.8)
    axes = figure.add_subplot()
    colours = np.asarray(class_colours(names))
    edges = [outline(c) for c in colours]
    present = [k for k in range(len(names)) if (labels == k).any()]
    if len(names) <= ONE_COLLECTION_BEYOND:
        for k in present:
            chosen = labels == k
            axes.scatter(points[chosen, 0], points[chosen, 1], s=6, alpha=0.7, color=colours[k],
                         label=_plain(short(name_of(names, k))), edgecolors=edges[k],
                         linewidths=0 if edges[k] == "none" else 0.4)
    else:  # one collection for every class (one per class costs seconds for a thousand classes), its points
        # in class order, so that classes are drawn over each other as they would be one by one
        order = np.argsort(labels, kind="stable")
        order = order[(labels[order] >= 0) & (labels[order] < len(names))]
        axes.scatter(points[order, 0], points[order, 1], s=6, alpha=0.7, c=colours[labels[order]], linewidths=0)
    if equal:
        axes.set_aspect("equal", adjustable="datalim")
    axes.set_xlabel(_plain(short(xlabel, 60)), fontsize=LABEL_PT)
    axes.set_ylabel(_plain(short(ylabel, 40)), fontsize=LABEL_PT)
    axes.tick_params(labelsize=TICK_PT)
    if len(names) <= LEGEND_CLASSES:
        if axes.get_legend_handles_labels()[0]:
            axes.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=LEGEND_PT, markerscale=2.5,
                        frameon=False, ncols=-(-len(present) // LEGEND_COLUMN))
    elif len(names) <= CENTROID_LABELS:
        def named(crowded: int) -> str:
            left_out = f", {crowded} of them left out where they would cover another" if crowded else ""
            return f"{title}\n({len(names)} classes: colours repeat, so each class's name is written at the " \
                   f"middle of its points{left_out})"
        _title(figure, named(len(present)))  # the longest it can be: the layout keeps room for it
        title = named(_name_centroids(figure, axes, points, labels, names, present))
    else:
        title = f"{title}\n({len(names)} classes: colours repeat, and there are too many to name on the map)"
    _title(figure, title)
    return figure


def name_of(names: list[str], k: int) -> str:
    return names[k] if 0 <= k < len(names) else str(k)


def _name_centroids(figure: Figure, axes, points: np.ndarray, labels: np.ndarray, names: list[str],
                    present: list[int]) -> int:
    """Each present class's name at the mean of its points, largest classes first, left out where it would
    cover a name already written or cross the axes' edge; returns how many were left out."""
    figure.draw_without_rendering()  # the final layout: the names are placed in display coordinates
    renderer = figure.canvas.get_renderer()
    frame = axes.get_window_extent(renderer)
    counts = {k: int((labels == k).sum()) for k in present}
    placed, crowded = [], 0
    for k in sorted(present, key=lambda k: (-counts[k], k)):
        middle = points[labels == k].mean(axis=0)
        text = axes.text(middle[0], middle[1], _plain(short(name_of(names, k), CENTROID_CHARS)), fontsize=LEGEND_PT,
                         ha="center", va="center", color="#1d2330", in_layout=False, clip_on=True,
                         path_effects=[patheffects.withStroke(linewidth=2.0, foreground="white")])
        box = text.get_window_extent(renderer)
        inside = frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
        if not inside or any(box.overlaps(other) for other in placed):
            text.remove()
            crowded += 1
            continue
        placed.append(box)
    figure.set_layout_engine("none")  # kept as laid out: the names were placed on this layout
    return crowded


def scatter(points: np.ndarray, labels: np.ndarray, names: list[str], title: str, xlabel: str, ylabel: str,
            equal: bool = True) -> bytes:
    return _png(scatter_figure(points, labels, names, title, xlabel, ylabel, equal))


# --- separation by depth ------------------------------------------------------------------------------------

def depth_lines_figure(layers: list[str], ratios: list[float | None], silhouettes: list[float | None],
                       metric: str) -> Figure:
    figure = _new(6.4, 3.6)
    left = figure.add_subplot()
    positions = range(len(layers))
    left.plot(positions, [np.nan if r is None else r for r in ratios], marker="o", color="#2458a6",
              label=f"inter / intra ratio ({metric})")
    left.set_ylabel("inter / intra ratio", color="#2458a6", fontsize=LABEL_PT)
    step = _categories(left.xaxis, layers, rotate=True)
    left.set_xlabel("layer" + _every(step), fontsize=LABEL_PT)
    left.tick_params(axis="y", labelsize=TICK_PT)
    right = left.twinx()
    right.plot(positions, [np.nan if s is None else s for s in silhouettes], marker="s", color="#c2410c",
               label="silhouette")
    right.set_ylabel("silhouette", color="#c2410c", fontsize=LABEL_PT)
    right.tick_params(axis="y", labelsize=TICK_PT)
    _title(figure, f"Class separation of each layer's output, by depth ({metric})")
    return figure


def depth_lines(layers: list[str], ratios: list[float | None], silhouettes: list[float | None], metric: str) -> bytes:
    return _png(depth_lines_figure(layers, ratios, silhouettes, metric))


# --- filter activity ----------------------------------------------------------------------------------------

# magma_r from 0.15 to 0.85: light for a filter never silent, dark for one silent on every image
FILTER_SHADES = ListedColormap(colormaps["magma_r"](np.linspace(0.15, 0.85, 256)), name="filter_shades")
FILTER_SHADE_LABEL = "share of images\nwith the map never positive"


def filter_bars_figure(means: np.ndarray, zero_share: np.ndarray, title: str,
                       shade_label: str = FILTER_SHADE_LABEL) -> Figure:
    """Mean activation per filter; a bar's shade is the share of images on which the filter's map is never
    positive (all zero after a ReLU), read on the colour bar beside the axes (0 to 100%, the same in every
    chart)."""
    means = np.nan_to_num(np.asarray(means, dtype=np.float64))
    share = np.clip(np.nan_to_num(np.asarray(zero_share, dtype=np.float64)), 0.0, 1.0)
    figure = _new(6.4, 2.8)
    axes = figure.add_subplot()
    axes.bar(range(len(means)), means, color=FILTER_SHADES(share), width=0.85)
    axes.set_xlabel("filter (channel index)", fontsize=LABEL_PT)
    axes.set_ylabel("mean activation", fontsize=LABEL_PT)
    axes.set_xlim(-0.6, len(means) - 0.4)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.tick_params(labelsize=TICK_PT)
    bar = figure.colorbar(ScalarMappable(norm=Normalize(0.0, 1.0), cmap=FILTER_SHADES), ax=axes, pad=0.02)
    bar.set_ticks([0.0, 0.5, 1.0], labels=["0%", "50%", "100%"])
    bar.ax.tick_params(labelsize=TICK_PT)
    bar.set_label(_plain(shade_label), fontsize=TICK_PT)
    _title(figure, title)
    return figure


def filter_bars(means: np.ndarray, zero_share: np.ndarray, title: str, shade_label: str = FILTER_SHADE_LABEL) -> bytes:
    return _png(filter_bars_figure(means, zero_share, title, shade_label))


# --- series of checkpoints ----------------------------------------------------------------------------------

def _broken(positions: list[int], values: list, breaks: tuple[int, ...]) -> tuple[list[float], list[float]]:
    """The points of a line with a gap (NaN) before each position in ``breaks``: the line does not join them."""
    xs, ys = [], []
    for position, value in zip(positions, values):
        if position in breaks:
            xs.append(position - 0.5)
            ys.append(np.nan)
        xs.append(position)
        ys.append(np.nan if value is None else value)
    return xs, ys


def series_figure(labels: list[str], lines: dict[str, list], title: str, ylabel: str,
                  secondary: dict[str, list] | None = None, breaks: tuple[int, ...] = ()) -> Figure:
    """Values per checkpoint as lines, one marker per checkpoint; an optional second axis. ``breaks``: the
    positions where another training run starts: no line joins across them, a dashed rule marks each."""
    figure = _new(6.4, 3.4)
    axes = figure.add_subplot()
    positions = list(range(len(labels)))
    for position in breaks:
        axes.axvline(position - 0.5, color="#6b7280", linestyle="--", linewidth=0.8)
    for (name, values), marker in zip(lines.items(), "osd^"):
        axes.plot(*_broken(positions, values, breaks), marker=marker, label=_plain(short(name, 40)))
    axes.set_ylabel(_plain(short(ylabel, 40)), fontsize=LABEL_PT)
    step = _categories(axes.xaxis, labels, rotate=len(labels) > 4 or max(map(len, labels), default=0) > 12)
    axes.set_xlabel("checkpoint" + _every(step), fontsize=LABEL_PT)
    axes.tick_params(axis="y", labelsize=TICK_PT)
    handles, names = axes.get_legend_handles_labels()
    if secondary:
        right = axes.twinx()
        for name, values in secondary.items():
            line, = right.plot(*_broken(positions, values, breaks), marker="s", color="#c2410c",
                               label=_plain(short(name, 40)))
            handles.append(line)
            names.append(_plain(short(name, 40)))
        right.set_ylabel(_plain(short(", ".join(secondary), 40)), fontsize=LABEL_PT)
        right.tick_params(axis="y", labelsize=TICK_PT)
    axes.legend(handles, names, fontsize=LEGEND_PT, frameon=False, loc="best")
    _title(figure, title)
    return figure


def series(labels: list[str], lines: dict[str, list], title: str, ylabel: str,
           secondary: dict[str, list] | None = None, breaks: tuple[int, ...] = ()) -> bytes:
    return _png(series_figure(labels, lines, title, ylabel, secondary, breaks))


# --- bars ---------------------------------------------------------------------------------------------------

def bars_figure(names: list[str], values: np.ndarray, title: str, ylabel: str, xlabel: str = "") -> Figure:
    figure = _new(6.4, 3.4)
    axes = figure.add_subplot()
    axes.bar(range(len(values)), np.nan_to_num(np.asarray(values, dtype=np.float64)), color="#2458a6")
    step = _categories(axes.xaxis, names, rotate=True) if len(names) else 1
    if xlabel or step > 1:
        axes.set_xlabel(_plain(f"{xlabel}{_every(step)}" if xlabel else _every(step)[2:-1]), fontsize=LABEL_PT)
    axes.set_ylabel(_plain(short(ylabel, 40)), fontsize=LABEL_PT)
    axes.tick_params(axis="y", labelsize=TICK_PT)
    _title(figure, title)
    return figure


def bars(names: list[str], values: np.ndarray, title: str, ylabel: str, xlabel: str = "") -> bytes:
    return _png(bars_figure(names, values, title, ylabel, xlabel))
