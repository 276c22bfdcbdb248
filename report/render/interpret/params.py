"""Rules about parameter counts."""

from __future__ import annotations

from report.render import fmt
from report.render.findings import Findings
from report.render.interpret.notes import Note

CONV_TYPES = ("Conv1d", "Conv2d", "Conv3d")
DENSE_TYPES = ("Linear",)


def _kind(layer) -> str:
    """The layer's kind as stored, or (stores written before kinds were) read from its class name."""
    if layer.kind:
        return layer.kind
    if layer.type in CONV_TYPES:
        return "convolution"
    if layer.type in DENSE_TYPES:
        return "linear"
    if layer.type == "MultiheadAttention":
        return "attention"
    if "Norm" in layer.type:
        return "normalisation"
    return ""


def _example(layer) -> str:
    return f"for {layer.name}, {layer.formula} = {fmt.integer(layer.total)}"


def _bias_sentence(f: Findings) -> tuple[str, dict]:
    """How the convolution and fully connected layers are made up: weights plus one bias per output only where
    every one of them has a bias (a convolution followed by a normalisation usually has none)."""
    layers = [layer for layer in f.parameters.layers if layer.formula and layer.executed and layer.total
              and _kind(layer) in ("convolution", "linear")]
    with_bias = [layer for layer in layers if layer.biases]
    without = [layer for layer in layers if not layer.biases]
    evidence = {"with_bias": len(with_bias), "without_bias": len(without)}
    if not layers:
        return "", evidence
    if not without:
        only = all(_kind(layer) in ("convolution", "linear") for layer in f.parameters.layers if layer.total)
        which = "Each layer" if only else "Each convolution and fully connected layer"
        return f" {which} holds its weights plus one bias per output; {_example(with_bias[0])}.", evidence
    if not with_bias:
        return (f" Its convolution and fully connected layers hold weights only, no biases; {_example(without[0])}.",
                evidence)
    return (f" {len(with_bias)} of its {len(layers)} convolution and fully connected layers "
            f"{'holds' if len(with_bias) == 1 else 'hold'} weights plus one "
            f"bias per output ({_example(with_bias[0])}); the other {len(without)} hold weights only "
            f"({_example(without[0])}).", evidence)


def total(f: Findings) -> Note:
    p = f.parameters
    example, biases = _bias_sentence(f)
    if p.non_trainable == 0:
        return Note("params.total", "all-trainable", "parameters",
                    f"The network has {fmt.integer(p.total)} parameters, all trainable "
                    f"({fmt.number(p.bytes_float32 / 2**20, 3)} MiB as float32).{example}",
                    {"total": p.total, **biases})
    return Note("params.total", "some-frozen", "parameters",
                f"The network has {fmt.integer(p.total)} parameters: {fmt.integer(p.trainable)} trainable and "
                f"{fmt.integer(p.non_trainable)} frozen.{example}",
                {"total": p.total, "non_trainable": p.non_trainable, **biases})


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


# Where the parameters that are neither convolution nor fully connected sit, in the order a sentence names them.
REST = {"attention": "attention projections", "normalisation": "normalisation scales and shifts",
        "embeddings": "class token and position embeddings", "embedding": "embedding tables",
        "recurrent": "recurrent layers", "other": "other tensors"}


def shares(f: Findings) -> dict[str, int]:
    """Every parameter under one heading: convolution, linear, then REST's; they add up to the total."""
    counts = dict.fromkeys(("convolution", "linear", *REST), 0)
    for layer in f.parameters.layers:
        kind = _kind(layer)
        if kind in ("convolution", "linear", "attention", "embedding", "recurrent"):
            counts[kind] += layer.total
            continue
        if kind == "normalisation" and not layer.norm:  # a store written before the roles: all of it is norm
            counts["normalisation"] += layer.total
            continue
        embedded = sum(t.counted for t in layer.tensors if t.role in ("class token", "position embedding"))
        counts["normalisation"] += layer.norm
        counts["embeddings"] += embedded
        counts["other"] += layer.total - layer.norm - embedded
    counts["other"] += max(0, f.parameters.total - sum(counts.values()))  # a total beyond its layers' sum
    return {kind: count for kind, count in counts.items() if count}


def _rest(counts: dict[str, int], total: int) -> tuple[str, int]:
    rest = {kind: count for kind, count in counts.items() if kind in REST}
    if not rest:
        return "", 0
    if len(rest) == 1:  # its share is the remainder's, which the sentence gives: not twice
        return REST[next(iter(rest))], sum(rest.values())
    named = fmt.listing(f"{REST[kind]} ({fmt.percent(count / total)})" for kind, count in rest.items())
    return named, sum(rest.values())


def conv_versus_dense(f: Findings) -> Note | None:
    counts, total = shares(f), f.parameters.total
    conv, dense = counts.get("convolution", 0), counts.get("linear", 0)
    if not conv or not dense or not total:
        return None
    share_conv, share_dense = conv / total, dense / total
    named, rest = _rest(counts, total)
    evidence = {"conv": conv, "dense": dense, "rest": {k: v for k, v in counts.items() if k in REST}, "total": total}
    remainder = f"; the remaining {fmt.percent(rest / total)} are {named}" if rest else ""
    if dense > conv:
        return Note("params.conv_vs_dense", "dense-heavy", "parameters",
                    f"Convolutions hold {fmt.percent(share_conv)} of the parameters and fully connected layers "
                    f"{fmt.percent(share_dense)}{remainder}: a convolution reuses one small kernel at every position, "
                    "while a fully connected layer needs a weight for every input-output pair.", evidence)
    if share_conv > 0.5:
        return Note("params.conv_vs_dense", "conv-heavy", "parameters",
                    f"Convolutions hold most of the parameters ({fmt.percent(share_conv)}, against "
                    f"{fmt.percent(share_dense)} in fully connected layers{remainder}).", evidence)
    return Note("params.conv_vs_dense", "conv-more", "parameters",
                f"Convolutions hold more of the parameters than fully connected layers ({fmt.percent(share_conv)} "
                f"against {fmt.percent(share_dense)}){remainder}.", evidence)


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
