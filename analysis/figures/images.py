"""Image grids assembled as arrays (no matplotlib figures) and saved once as PNG."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFont

TILE_TARGET_PX = 84   # each map is scaled up by an integer factor to about this size
GAP_PX = 4
LABEL_PX = 12         # band above each tile holding its channel index


def colourise(values: np.ndarray, vmin: float, vmax: float, cmap: str) -> np.ndarray:
    """Floats -> RGB uint8 through a matplotlib colormap, on a fixed scale (the same bytes as
    ``matplotlib.colormaps[cmap]``, which also maps x to entry floor(256·x) of its table)."""
    span = vmax - vmin if vmax > vmin else 1.0
    normalised = np.clip((np.asarray(values, dtype=np.float64) - vmin) / span, 0.0, 1.0)
    bad = np.isnan(normalised)  # NaN weights or maps: black, matplotlib's colour for bad values
    index = np.minimum((np.where(bad, 0.0, normalised) * 256).astype(np.intp), 255)
    rgb = colour_table(cmap)[index]
    rgb[bad] = 0
    return rgb


def colour_table(cmap: str) -> np.ndarray:
    """(256, 3) uint8 entries of a colormap."""
    from analysis.figures.colour_tables import TABLES

    if cmap in TABLES:
        return np.frombuffer(bytes.fromhex(TABLES[cmap]), dtype=np.uint8).reshape(256, 3)
    from matplotlib import colormaps

    return (colormaps[cmap](np.arange(256))[:, :3] * 255).round().astype(np.uint8)


def upscale(rgb: np.ndarray, factor: int) -> np.ndarray:
    return np.repeat(np.repeat(rgb, factor, axis=0), factor, axis=1)


def scale_for(height: int) -> int:
    return max(1, round(TILE_TARGET_PX / height))


def grid(maps: np.ndarray, vmin: float, vmax: float, cmap: str, columns: int,
         labels: list[str] | None = None) -> np.ndarray:
    """(C, H, W) maps -> one RGB image, row-major, first map at the top left, a label above each tile
    (default: the channel index)."""
    return tile(colourise(maps, vmin, vmax, cmap), columns,
                labels if labels is not None else [str(i) for i in range(len(maps))])


def rgb_tiles(kernels: np.ndarray) -> np.ndarray:
    """(N, 3, H, W) floats -> (N, H, W, 3) uint8, each kernel stretched to its own min..max."""
    low = kernels.min(axis=(1, 2, 3), keepdims=True)
    high = kernels.max(axis=(1, 2, 3), keepdims=True)
    scaled = (kernels - low) / np.where(high > low, high - low, 1.0)
    return (scaled.transpose(0, 2, 3, 1) * 255).round().astype(np.uint8)


def kernel_colouring(shape) -> str:
    """How a convolution's (N, C, H, W) kernels are drawn: "rgb" for three input channels, else channel 0."""
    return "rgb" if shape[1] == 3 else "input channel 0" if shape[1] > 1 else "single channel"


def symmetric_bound(*arrays: np.ndarray) -> float:
    """The largest finite |value| of all the arrays (1.0 when there is none or it is zero): one scale ±bound."""
    finite = [np.abs(a[np.isfinite(a)]) for a in map(np.asarray, arrays)]
    bound = max((float(f.max()) for f in finite if f.size), default=0.0)
    return bound or 1.0


def rgb_tiles_on_scale(kernels: np.ndarray, bound: float) -> np.ndarray:
    """(N, 3, H, W) floats -> (N, H, W, 3) uint8 on one scale for every kernel and channel: -bound dark,
    zero mid-grey, +bound bright (NaN black)."""
    scaled = (np.clip(np.asarray(kernels, dtype=np.float64) / bound, -1.0, 1.0) + 1.0) / 2.0
    return (np.nan_to_num(scaled, nan=0.0).transpose(0, 2, 3, 1) * 255).round().astype(np.uint8)


def grey_ramp(width: int = 256, height: int = 12) -> np.ndarray:
    """The colour bar of ``rgb_tiles_on_scale``: one channel from -bound (black) to +bound (white)."""
    ramp = (np.linspace(0.0, 1.0, width) * 255).round().astype(np.uint8)
    return np.repeat(np.tile(ramp, (height, 1))[..., None], 3, axis=2)


def shared_kernel_grids(weights: list[np.ndarray], cmap: str, columns: int,
                        shown: int | None = None) -> tuple[list[np.ndarray], float, str]:
    """Kernels of one layer from several checkpoints, each (N, C, H, W) of one shape, drawn on ONE symmetric
    scale ±bound (the largest finite |weight| of all of them), so equal colours are equal weights in every grid.
    Three input channels: colour tiles, each channel from -bound (dark) to +bound (bright), zero mid-grey; else
    input channel 0 through ``cmap``. The first ``shown`` kernels of each (all by default).
    Returns the pictures, the bound and the colouring."""
    bound = symmetric_bound(*weights)
    colouring = kernel_colouring(np.shape(weights[0]))
    pictures = []
    for weight in weights:
        kernels = np.asarray(weight, dtype=np.float64)[:shown]
        labels = [str(i) for i in range(len(kernels))]
        if colouring == "rgb":
            pictures.append(tile(rgb_tiles_on_scale(kernels, bound), columns, labels))
        else:
            pictures.append(grid(kernels[:, 0], -bound, bound, cmap, columns, labels))
    return pictures, bound, colouring


def tile(coloured: np.ndarray, columns: int, labels: list[str]) -> np.ndarray:
    """(N, H, W, 3) uint8 tiles -> one RGB grid with a label band above each tile."""
    count, height, width = coloured.shape[:3]
    factor = scale_for(height)
    tile_h, tile_w = height * factor, width * factor
    label_h = LABEL_PX if labels else 0
    columns = max(1, min(columns, count))
    rows = -(-count // columns)
    canvas = np.full((rows * (tile_h + label_h + GAP_PX) + GAP_PX, columns * (tile_w + GAP_PX) + GAP_PX, 3),
                     255, dtype=np.uint8)
    for index in range(count):
        r, c = divmod(index, columns)
        top = GAP_PX + r * (tile_h + label_h + GAP_PX) + label_h
        left = GAP_PX + c * (tile_w + GAP_PX)
        canvas[top:top + tile_h, left:left + tile_w] = upscale(coloured[index], factor)
    if labels:
        image = Image.fromarray(canvas)
        draw = ImageDraw.Draw(image)
        font = ImageFont.load_default(size=10)
        for index in range(count):
            r, c = divmod(index, columns)
            draw.text((GAP_PX + c * (tile_w + GAP_PX), r * (tile_h + label_h + GAP_PX) + GAP_PX - 2),
                      labels[index], fill=(60, 60, 60), font=font)
        canvas = np.asarray(image)
    return canvas


def picture(image: np.ndarray, target_px: int = 112) -> np.ndarray:
    """A uint8 (C, H, W) image -> RGB (grey stays grey), scaled up without smoothing to about target_px."""
    array = np.asarray(image, dtype=np.uint8)
    rgb = np.repeat(array, 3, axis=0) if array.shape[0] == 1 else array[:3]
    return upscale(rgb.transpose(1, 2, 0), max(1, round(target_px / array.shape[1])))


def colourbar(cmap: str, width: int = 256, height: int = 12) -> np.ndarray:
    ramp = np.tile(np.linspace(0.0, 1.0, width), (height, 1))
    return colourise(ramp, 0.0, 1.0, cmap)


def png_bytes(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()
