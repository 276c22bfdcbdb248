"""Counts from what actually runs: MACs at the dispatch level against torchvision's published figures and
against counts made by hand, functional calls in the trace, modules that never run, and checkpoints saved
the plain way loaded exactly as ``load_state_dict`` would load them."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from analysis.capture.trace import trace_shapes
from analysis.models.build import build_model, expected_input
from analysis.models.layers import embedding_point
from analysis.stats.params import count_parameters


def _published(name: str) -> tuple[int, float, int]:
    from torchvision import models

    weights = models.get_model_weights(name).DEFAULT
    return weights.meta["num_params"], weights.meta["_ops"], int(weights.transforms().crop_size[0])


def _counted(name: str):
    torch.manual_seed(0)
    model = build_model(f"torchvision:{name}", {}).eval()
    size = expected_input(f"torchvision:{name}", {}).size
    trace, usage = trace_shapes(model, torch.zeros(1, 3, size, size))
    return model, trace, usage, count_parameters(model, usage.ran, usage.storages)


# A spread: plain CNNs, residual, depthwise, squeeze-excitation (mobilenet_v3, efficientnet, regnet), auxiliary
# heads (googlenet, inception_v3 at 299 px), a 1×1-convolution classifier (squeezenet), transformers (vit, swin),
# and convnext's LayerNorm-and-Linear blocks.
PUBLISHED = ["resnet18", "mobilenet_v3_small", "efficientnet_b0", "regnet_y_400mf", "googlenet", "inception_v3",
             "squeezenet1_0", "vit_b_16", "swin_t", "convnext_tiny", "shufflenet_v2_x1_0"]


@pytest.mark.slow
@pytest.mark.parametrize("name", PUBLISHED)
def test_counts_match_torchvisions_published_figures(name):
    """Parameters exact and MACs within 0.5% of torchvision's meta["_ops"] (GMACs at the weights' crop size,
    rounded to three decimals). Torchvision builds googlenet's published weights without the auxiliary heads,
    so its published count is the parameters inference reads."""
    params, gmacs, _ = _published(name)
    _, trace, _, counts = _counted(name)
    inference = counts.total - counts.unused
    assert params in (counts.total, inference)
    assert math.isclose(trace.total_macs / 1e9, gmacs, rel_tol=0.005, abs_tol=0.0005), (trace.total_macs, gmacs)
    assert trace.counting == "dispatch" and trace.uncounted == []


@pytest.mark.slow
def test_auxiliary_heads_are_not_executed_and_their_parameters_are_counted_apart():
    model, trace, usage, counts = _counted("googlenet")
    idle = {layer.name.split(".")[0] for layer in counts.layers if not layer.executed}
    assert idle == {"aux1", "aux2"}
    aux = sum(p.numel() for name, p in model.named_parameters() if name.startswith(("aux1.", "aux2.")))
    assert counts.unused == aux == 6_379_984 and counts.total - counts.unused == 6_624_904
    assert not any(row.name.startswith("aux") for row in trace.rows if row.kind == "module")
    assert embedding_point(model, None, trace).module == "fc"


def test_squeezenet_embeds_the_features_entering_its_final_convolution():
    model = build_model("torchvision:squeezenet1_0", {"num_classes": 3}).eval()
    trace, _ = trace_shapes(model, torch.zeros(1, 3, 64, 64))
    point = embedding_point(model, None, trace)
    assert (point.module, point.side, point.feature_axis) == ("classifier.1", "input", 1)
    assert "averaged over its 3×3 positions" in point.label


class LeNet(nn.Module):
    """Modules for the weights, functions for everything else."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 6, 5), nn.Conv2d(6, 16, 5)
        self.fc1, self.fc2 = nn.Linear(16 * 4 * 4, 120), nn.Linear(120, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(torch.flatten(x, 1))))


class TinyAttention(nn.Module):
    """Patches, one attention layer with functional projections and F.scaled_dot_product_attention, a head."""

    def __init__(self, dim=16, heads=2, classes=4):
        super().__init__()
        self.heads = heads
        self.patch = nn.Conv2d(1, dim, 7, stride=7)                 # 28×28 -> 4×4 = 16 tokens
        self.qkv = nn.Parameter(torch.randn(3 * dim, dim) * 0.1)    # used through F.linear: no module
        self.proj = nn.Linear(dim, dim)
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        tokens = self.patch(x).flatten(2).transpose(1, 2)           # (B, 16, dim)
        b, n, d = tokens.shape
        q, k, v = F.linear(tokens, self.qkv).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, d)
        tokens = tokens + self.proj(attended)
        return self.head(tokens.mean(1))


