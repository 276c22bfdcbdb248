"""Rules about kernels and activation maps."""

from __future__ import annotations

import re
from collections import Counter

from analysis.store.schema import POOLING_TYPES
from report.render import fmt
from report.render.findings import Findings, MapGrid, TraceRow
from report.render.interpret.notes import Note

DETAIL_UP_TO = 4   # layers described one by one; beyond this, one summary sentence


def a_or_an(word: str) -> str:
    """The word with its indefinite article, by how it is spoken: "an apple", "an owl", "an 8", "an 11", "an
    8×8 window", but "a 7", "a one", "a unit". Class names are whatever the data calls its classes."""
    text = str(word)
    lower = text.lower()
    digits = re.match(r"\d+", lower)
    if digits:
        number = digits.group()
        spoken_vowel = number.startswith("8") or (number[:2] in ("11", "18") and len(number) % 3 == 2)
    else:
        spoken_vowel = (lower[:1] in ("a", "e", "i", "o", "u") and not lower.startswith(("one", "once", "uni", "use",
                                                                                         "usu", "uti", "eu")))
    return f"{'an' if spoken_vowel else 'a'} {text}"


def _kernel_sentence(kernel: dict) -> tuple[str, str]:
    out_ch, in_ch, *size = kernel["shape"]
    window = "×".join(map(str, size))
    groups = kernel.get("groups", 1)
    if groups > 1:
        return "grouped", (f"{kernel['name']} is a grouped convolution ({groups} groups): each of its {out_ch} kernels "
                           f"of shape {fmt.shape(kernel['shape'][1:])} sees only {in_ch} of the input channels"
                           f"{' (depthwise: one channel each)' if in_ch == 1 else ''}.")
    if in_ch == 1:
        return "single-input", (f"{kernel['name']} has {out_ch} kernels of shape {fmt.shape(kernel['shape'][1:])}: "
                                f"each is one {window} filter slid over the single input channel, and each gives "
                                "one activation map.")
    return "multi-input", (f"{kernel['name']} has {out_ch} kernels of shape {fmt.shape(kernel['shape'][1:])}: "
                           f"each spans all {in_ch} input channels with {a_or_an(window)} window and sums them into one map.")


def kernels(f: Findings) -> list[Note]:
    if len(f.kernels) <= DETAIL_UP_TO:
        notes = []
        for kernel in f.kernels:
            branch, text = _kernel_sentence(kernel)
            notes.append(Note("kernels.shape", branch, "kernels", text, {"layer": kernel["name"]}))
        return notes
    sizes = Counter("×".join(map(str, k["shape"][2:])) for k in f.kernels)
    listing = fmt.listing(f"{size} ({count})" for size, count in sizes.most_common())
    _, first = _kernel_sentence(f.kernels[0])
    return [Note("kernels.shape", "many-layers", "kernels",
                 f"The network has {len(f.kernels)} convolution layers; kernel sizes (layers): {listing}. "
                 f"The first: {first}", {"layers": len(f.kernels), "sizes": dict(sizes)})]


def input_prediction(f: Findings) -> Note:
    image = f.input_image
    label, predicted = f.class_name(image.label), f.class_name(image.predicted)
    evidence = {"index": image.index, "label": image.label, "predicted": image.predicted}
    if image.predicted == image.label:
        return Note("maps.input", "correct", "activations",
                    f"The input is test image #{image.index}, {a_or_an(label)}; the network classifies it as "
                    f"{predicted} with {fmt.percent(image.confidence)} confidence.", evidence)
    return Note("maps.input", "wrong", "activations",
                f"The input is test image #{image.index}, {a_or_an(label)}, but the network predicts "
                f"{predicted} ({fmt.percent(image.confidence)} confidence): read its maps as a failure case.",
                evidence)


def _channels(items: list[int]) -> str:
    return f"channel{'s' if len(items) > 1 else ''} {fmt.listing(items)}"


