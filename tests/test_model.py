"""The assignment CNN: exact parameter counts, the shape trace, and loading the usual state_dict."""

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from analysis.capture.trace import kernel_shapes, trace_shapes
from analysis.models.assignment import AssignmentCNN
from analysis.stats.params import count_parameters
from analysis.store.schema import to_json


class UsualDefinition(nn.Module):
    """How course code usually writes this network: functional ReLU and pooling."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3)
        self.conv2 = nn.Conv2d(32, 64, 3)
        self.fc1 = nn.Linear(1600, 128)
        self.fc2 = nn.Linear(128, 64)
        self.fc3 = nn.Linear(64, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


def test_parameter_total_is_the_assignments():
    counts = count_parameters(AssignmentCNN())
    assert counts.total == 232_650
    assert counts.trainable == 232_650 and counts.non_trainable == 0


def test_layer_counts_sum_to_total_and_follow_the_formula():
    model = AssignmentCNN()
    counts = count_parameters(model)
    by_name = {layer.name: layer for layer in counts.layers}
    assert sum(layer.total for layer in counts.layers) == counts.total
    assert counts.total == sum(p.numel() for p in model.parameters())
    assert by_name["conv1"].weights == 32 * 1 * 3 * 3 and by_name["conv1"].biases == 32
    assert by_name["conv2"].total == 64 * 32 * 3 * 3 + 64 == 18_496
    assert by_name["fc1"].total == 1600 * 128 + 128 == 204_928
    assert by_name["fc3"].formula == "10·64 + 10"
    assert by_name["conv1"].formula == "32·1·3·3 + 32"


def test_frozen_parameters_are_counted_apart():
    model = AssignmentCNN()
    model.conv1.requires_grad_(False)
    counts = count_parameters(model)
    assert counts.non_trainable == 320 and counts.trainable == 232_650 - 320


def test_shape_trace_is_recorded_in_execution_order():
    trace, _ = trace_shapes(AssignmentCNN(), torch.zeros(1, 1, 28, 28))
    rows = [(r.name, tuple(r.output_shape)) for r in trace.rows]
    assert rows == [
        ("conv1", (32, 26, 26)), ("relu1", (32, 26, 26)), ("pool1", (32, 13, 13)),
        ("conv2", (64, 11, 11)), ("relu2", (64, 11, 11)), ("pool2", (64, 5, 5)),
        ("flatten", (1600,)), ("fc1", (128,)), ("relu3", (128,)), ("fc2", (64,)), ("relu4", (64,)), ("fc3", (10,)),
    ]
    assert trace.batch_size == 1 and trace.input_shape == [1, 28, 28]
    for before, after in zip(trace.rows, trace.rows[1:]):
        assert before.output_shape == after.input_shape  # each output feeds the next layer


def test_trace_records_a_module_called_twice_and_where_a_forward_pass_fails():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 3)
            self.bad = nn.Linear(5, 2)

        def forward(self, x):
            return self.lin(self.lin(x))

    trace, _ = trace_shapes(Twice(), torch.zeros(1, 3))
    assert [r.name for r in trace.rows] == ["lin", "lin"]

    class Broken(Twice):
        def forward(self, x):
            return self.bad(self.lin(x))

    from analysis.errors import InputError
    with pytest.raises(InputError, match="failed at layer bad"):
        trace_shapes(Broken(), torch.zeros(1, 3))


def test_kernel_shapes():
    assert [(k["name"], tuple(k["shape"])) for k in kernel_shapes(AssignmentCNN())] == [
        ("conv1", (32, 1, 3, 3)), ("conv2", (64, 32, 3, 3))]


def test_usual_state_dict_loads_as_is_and_gives_the_same_outputs():
    from analysis.models.checkpoint import load_into

    torch.manual_seed(1)
    usual = UsualDefinition().eval()
    ours = AssignmentCNN().eval()
    load_into(ours, usual.state_dict(), "usual.pt")
    x = torch.randn(3, 1, 28, 28)
    assert torch.equal(ours(x), usual(x))


def test_params_and_trace_golden(golden):
    model = AssignmentCNN()
    document = to_json({"parameters": count_parameters(model), "trace": trace_shapes(model, torch.zeros(1, 1, 28, 28))[0]})
    golden("assignment_params_trace.json", json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
