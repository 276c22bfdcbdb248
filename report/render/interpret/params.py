"""Rules about parameter counts."""

from __future__ import annotations

from report.render import fmt
from report.render.findings import Findings
from report.render.interpret import Note

CONV_TYPES = ("Conv1d", "Conv2d", "Conv3d")
DENSE_TYPES = ("Linear",)


def total(f: Findings) -> Note:
    p = f.parameters
    first = next((layer for layer in p.layers
                  if layer.formula and layer.biases and layer.type in CONV_TYPES + DENSE_TYPES), None)
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