# Functions that set every value ≤ 0 to zero. LeakyReLU, GELU and SiLU keep negative values non-zero, so a
# never-positive map is not silent after them either.
RELU_TYPES = ("ReLU", "ReLU6")
RELU_OPS = ("F.relu", "F.relu6", "F.relu_", "torch.relu", "torch.relu_", "Tensor.relu", "Tensor.relu_")


def _is_relu(row: TraceRow) -> bool:
    return row.name in RELU_OPS if row.kind == "function" else row.type in RELU_TYPES


def next_step(f: Findings, module: str) -> tuple[str, TraceRow | None]:
    """What takes a module's output, from the trace's record of which call made each call's input:
    ("relu", the ReLU) where a ReLU takes it directly, ("other", the first call that does) where none does,
    ("none", None) where no call takes it, ("unknown", None) for a store that did not record it."""
    rows = f.trace.rows
    if not any(row.source is not None or row.source_tensor for row in rows):
        return "unknown", None
    made = next((row for row in rows if row.name == module and row.kind == "module"), None)
    if made is None:
        return "unknown", None
    takers = [row for row in rows if row.source == made.order and row.is_leaf]
    relu = next((row for row in takers if _is_relu(row)), None)
    if relu is not None:
        return "relu", relu
    return ("other", takers[0]) if takers else ("none", None)


def _dead_phrase(f: Findings, grid: MapGrid) -> tuple[str, str]:
    """What a map without a positive value is, and a remark for after the sentence. After a ReLU such a map is
    zero everywhere. A raw output that is never positive is zero after a ReLU only where a ReLU takes it
    directly: a normalisation in between shifts it first."""
    if grid.vmin >= 0:
        return "zero everywhere", ""
    step, taker = next_step(f, grid.module)
    if step == "relu":
        return f"never positive (all ≤ 0), so zero after the ReLU that takes them ({taker.name})", ""
    if step == "other":
        what = f"{taker.name}, {a_or_an(taker.type)}," if taker.kind == "module" else taker.name
        return "never positive (all ≤ 0)", (f" This is a raw output that no ReLU takes directly ({what} takes it), "
                                            "so a map ≤ 0 here is not a silent one.")
    return "never positive (all ≤ 0)", " This is a raw output, before any activation."


def _silent(f: Findings, grid: MapGrid) -> bool:
    """Whether a map without a positive value is silent: the grid's own values cannot be negative, or a ReLU
    takes them directly."""
    return grid.vmin >= 0 or next_step(f, grid.module)[0] == "relu"


def _one_grid(f: Findings, grid: MapGrid) -> Note:
    """Silent maps and silent pixels, in plain words. "Zero" means "no response" only where the values cannot
    be negative (after an activation such as ReLU): for raw outputs (a negative minimum) it is not mentioned."""
    channels = grid.shape[0]
    activated = grid.vmin >= 0
    step, taker = next_step(f, grid.module)
    evidence = {"module": grid.module, "dead": grid.dead_channels, "near_zero": grid.near_zero_channels,
                "activated": activated, "next": step, "next_call": taker.name if taker is not None else None}
    near = ""
    if grid.near_zero_channels:
        count = len(grid.near_zero_channels)
        near = (f" {count} more respond{'s' if count == 1 else ''} only weakly: {'its' if count == 1 else 'their'} "
                f"strongest value is below {fmt.percent(grid.near_zero_threshold, 0)} of the layer's strongest "
                f"({_channels(grid.near_zero_channels)}).")
    silent = (f" {fmt.percent(grid.zero_share)} of the pixels are exactly zero, that is, no response there."
              if activated else "")
    if not grid.dead_channels:
        return Note("maps.dead", "none", "activations",
                    f"{grid.label}: all {channels} maps respond somewhere to this input.{silent}{near}", evidence)
    dead = grid.dead_channels
    phrase, remark = _dead_phrase(f, grid)
    return Note("maps.dead", "some", "activations",
                f"{grid.label}: {len(dead)} of {channels} maps ({fmt.percent(len(dead) / channels)}) "
                f"{'is' if len(dead) == 1 else 'are'} {phrase} for this input ({_channels(dead)})."
                f"{remark}{silent}{near}", evidence)


