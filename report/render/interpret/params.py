"""Rules about parameter counts."""

from __future__ import annotations

from report.render import fmt
from report.render.findings import Findings
from report.render.interpret import Note

CONV_TYPES = ("Conv1d", "Conv2d", "Conv3d")
DENSE_TYPES = ("Linear",)


def total(f: Findings) -> Note:
    p = f.parameters
    first = next((layer for layer in p.layers if layer.formula and layer.biases and layer.executed
                  and layer.type in CONV_TYPES + DENSE_TYPES), None)
    example = (f" Each layer holds its weights plus one bias per output; for {first.name}, "
               f"{first.formula} = {fmt.integer(first.total)}.") if first else ""
    if p.non_trainable == 0:
        return Note("params.total", "all-trainable", "parameters",
                    f"The network has {fmt.integer(p.total)} parameters, all trainable "
                    f"({fmt.number(p.bytes_float32 / 2**20, 3)} MiB as float32).{example}",
                    {"total": p.total})
    return Note("params.total", "some-frozen", "parameters",
                f"The network has {fmt.integer(p.total)} parameters: {fmt.integer(p.trainable)} trainable and "
                f"{fmt.integer(p.non_trainable)} frozen.{example}",
                {"total": p.total, "non_trainable": p.non_trainable})


def dominant_layer(f: Findings) -> Note | None:
    layers = f.parameters.layers
    if not layers or f.parameters.total == 0:
        return None
    top = max(layers, key=lambda layer: layer.total)
    share = top.total / f.parameters.total
    evidence = {"layer": top.name, "share": share}
    if share > 0.5:
        reason = ""
        if top.type in DENSE_TYPES and top.weight_shape:
            reason = (f": it connects each of its {fmt.integer(top.weight_shape[1])} inputs to each of its "
                      f"{fmt.integer(top.weight_shape[0])} outputs")
        return Note("params.dominant", "dominates", "parameters",
                    f"{top.name} alone holds {fmt.percent(share)} of all parameters "
                    f"({fmt.integer(top.total)}){reason}.", evidence)
    return Note("params.dominant", "balanced", "parameters",
                f"No single layer dominates: the largest, {top.name}, holds {fmt.percent(share)} "
                f"({fmt.integer(top.total)}).", evidence)


def conv_versus_dense(f: Findings) -> Note | None:
    conv = sum(layer.total for layer in f.parameters.layers if layer.type in CONV_TYPES)
    dense = sum(layer.total for layer in f.parameters.layers if layer.type in DENSE_TYPES)
    if not conv or not dense or not f.parameters.total:
        return None
    share_conv, share_dense = conv / f.parameters.total, dense / f.parameters.total
    evidence = {"conv": conv, "dense": dense}
    if dense > conv:
        return Note("params.conv_vs_dense", "dense-heavy", "parameters",
                    f"Convolutions hold {fmt.percent(share_conv)} of the parameters and fully connected layers "
                    f"{fmt.percent(share_dense)}: a convolution reuses one small kernel at every position, "
                    "while a fully connected layer needs a weight for every input-output pair.", evidence)
    if share_conv > 0.5:
        return Note("params.conv_vs_dense", "conv-heavy", "parameters",
                    f"Convolutions hold most of the parameters ({fmt.percent(share_conv)}, against "
                    f"{fmt.percent(share_dense)} in fully connected layers).", evidence)
    return Note("params.conv_vs_dense", "conv-more", "parameters",
                f"Convolutions hold more of the parameters than fully connected layers ({fmt.percent(share_conv)} "
                f"against {fmt.percent(share_dense)}); the rest sit in other layers.", evidence)


def unused(f: Findings) -> Note | None:
    """Parameters that inference never reads (modules that never run in eval mode), and modules not called
    themselves whose weights their parent reads (so their parameters are used all the same)."""
    p = f.parameters
    if not p.unused_known:
        return None
    idle = [layer.name for layer in p.layers if not layer.executed and not layer.read]
    borrowed = [layer.name for layer in p.layers if not layer.executed and layer.read]
    if p.unused:
        tops = sorted({name.split(".")[0] for name in idle})
        where = fmt.listing(tops[:4]) + (f" and {len(tops) - 4} more" if len(tops) > 4 else "")
        return Note("params.unused", "unused", "parameters",
                    f"{fmt.integer(p.unused)} of the {fmt.integer(p.total)} parameters "
                    f"({fmt.percent(p.unused / p.total)}) are never read at inference: the layers in {where} do "
                    "not run in eval mode (auxiliary heads, for example, serve only training). They are counted in "
                    f"the total and marked \u201cnot executed\u201d in the table; inference uses "
                    f"{fmt.integer(p.total - p.unused)}.",
                    {"unused": p.unused, "total": p.total, "layers": idle})
    if borrowed:
        names = fmt.listing(borrowed) if len(borrowed) <= 3 else f"{len(borrowed)} layers (such as {borrowed[0]})"
        return Note("params.unused", "read-by-parent", "parameters",
                    f"{names} {'is' if len(borrowed) == 1 else 'are'} never called as a module: the parent reads "
                    "the weights itself (nn.MultiheadAttention does this with its out_proj), so every parameter is "
                    "still used at inference.", {"unused": 0, "layers": borrowed})
    return None
