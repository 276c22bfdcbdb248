"""The checks a method's maps are judged by, on the check images (a few test images of every class):

- cascading randomisation (Adebayo et al. 2018): the parameterised layers that ran, from the output down, are
  re-drawn step by step (cumulatively, seeded, on a copy of the model) and the maps recomputed; maps that stay alike
  (high rank correlation and SSIM) do not depend on what the network learned;
- deletion and insertion (Petsiuk et al. 2018): the pixels are set to the baseline (deletion) or revealed on the
  baseline (insertion) in the map's order and in a random order; a faithful map makes the class's probability fall
  faster (deletion) or rise faster (insertion) than chance;
- ROAD (Rong et al. 2022): the pixels a map ranks highest (or lowest) replaced by noisy linear imputation from
  their neighbours, not by a constant, so that a drop in probability comes from the pixels taken rather than from
  an image unlike the data (the shift deletion and insertion suffer from); a faithful map loses more when its most
  relevant pixels go than when its least relevant ones do;
- where the mass lies: the central region (half the side), the foreground (pixels unlike the image's border).

Every statistic is a mean over the check images with a seeded 95% bootstrap percentile interval
(scipy.stats.bootstrap, ``RESAMPLES`` resamples); rank correlations by scipy.stats.spearmanr."""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import sparse, stats
from scipy.sparse.linalg import spsolve
from torch import nn

from analysis.capture.trace import Usage
from analysis.store.schema import Interval, Trace

RESAMPLES = 1000
CONFIDENCE = 0.95
MAX_STEPS = 6                       # randomisation steps at most: layers are grouped into this many
FRACTIONS = tuple(round(0.1 * i, 1) for i in range(11))
FOREGROUND = 0.1 * 255              # a pixel unlike the border by more than this (summed over channels)
SSIM_WINDOW, SSIM_SIGMA = 11, 1.5     # torchmetrics' Gaussian window: 2 * int(3.5 σ + 0.5) + 1 pixels
SSIM_K1, SSIM_K2 = 0.01, 0.03
SSIM_MIN_SIDE = 6                   # the window pads 5 pixels by reflection, which needs a side of 6
ROAD_FRACTIONS = (0.2, 0.4, 0.6, 0.8)  # shares of the pixels imputed (ROAD's own curves use 10% steps to 90%)
ROAD_NOISE = 0.01                   # ROAD's noise: standard deviation added to each imputed (normalised) value
# ROAD's imputation weights: each imputed pixel is the weighted mean of its eight neighbours, the four that share
# a side counting twice the four diagonal ones (Rong et al. 2022).
NEIGHBOURS = (((1, 1), 1 / 12), ((0, 1), 1 / 6), ((-1, 1), 1 / 12), ((1, -1), 1 / 12), ((0, -1), 1 / 6),
              ((-1, -1), 1 / 12), ((1, 0), 1 / 6), ((-1, 0), 1 / 6))
ROAD_UNKNOWNS = 200_000             # imputed pixels solved together at most (one sparse system, block-diagonal)


# --- estimates --------------------------------------------------------------------------------------------

def estimate(values, seed: int) -> Interval:
    """The mean of ``values`` (one per image) with its bootstrap percentile interval; an interval of no width
    where there is nothing to resample (one image, or all equal)."""
    values = np.asarray(values, dtype=np.float64)
    mean = float(values.mean()) if len(values) else 0.0
    if len(values) < 2 or np.all(values == values[0]):
        return Interval(mean, mean, mean)
    result = stats.bootstrap((values,), np.mean, n_resamples=RESAMPLES, confidence_level=CONFIDENCE,
                             method="percentile", random_state=np.random.default_rng(seed))
    return _with_interval(mean, result.confidence_interval)


def difference(first, second, seed: int) -> Interval | None:
    """mean(first) − mean(second) of two independent groups, each resampled on its own; None when either has
    fewer than two values."""
    first, second = np.asarray(first, dtype=np.float64), np.asarray(second, dtype=np.float64)
    if len(first) < 2 or len(second) < 2:
        return None
    value = float(first.mean() - second.mean())
    if np.all(first == first[0]) and np.all(second == second[0]):
        return Interval(value, value, value)
    result = stats.bootstrap((first, second), lambda a, b, axis=-1: a.mean(axis) - b.mean(axis),
                             n_resamples=RESAMPLES, confidence_level=CONFIDENCE, method="percentile",
                             paired=False, vectorized=True, random_state=np.random.default_rng(seed))
    return _with_interval(value, result.confidence_interval)


