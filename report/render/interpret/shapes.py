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


def _sentence(row: TraceRow) -> tuple[str, str]:
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
        by_kind.setdefault(_sentence(row)[0], []).append(row)
    for row in changing:
        branch, text = _sentence(row)
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
        types = sorted({row.type for row in f.trace.rows if row.is_leaf and row.input_shape == row.output_shape})
        names = fmt.listing(unchanged) if len(unchanged) <= 6 else f"{len(unchanged)} layers ({', '.join(types)})"
        notes.append(Note("shapes.step", "unchanged", "shapes",
                          f"{names} keep the shape (element-wise operations such as activations and normalisation).",
                          {"layers": unchanged}))
    return notes


def gaps(f: Findings) -> Note:
    """Where the next module's input differs from the previous output, a functional call changed it."""
    leaves = [row for row in f.trace.rows if row.is_leaf and row.input_shape is not None]
    found = [(a, b) for a, b in zip(leaves, leaves[1:]) if a.output_shape != b.input_shape]
    if not found:
        return Note("shapes.gaps", "none", "shapes",
                    "Every shape change happens inside a module, so the trace has no gaps. Forward hooks see "
                    "modules only: functional calls such as F.relu or torch.flatten would not appear as rows.")
    a, b = found[0]
    return Note("shapes.gaps", "functional", "shapes",
                f"Between {a.name} and {b.name} the shape changes from {fmt.shape(a.output_shape)} to "
                f"{fmt.shape(b.input_shape)} outside any module: a functional call (such as F.max_pool2d or torch.flatten), which "
                "forward hooks cannot see, or a branch that feeds a module from an earlier output (as in a residual "
                f"block). {len(found)} such gap{'s' if len(found) != 1 else ''} in all.",
                {"gaps": len(found)})
