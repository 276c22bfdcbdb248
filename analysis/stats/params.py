"""Parameter counts per layer: one record per module that owns parameters, each tensor under its role."""

from __future__ import annotations

import re

from torch import nn

from analysis.capture.operations import storage_of
from analysis.capture.kinds import is_convolution, is_linear
from analysis.store.schema import LayerParams, Parameters, ParamTensor

NORMALISATIONS = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm,
                  *((nn.RMSNorm,) if hasattr(nn, "RMSNorm") else ()))
# Names that say what a tensor of no standard role is for: timm's cls_token and pos_embed (absolute_pos_embed),
# torchvision's class_token and pos_embedding.
CLASS_TOKEN = re.compile(r"(^|_)(cls|class)_?token$")
POSITION = re.compile(r"(^|_)(pos|position|positional)_?(embed|embedding|embeddings|enc|encoding)$")


def role_of(module: nn.Module, name: str) -> str:
    """What the tensor ``name`` of ``module`` is for (analysis.store.schema.PARAM_ROLES): a weight or a bias
    (nn.MultiheadAttention's in_proj_weight and in_proj_bias, an LSTM's weight_ih_l0 included), a
    normalisation layer's scale or shift, a class token, a position embedding, or other."""
    if isinstance(module, NORMALISATIONS) and name in ("weight", "bias"):
        return "norm scale" if name == "weight" else "norm shift"
    if name == "weight" or name.endswith("_weight") or name.startswith("weight_"):
        return "weight"
    if name == "bias" or name.endswith("_bias") or name.startswith("bias_"):
        return "bias"
    if CLASS_TOKEN.search(name):
        return "class token"
    if POSITION.search(name):
        return "position embedding"
    return "other"


def kind_of(module: nn.Module) -> str:
    """The layer's kind by class, for sentences that say where the parameters sit."""
    if is_convolution(module) or isinstance(module, nn.modules.conv._ConvNd):
        return "convolution"
    if is_linear(module):
        return "linear"
    if isinstance(module, nn.MultiheadAttention):
        return "attention"
    if isinstance(module, NORMALISATIONS):
        return "normalisation"
    if isinstance(module, (nn.Embedding, nn.EmbeddingBag)):
        return "embedding"
    if isinstance(module, nn.RNNBase):
        return "recurrent"
    return ""


def _factors(shape) -> str:
    return "·".join(str(n) for n in shape) if len(shape) else "1"


def formula_for(module: nn.Module) -> str:
    """How the layer's count is made up: out·in·k·k + out for a convolution; for a module without a weight
    (nn.MultiheadAttention's in_proj_weight and in_proj_bias, a model's own class token), its tensors' sizes."""
    weight = getattr(module, "weight", None)
    bias = getattr(module, "bias", None)
    if weight is None:
        return " + ".join(_factors(p.shape) for _, p in module.named_parameters(recurse=False))
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
        counts = {"weight": 0, "bias": 0, "norm": 0, "other": 0}
        trainable, shared, tensors = 0, [], []
        for pname, param in own:
            role = role_of(module, pname)
            owner = first_owner.setdefault(id(param), f"{name}.{pname}")
            if owner != f"{name}.{pname}":
                shared.append(owner)
                tensors.append(ParamTensor(name=pname, role=role, shape=list(param.shape), counted=0))
                continue
            tensors.append(ParamTensor(name=pname, role=role, shape=list(param.shape), counted=param.numel()))
            column = role if role in ("weight", "bias") else "norm" if role.startswith("norm") else "other"
            counts[column] += param.numel()
            trainable += param.numel() if param.requires_grad else 0
        weight, bias = getattr(module, "weight", None), getattr(module, "bias", None)
        layers.append(LayerParams(
            name=name, type=type(module).__name__,
            weight_shape=list(weight.shape) if isinstance(weight, nn.Parameter) else None,
            bias_shape=list(bias.shape) if isinstance(bias, nn.Parameter) else None,
            weights=counts["weight"], biases=counts["bias"], other=counts["other"], norm=counts["norm"],
            tensors=tensors, kind=kind_of(module), total=sum(counts.values()), trainable=trainable,
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