def _with_interval(value: float, interval) -> Interval:
    low, high = float(interval.low), float(interval.high)
    if not (math.isfinite(low) and math.isfinite(high)):  # a degenerate resampling: no interval to give
        low = high = value
    return Interval(value, min(low, value), max(high, value))


# --- cascading randomisation ------------------------------------------------------------------------------

def randomisation_steps(model: nn.Module, traced: Trace, usage: Usage) -> list[list[str]]:
    """The modules with parameters of their own that ran, in reverse order of their first call, in at most
    MAX_STEPS groups of consecutive layers: step k re-draws groups 0..k (the output layer first)."""
    first_call: dict[str, int] = {}
    for row in traced.rows:
        if row.kind == "module":
            first_call.setdefault(row.name, row.order)
    named = [name for name, module in model.named_modules()
             if name in usage.ran and name in first_call and any(True for _ in module.parameters(recurse=False))]
    layers = sorted(named, key=lambda name: first_call[name], reverse=True)
    if not layers:
        return []
    return [list(group) for group in np.array_split(np.array(layers, dtype=object), min(MAX_STEPS, len(layers)))]


def redraw(model: nn.Module, layers: list[str], seed: int) -> None:
    """Replace the parameters of ``layers`` (of a copy: never the analysed model) by seeded normal values with the
    tensor's own spread: its standard deviation, or its absolute mean where all its values are equal (a batch
    norm's weights of 1), so the scale the next layer sees stays about the same."""
    generator = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        for name in layers:
            for _, parameter in sorted(model.get_submodule(name).named_parameters(recurse=False)):
                values = parameter.detach().to("cpu", torch.float64)
                spread = float(values.std()) if values.numel() > 1 else 0.0
                if not math.isfinite(spread) or spread == 0.0:
                    spread = float(values.abs().mean()) if values.numel() else 0.0
                spread = spread if math.isfinite(spread) else 1.0
                drawn = torch.randn(parameter.shape, generator=generator, dtype=torch.float64) * spread
                parameter.copy_(drawn.to(parameter.device, parameter.dtype))


