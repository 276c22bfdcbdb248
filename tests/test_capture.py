"""The one forward-capture mechanism (analysis.capture.forward): hooks always removed, every call recorded in order,
copies taken at hook time, the training flags given back."""

from pathlib import Path

import pytest
import torch
from torch import nn

from analysis.capture import forward as capture
from analysis.capture.activations import capture as capture_arrays
from analysis.errors import InputError

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture
def reused(monkeypatch):
    monkeypatch.syspath_prepend(str(FIXTURES))
    from user_models import ReusedBlockNet

    torch.manual_seed(0)
    return ReusedBlockNet()


def hook_counts(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


class ConvThenInplaceReLU(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(self.conv(x))


class Fails(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(3, 3)
        self.b = nn.Linear(5, 2)

    def forward(self, x):
        return self.b(self.a(x))


def test_hooks_are_removed_after_the_block():
    model = ConvThenInplaceReLU()
    with capture.forward(model, ["conv", "relu"]) as recording:
        assert hook_counts(model) == 4  # a pre-hook and a hook per watched module
        model(torch.randn(1, 1, 5, 5))
    assert hook_counts(model) == 0
    assert [call.name for call in recording.calls] == ["conv", "relu"]


def test_hooks_are_removed_and_flags_restored_when_the_forward_pass_raises():
    model = Fails().train()
    recording = capture.forward(model)
    with pytest.raises(RuntimeError), recording:
        assert not model.training and not torch.is_grad_enabled()
        model(torch.zeros(1, 3))
    assert hook_counts(model) == 0
    assert model.training and model.a.training and torch.is_grad_enabled()
    assert recording.reached == "b"  # how far the pass got
    assert [(c.name, c.finished) for c in recording.calls] == [("a", True), ("b", False)]


def test_an_exception_in_a_probe_also_removes_the_hooks():
    model = Fails()

    def refuse(_value):
        raise ValueError("no")

    with pytest.raises(ValueError), capture.forward(model, {"a": capture.Probe(output=refuse)}):
        model(torch.zeros(1, 3))
    assert hook_counts(model) == 0


def test_a_shared_module_is_recorded_at_every_call_in_order(reused):
    with capture.forward(reused, ["act", "pool", "fc2"]) as recording:
        reused(torch.randn(2, 1, 28, 28))
    assert [(c.name, c.repeat) for c in recording.calls] == [
        ("act", 0), ("act", 1), ("pool", 0), ("act", 2), ("fc2", 0)]
    assert [c.order for c in recording.calls] == list(range(5))
    shapes = [tuple(c.output.shape) for c in recording.of("act")]
    assert shapes == [(2, 8, 28, 28), (2, 16, 26, 26), (2, 32)]
    assert recording.first("act") is recording.of("act")[0]
    arrays, _ = capture_arrays(reused, torch.randn(2, 1, 28, 28), ["act"])
    assert arrays["act"].shape == (2, 8, 28, 28)  # the report's choice for a shared module: its first call


def test_nesting_depth_counts_the_watched_calls_still_running(reused):
    with capture.forward(reused, None) as recording:  # every submodule
        reused(torch.randn(1, 1, 28, 28))
    assert all(c.depth == 0 for c in recording.calls)  # a flat model: nothing runs inside another module
    sequential = nn.Sequential(nn.Sequential(nn.Linear(2, 2), nn.ReLU()), nn.Linear(2, 1))
    with capture.forward(sequential) as recording:
        sequential(torch.zeros(1, 2))
    assert [(c.name, c.depth) for c in recording.calls] == [("0", 0), ("0.0", 1), ("0.1", 1), ("1", 0)]


def test_an_inplace_relu_does_not_change_what_was_captured():
    torch.manual_seed(0)
    model = ConvThenInplaceReLU()
    x = torch.randn(1, 1, 6, 6)
    with capture.forward(model, {"conv": capture.OUTPUT, "relu": capture.INPUT}) as recording:
        out = model(x)
    conv_out = recording.first("conv").output
    assert conv_out.min() < 0 and out.min() >= 0  # taken before the ReLU overwrote the same storage
    assert torch.equal(recording.first("relu").inputs[0], conv_out)  # the ReLU's own input, before it ran
    assert torch.equal(conv_out.clamp(min=0), out)


def test_training_flags_are_restored_module_by_module(reused):
    reused.train()
    reused.bn1.eval()  # mixed on purpose: a frozen BatchNorm
    with capture.forward(reused, ["bn1"]):
        assert not any(m.training for m in reused.modules())
        reused(torch.randn(2, 1, 28, 28))
    assert reused.training and reused.bn2.training and reused.drop.training and not reused.bn1.training
    reused.eval()
    with capture.forward(reused, ["bn1"]):
        reused(torch.randn(2, 1, 28, 28))
    assert not any(m.training for m in reused.modules())


def test_drain_gives_each_batch_its_own_calls(reused):
    recording = capture.forward(reused, {"act": capture.CALLS})
    with recording:
        for _ in range(2):
            reused(torch.randn(1, 1, 28, 28))
            calls = recording.drain()
            assert [(c.order, c.repeat) for c in calls] == [(0, 0), (1, 1), (2, 2)]
            assert all(c.output is None for c in calls)
    assert recording.calls == []


def test_unknown_names_fail_before_any_hook(reused):
    with pytest.raises(InputError, match="unknown layer 'nope'"):
        capture.forward(reused, ["act", "nope"])
    assert hook_counts(reused) == 0


def test_a_recording_cannot_watch_two_passes_at_once():
    model = Fails()
    recording = capture.forward(model, ["a"])
    with recording, pytest.raises(RuntimeError, match="already watching"), recording:
        pass
    assert hook_counts(model) == 0