def test_a_functional_lenet_gets_a_complete_trace_and_exact_macs():
    model = LeNet().eval()
    trace, _ = trace_shapes(model, torch.zeros(1, 1, 28, 28))
    # By hand: output positions × (input channels × kernel area) per output channel, in × out for linear layers.
    expected = 24 * 24 * 6 * 25 + 8 * 8 * 16 * 6 * 25 + 256 * 120 + 120 * 10
    assert trace.total_macs == expected == 86_400 + 153_600 + 30_720 + 1_200
    functions = [(row.name, row.input_shape, row.output_shape) for row in trace.rows if row.kind == "function"]
    assert functions == [("F.relu", [6, 24, 24], [6, 24, 24]), ("F.max_pool2d", [6, 24, 24], [6, 12, 12]),
                         ("F.relu", [16, 8, 8], [16, 8, 8]), ("F.max_pool2d", [16, 8, 8], [16, 4, 4]),
                         ("torch.flatten", [16, 4, 4], [256]), ("F.relu", [120], [120])]
    assert all(row.caller == "" and row.depth == 1 for row in trace.rows if row.kind == "function")
    rows = [row for row in trace.rows if row.input_shape is not None]
    assert all(a.output_shape == b.input_shape for a, b in zip(rows, rows[1:]))  # no gaps: nothing hidden


def test_a_tiny_attention_classifier_gets_exact_macs_from_an_independent_count():
    torch.manual_seed(0)
    model = TinyAttention().eval()
    trace, usage = trace_shapes(model, torch.zeros(1, 1, 28, 28))
    n, d, h = 16, 16, 2
    patch = n * d * 1 * 7 * 7
    qkv = n * d * 3 * d
    attention = 2 * h * n * n * (d // h)       # q·kᵀ and softmax(·)·v, per head
    proj, head = n * d * d, d * 4
    assert trace.total_macs == patch + qkv + attention + proj + head
    assert trace.uncounted == []
    by_name = {row.name: row for row in trace.rows}
    assert by_name["F.linear"].macs == qkv and by_name["F.scaled_dot_product_attention"].macs == attention
    assert by_name["Tensor.add"].kind == "function"  # the residual addition
    counts = count_parameters(model, usage.ran, usage.storages)
    assert counts.unused == 0  # qkv has no module, but F.linear reads it
    # the final classification step is the head: its input, the mean token, is the default embedding
    assert embedding_point(model, None, trace).module == "head"


def test_multihead_attention_is_counted_whichever_kernel_would_run():
    """nn.MultiheadAttention in eval mode without gradients takes a fused fast path that has no counting
    formula; the count turns it off, and restores the setting afterwards."""
    layer = nn.TransformerEncoderLayer(d_model=8, nhead=2, dim_feedforward=16, batch_first=True).eval()
    model = nn.Sequential(layer)
    trace, _ = trace_shapes(model, torch.zeros(1, 5, 8))
    n, d, ff = 5, 8, 16
    expected = n * d * 3 * d + 2 * n * n * d + n * d * d + n * d * ff + n * ff * d
    assert trace.total_macs == expected and trace.uncounted == []
    assert torch.backends.mha.get_fastpath_enabled()


def test_a_heavy_operation_without_formula_is_listed_not_dropped():
    class Fused(nn.Module):
        def forward(self, x):
            return torch.ops.aten._native_multi_head_attention(
                x, x, x, 8, 2, torch.eye(24, 8), torch.zeros(24), torch.eye(8), torch.zeros(8))[0].flatten(1)

    trace, _ = trace_shapes(Fused(), torch.zeros(1, 3, 8))
    assert [u.op for u in trace.uncounted] == ["aten._native_multi_head_attention"]


def test_a_tuple_output_gives_its_logits_with_a_note():
    class TwoHeads(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 3)

        def forward(self, x):
            return self.fc(x), x

    trace, _ = trace_shapes(TwoHeads(), torch.zeros(1, 4))
    assert trace.output_shape == [3] and trace.output_taken == "its first element (the forward pass returns a tuple of 2)"


@pytest.mark.slow
def test_plain_state_dicts_of_torchvision_models_load_exactly_as_load_state_dict(tmp_path):
    """torch.save(model.state_dict()) of every torchvision classification model under 30 M parameters (by the
    published count: they build in a few seconds), read through the tool: the same tensors and the same
    per-module ``_metadata`` (versions some modules check in _load_from_state_dict)."""
    from torchvision import models

    from analysis.models.checkpoint import load_into, read_checkpoint

    names = [n for n in models.list_models(module=models)
             if models.get_model_weights(n).DEFAULT.meta["num_params"] < 30_000_000]
    assert len(names) >= 30
    for name in names:
        torch.manual_seed(0)
        model = build_model(f"torchvision:{name}", {})
        path = tmp_path / f"{name}.pt"
        torch.save(model.state_dict(), path)
        saved = {k: v.clone() for k, v in model.state_dict().items()}  # the values, kept apart from the model
        state, _meta = read_checkpoint(path)
        assert state._metadata == model.state_dict()._metadata, name
        for how, load in (("through the tool", lambda: load_into(model, state, path)),
                          ("as PyTorch loads it", lambda: model.load_state_dict(torch.load(path, weights_only=True)))):
            for tensor in model.state_dict().values():  # nothing left of the saved values (a copy of the model
                tensor.zero_()                          # for each way, or building it anew, takes far longer)
            load()
            loaded = model.state_dict()  # each way equal to the saved values: so the two ways equal each other
            assert list(loaded) == list(saved), (name, how)
            assert all(torch.equal(loaded[k], saved[k]) for k in loaded), (name, how)
        path.unlink()
