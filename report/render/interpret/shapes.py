"""Rules explaining each change of shape in the trace."""

from __future__ import annotations

from report.render import fmt
from report.render.findings import Findings, TraceRow
from report.render.interpret import Note


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def _conv_sentence(row: TraceRow) -> tuple[str, str]:
    g = row.geometry
    (k, _), (s, _), (p, _) = _pair(g.get("kernel_size", 1)), _pair(g.get("stride", 1)), _pair(g.get("padding", 0))
    h_in, h_out = row.input_shape[-1], row.output_shape[-1]
    channels = f" and gives {row.output_shape[0]} channels, one per kernel"
    if p == 0 and s == 1:
        return "conv-valid", (f"{row.name}: a {k}×{k} convolution without padding removes {k - 1} pixels from "
                              f"each side length ({h_in} → {h_out}){channels}.")
    return "conv-padded", (f"{row.name}: a {k}×{k} convolution with padding {p} and stride {s} gives "
                           f"⌊({h_in} + 2·{p} − {k}) / {s}⌋ + 1 = {h_out} pixels per side{channels}.")


def _pool_sentence(row: TraceRow) -> tuple[str, str]:
    kind = "max" if "Max" in row.type else "average" if "Avg" in row.type else "pooling"
    h_in, h_out = row.input_shape[-1], row.output_shape[-1]
    if row.type.startswith("Adaptive"):
        return "pool-adaptive", (f"{row.name}: adaptive {kind} pooling always gives {h_out}×{h_out} maps, whatever the "
                                 f"input size ({h_in} → {h_out}); the channels stay {row.output_shape[0]}.")
    g = row.geometry
    (k, _), (p, _) = _pair(g.get("kernel_size", 2)), _pair(g.get("padding", 0))
    (s, _) = _pair(g.get("stride", g.get("kernel_size", 2)) or k)
    if p:
        return "pool-padded", (f"{row.name}: {k}×{k} {kind} pooling with padding {p} and stride {s} gives "
                               f"⌊({h_in} + 2·{p} − {k}) / {s}⌋ + 1 = {h_out} pixels per side.")
    if h_in % s == 0:
        return "pool-exact", (f"{row.name}: {k}×{k} {kind} pooling with stride {s} divides each side by {s} "
                              f"({h_in} → {h_out}); the channels stay {row.output_shape[0]}.")
    return "pool-floor", (f"{row.name}: {k}×{k} {kind} pooling with stride {s} divides each side by {s} and rounds "
                          f"down ({h_in} / {s} = {h_in / s:g} → {h_out}): the last row and column are dropped.")


def _function_sentence(row: TraceRow, model: str) -> tuple[str, str]:
    where = f"{row.name} in {row.caller}'s forward" if row.caller else f"{row.name} in {model}'s forward"
    if len(row.output_shape) == 1 and len(row.input_shape) > 1:
        return "flatten", (f"{where}: flattening turns {' × '.join(map(str, row.input_shape))} maps into one "
                           f"vector of {fmt.integer(row.output_shape[0])} values.")
    if "pool" in row.name and len(row.input_shape) == len(row.output_shape) == 3:
        h_in, h_out = row.input_shape[-1], row.output_shape[-1]
        return "pool-function", (f"{where}: pooling changes each side from {h_in} to {h_out}; the channels stay "
                                 f"{row.output_shape[0]}.")
    return "function", f"{where} changes {fmt.shape(row.input_shape)} to {fmt.shape(row.output_shape)}."


def _sentence(row: TraceRow, model: str = "the model") -> tuple[str, str]:
    if row.kind == "function":
        return _function_sentence(row, model)
    if row.type.startswith("Conv"):
        return _conv_sentence(row)
    if "Pool" in row.type:
        return _pool_sentence(row)
    if row.type == "Flatten":
        return "flatten", (f"{row.name}: flattening turns {' × '.join(map(str, row.input_shape))} maps into one "
                           f"vector of {fmt.integer(row.output_shape[0])} values.")
    if row.type == "Linear":
        return "linear", (f"{row.name}: a fully connected layer maps {fmt.integer(row.input_shape[-1])} "
                          f"features to {fmt.integer(row.output_shape[-1])}.")
    return "other", f"{row.name} ({row.type}) changes {fmt.shape(row.input_shape)} to {fmt.shape(row.output_shape)}."


DETAIL_UP_TO = 12  # shape changes explained one by one; beyond this, the first of each kind and a count


