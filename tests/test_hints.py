"""Model hints and layer kinds: what a model declares about its own presentation, and the generic rules
that apply when it declares nothing. No part of the analysis asks which class a model is."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch
from conftest import ROOT
from torch import nn

from analysis.capture.trace import trace_shapes
from analysis.errors import InputError
from analysis.capture import kinds
from analysis.models.assignment import AssignmentCNN
from analysis.models.hints import ModelHints, hints_of
from analysis.models.layers import activation_layers, embedding_point, is_activated
from analysis.stats.fullsplit import depth_layers, filter_layers


class Declared(nn.Module):
    report_hints = ModelHints(map_layers=(("block.1", "block after ReLU"),), filter_layers=(("block.1", "block"),),
                              depth_layers=(("block", "block"), ("head", "logits")), embedding_layer="head",
                              activation_of={"head": "head"})

    def __init__(self):
        super().__init__()
        self.block = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU())
        self.other = nn.Conv2d(1, 4, 3)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(4 * 26 * 26, 3))

    def forward(self, x):
        return self.head(self.block(x))


class Generic(Declared):
    report_hints = None


def test_declared_hints_choose_the_layers_and_the_embedding():
    model = Declared()
    assert activation_layers(model, None) == [("block.1", "block after ReLU")]
    assert filter_layers(model) == [("block.1", "block")]
    assert depth_layers(model) == [("block", "block"), ("head", "logits")]
    point = embedding_point(model, None)
    assert (point.module, point.layer, point.label) == ("head", "head", "head output")


def test_without_hints_the_generic_rules_apply():
    model = Generic()
    assert activation_layers(model, None) == [("block.0", "block.0 (Conv2d output)"), ("other", "other (Conv2d output)")]
    assert filter_layers(model) == activation_layers(model, None)
    assert depth_layers(model) == [("block", "block"), ("other", "other"), ("head", "head")]
    point = embedding_point(model, None, trace_shapes(model, torch.zeros(1, 1, 28, 28))[0])
    assert (point.module, point.side) == ("head.1", "input")  # the features entering the last Linear


def test_options_override_the_hints():
    model = Declared()
    assert activation_layers(model, ("other",)) == [("other", "other (Conv2d output)")]
    assert embedding_point(model, "block").module == "block"


def test_the_assignment_cnn_declares_its_figures():
    hints = hints_of(AssignmentCNN())
    assert [m for m, _ in hints.map_layers] == ["relu1", "pool1", "relu2", "pool2"]
    assert [m for m, _ in hints.filter_layers] == ["relu1", "relu2"]
    point = embedding_point(AssignmentCNN(), None)
    assert (point.module, point.layer, point.label, point.after_relu) == ("relu4", "fc2", "fc2 after ReLU", True)
    assert embedding_point(AssignmentCNN(), "fc3").label == "fc3 output"


def test_hints_of_the_wrong_type_are_refused_in_one_line():
    class Wrong(Generic):
        report_hints = {"map_layers": ["conv1"]}

    with pytest.raises(InputError, match="Wrong.report_hints is a dict, not analysis.models.hints.ModelHints"):
        activation_layers(Wrong(), None)


def test_layer_kinds():
    assert kinds.is_convolution(nn.Conv1d(1, 1, 1)) and kinds.is_convolution(nn.Conv3d(1, 1, 1))
    assert kinds.is_map_convolution(nn.Conv2d(1, 1, 1)) and not kinds.is_map_convolution(nn.Conv1d(1, 1, 1))
    assert kinds.is_linear(nn.Linear(1, 1)) and not kinds.is_linear(nn.Conv2d(1, 1, 1))
    for module in (nn.ReLU(), nn.GELU(), nn.SiLU(), nn.LeakyReLU()):
        assert kinds.is_activation(module)
    assert not kinds.is_activation(nn.Sigmoid())  # never exactly zero: "silent" means nothing there
    model = nn.Sequential(nn.Conv2d(1, 1, 1), nn.ReLU())
    assert is_activated(model, "1") and not is_activated(model, "0")
    assert torch.is_tensor(model(torch.zeros(1, 1, 2, 2)))


def test_no_module_of_the_analysis_asks_for_the_assignment_class():
    """The assignment CNN's special presentation lives in its hints: only the modules that build or train it
    may name the class."""
    allowed = {"analysis/models/assignment.py", "analysis/models/build.py", "analysis/train.py"}
    naming = set()
    for path in (ROOT / "analysis").rglob("*.py"):
        relative = path.relative_to(ROOT).as_posix()
        names = {node.id for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Name)}
        if "AssignmentCNN" in names and relative not in allowed:
            naming.add(relative)
    assert naming == set(), f"{sorted(naming)} name AssignmentCNN: declare the behaviour in its report_hints"
    assert Path(ROOT / "analysis/models/hints.py").is_file()
