"""Checkpoint loading: accepted layouts and one clear error for each bad file."""

import pickle

import pytest
import torch

from analysis.errors import InputError
from analysis.models.assignment import AssignmentCNN
from analysis.models.checkpoint import load_into, read_checkpoint


class Payload:
    """Unpickling this would create a marker file: the safe loader must refuse it."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.fixture
def state():
    torch.manual_seed(0)
    return AssignmentCNN().state_dict()


@pytest.mark.parametrize("wrap", [None, "state_dict", "model_state_dict"])
def test_accepted_layouts(tmp_path, state, wrap):
    path = tmp_path / "ck.pt"
    torch.save(state if wrap is None else {wrap: state, "epoch": 3}, path)
    loaded, meta = read_checkpoint(path)
    assert set(loaded) == set(state)
    assert meta == ({} if wrap is None else {"position": {"epoch": 3}})  # where it sits in its training run
    load_into(AssignmentCNN(), loaded, path)


def test_dataparallel_prefix_is_removed(tmp_path, state):
    model = AssignmentCNN()
    load_into(model, {f"module.{k}": v for k, v in state.items()}, tmp_path / "dp.pt")
    assert torch.equal(model.conv1.weight, state["conv1.weight"])


@pytest.mark.parametrize("content, message", [
    (None, "does not exist"),
    (b"", "is empty"),
    (b"\x89random bytes that are not a checkpoint" * 10, "refused by the safe loader|not a readable"),
])
def test_unreadable_files(tmp_path, content, message):
    path = tmp_path / "bad.pt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        read_checkpoint(path)


def test_truncated_checkpoint(tmp_path, state):
    path = tmp_path / "ck.pt"
    torch.save(state, path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(InputError, match="truncated"):
        read_checkpoint(path)


def test_code_in_a_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "marker"
    path = tmp_path / "evil.pt"
    torch.save({"conv1.weight": torch.zeros(1), "x": Payload(marker)}, path, pickle_protocol=pickle.DEFAULT_PROTOCOL)
    assert not marker.exists()
    with pytest.raises(InputError, match="refused by the safe loader"):
        read_checkpoint(path)
    assert not marker.exists()


def test_another_architecture_names_the_keys(tmp_path, state):
    state = dict(state)
    state.pop("fc3.bias")
    state["head.weight"] = torch.zeros(2)
    state["fc1.weight"] = torch.zeros(128, 1000)
    with pytest.raises(InputError) as caught:
        load_into(AssignmentCNN(), state, tmp_path / "other.pt")
    text = str(caught.value)
    assert "missing fc3.bias" in text and "unexpected head.weight" in text
    assert "fc1.weight (128, 1000) vs (128, 1600)" in text


def test_a_dict_without_tensors_is_not_a_state_dict(tmp_path):
    path = tmp_path / "meta.pt"
    torch.save({"epoch": 3, "lr": 0.1}, path)
    with pytest.raises(InputError, match="holds no state_dict"):
        read_checkpoint(path)
