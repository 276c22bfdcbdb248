"""Figures drawn with matplotlib's object API on the Agg canvas: never pyplot, so nothing is kept open."""

from __future__ import annotations

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from analysis.figures import images

DPI = 110
CLASS_COLOURS = "tab10"


def _png(figure: Figure) -> bytes:
    """RGB on white, not matplotlib's RGBA: the PDF can then embed the PNG data as it is, with no alpha mask."""
    canvas = FigureCanvasAgg(figure)
    figure.set_dpi(DPI)
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    return images.png_bytes(rgba[..., :3])


def heatmap(matrix: np.ndarray, names: list[str], title: str, colour_label: str, integer: bool = False) -> bytes:
    """An annotated square matrix with class names on both axes."""
    size = len(names)
    figure = Figure(figsize=(1.6 + 0.55 * size, 1.2 + 0.5 * size), layout="constrained")
    axes = figure.add_subplot()
    image = axes.imshow(matrix, cmap="viridis")
    axes.set_xticks(range(size), labels=names, rotation=45 if max(map(len, names)) > 2 else 0, ha="right"
                    if max(map(len, names)) > 2 else "center")
    axes.set_yticks(range(size), labels=names)
    axes.set_title(title, fontsize=10)
    if size <= 20:
        middle = (np.nanmax(matrix) + np.nanmin(matrix)) / 2
        for i in range(size):
            for j in range(size):
                value = matrix[i, j]
                text = f"{int(value)}" if integer else f"{value:.3g}"
                axes.text(j, i, text, ha="center", va="center", fontsize=7,
                          color="black" if value > middle else "white")
    figure.colorbar(image, ax=axes, shrink=0.8, label=colour_label)
    return _png(figure)


def scatter(points: np.ndarray, labels: np.ndarray, names: list[str], title: str, xlabel: str, ylabel: str) -> bytes:
    figure = Figure(figsize=(6.4, 4.8), layout="constrained")
    axes = figure.add_subplot()
    palette = colormaps[CLASS_COLOURS if len(names) <= 10 else "tab20"]
    for k, name in enumerate(names):
        chosen = labels == k
        if chosen.any():
            axes.scatter(points[chosen, 0], points[chosen, 1], s=6, alpha=0.7, color=palette(k % palette.N),
                         label=name, linewidths=0)
    axes.set_title(title, fontsize=10)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, markerscale=2.5, frameon=False)
    return _png(figure)


def depth_lines(layers: list[str], ratios: list[float | None], silhouettes: list[float], metric: str) -> bytes:
    figure = Figure(figsize=(6.4, 3.4), layout="constrained")
    left = figure.add_subplot()
    positions = range(len(layers))
    left.plot(positions, [np.nan if r is None else r for r in ratios], marker="o", color="#2458a6",
              label=f"inter / intra ratio ({metric})")
    left.set_ylabel("inter / intra ratio", color="#2458a6")
    left.set_xticks(list(positions), labels=layers, rotation=30, ha="right")
    right = left.twinx()
    right.plot(positions, silhouettes, marker="s", color="#c2410c", label="silhouette")
    right.set_ylabel("silhouette", color="#c2410c")
    left.set_title("Class separation of each layer's output, by depth", fontsize=10)
    return _png(figure)


def filter_bars(means: np.ndarray, zero_share: np.ndarray, title: str) -> bytes:
    figure = Figure(figsize=(6.4, 2.6), layout="constrained")
    axes = figure.add_subplot()
    colours = colormaps["magma_r"](0.15 + 0.7 * np.clip(zero_share, 0, 1))
    axes.bar(range(len(means)), means, color=colours, width=0.85)
    axes.set_xlabel("filter (channel index)")
    axes.set_ylabel("mean activation")
    axes.set_title(title, fontsize=10)
    axes.set_xlim(-0.6, len(means) - 0.4)
    return _png(figure)


def series(labels: list[str], lines: dict[str, list], title: str, ylabel: str,
           secondary: dict[str, list] | None = None) -> bytes:
    """Values per checkpoint as lines, one marker per checkpoint; an optional second axis."""
    figure = Figure(figsize=(6.4, 3.2), layout="constrained")
    axes = figure.add_subplot()
    positions = list(range(len(labels)))
    for (name, values), marker in zip(lines.items(), "osd^"):
        axes.plot(positions, [np.nan if v is None else v for v in values], marker=marker, label=name)
    axes.set_ylabel(ylabel)
    axes.set_xticks(positions, labels=labels, rotation=30 if len(labels) > 4 else 0, ha="right" if len(labels) > 4 else "center")
    handles, names = axes.get_legend_handles_labels()
    if secondary:
        right = axes.twinx()
        for name, values in secondary.items():
            line, = right.plot(positions, values, marker="s", color="#c2410c", label=name)
            handles.append(line)
            names.append(name)
        right.set_ylabel(", ".join(secondary))
    axes.legend(handles, names, fontsize=8, frameon=False, loc="best")
    axes.set_title(title, fontsize=10)
    return _png(figure)


def bars(names: list[str], values: np.ndarray, title: str, ylabel: str) -> bytes:
    figure = Figure(figsize=(6.4, 3.0), layout="constrained")
    axes = figure.add_subplot()
    axes.bar(range(len(values)), values, color="#2458a6")
    axes.set_xticks(range(len(values)), labels=names, rotation=45, ha="right", fontsize=7)
    axes.set_ylabel(ylabel)
    axes.set_title(title, fontsize=10)
    return _png(figure)