def rank_correlations(original: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Spearman's rho of each pair of maps (pixels as observations). A constant map ranks nothing, so it shares
    no order with the other: 0."""
    rhos = []
    for a, b in zip(original, other):
        a, b = a.ravel(), b.ravel()
        if np.all(a == a[0]) or np.all(b == b[0]):
            rhos.append(0.0)
            continue
        rhos.append(float(stats.spearmanr(a, b).statistic))
    return np.asarray(rhos, dtype=np.float64)


def similarities(original: np.ndarray, other: np.ndarray) -> np.ndarray:
    """The structural similarity (Wang et al. 2004) of each pair of maps, as torchmetrics'
    ``structural_similarity_index_measure(other, original, data_range=1.0, reduction="none")`` computes it (the maps
    are in [0, 1]): a Gaussian window (σ 1.5, 11 pixels) over the maps padded by reflection, k1 0.01, k2 0.03, the
    mean over every pixel; maps narrower than SSIM_MIN_SIDE get a uniform window that fits them. Written here
    because importing torchmetrics takes 1.5 to 3 s, more than the whole part may cost (tests/
    test_attribution_analysis.py checks it against torchmetrics)."""
    x = torch.from_numpy(np.ascontiguousarray(other, dtype=np.float64))[:, None]
    y = torch.from_numpy(np.ascontiguousarray(original, dtype=np.float64))[:, None]
    window = _ssim_window(min(x.shape[-2:]))
    pad = (len(window) - 1) // 2
    x, y = (torch.nn.functional.pad(t, (pad, pad, pad, pad), mode="reflect") if pad else t for t in (x, y))
    # the window is separable (an outer product): a column pass then a row pass, 2·k products a pixel, not k²
    stacked = torch.cat((x, y, x * x, y * y, x * y))
    columns = torch.nn.functional.conv2d(stacked, window.view(1, 1, -1, 1))
    means = torch.nn.functional.conv2d(columns, window.view(1, 1, 1, -1)).split(len(x))
    mu_x, mu_y = means[0], means[1]
    var_x = (means[2] - mu_x ** 2).clamp(min=0)
    var_y = (means[3] - mu_y ** 2).clamp(min=0)
    covariance = means[4] - mu_x * mu_y
    c1, c2 = SSIM_K1 ** 2, SSIM_K2 ** 2  # data range 1
    index = ((2 * mu_x * mu_y + c1) * (2 * covariance + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2))
    return index.flatten(1).mean(1).numpy()


def _ssim_window(side: int) -> torch.Tensor:
    """The one-dimensional window whose outer product with itself is SSIM's two-dimensional one: torchmetrics'
    normalised Gaussian, or a uniform window that fits a map narrower than SSIM_MIN_SIDE."""
    if side < SSIM_MIN_SIDE:
        size = side if side % 2 else side - 1
        return torch.full((size,), 1.0 / size, dtype=torch.float64)
    distance = torch.arange(SSIM_WINDOW, dtype=torch.float64) - (SSIM_WINDOW - 1) / 2
    gauss = torch.exp(-((distance / SSIM_SIGMA) ** 2) / 2)
    return gauss / gauss.sum()


# --- deletion and insertion -------------------------------------------------------------------------------

def map_ranks(maps: np.ndarray) -> np.ndarray:
    """Each pixel's place in its map's order (0: the largest value; ties in reading order)."""
    flat = maps.reshape(len(maps), -1)
    order = np.argsort(-flat, axis=1, kind="stable")
    return _ranks(order)


def random_ranks(count: int, pixels: int, seed: int) -> np.ndarray:
    """A seeded random order of the pixels for each image."""
    rng = np.random.default_rng(seed)
    return _ranks(np.stack([rng.permutation(pixels) for _ in range(count)]) if count else
                  np.zeros((0, pixels), dtype=np.int64))


def _ranks(order: np.ndarray) -> np.ndarray:
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(order.shape[1])[None].repeat(len(order), 0), axis=1)
    return ranks


def curve(model: nn.Module, images: torch.Tensor, targets: torch.Tensor, ranks: np.ndarray,
          baseline: torch.Tensor, insertion: bool, batch_size: int) -> np.ndarray:
    """The probability of each image's target class (N, len(FRACTIONS)) as the top fraction of its pixels by
    ``ranks`` is set to ``baseline`` (deletion) or revealed on a baseline image (insertion). Every (fraction,
    image) pair is one row, ``batch_size`` rows a pass: a small model's passes cost little more when larger."""
    n, _, height, width = images.shape
    ranks_t = torch.from_numpy(ranks).to(images.device).view(n, 1, height, width)
    fill = baseline.to(images.device, images.dtype).view(1, -1, 1, 1)
    counts = torch.tensor([round(f * height * width) for f in FRACTIONS], device=images.device)
    rows = torch.arange(n * len(FRACTIONS), device=images.device)
    out = torch.zeros(n * len(FRACTIONS), dtype=torch.float64)
    with torch.no_grad():
        for start in range(0, len(rows), batch_size):
            row = rows[start:start + batch_size]
            image, fraction = row % n, row // n
            chosen = ranks_t[image] < counts[fraction].view(-1, 1, 1, 1)
            kept = chosen if insertion else ~chosen
            shown = torch.where(kept, images[image], fill)
            probabilities = torch.softmax(model(shown).double(), dim=1)
            picked = probabilities.gather(1, targets[image].view(-1, 1)).view(-1)
            out[start:start + len(row)] = torch.nan_to_num(picked).cpu()
    return out.view(len(FRACTIONS), n).T.numpy()


def areas(probabilities: np.ndarray) -> np.ndarray:
    """Area under each image's curve, trapezoids over FRACTIONS."""
    return np.trapezoid(probabilities, x=np.asarray(FRACTIONS), axis=1)


# --- where the mass lies ----------------------------------------------------------------------------------

def centre_mask(height: int, width: int) -> np.ndarray:
    """The central square of half the side (a quarter of the area)."""
    mask = np.zeros((height, width), dtype=bool)
    top, left = (height - height // 2) // 2, (width - width // 2) // 2
    mask[top:top + height // 2, left:left + width // 2] = True
    return mask


def foreground(pixels: np.ndarray) -> np.ndarray:
    """The pixels of a uint8 (C, H, W) image that differ from the median of its border pixels by more than
    FOREGROUND, the differences summed over the channels: the object on a plain background."""
    image = pixels.astype(np.float64)
    border = np.concatenate([image[:, 0, :], image[:, -1, :], image[:, :, 0], image[:, :, -1]], axis=1)
    median = np.median(border, axis=1).reshape(-1, 1, 1)
    return np.abs(image - median).sum(0) > FOREGROUND


def share(map_: np.ndarray, mask: np.ndarray) -> float:
    """The share of the map's mass inside ``mask`` (0 for a map of no mass)."""
    total = float(map_.sum(dtype=np.float64))
    return float(map_[mask].sum(dtype=np.float64)) / total if total > 0 else 0.0


# --- ROAD: remove and debias ------------------------------------------------------------------------------

def impute(images: np.ndarray, missing: np.ndarray, rng: np.random.Generator, noise: float) -> np.ndarray:
    """ROAD's noisy linear imputation of (N, C, H, W) float64 ``images`` where ``missing`` (N, H, W) is true: every
    missing pixel equals the weighted mean (NEIGHBOURS) of its neighbours inside the image, known or missing, one
    sparse linear system for all images and channels (the images' blocks do not touch), plus seeded normal noise
    of standard deviation ``noise``. Known pixels are kept."""
    n, channels, height, width = images.shape
    flat_missing = missing.reshape(-1)
    unknown = np.flatnonzero(flat_missing)
    out = images.transpose(1, 0, 2, 3).reshape(channels, -1).copy()
    if not len(unknown):
        return images.copy()
    variable = np.full(flat_missing.shape, -1, dtype=np.int64)
    variable[unknown] = np.arange(len(unknown))
    image, rest = np.divmod(unknown, height * width)
    y, x = np.divmod(rest, width)
    rows, columns, values = [], [], []
    diagonal = np.zeros(len(unknown))
    known_sum = np.zeros((len(unknown), channels))
    for (dy, dx), weight in NEIGHBOURS:
        ny, nx = y + dy, x + dx
        inside = np.flatnonzero((ny >= 0) & (ny < height) & (nx >= 0) & (nx < width))
        neighbour = image[inside] * height * width + ny[inside] * width + nx[inside]
        diagonal[inside] += weight
        is_unknown = variable[neighbour] >= 0
        rows.append(inside[is_unknown])
        columns.append(variable[neighbour[is_unknown]])
        values.append(np.full(int(is_unknown.sum()), -weight))
        known = inside[~is_unknown]
        np.add.at(known_sum, known, weight * out[:, neighbour[~is_unknown]].T)
    count = len(unknown)
    matrix = sparse.csc_matrix((np.concatenate([*values, diagonal]),
                                (np.concatenate([*rows, np.arange(count)]),
                                 np.concatenate([*columns, np.arange(count)]))), shape=(count, count))
    solved = np.asarray(spsolve(matrix, known_sum)).reshape(count, channels)
    out[:, unknown] = solved.T + noise * rng.standard_normal((channels, count))
    return out.reshape(channels, n, height, width).transpose(1, 0, 2, 3)


def road_curves(model: nn.Module, images: torch.Tensor, targets: torch.Tensor, ranks: np.ndarray, seed: int,
                batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """The probability of each image's target class (N, len(ROAD_FRACTIONS)) with the top fraction of its pixels
    by ``ranks`` imputed (most relevant first) and with the bottom fraction imputed (least relevant first)."""
    n, _, height, width = images.shape
    pixels = height * width
    # one pixel at least is kept: imputing every pixel leaves the system without a known value (singular)
    counts = [min(round(f * pixels), pixels - 1) for f in ROAD_FRACTIONS]
    cases = [(order, image, k) for order in range(2) for k in range(len(counts)) for image in range(n)]
    masks = np.stack([ranks[image].reshape(height, width) < counts[k] if order == 0 else
                      ranks[image].reshape(height, width) >= pixels - counts[k] for order, image, k in cases])
    originals = images.detach().to("cpu", torch.float64).numpy()
    rng = np.random.default_rng(seed)
    per_solve = max(1, min(batch_size, ROAD_UNKNOWNS // pixels))  # imputed and passed through the model together
    out = []
    with torch.no_grad():
        for start in range(0, len(cases), per_solve):
            part = cases[start:start + per_solve]
            imputed = impute(originals[[image for _, image, _ in part]], masks[start:start + per_solve], rng,
                             ROAD_NOISE)
            shown = torch.from_numpy(imputed).to(images.device, images.dtype)
            probabilities = torch.softmax(model(shown).double(), dim=1)
            chosen = torch.stack([targets[image] for _, image, _ in part]).view(-1, 1)
            out.append(torch.nan_to_num(probabilities.gather(1, chosen.to(probabilities.device))).view(-1).cpu())
    values = torch.cat(out).numpy().reshape(2, len(counts), n).transpose(0, 2, 1)
    return values[0], values[1]
