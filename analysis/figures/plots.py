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
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import ListedColormap, Normalize
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.textpath import text_to_path
from matplotlib.ticker import MaxNLocator

from analysis.figures import images
from analysis.store.schema import HEATMAP_NUMBERS_MAX_CLASSES

DPI = 110
CLASS_COLOURS = "tab10"
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
LEGEND_CLASSES = 20      # beyond this many classes colours repeat (tab20), so a scatter plot has no legend
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
    figure, axes = _heatmap_frame(matrix, names, title, colour_label, row_label, column_label)
    if 0 < len(names) <= HEATMAP_NUMBERS_MAX_CLASSES:
        figure.draw_without_rendering()  # the layout, so the cells have their final size
        if _annotate(figure, axes, matrix, integer):
            # Kept as laid out: constrained layout run again on an axes of fixed aspect may move it.
            figure.set_layout_engine("none")
        else:
            figure, axes = _heatmap_frame(matrix, names, f"{title}\n(the values are too wide to print in the cells)",
                                          colour_label, row_label, column_label)
    return figure


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


def _heatmap_frame(matrix, names, title, colour_label, row_label, column_label):
    figure = _new(*HEATMAP_SIZE)
    axes = figure.add_subplot()
    shown, factor = _blocks(matrix)
    if factor > 1:
        title = f"{title}\n(each cell the mean of a block of {factor} × {factor} classes)"
    # The extent keeps the axes in class indices, so the class ticks stay where they belong.
    image = axes.imshow(shown, cmap=HEATMAP_CMAP, interpolation="nearest",
                        extent=(-0.5, len(matrix) - 0.5, len(matrix) - 0.5, -0.5))
    step = _categories(axes.xaxis, names, rotate=_long(names))
    _categories(axes.yaxis, names, rotate=False)
    axes.set_xlabel(_plain(column_label + _every(step)), fontsize=LABEL_PT)
    axes.set_ylabel(_plain(row_label + _every(step)), fontsize=LABEL_PT)
    bar = figure.colorbar(image, ax=axes, shrink=0.8)
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


def _annotate(figure: Figure, axes, matrix: np.ndarray, integer: bool) -> bool:
    """The values in the cells, when the widest fits a cell at ``annotation_size``; False when it does not."""
    size = matrix.shape[0]
    fontsize = annotation_size(figure)
    decimals = cell_decimals(matrix, integer)
    texts = [[_cell_text(matrix[i, j], decimals) for j in range(size)] for i in range(size)]
    box = axes.get_window_extent()
    cell_w, cell_h = box.width / size * 72 / figure.dpi, box.height / size * 72 / figure.dpi
    widest = max(text_width(t, fontsize) for row in texts for t in row)
    if widest > 0.9 * cell_w or 1.3 * fontsize > cell_h:
        return False
    finite = matrix[np.isfinite(matrix)]
    middle = (finite.max() + finite.min()) / 2 if finite.size else 0.0
    for i in range(size):
        for j in range(size):
            value = matrix[i, j]
            light = np.isfinite(value) and value <= middle  # dark end of viridis: white text
            axes.text(j, i, texts[i][j], ha="center", va="center", fontsize=fontsize,
                      color="white" if light else "black", in_layout=False)  # inside its cell: fitted above
    return True


def heatmap(matrix: np.ndarray, names: list[str], title: str, colour_label: str, integer: bool = False,
            row_label: str = "class", column_label: str = "class") -> bytes:
    return _png(heatmap_figure(matrix, names, title, colour_label, integer, row_label, column_label))


# --- scatter ------------------------------------------------------------------------------------------------

def scatter_figure(points: np.ndarray, labels: np.ndarray, names: list[str], title: str, xlabel: str,
                   ylabel: str) -> Figure:
    """One colour per class and a legend beside the axes; beyond LEGEND_CLASSES classes the colours repeat, so
    there is no legend and the title says so."""
    figure = _new(6.4, 4.8)
    axes = figure.add_subplot()
    palette = colormaps[CLASS_COLOURS if len(names) <= 10 else "tab20"]
    if len(names) <= ONE_COLLECTION_BEYOND:
        for k, name in enumerate(names):
            chosen = labels == k
            if chosen.any():
                axes.scatter(points[chosen, 0], points[chosen, 1], s=6, alpha=0.7, color=palette(k % palette.N),
                             label=_plain(short(name)), linewidths=0)
    else:  # one collection for every class (one per class costs seconds for a thousand classes), its points
        # in class order, so that classes are drawn over each other as they would be one by one
        order = np.argsort(labels, kind="stable")
        order = order[(labels[order] >= 0) & (labels[order] < len(names))]
        colours = np.asarray(palette.colors if hasattr(palette, "colors") else palette(np.arange(palette.N)))
        axes.scatter(points[order, 0], points[order, 1], s=6, alpha=0.7, c=colours[labels[order] % palette.N],
                     linewidths=0)
    axes.set_xlabel(_plain(short(xlabel, 60)), fontsize=LABEL_PT)
    axes.set_ylabel(_plain(short(ylabel, 40)), fontsize=LABEL_PT)
    axes.tick_params(labelsize=TICK_PT)
    if len(names) <= LEGEND_CLASSES:
        if axes.get_legend_handles_labels()[0]:
            axes.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=LEGEND_PT, markerscale=2.5,
                        frameon=False)
    else:
        title = f"{title}\n({len(names)} classes: colours repeat, so there is no legend)"
    _title(figure, title)
    return figure


def scatter(points: np.ndarray, labels: np.ndarray, names: list[str], title: str, xlabel: str, ylabel: str) -> bytes:
    return _png(scatter_figure(points, labels, names, title, xlabel, ylabel))


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

def series_figure(labels: list[str], lines: dict[str, list], title: str, ylabel: str,
                  secondary: dict[str, list] | None = None) -> Figure:
    """Values per checkpoint as lines, one marker per checkpoint; an optional second axis."""
    figure = _new(6.4, 3.4)
    axes = figure.add_subplot()
    positions = list(range(len(labels)))
    for (name, values), marker in zip(lines.items(), "osd^"):
        axes.plot(positions, [np.nan if v is None else v for v in values], marker=marker, label=_plain(short(name, 40)))
    axes.set_ylabel(_plain(short(ylabel, 40)), fontsize=LABEL_PT)
    step = _categories(axes.xaxis, labels, rotate=len(labels) > 4 or max(map(len, labels), default=0) > 12)
    axes.set_xlabel("checkpoint" + _every(step), fontsize=LABEL_PT)
    axes.tick_params(axis="y", labelsize=TICK_PT)
    handles, names = axes.get_legend_handles_labels()
    if secondary:
        right = axes.twinx()
        for name, values in secondary.items():
            line, = right.plot(positions, [np.nan if v is None else v for v in values], marker="s",
                               color="#c2410c", label=_plain(short(name, 40)))
            handles.append(line)
            names.append(_plain(short(name, 40)))
        right.set_ylabel(_plain(short(", ".join(secondary), 40)), fontsize=LABEL_PT)
        right.tick_params(axis="y", labelsize=TICK_PT)
    axes.legend(handles, names, fontsize=LEGEND_PT, frameon=False, loc="best")
    _title(figure, title)
    return figure


def series(labels: list[str], lines: dict[str, list], title: str, ylabel: str,
           secondary: dict[str, list] | None = None) -> bytes:
    return _png(series_figure(labels, lines, title, ylabel, secondary))


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
