"""Parameter counts per layer: one record per module that owns parameters."""

from __future__ import annotations

from torch import nn

from analysis.capture.operations import storage_of

from analysis.store.schema import LayerParams, Parameters


def formula_for(module: nn.Module) -> str:
    weight = getattr(module, "weight", None)
    bias = getattr(module, "bias", None)
    if weight is None:
        return ""
    factors = "·".join(str(n) for n in weight.shape)
    return f"{factors} + {bias.numel()}" if isinstance(bias, nn.Parameter) else factors


def count_parameters(model: nn.Module, ran: frozenset[str] | None = None,
                     read: frozenset[int] | None = None) -> Parameters:
    """Per-layer records in definition order, and totals; shared tensors count once. ``ran``: the modules the
    traced forward pass called; ``read``: the storages its operations read (analysis.capture.trace.Usage), which
    tell the parameters inference never uses (a parameter read through another module still counts as used)."""
    first_owner: dict[int, str] = {}
    names_of: dict[int, list[str]] = {}
    for name, module in model.named_modules(remove_duplicate=False):
        names_of.setdefault(id(module), []).append(name)
    layers = []
    for name, module in model.named_modules():
        own = list(module.named_parameters(recurse=False))
        if not own:
            continue
        counts = {"weight": 0, "bias": 0, "other": 0}
        trainable, shared = 0, []
        for pname, param in own:
            owner = first_owner.setdefault(id(param), f"{name}.{pname}")
            if owner != f"{name}.{pname}":
                shared.append(owner)
                continue
            counts[pname if pname in ("weight", "bias") else "other"] += param.numel()
            trainable += param.numel() if param.requires_grad else 0
        weight, bias = getattr(module, "weight", None), getattr(module, "bias", None)
        layers.append(LayerParams(
            name=name, type=type(module).__name__,
            weight_shape=list(weight.shape) if isinstance(weight, nn.Parameter) else None,
            bias_shape=list(bias.shape) if isinstance(bias, nn.Parameter) else None,
            weights=counts["weight"], biases=counts["bias"], other=counts["other"],
            total=sum(counts.values()), trainable=trainable,
            formula=formula_for(module), shared_with=shared,
            aliases=[alias for alias in names_of[id(module)] if alias != name],
            executed=ran is None or not name or any(alias in ran for alias in names_of[id(module)]),
            read=read is None or all(storage_of(param) in read for _, param in own),
        ))
    total = sum(layer.total for layer in layers)
    trainable = sum(layer.trainable for layer in layers)
    buffer_list = [{"name": name, "numel": buffer.numel()} for name, buffer in model.named_buffers()]
    buffers = sum(b["numel"] for b in buffer_list)
    unused = 0 if read is None else sum(p.numel() for p in model.parameters() if storage_of(p) not in read)
    return Parameters(layers=layers, total=total, trainable=trainable, non_trainable=total - trainable,
                      buffers=buffers, buffer_list=buffer_list, bytes_float32=total * 4, unused=unused,
                      unused_known=read is not None)