def steps(f: Findings) -> list[Note]:
    notes = []
    changing = [row for row in f.trace.rows if row.is_leaf and row.input_shape is not None
                and row.output_shape is not None and row.input_shape != row.output_shape]
    by_kind: dict[str, list[TraceRow]] = {}
    for row in changing:
        by_kind.setdefault(_sentence(row, f.model_class)[0], []).append(row)
    for row in changing:
        branch, text = _sentence(row, f.model_class)
        if len(changing) > DETAIL_UP_TO:
            same = by_kind[branch]
            if row is not same[0]:
                continue
            if len(same) > 1:
                text += f" {len(same) - 1} more layer{'s' if len(same) > 2 else ''} change the shape this way."
        notes.append(Note("shapes.step", branch, "shapes", text,
                          {"layer": row.name, "in": row.input_shape, "out": row.output_shape}))
    unchanged = [row.name for row in f.trace.rows if row.is_leaf and row.input_shape == row.output_shape]
    if unchanged:
        types = sorted({"functional calls" if row.kind == "function" else row.type
                        for row in f.trace.rows if row.is_leaf and row.input_shape == row.output_shape})
        names = fmt.listing(unchanged) if len(unchanged) <= 6 else f"{len(unchanged)} layers ({', '.join(types)})"
        notes.append(Note("shapes.step", "unchanged", "shapes",
                          f"{names} keep the shape (element-wise operations such as activations and normalisation).",
                          {"layers": unchanged}))
    return notes


def gaps(f: Findings) -> Note:
    """Where the next call's input differs from the previous output: a branch fed from an earlier output, or
    (in stores traced with module hooks only) a functional call the trace could not see."""
    leaves = [row for row in f.trace.rows if row.is_leaf and row.input_shape is not None]
    found = [(a, b) for a, b in zip(leaves, leaves[1:]) if a.output_shape != b.input_shape]
    hooks_only = f.trace.counting == "module-hooks"
    if not found:
        return Note("shapes.gaps", "none", "shapes",
                    "Every shape change happens inside a recorded call, so the trace has no gaps."
                    + (" This store was traced with forward hooks, which see modules only: functional calls such as "
                       "F.relu or torch.flatten would not appear as rows." if hooks_only else ""), {"gaps": 0})
    a, b = found[0]
    count = f"{len(found)} such gap{'s' if len(found) != 1 else ''} in all."
    if hooks_only:
        return Note("shapes.gaps", "functional", "shapes",
                    f"Between {a.name} and {b.name} the shape changes from {fmt.shape(a.output_shape)} to "
                    f"{fmt.shape(b.input_shape)} outside any module: a functional call (such as F.max_pool2d or "
                    "torch.flatten), which forward hooks cannot see, or a branch that feeds a module from an earlier "
                    f"output (as in a residual block). {count}", {"gaps": len(found)})
    return Note("shapes.gaps", "branch", "shapes",
                f"{b.name} takes {fmt.shape(b.input_shape)}, not the {fmt.shape(a.output_shape)} that {a.name} just "
                "gave: it is fed from an earlier output, a branch (as in a residual shortcut or the parallel paths of "
                f"an Inception block). Functional calls are rows of the trace, so no step is hidden. {count}",
                {"gaps": len(found)})


def macs(f: Findings) -> Note:
    """How the MACs were counted, and whether any heavy operation ran without a formula."""
    t = f.trace
    total = f"{fmt.count(t.total_macs)} ({fmt.integer(t.total_macs)})"
    if t.counting == "module-hooks" and not t.total_macs:
        return Note("shapes.macs", "not-recorded", "shapes",
                    "This store predates the counting of multiply-accumulates and records none; rebuilding the "
                    "report counts every operation.", {"counting": t.counting, "total_macs": 0})
    if t.counting == "module-hooks":
        return Note("shapes.macs", "hooks", "shapes",
                    f"This store counted {total} multiply-accumulates per image with module hooks: Conv and Linear "
                    "modules only, so matrix products made by functional calls (attention, for one) are missing and "
                    "the figure may be low. Rebuilding the report counts every operation.",
                    {"counting": t.counting, "total_macs": t.total_macs})
    if t.uncounted:
        ops = sorted({u.op for u in t.uncounted})
        places = sorted({u.where for u in t.uncounted if u.where})
        return Note("shapes.macs", "incomplete", "shapes",
                    f"{fmt.listing(ops[:4])} ran without a counting formula"
                    f"{f' (in {fmt.listing(places[:3])})' if places else ''}, so the {total} multiply-accumulates "
                    "per image are a lower bound: those operations' work is not in it.",
                    {"counting": t.counting, "total_macs": t.total_macs, "uncounted": ops})
    return Note("shapes.macs", "complete", "shapes",
                f"The network does {total} multiply-accumulates per image. They were counted where PyTorch "
                "dispatches its operations (torch.utils.flop_counter), so convolutions, matrix products and "
                "attention count wherever they are called, functional calls included; every such operation that "
                "ran has a counting formula.", {"counting": t.counting, "total_macs": t.total_macs, "uncounted": []})


def output(f: Findings) -> Note | None:
    if not f.trace.output_taken:
        return None
    taken = f.trace.output_taken
    if "logits" in taken:
        return Note("shapes.output", "logits", "shapes",
                    f"The forward pass returns more than the class scores; the report reads {taken}.",
                    {"output_taken": taken})
    return Note("shapes.output", "first", "shapes",
                f"The forward pass returns more than the class scores and names none of them logits; the report "
                f"reads {taken} as the class scores. If that is not them, wrap the model so that its forward pass "
                "returns the logits alone.", {"output_taken": taken})
