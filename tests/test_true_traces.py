"""Traces, parameter tables and map sentences that are true for any model (issue 30, items 5, 8, 9 and the trace
header of 12): the batch followed through permutes and indexing, each operation described for what it is,
every parameter tensor under its role so the columns add up, no bias claim where layers have none, and
"zero after a ReLU" only where a ReLU takes the output directly.

The models are small and built here: a timm-style ViT (patch embedding by a strided convolution, a class token
and position embeddings as parameters, qkv reshape/permute and F.scaled_dot_product_attention, a head on
x[:, 0]), one built on nn.MultiheadAttention, torchvision's VisionTransformer with small sizes (vit_b_16's code)
and ResNet-18. Their real traces and parameter counts go into a synthetic store, so the render stage's rules
and views run on them without a whole report; the few whole builds are marked slow.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import run_cli
from pypdf import PdfReader
from synthetic import _grid, documents, model_document, write_store
from torch import nn
from torch.nn import functional as F

from analysis.capture.trace import SECOND_BATCH, batch_dimension, trace_shapes
from analysis.stats.params import count_parameters
from analysis.store.schema import to_json
from report.render.sections import run_rules
from report.render.load import load_findings
from report.render.sections import SECTION_VIEWS
from report.render.views.common import Place

# --- the models -------------------------------------------------------------------------------------------

MODELS = '''
import torch
from torch import nn
from torch.nn import functional as F


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        x = F.scaled_dot_product_attention(q, k, v)
        return self.proj(x.transpose(1, 2).reshape(B, N, C))


class Block(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(dim), Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class TinyViT(nn.Module):
    """timm's layout, tiny: image 32, patch 8, dim 32, 4 heads."""

    def __init__(self, num_classes=3, depth=1, dim=32, heads=4, patch=8, image=32):
        super().__init__()
        self.patch_embed = nn.Conv2d(3, dim, patch, stride=patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, (image // patch) ** 2 + 1, dim) * 0.02)
        self.blocks = nn.Sequential(*[Block(dim, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x):
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1)
        x = self.norm(self.blocks(x + self.pos_embed))
        return self.head(x[:, 0])


class MHANet(nn.Module):
    """Patch embedding, nn.MultiheadAttention (batch first) with a residual, the mean over tokens, a head."""

    def __init__(self, num_classes=3, dim=32, heads=4, patch=8):
        super().__init__()
        self.embed = nn.Conv2d(3, dim, patch, stride=patch)
        self.norm = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x):
        x = self.embed(x).flatten(2).transpose(1, 2)
        y = self.norm(x)
        x = x + self.attn(y, y, y, need_weights=False)[0]
        return self.head(x.mean(dim=1))
'''
NETS = {"__name__": "trace_models"}
exec(compile(MODELS, "trace_models", "exec"), NETS)  # the same text is the module a whole build imports
TinyViT, MHANet = NETS["TinyViT"], NETS["MHANet"]
IMAGE = torch.zeros(1, 3, 32, 32)


class ConvReLU(nn.Module):
    """A convolution that a ReLU takes directly (as a module, in place), then pooling."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.relu = nn.ReLU(inplace=True)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(4 * 15 * 15, 3)

    def forward(self, x):
        return self.fc(self.pool(self.relu(self.conv(x))).flatten(1))


class ConvFunctionalReLU(ConvReLU):
    def forward(self, x):
        return self.fc(F.relu(self.conv(x)).flatten(1)[:, :4 * 15 * 15])


class Folded(nn.Module):
    """Folds the batch into the token dimension (reshape(B * N, C)), then unfolds it."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        B = x.shape[0]
        tokens = x.flatten(2).transpose(1, 2)          # (B, 1024, 3)
        flat = tokens.reshape(B * tokens.shape[1], 3)  # the batch folded in
        return self.fc(flat.reshape(B, -1, 3)[:, :, :1].flatten(1)[:, :8])


class OneImageOnly(nn.Module):
    """Fails for any batch but one (x.view(1, -1)): the trace still runs, with every shape whole."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3 * 32 * 32, 3)

    def forward(self, x):
        return self.fc(x.view(1, -1))


class BatchDependent(nn.Module):
    """Takes another path for a batch of one: no dimension can be told to be the batch."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(3, 3), nn.Linear(3, 3)

    def forward(self, x):
        x = x.mean(dim=(2, 3))
        return self.a(x) if x.shape[0] == 1 else self.b(x)


def _vit_small():
    from torchvision.models import VisionTransformer  # the code vit_b_16 runs, at a size that builds at once
    return VisionTransformer(image_size=32, patch_size=8, num_layers=1, num_heads=2, hidden_dim=16, mlp_dim=32,
                             num_classes=3)


def _resnet18():
    from torchvision.models import resnet18
    return resnet18(num_classes=3)


def traced(model, example=IMAGE):
    torch.manual_seed(0)
    trace, usage = trace_shapes(model, example)
    return trace, count_parameters(model, usage.ran, usage.storages)


def full(row, side):
    """A row's shape with the batch put back (batch 1), or the full shape it stored."""
    shape, batch = (row.input_shape, row.input_batch) if side == "in" else (row.output_shape, row.output_batch)
    return shape if batch is None else [*shape[:batch], 1, *shape[batch:]]


def first(trace, name, caller=None):
    return next(r for r in trace.rows if r.name == name and (caller is None or r.caller == caller))


# --- which dimension is the batch -------------------------------------------------------------------------

def test_the_batch_is_the_one_dimension_that_follows_the_batch_size():
    assert SECOND_BATCH == 2
    assert batch_dimension([1, 17, 3, 4, 8], [2, 17, 3, 4, 8]) == 0
    assert batch_dimension([3, 1, 4, 17, 8], [3, 2, 4, 17, 8]) == 1        # after permute(2, 0, 3, 1, 4)
    assert batch_dimension([1, 1, 32], [1, 1, 32]) is None                 # a parameter: nothing follows the batch
    assert batch_dimension([17, 32], [34, 32]) is None                     # folded: reshape(B * N, C)
    assert batch_dimension([17, 32], [2, 17, 32]) is None                  # x.squeeze() at batch 1
    assert batch_dimension([1, 1], [2, 2]) is None                         # two dimensions follow it
    assert batch_dimension(None, [2, 3]) is None


def test_the_vit_trace_follows_the_batch_through_reshape_permute_unbind_and_indexing():
    """The issue's case: qkv reshape (1,17,3,4,8) → permute(2,0,3,1,4) → (3,1,4,17,8). Stripping dimension 0
    wherever it sits printed (17,3,4,8) → (1,4,17,8)."""
    trace, _ = traced(TinyViT())
    permute = first(trace, "Tensor.permute")
    assert (full(permute, "in"), full(permute, "out")) == ([1, 17, 3, 4, 8], [3, 1, 4, 17, 8])
    assert (permute.input_batch, permute.output_batch, permute.output_shape) == (0, 1, [3, 4, 17, 8])
    assert permute.arguments == "(2, 0, 3, 1, 4)"
    unbind = first(trace, "Tensor.unbind")
    assert (unbind.input_batch, unbind.output_batch, full(unbind, "out")) == (1, 0, [1, 4, 17, 8])
    attention = first(trace, "F.scaled_dot_product_attention")
    assert (full(attention, "in"), attention.input_batch) == ([1, 4, 17, 8], 0)
    expand = first(trace, "Tensor.expand")
    assert (expand.input_shape, expand.input_batch, expand.source_tensor) == ([1, 1, 32], None, "cls_token")
    assert (expand.output_shape, expand.output_batch) == ([1, 32], 0)
    index = first(trace, "operator […]")
    assert (index.input_shape, index.output_shape, index.arguments) == ([17, 32], [32], "[:, 0]")
    cat = first(trace, "torch.cat")
    assert cat.source == expand.order and cat.arguments == "(tensor, tensor, dim=1)"


def test_where_no_dimension_is_the_batch_alone_the_shape_stays_whole():
    trace, _ = traced(Folded())
    folded = [r for r in trace.rows if r.name == "Tensor.reshape"]
    assert (folded[0].output_shape, folded[0].output_batch) == ([1024, 3], None)  # (B * 1024, 3): folded
    assert (folded[1].input_batch, folded[1].output_batch) == (None, 0)          # unfolded again
    assert (folded[1].output_shape, folded[1].input_shape) == ([1024, 3], [1024, 3])
    other_path, _ = traced(BatchDependent())
    assert all(r.input_batch is None and r.output_batch is None for r in other_path.rows)
    assert first(other_path, "a").input_shape == [1, 3]  # whole: the first dimension is not assumed
    one_only, _ = traced(OneImageOnly())
    assert [(r.name, r.input_shape, r.input_batch) for r in one_only.rows] == [
        ("Tensor.view", [1, 3, 32, 32], None), ("fc", [1, 3072], None)]


def test_each_call_knows_which_call_made_its_input():
    trace, _ = traced(ConvReLU())
    conv, relu, pool = (first(trace, n) for n in ("conv", "relu", "pool"))
    assert (conv.source, relu.source) == (-1, conv.order)
    assert pool.source == relu.order  # in place: the ReLU's output is the conv's tensor, and the ReLU made it last
    resnet, _ = traced(_resnet18(), torch.zeros(1, 3, 32, 32))
    assert first(resnet, "layer1.0.bn1").source == first(resnet, "layer1.0.conv1").order
    add = next(r for r in resnet.rows if r.kind == "function" and r.caller == "layer1.0")  # out += identity
    assert add.source == first(resnet, "layer1.0.bn2").order


# --- every parameter tensor under its role -----------------------------------------------------------------

def _unique(model) -> int:
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


def _add_up(params, expected: int) -> None:
    for layer in params.layers:
        assert layer.weights + layer.biases + layer.norm + layer.other == layer.total, layer.name
        assert sum(t.counted for t in layer.tensors) == layer.total, layer.name
    assert sum(layer.total for layer in params.layers) == params.total == expected
    assert sum(layer.weights + layer.biases + layer.norm + layer.other for layer in params.layers) == expected


@pytest.mark.parametrize("build", [TinyViT, MHANet, _vit_small, _resnet18], ids=["tiny-vit", "mha", "vit", "resnet18"])
def test_the_role_columns_add_up_to_the_total(build):
    model = build()
    _add_up(count_parameters(model), _unique(model))


def test_the_assignment_cnn_and_vit_b_16_add_up_too():
    from analysis.models.assignment import AssignmentCNN
    from analysis.models.build import build_model

    _add_up(count_parameters(AssignmentCNN()), 232_650)
    vit = build_model("torchvision:vit_b_16", {"num_classes": 3})
    _add_up(count_parameters(vit), _unique(vit))


def test_attention_projections_class_tokens_and_norms_have_their_roles():
    params = {layer.name: layer for layer in count_parameters(MHANet()).layers}
    attn = params["attn"]
    assert (attn.weights, attn.biases, attn.other, attn.total, attn.kind) == (3072, 96, 0, 3168, "attention")
    assert attn.formula == "96·32 + 96"
    assert [(t.name, t.role) for t in attn.tensors] == [("in_proj_weight", "weight"), ("in_proj_bias", "bias")]
    assert (params["norm"].norm, params["norm"].weights) == (64, 0)
    vit = {layer.name: layer for layer in count_parameters(TinyViT()).layers}
    assert [(t.name, t.role, t.counted) for t in vit[""].tensors] == [
        ("cls_token", "class token", 32), ("pos_embed", "position embedding", 544)]
    torchvision_vit = {layer.name: layer for layer in count_parameters(_vit_small()).layers}
    assert [t.role for t in torchvision_vit[""].tensors] == ["class token"]
    assert [t.role for t in torchvision_vit["encoder"].tensors] == ["position embedding"]


# --- the render stage, on the real traces ------------------------------------------------------------------

def store_of(tmp_path: Path, model, example=IMAGE, grids=None, name="store") -> Path:
    """A synthetic store whose model document is ``model``'s real trace and parameter table."""
    trace, params = traced(model, example)
    base = model_document()
    document = dataclasses.replace(base, trace=trace, parameters=params,
                                   model=dataclasses.replace(base.model, class_name=type(model).__name__))
    docs = copy.deepcopy(documents())
    docs["model.json"] = to_json(document)
    if grids is not None:
        docs["activations.json"]["grids"] = [to_json(g) for g in grids]
    return write_store(tmp_path / "stores", docs, key=name)


def notes_of(store: Path, rule: str | None = None):
    return [n for n in run_rules(load_findings(store)) if rule is None or n.rule == rule]


def view_of(store: Path, section: str):
    return SECTION_VIEWS[section][1](load_findings(store), Place("stores/x", {}, "stores/x"))


def test_vit_sentences_describe_indexing_attention_expand_and_parameters(tmp_path):
    notes = notes_of(store_of(tmp_path, TinyViT()))
    text = {n.branch: n.text for n in notes if n.rule == "shapes.step"}
    assert "flatten" not in text and not any("flattening turns" in t for t in text.values())
    assert text["index-class-token"].startswith(
        "operator […] in TinyViT's forward: indexing [:, 0] takes position 0 of the 17 along dimension 1")
    assert "where the forward put the class token cls_token" in text["index-class-token"]
    assert text["expand-parameter"].startswith("Tensor.expand in TinyViT's forward: expand repeats the parameter "
                                               "cls_token (the class token), (1, 1, 32) †, for every image")
    assert "(3, N, 4, 17, 8)" in text["reorder-batch"]
    assert "the batch moves from dimension 0 to 1" in text["reorder-batch"]
    unchanged = text["unchanged"]
    elementwise = re.search(r"element-wise operations \([^)]*\): \d+ \(([^)]*)\)", unchanged).group(1)
    assert "scaled_dot_product_attention" not in elementwise and "LayerNorm" not in elementwise
    assert ("attention (each position's output mixes the values of all positions): 1 "
            "(F.scaled_dot_product_attention)") in unchanged
    gaps = next(n for n in notes if n.rule == "shapes.gaps")
    assert gaps.branch == "parameters" and "a branch" not in gaps.text
    assert gaps.text.startswith("Tensor.expand takes the parameter cls_token as its first input")
    batch = next(n for n in notes if n.rule == "shapes.batch")
    # both sides of a call that moves the batch show N: four dimensions do not seem to become five
    assert batch.branch == "both" and "(N, 17, 3, 4, 8) → (3, N, 4, 17, 8)" in batch.text


def test_an_index_that_is_not_the_class_token_says_only_what_it_picks(tmp_path):
    class Last(nn.Module):  # x[:, -1] after a class token put first: not the class token
        def __init__(self):
            super().__init__()
            self.vit = TinyViT()

        def forward(self, x):
            v = self.vit
            x = v.patch_embed(x).flatten(2).transpose(1, 2)
            x = torch.cat((v.cls_token.expand(x.shape[0], -1, -1), x), dim=1)
            return v.head(x[:, -1])

    text = {n.branch: n.text for n in notes_of(store_of(tmp_path, Last()), "shapes.step")}
    assert "index-class-token" not in text
    assert "indexing [:, -1] takes position -1 (the last) of the 17 along dimension 1" in text["index"]


class Mixed(nn.Module):
    """A 1×1 convolution, a squeeze-and-excitation scale, a residual branch, a tensor made from the input, a
    split, a matrix product, a reduction and a tiling."""

    def __init__(self):
        super().__init__()
        self.conv, self.gate = nn.Conv2d(3, 4, 1), nn.Linear(4, 4)
        self.proj, self.short = nn.Conv2d(4, 8, 3, padding=1, stride=2), nn.Conv2d(4, 8, 1, stride=2)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        x = self.conv(x)
        x = torch.sigmoid(self.gate(x.mean(dim=(2, 3))))[:, :, None, None] * x
        y = self.proj(x) + self.short(x)
        a, b = y.chunk(2, dim=1)
        z = torch.matmul(a.flatten(2), b.flatten(2).transpose(1, 2))
        return self.head(z.mean(dim=1).repeat(1, 2) + y.new_zeros(4, 4).sum())


def test_every_kind_of_call_is_described_for_what_it_does(tmp_path):
    notes = notes_of(store_of(tmp_path, Mixed()))
    text = {n.branch: n.text for n in notes if n.rule == "shapes.step"}
    assert text["conv-pointwise"].startswith("conv: a 1×1 convolution keeps each side (32 → 32) and mixes the 3 "
                                             "input channels at each pixel")
    assert "removes 0 pixels" not in " ".join(text.values())
    assert text["index-new-axis"].endswith("indexing [:, :, None, None] adds dimensions of size 1, (4,) → (4, 1, 1): "
                                           "the same values, ready to broadcast.")
    assert text["broadcast"].endswith("mul combines its inputs element by element, broadcasting: the first, "
                                      "(4, 1, 1), is repeated along its dimensions of size 1 to (4, 32, 32).")
    assert "new_zeros(4, 4) makes a new tensor of (4, 4) †; of its input (8, 16, 16) it takes only" in text["create"]
    assert "chunk(2, dim=1) splits (8, 16, 16) into parts; the first of them is (4, 16, 16)" in text["split"]
    assert "a matrix product maps (4, 256) to (4, 4)" in text["product"]
    assert "mean(dim=(2, 3)) combines values over dimensions, (4, 32, 32) → (4,)" in text["reduce"]
    assert text["expand"].endswith("repeat(1, 2) tiles (4,) to (8,), copying the values.")
    assert text["reshape"].endswith("flatten(2) regroups the same values into another shape, (4, 16, 16) → (4, 256). "
                                    "1 more call changes the shape this way.")  # not "flattening into one vector"
    gaps = next(n for n in notes if n.rule == "shapes.gaps")
    assert gaps.branch == "branch" and gaps.text.startswith(
        "short takes (4, 32, 32), not the (8, 16, 16) that proj just gave: it is fed from the output of Tensor.mul "
        "(call 6), an earlier one, a branch")


def test_mha_attention_keeps_the_shape_but_is_not_element_wise(tmp_path):
    store = store_of(tmp_path, MHANet())
    unchanged = next(n for n in notes_of(store, "shapes.step") if n.branch == "unchanged")
    assert "attention (each position's output mixes the values of all positions): attn" in unchanged.text
    assert "element-wise operations (each value from the value at the same place: activations, additions, " \
           "dropout): Tensor.add" in unchanged.text
    view = view_of(store, "parameters")
    attn = next(r for r in view.layers if r.name == "attn")
    assert (attn.weights, attn.biases, attn.total) == ("3,072", "96", "3,168")
    assert [_number(getattr(view, c)) for c in ("weights", "biases", "norm", "other")] == [10_336, 163, 64, 0]
    assert sum(_number(getattr(view, c)) for c in ("weights", "biases", "norm", "other")) == _number(view.total)
    assert view.roles


def _number(text: str) -> int:
    return int(text.replace(",", ""))


def test_the_share_sentence_accounts_for_every_parameter(tmp_path):
    note = notes_of(store_of(tmp_path, TinyViT()), "params.conv_vs_dense")[0]
    shares = [float(x) for x in re.findall(r"([\d.]+)%", note.text)]
    conv, dense, rest, *parts = shares
    assert abs(conv + dense + rest - 100) < 0.15 and abs(sum(parts) - rest) < 0.15
    assert "normalisation scales and shifts" in note.text and "class token and position embeddings" in note.text
    mha = notes_of(store_of(tmp_path, MHANet(), name="mha"), "params.conv_vs_dense")[0]
    assert "attention projections (30.0%)" in mha.text
    plain = notes_of(write_store(tmp_path / "plain"), "params.conv_vs_dense")[0]  # convolutions and dense only
    assert "remaining" not in plain.text


def test_a_bias_per_output_is_claimed_only_where_every_layer_has_one(tmp_path):
    resnet = notes_of(store_of(tmp_path, _resnet18()), "params.total")[0]
    assert "Each layer holds its weights plus one bias" not in resnet.text
    assert ("1 of its 21 convolution and fully connected layers holds weights plus one bias per output (for fc, "
            "3·512 + 3 = 1,539); the other 20 hold weights only (for conv1, 64·3·7·7 = 9,408).") in resnet.text
    assert resnet.evidence["without_bias"] == 20
    vit = notes_of(store_of(tmp_path, TinyViT(), name="vit"), "params.total")[0]
    assert "Each convolution and fully connected layer holds its weights plus one bias per output" in vit.text
    plain = notes_of(write_store(tmp_path / "plain"), "params.total")[0]
    assert "Each layer holds its weights plus one bias per output; for conv1, 4·1·3·3 + 4 = 40." in plain.text

    class NoBias(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.fc = nn.Conv2d(3, 2, 3, bias=False), nn.Linear(2, 3, bias=False)

        def forward(self, x):
            return self.fc(self.conv(x).mean(dim=(2, 3)))

    none = notes_of(store_of(tmp_path, NoBias(), name="nobias"), "params.total")[0]
    assert "hold weights only, no biases; for conv, 2·3·3·3 = 54." in none.text


def _raw(module, channels=4, dead=(1,)):
    return dataclasses.replace(_grid(module, f"{module} (Conv2d output)", [channels, 8, 8], 2.0, dead=dead), vmin=-1.0)


def test_zero_after_a_relu_only_where_a_relu_takes_the_output(tmp_path):
    for model, taker in ((ConvReLU(), "relu"), (ConvFunctionalReLU(), "F.relu")):
        note = notes_of(store_of(tmp_path, model, grids=[_raw("conv")], name=taker), "maps.dead")[0]
        assert f"never positive (all ≤ 0), so zero after the ReLU that takes them ({taker})" in note.text
        assert note.evidence["next"] == "relu"
    resnet = notes_of(store_of(tmp_path, _resnet18(), torch.zeros(1, 3, 32, 32), grids=[_raw("conv1")],
                               name="resnet"), "maps.dead")[0]
    assert "ReLU" not in resnet.text.split("This is")[0] and "zero after" not in resnet.text
    assert ("no ReLU takes directly (bn1, a BatchNorm2d, takes it), so a map ≤ 0 here is not a silent "
            "one") in resnet.text


def test_many_raw_layers_before_a_normalisation_are_not_called_silent(tmp_path):
    convs = ["conv1", "layer1.0.conv1", "layer1.0.conv2", "layer1.1.conv1", "layer1.1.conv2"]
    store = store_of(tmp_path, _resnet18(), torch.zeros(1, 3, 32, 32), grids=[_raw(m) for m in convs])
    note = notes_of(store, "maps.dead")[0]
    assert note.branch == "raw-of-many" and "zero after a ReLU" not in note.text
    assert note.text == ("5 of 5 layers have maps that are never positive (all ≤ 0) for this input, all in raw "
                         "outputs: no ReLU takes any of these outputs directly (conv1 goes to bn1), so these maps are "
                         "not silent ones.")
    relu_fed = [dataclasses.replace(_raw("layer1.0.relu"), vmin=0.0)] + [_raw(m) for m in convs[1:]]
    mixed = notes_of(store_of(tmp_path, _resnet18(), torch.zeros(1, 3, 32, 32), grids=relu_fed, name="mixed"),
                     "maps.dead")[0]
    assert mixed.branch == "some-of-many" and mixed.text.startswith("1 of 5 layers have maps that are zero everywhere")
    assert "In 4 more layers maps are never positive in raw outputs that no ReLU takes directly" in mixed.text


def test_the_shapes_view_marks_a_moved_batch_and_whole_shapes(tmp_path):
    view = view_of(store_of(tmp_path, TinyViT()), "shapes")
    rows = {r.name: r for g in view.groups for r in g.rows}
    assert rows["Tensor.permute"].output_shape == "(3, N, 4, 17, 8)"
    assert rows["Tensor.expand"].input_shape == "(1, 1, 32) †"
    assert view.moved and view.full


def test_the_parameter_table_columns_add_up_for_the_vit(tmp_path):
    view = view_of(store_of(tmp_path, TinyViT()), "parameters")
    root = view.layers[0]
    assert (root.name, root.other) == ("TinyViT (the model itself)", "576")
    assert root.other_tensors == "cls_token (class token, 32), pos_embed (position embedding, 544)"
    columns = [_number(getattr(view, c)) for c in ("weights", "biases", "norm", "other")]
    assert sum(columns) == _number(view.total) == 15_459
    for row in view.layers:
        assert sum(_number(getattr(row, c)) for c in ("weights", "biases", "norm", "other")) == _number(row.total)


def test_old_stores_without_roles_or_flow_read_as_before(tmp_path):
    """A store written before these fields: batch first everywhere, no flow, no roles; the rules fall back."""
    notes = notes_of(write_store(tmp_path / "stores"))
    assert not [n for n in notes if n.rule == "shapes.batch"]
    assert next(n for n in notes if n.rule == "shapes.gaps").branch == "none"


# --- the trace table in HTML and PDF -----------------------------------------------------------------------

def _trace_html(tmp_path: Path, store: Path) -> str:
    from report import pipeline
    pipeline.render(pipeline.RenderPlan(tmp_path, store, ("html",)))
    html = (tmp_path / "report.html").read_text()
    start = html.index('<section id="shapes"')
    return html[start:html.index("</section>", start)]


def test_the_trace_is_one_table_with_one_header_and_a_row_per_group_heading(tmp_path):
    section = _trace_html(tmp_path, store_of(tmp_path, TinyViT(depth=2)))
    assert section.count('<table class="numbers trace"') == 1 and section.count("<thead") == 1
    assert "print-only" not in section and "<details" not in section
    assert '<tr class="group-row"><th colspan="7" class="t">blocks (Sequential): ' in section


@pytest.mark.slow
def test_the_pdf_repeats_the_trace_header_once_per_page(tmp_path):
    """Every page the trace runs over has its column heads once, at the top (a header per group before)."""
    from report import pipeline
    store = store_of(tmp_path, TinyViT(depth=4))
    pipeline.render(pipeline.RenderPlan(tmp_path, store, ("html", "pdf"), sections=("shapes",)))
    # pypdf's layout mode keeps a row's cells on one line, as poppler's pdftotext -layout does (no Debian tool)
    pages = [page.extract_text(extraction_mode="layout") for page in PdfReader(tmp_path / "report.pdf").pages]
    trace_pages = [p for p in pages if re.search(r"^\s*\d+\s+(blocks|Tensor|torch|operator)", p, re.M)]
    assert len(trace_pages) >= 2
    for page in trace_pages:
        assert len(re.findall(r"Input shape\s+Output shape", page)) == 1


# --- a whole build ------------------------------------------------------------------------------------------

def _colour_split(rng, per_class, classes=3, size=32):
    tint = rng.uniform(40, 215, (classes, 1, 1, 3))
    x = np.concatenate([np.clip(tint[c] + rng.normal(0, 40, (per_class, size, size, 3)), 0, 255)
                        for c in range(classes)])
    return x.astype(np.uint8), np.repeat(np.arange(classes), per_class)


@pytest.mark.slow
def test_a_tiny_vit_report_says_nothing_the_trace_contradicts(tmp_path):
    (tmp_path / "trace_models.py").write_text(textwrap.dedent(MODELS))
    rng = np.random.default_rng(0)
    (x_train, y_train), (x_test, y_test) = _colour_split(rng, 3), _colour_split(rng, 4)
    np.savez(tmp_path / "d.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    out = tmp_path / "out"
    result = run_cli("--data", str(tmp_path / "d.npz"), "--model", "trace_models:TinyViT", "--out", str(out),
                     "--format", "html", "--sections", "parameters,shapes,kernels,activations", cwd=tmp_path,
                     env={"PYTHONPATH": str(Path(__file__).resolve().parent.parent)})
    assert result.returncode == 0, result.stderr
    notes = json.loads((out / "notes.json").read_text())
    notes = notes["notes"] if isinstance(notes, dict) else notes
    text = " ".join(n["text"] for n in notes)
    assert "flattening turns 17" not in text and "(1, 4, 17, 8)" not in text
    assert "class token" in text and "(3, N, 4, 17, 8)" in text
    assert not re.search(r"element-wise operations[^;]*scaled_dot_product_attention", text)
    assert "zero after a ReLU" not in text and "zero after the ReLU" not in text  # no ReLU in a ViT
    html = (out / "report.html").read_text()
    assert "<th>Norm</th><th>Other</th>" in html and "cls_token (class token, 32)" in html


def test_one_pixel_is_singular_and_adaptive_pooling_that_keeps_the_size_has_no_stride(tmp_path):
    # issue 30 zoo, ResNet-18 on 32×32: "= 1 pixels per side", and AdaptiveAvgPool2d on a 1×1 map counted as
    # "pooling with stride 1"
    model = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    notes = notes_of(store_of(tmp_path, model, example=torch.zeros(1, 3, 2, 2)), "shapes.step")
    text = " ".join(n.text for n in notes)
    assert "makes each side ⌊(2 + 2·1 − 3) / 2⌋ + 1 = 1 pixel and gives 4 channels" in text and "1 pixels" not in text
    assert "pooling that keeps the size" in text and "stride 1" not in text


class TwiceRelu(nn.Module):
    """torch.relu called twice, beside one ReLU module: two calls of one name."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.act = nn.ReLU()
        self.fc = nn.Linear(4 * 32 * 32, 2)

    def forward(self, x):
        x = self.act(torch.relu(torch.relu(self.conv(x))))
        return self.fc(x.flatten(1))


def test_calls_that_keep_the_shape_are_named_once_with_their_count(tmp_path):
    (note,) = [n for n in notes_of(store_of(tmp_path, TwiceRelu()), "shapes.step") if n.branch == "unchanged"]
    assert note.text.startswith("torch.relu (2 calls) and act keep the shape"), note.text
    assert note.evidence["layers"] == ["torch.relu", "torch.relu", "act"]


class OneRelu(TwiceRelu):
    """The ReLU module alone keeps the shape."""

    def forward(self, x):
        return self.fc(self.act(self.conv(x)).flatten(1))


def test_one_call_that_keeps_the_shape_takes_the_singular(tmp_path):
    (note,) = [n for n in notes_of(store_of(tmp_path, OneRelu()), "shapes.step") if n.branch == "unchanged"]
    assert note.text.startswith("act keeps the shape"), note.text