def _is_pooling(f: Findings, grid: MapGrid) -> bool:
    """Whether the grid's module is a pooling layer, by the type the shape trace recorded for it."""
    return any(row.name == grid.module and row.type in POOLING_TYPES for row in f.trace.rows)


def dead_maps(f: Findings) -> list[Note]:
    if not f.map_grids and f.activations.small:  # every chosen layer's maps too small to draw: the section says so
        return []
    if not f.map_grids:  # by default every Conv2d that ran: a network without one has no maps to show
        return [Note("maps.dead", "no-maps", "activations",
                     f"{f.model_class} runs no Conv2d layer, so there are no activation maps to show by default; "
                     "name layers with (channels, height, width) output with --layers to see theirs.",
                     {"layers": 0})]
    grids = [g for g in f.map_grids if not _is_pooling(f, g)]  # pooling keeps zeros zero: skip repeats
    if len(grids) <= DETAIL_UP_TO:
        return [_one_grid(f, grid) for grid in grids]
    with_dead = [g for g in grids if g.dead_channels]
    if not with_dead:
        return [Note("maps.dead", "none-of-many", "activations",
                     f"In all {len(grids)} layers every map responds to this input.", {"layers": len(grids)})]
    silent = [g for g in with_dead if _silent(f, g)]
    raw = [g for g in with_dead if not _silent(f, g)]
    evidence = {"layers": len(grids), "with_dead": len(with_dead), "silent": [g.module for g in silent],
                "raw": [g.module for g in raw],
                "criterion": "silent: values that cannot be negative, or a ReLU takes the output directly"}
    if not silent:
        first = raw[0]
        step, taker = next_step(f, first.module)
        known = all(next_step(f, g.module)[0] == "other" for g in raw)
        example = f" ({first.module} goes to {taker.name})" if step == "other" else ""
        verdict = (f"no ReLU takes any of these outputs directly{example}, so these maps are not silent ones" if known
                   else "a map ≤ 0 is silent only where a ReLU takes it directly, which the trace does not show here")
        return [Note("maps.dead", "raw-of-many", "activations",
                     f"{len(raw)} of {len(grids)} layers have maps that are never positive (all ≤ 0) for this input, "
                     f"all in raw outputs: {verdict}.", evidence)]
    worst = max(silent, key=lambda g: len(g.dead_channels) / g.shape[0])
    share = len(worst.dead_channels) / worst.shape[0]
    rest = (f" In {len(raw)} more layer{'s' if len(raw) != 1 else ''} maps are never positive in raw outputs that "
            f"no ReLU takes directly (such as {raw[0].module}), which is not silence." if raw else "")
    return [Note("maps.dead", "some-of-many", "activations",
                 f"{len(silent)} of {len(grids)} layers have maps that are {_dead_phrase(f, worst)[0]} for this input; "
                 f"the largest share is in {worst.module}: {len(worst.dead_channels)} of {worst.shape[0]} "
                 f"({fmt.percent(share)}).{rest}", evidence)]


def pooling_keeps_peak(f: Findings) -> list[Note]:
    notes = []
    for before, after in zip(f.map_grids, f.map_grids[1:]):
        if not _is_pooling(f, after) or _is_pooling(f, before):
            continue
        evidence = {"before": before.vmax, "after": after.vmax}
        if after.vmax == before.vmax:
            notes.append(Note("maps.pool_peak", "kept", "activations",
                              f"Max pooling keeps the largest value of each window, so {after.module} shares "
                              f"{before.module}'s colour scale maximum ({fmt.number(after.vmax)}) and keeps "
                              "the strongest responses.", evidence))
        else:
            notes.append(Note("maps.pool_peak", "dropped", "activations",
                              f"{after.module}'s maximum ({fmt.number(after.vmax)}) is below {before.module}'s "
                              f"({fmt.number(before.vmax)}): the strongest response lay in a row or column that "
                              "pooling drops.", evidence))
    return notes
