"""Rules about kernels and activation maps."""

from __future__ import annotations

from report import fmt
from report.findings import Findings
from report.interpret import Note


def kernels(f: Findings) -> list[Note]:
    notes = []
    for kernel in f.kernels:
        out_ch, in_ch, *size = kernel["shape"]
        window = "×".join(map(str, size))
        if in_ch == 1:
            notes.append(Note("kernels.shape", "single-input", "kernels",
                              f"{kernel['name']} has {out_ch} kernels of shape {fmt.shape(kernel['shape'][1:])}: "
                              f"each is one {window} filter slid over the single input channel, and each gives "
                              "one activation map.", {"layer": kernel["name"], "shape": kernel["shape"]}))
        else:
            notes.append(Note("kernels.shape", "multi-input", "kernels",
                              f"{kernel['name']} has {out_ch} kernels of shape {fmt.shape(kernel['shape'][1:])}: "
                              f"each spans all {in_ch} input channels with a {window} window and sums them "
                              "into one map.", {"layer": kernel["name"], "shape": kernel["shape"]}))
    return notes


def input_prediction(f: Findings) -> Note:
    image = f.input_image
    evidence = {"index": image.index, "label": image.label, "predicted": image.predicted}
    if image.predicted == image.label:
        return Note("maps.input", "correct", "activations",
                    f"The input is test image #{image.index}, a {image.label}; the network classifies it as "
                    f"{image.predicted} with {fmt.percent(image.confidence)} confidence.", evidence)
    return Note("maps.input", "wrong", "activations",
                f"The input is test image #{image.index}, a {image.label}, but the network predicts "
                f"{image.predicted} ({fmt.percent(image.confidence)} confidence): read its maps as a failure case.",
                evidence)


def dead_maps(f: Findings) -> list[Note]:
    notes = []
    for grid in f.map_grids:
        if "pool" in grid.label:  # pooling keeps zeros zero: the unpooled grid says it all
            continue
        channels = grid.shape[0]
        evidence = {"module": grid.module, "dead": grid.dead_channels, "near_zero": grid.near_zero_channels}
        near = ""
        if grid.near_zero_channels:
            near = (f" {len(grid.near_zero_channels)} more peak below {fmt.percent(grid.near_zero_threshold, 0)} "
                    f"of the scale (channel{'s' if len(grid.near_zero_channels) > 1 else ''} "
                    f"{fmt.listing(grid.near_zero_channels)}).")
        if not grid.dead_channels:
            notes.append(Note("maps.dead", "none", "activations",
                              f"{grid.label}: all {channels} maps respond to this input; "
                              f"{fmt.percent(grid.zero_share)} of their pixels are zero after ReLU.{near}", evidence))
        else:
            dead = grid.dead_channels
            notes.append(Note("maps.dead", "some", "activations",
                              f"{grid.label}: {len(dead)} of {channels} maps ({fmt.percent(len(dead) / channels)}) "
                              f"{'is' if len(dead) == 1 else 'are'} zero everywhere for this input (channel{'s' if len(dead) > 1 else ''} "
                              f"{fmt.listing(dead)}); {fmt.percent(grid.zero_share)} of all pixels are zero.{near}",
                              evidence))
    return notes


def pooling_keeps_peak(f: Findings) -> list[Note]:
    notes = []
    for before, after in zip(f.map_grids, f.map_grids[1:]):
        if "pool" not in after.label or "pool" in before.label:
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
