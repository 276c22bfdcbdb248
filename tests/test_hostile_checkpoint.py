"""Hostile checkpoints: what a checkpoint may name, what its metadata may hold, how its file is judged,
and what of its state_dict survives loading."""

import copy
import errno
import json
import os
import pickle
import struct
import sys
from pathlib import Path

import pytest
import torch
from conftest import ROOT, run_cli
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from analysis.errors import InputError
from analysis.models import checkpoint_meta
from analysis.models.assignment import AssignmentCNN
from analysis.models.build import build_model
from analysis.models.checkpoint import load_into, loader_detail, read_checkpoint
from analysis.models.checkpoint_meta import CheckpointMeta, checkpoint_file_problem, validate
from analysis.models.sources import resolve_source


@pytest.fixture(scope="module")
def state():
    torch.manual_seed(0)
    return AssignmentCNN().state_dict()


def saved(path: Path, value, **options) -> Path:
    torch.save(value, path, **options)
    return path


def refusal(path) -> str:
    with pytest.raises(InputError) as caught:
        read_checkpoint(path)
    text = str(caught.value)
    assert "\n" not in text, text
    return text


# --- 1. A checkpoint names only built-in models; anything else needs --model -----------------------

@pytest.mark.parametrize("stored", [None, {}, {"kwargs": {}}])
def test_without_options_or_a_stored_source_the_assignment_cnn_is_used(stored):
    assert resolve_source(None, None, stored, "x.pt") == ("assignment", {})


@pytest.mark.parametrize("stored", [{"source": "assignment", "kwargs": {}},
                                    {"source": "torchvision:resnet18", "kwargs": {"num_classes": 3}}])
def test_a_checkpoint_may_name_a_builtin_source(stored):
    assert resolve_source(None, None, stored, "x.pt") == (stored["source"], stored["kwargs"])


def test_the_options_override_the_checkpoint():
    stored = {"source": "torchvision:resnet18", "kwargs": {"num_classes": 3}}
    assert resolve_source("mynets:LeNet", '{"width": 2}', stored, "x.pt") == ("mynets:LeNet", {"width": 2})
    assert resolve_source("mynets:LeNet", None, stored, "x.pt") == ("mynets:LeNet", {})


def test_a_checkpoint_naming_other_code_says_which_options_allow_it():
    with pytest.raises(InputError) as caught:
        resolve_source(None, None, {"source": "mynets:LeNet", "kwargs": {"width": 2}}, "x.pt")
    assert str(caught.value) == ("checkpoint x.pt names the model mynets:LeNet, which would import code from your "
                                 "working folder or Python path: add --model mynets:LeNet --model-kwargs "
                                 "'{\"width\": 2}' to allow it")
    with pytest.raises(InputError, match=r"add --model this:Foo to allow it$"):
        resolve_source(None, None, {"source": "this:Foo", "kwargs": {}}, "x.pt")


@pytest.mark.parametrize("stored", [None, {"source": "assignment", "kwargs": {}}])
def test_model_kwargs_without_model_is_refused(stored):
    with pytest.raises(InputError, match="^--model-kwargs needs --model: add --model SOURCE"):
        resolve_source(None, '{"num_classes": 3}', stored, "x.pt")


def test_stored_kwargs_without_a_stored_source_are_refused():
    with pytest.raises(InputError, match="gives model_config.kwargs but no model_config.source: add --model SOURCE"):
        resolve_source(None, None, {"kwargs": {"width": 2}}, "x.pt")


def test_a_checkpoint_cannot_make_the_cli_import_a_module(tmp_path, state):
    """The module would create a marker file when imported; the run must stop before importing it."""
    marker = tmp_path / "imported"
    (tmp_path / "sideeffect_nets.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    checkpoint = saved(tmp_path / "x.pt", {"state_dict": state,
                                           "model_config": {"source": "sideeffect_nets:Net", "kwargs": {"w": 2}}})
    result = run_cli("--checkpoint", str(checkpoint), "--out", str(tmp_path / "out"), "--quiet", cwd=tmp_path,
                     env={"PYTHONPATH": str(ROOT)})
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"report: error: checkpoint {checkpoint} names the model sideeffect_nets:Net, which would import code "
        "from your working folder or Python path: add --model sideeffect_nets:Net --model-kwargs '{\"w\": 2}' "
        "to allow it"]
    assert not marker.exists()


@pytest.mark.parametrize("body", ["from torch import nn\nclass Net(nn.Module):\n    pass\n",
                                  "raise RuntimeError('broken on import')\n"])
def test_the_working_folder_is_on_sys_path_only_for_the_user_import(tmp_path, monkeypatch, body):
    name = f"cwd_only_{abs(hash(body))}"
    (tmp_path / f"{name}.py").write_text(body)
    monkeypatch.chdir(tmp_path)
    before = list(sys.path)
    try:
        try:
            build_model(f"{name}:Net", {})
        except InputError:
            pass
        assert sys.path == before
        assert name in sys.modules or "raise" in body  # it was imported from the working folder
    finally:
        sys.modules.pop(name, None)


# --- 2. Metadata: a declared schema; steering fields refused, informational ones left out ----------

def training_record(**changes) -> dict:
    """What analysis.train.train records (the report reads config, seconds, n_train, n_test, test_accuracy)."""
    record = {"config": {"epochs": 2, "batch_size": 64, "learning_rate": 0.002, "seed": 0, "threads": 2},
              "seconds": 12.5, "history": [{"epoch": 1, "train_loss": 0.5, "test_accuracy": 0.9},
                                           {"epoch": 2, "train_loss": 0.3, "test_accuracy": 0.95}],
              "test_accuracy": 0.95, "n_train": 6000, "n_test": 1000}
    record.update(changes)
    return record


VALID_FIELDS = {
    "model_config": {"source": "assignment", "kwargs": {}},
    "data_config": {"input_size": 28, "mean": [0.1307], "std": [0.3081], "class_names": [str(d) for d in range(10)]},
    "training": training_record(),
    "epoch": 2, "step": 100, "global_step": 100, "iteration": 100,
}


def test_valid_metadata_comes_back_typed_and_plain():
    meta = validate(VALID_FIELDS, "x.pt")
    assert isinstance(meta, CheckpointMeta) and meta.warnings == ()
    assert meta.data_config.mean == (0.1307,) and meta.training.config.epochs == 2
    as_dict = meta.to_dict()
    assert as_dict["training"] == VALID_FIELDS["training"] and as_dict["data_config"] == VALID_FIELDS["data_config"]
    assert as_dict["position"] == {"epoch": 2, "step": 100, "global_step": 100, "iteration": 100}


@pytest.mark.parametrize("fields, message", [
    ({"data_config": {"mean": ["x"]}}, 'data_config.mean must be a list of finite numbers, got ["x"]'),
    ({"data_config": {"mean": [float("nan")]}}, "data_config.mean must be a list of finite numbers"),
    ({"data_config": {"std": [0.5, 0.0, 0.5]}}, "data_config.std must be a list of finite numbers above 0"),
    ({"data_config": {"mean": [0.5], "std": [0.2, 0.2, 0.2]}}, "data_config.std must be one value per channel"),
    ({"data_config": {"class_names": list(range(10))}}, "data_config.class_names must be a list of distinct class"),
    ({"data_config": {"class_names": ["a", "a"]}}, "data_config.class_names must be a list of distinct class"),
    ({"data_config": {"class_names": ["a\nb", "c"]}}, "data_config.class_names must be"),
    ({"data_config": {"input_size": "64"}}, 'data_config.input_size must be a whole number from 1 to 4096, got "64"'),
    ({"data_config": {"input_size": True}}, "data_config.input_size must be a whole number from 1 to 4096, got true"),
    ({"data_config": {"input_size": 10 ** 9}}, "data_config.input_size must be a whole number from 1 to 4096"),
    ({"data_config": [28]}, "data_config must be an object"),
    ({"model_config": {"kwargs": ["x"]}}, 'model_config.kwargs must be an object such as {"num_classes": 10}'),
    ({"model_config": {"kwargs": {1: 2}}}, "model_config.kwargs must be an object with string keys"),
    ({"model_config": {"kwargs": {"a": {1, 2}}}}, "model_config.kwargs.a must be plain JSON"),
    ({"model_config": {"source": 5}}, "model_config.source must be a string of 1 to 200 printable characters, got 5"),
    ({"model_config": "assignment"}, "model_config must be an object"),
])
def test_malformed_steering_fields_are_refused_in_one_line(fields, message):
    with pytest.raises(InputError) as caught:
        validate(fields, "x.pt")
    text = str(caught.value)
    assert text.startswith(f"checkpoint x.pt: {message}") and text.endswith(": fix or remove that field")
    assert "\n" not in text


def test_deeply_nested_or_self_referencing_kwargs_are_refused():
    deep = cyclic = []
    for _ in range(200):
        deep = [deep]
    cyclic.append(cyclic)
    for value in (deep, cyclic):
        with pytest.raises(InputError, match="nested at most 16 deep"):
            validate({"model_config": {"source": "assignment", "kwargs": {"x": value}}}, "x.pt")


def test_malformed_steering_fields_are_refused_when_read(tmp_path, state):
    path = saved(tmp_path / "x.pt", {"state_dict": state, "data_config": {"mean": ["x"]}})
    assert refusal(path) == (f'checkpoint {path}: data_config.mean must be a list of finite numbers, got ["x"]: '
                             "fix or remove that field")


@pytest.mark.parametrize("training, field", [
    ({"foo": 1}, "training.config"),
    (training_record(config={"epochs": "ten"}), "training.config.epochs"),
    (training_record(seconds=float("inf")), "training.seconds"),
    (training_record(test_accuracy=95), "training.test_accuracy"),
    (training_record(history=[{"epoch": 1}]), "training.history[0].train_loss"),
    ("trained for 3 epochs", "training"),
])
def test_a_malformed_training_record_is_left_out_with_a_warning(tmp_path, state, training, field):
    path = saved(tmp_path / "x.pt", {"state_dict": state, "training": training, "epoch": 3})
    _, meta = read_checkpoint(path)
    assert "training" not in meta and meta["position"] == {"epoch": 3}
    (warning,) = meta["warnings"]
    assert warning.startswith(f"checkpoint metadata {field} must be ")  # no file name: stores are keyed by content
    assert warning.endswith(": the training record is left out of the report") and "\n" not in warning


def test_only_the_known_keys_of_a_training_record_are_passed_on(tmp_path, state):
    record = training_record(secret="<script>", history=[{"epoch": 1, "train_loss": float("nan"),
                                                          "test_accuracy": 0.5, "extra": [1]}])
    _, meta = read_checkpoint(saved(tmp_path / "x.pt", {"state_dict": state, "training": record}))
    assert meta["training"]["config"] == record["config"]
    assert set(meta["training"]) == {"config", "seconds", "history", "test_accuracy", "n_train", "n_test"}
    assert set(meta["training"]["history"][0]) == {"epoch", "train_loss", "test_accuracy"}


def test_malformed_positions_are_left_out_with_a_warning(tmp_path, state):
    path = saved(tmp_path / "x.pt", {"state_dict": state, "epoch": 3, "step": -1, "global_step": "7",
                                     "iteration": 2.5})
    _, meta = read_checkpoint(path)
    assert meta["position"] == {"epoch": 3}
    assert meta["warnings"] == [
        "checkpoint metadata step must be a whole number of at least 0, got -1: the step is left out of the report",
        'checkpoint metadata global_step must be a whole number of at least 0, got "7": the global_step is left out '
        "of the report",
        "checkpoint metadata iteration must be a whole number of at least 0, got 2.5: the iteration is left out of "
        "the report"]


def test_a_bare_state_dict_has_no_metadata_even_with_a_weight_named_step(tmp_path):
    state = {"step": torch.zeros(1), "weight": torch.ones(2)}
    loaded, meta = read_checkpoint(saved(tmp_path / "x.pt", state))
    assert set(loaded) == {"step", "weight"} and meta == {}


@pytest.mark.slow  # two analyses on the command line
def test_a_malformed_training_record_never_reaches_the_store(tmp_path, state):
    checkpoint = saved(tmp_path / "x.pt", {"state_dict": state, "training": {"foo": 1}})
    args = ("--checkpoint", str(checkpoint), "--out", str(tmp_path / "out"), "--format", "html",
            "--sections", "assignment", "--quiet")
    first = run_cli(*args)
    assert first.returncode == 0, first.stderr
    (evaluation,) = (tmp_path / "out").glob("stores/*/evaluation.json")
    assert json.loads(evaluation.read_text())["training"] is None
    again = run_cli(*args)  # reads the store it wrote: it must render as well
    assert again.returncode == 0, again.stderr


def crafted_safetensors(path: Path, header: dict, data: bytes = b"", declared: int | None = None) -> Path:
    """The format by hand: an 8-byte little-endian header length, the JSON header, then the data."""
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text) if declared is None else declared) + text + data)
    return path


TENSOR = {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}


def test_safetensors_metadata_goes_through_the_same_validator(tmp_path):
    def with_metadata(**metadata):
        return crafted_safetensors(tmp_path / "m.safetensors", {"__metadata__": metadata, "w": TENSOR}, b"\0" * 4)

    assert "data_config.mean must be a list of finite numbers" in refusal(with_metadata(data_config='{"mean": ["x"]}'))
    assert "model_config must be an object" in refusal(with_metadata(model_config="{not json"))
    _, meta = read_checkpoint(with_metadata(training="[[[[", epoch="7", step="-2"))
    assert meta["position"] == {"epoch": 7} and "training" not in meta and len(meta["warnings"]) == 2


@pytest.mark.parametrize("header, data, declared", [
    ({"w": TENSOR}, b"\0" * 4, 10 ** 6),                               # header longer than the file
    ({"w": TENSOR}, b"\0" * 4, 2 ** 63),                               # absurd header length
    ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
      "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, b"\0" * 12, None),   # overlapping
    ({"w": {"dtype": "F32", "shape": [100], "data_offsets": [0, 400]}}, b"\0" * 4, None),  # beyond the data
    ({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 4]}}, b"\0" * 4, None),      # shape vs offsets
])
def test_lying_safetensors_headers_are_one_line(tmp_path, header, data, declared):
    from safetensors import SafetensorError, safe_open

    path = crafted_safetensors(tmp_path / "lies.safetensors", header, data, declared)
    with pytest.raises(SafetensorError):
        with safe_open(str(path), framework="pt") as handle:
            [handle.get_tensor(k) for k in handle.keys()]
    assert refusal(path).startswith(f"checkpoint {path} is not a readable safetensors file (")
    renamed = path.rename(tmp_path / "lies.pt")  # judged by content, not by name
    assert "is not a readable safetensors file" in refusal(renamed)


json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: (st.lists(inner, max_size=4) | st.tuples(inner, inner)
                   | st.dictionaries(st.text(max_size=6) | st.integers(), inner, max_size=4)),
    max_leaves=12)

FIELD_PATHS = [("model_config",), ("model_config", "source"), ("model_config", "kwargs"), ("data_config",),
               ("data_config", "input_size"), ("data_config", "mean"), ("data_config", "std"),
               ("data_config", "class_names"), ("training",), ("training", "config"),
               ("training", "config", "epochs"), ("training", "config", "learning_rate"), ("training", "seconds"),
               ("training", "history"), ("training", "test_accuracy"), ("training", "n_train"), ("epoch",),
               ("step",), ("global_step",), ("iteration",)]


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(FIELD_PATHS), json_like)
def test_any_value_in_any_field_is_checked_or_refused_in_one_line(path, value):
    fields = copy.deepcopy(VALID_FIELDS)
    parent = fields
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    try:
        meta = validate(fields, "x.pt")
    except InputError as error:
        assert "\n" not in str(error)
        return
    assert isinstance(meta, CheckpointMeta) and all("\n" not in w for w in meta.warnings)
    json.dumps(meta.to_dict())  # plain JSON types only, whatever came in


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["model_config", "data_config", "training", "epoch"]), st.text(max_size=40))
def test_any_safetensors_metadata_string_is_checked_or_refused(key, text):
    try:
        validate(checkpoint_meta.safetensors_fields({key: text}), "x.safetensors")
    except InputError:
        pass


# --- 3. The file: what it is, said in one line; code in it never runs -------------------------------

def test_a_folder_is_not_a_checkpoint_file(tmp_path):
    assert refusal(tmp_path) == (f"checkpoint {tmp_path} is a folder, not a checkpoint file: give a file in it "
                                 "saved with torch.save, or a .safetensors file")


def test_links_that_lead_nowhere_say_so(tmp_path):
    loop = tmp_path / "loop.pt"
    loop.symlink_to(loop)
    assert refusal(loop) == f"checkpoint {loop} is a symbolic link loop: point it at a real checkpoint file"
    dangling = tmp_path / "dangling.pt"
    dangling.symlink_to(tmp_path / "gone.pt")
    assert f"is a symbolic link to {tmp_path / 'gone.pt'}, which does not exist" in refusal(dangling)


def test_an_unreadable_file_says_permission_denied(tmp_path, monkeypatch):
    path = saved(tmp_path / "x.pt", {"w": torch.zeros(1)})

    def denied(*args, **kwargs):  # tests may run as root, for whom chmod 000 changes nothing
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(checkpoint_meta, "open", denied, raising=False)
    assert checkpoint_file_problem(path).startswith(f"checkpoint {path} cannot be read (permission denied): ")


def test_a_pipe_is_not_a_regular_file(tmp_path):
    pipe = tmp_path / "pipe.pt"
    os.mkfifo(pipe)
    assert "is not a regular file" in refusal(pipe)  # and nothing blocks reading it


@pytest.mark.parametrize("content, shown", [
    (b"hello world, these are notes\n", "(it starts with 'hello wor…')"),
    (b"<!DOCTYPE html><html>", "(it starts with '<!DOCTYPE…')"),
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "(it starts with bytes 89 50 4e 47 0d 0a …)"),
])
def test_a_file_of_another_kind_is_not_a_torch_checkpoint(tmp_path, content, shown):
    path = tmp_path / "x.pt"
    path.write_bytes(content)
    assert refusal(path) == (f"checkpoint {path} is not a readable torch checkpoint {shown}: "
                             "give a file saved with torch.save or a .safetensors file")


def test_a_git_lfs_pointer_says_to_fetch_the_file(tmp_path):
    path = tmp_path / "x.pt"
    path.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 1234\n")
    assert "is a Git LFS pointer, not the checkpoint itself: run git lfs pull" in refusal(path)


def test_loader_refusals_show_the_reason_and_never_the_unsafe_advice(tmp_path, state):
    import argparse

    path = saved(tmp_path / "x.pt", {"state_dict": state, "args": argparse.Namespace(lr=0.1)})
    text = refusal(path)
    assert text == (f"checkpoint {path} was refused by the safe loader (Unsupported global: GLOBAL argparse.Namespace "
                    "was not an allowed global by default): it holds objects other than tensors and plain data; "
                    "save model.state_dict() instead")
    assert "weights_only" not in text and "Re-running" not in text and "safe_globals" not in text


def test_long_loader_errors_are_cut_at_a_word():
    text = "failed " + "reading the archive " * 20
    detail = loader_detail(RuntimeError(text))
    kept = detail.removesuffix(" …")
    assert detail.endswith(" …") and len(kept) <= 160 and text.startswith(kept + " ")  # whole words only
    assert loader_detail(RuntimeError("PytorchStreamReader failed. Re-running `torch.load` helps.")) \
        == "PytorchStreamReader failed"


class Payload:
    """Unpickling this would run a shell command that creates the marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def deep(payload):
    return {"state_dict": {"conv1.weight": torch.zeros(1)}, "extra": {"a": [1, {"b": [payload]}]}}


@pytest.mark.parametrize("save", [
    lambda path, p: torch.save(deep(p), path),                                           # zip, nested deep
    lambda path, p: torch.save(deep(p), path, _use_new_zipfile_serialization=False),     # legacy format
    lambda path, p: torch.save(deep(p), path, pickle_protocol=4, _use_new_zipfile_serialization=False),
    lambda path, p: path.write_bytes(pickle.dumps(deep(p), protocol=2)),               # a plain pickle
], ids=["zip", "legacy", "legacy-protocol-4", "plain-pickle"])
def test_payloads_at_any_depth_are_refused_and_never_run(tmp_path, save):
    marker = tmp_path / "marker"
    path = tmp_path / "evil.pt"
    save(path, Payload(marker))
    assert not marker.exists()
    assert "refused by the safe loader" in refusal(path)
    assert not marker.exists()


def test_a_legacy_state_dict_still_loads(tmp_path, state):
    loaded, _ = read_checkpoint(saved(tmp_path / "old.pt", state, _use_new_zipfile_serialization=False))
    assert set(loaded) == set(state)


# --- 4. The state_dict's _metadata (module versions) survives reading and the DataParallel prefix -----

@pytest.mark.parametrize("wrap", [False, True])
def test_module_metadata_survives_reading(tmp_path, wrap):
    import torchvision

    original = torchvision.models.resnet18(weights=None).state_dict()
    loaded, _ = read_checkpoint(saved(tmp_path / "r.pt", {"state_dict": original} if wrap else original))
    assert loaded._metadata == original._metadata and loaded._metadata["bn1"] == {"version": 2}


class VersionedNet(nn.Module):
    """Records the version its state_dict's _metadata gives it when loading."""

    _version = 3

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(2))
        self.seen = "not loaded"

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, *args):
        self.seen = local_metadata.get("version")
        super()._load_from_state_dict(state_dict, prefix, local_metadata, *args)


def test_load_into_keeps_module_versions_under_the_dataparallel_prefix(tmp_path):
    path = saved(tmp_path / "dp.pt", nn.DataParallel(VersionedNet()).state_dict())
    loaded, _ = read_checkpoint(path)
    assert set(loaded) == {"module.weight"}
    model = VersionedNet()
    load_into(model, loaded, path)
    assert model.seen == 3


class Compiled(nn.Module):
    """What torch.compile returns, as its state_dict sees it: the model under ``_orig_mod``."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self._orig_mod = model


@pytest.mark.parametrize("wrap", [Compiled, lambda m: nn.DataParallel(Compiled(m)),
                                  lambda m: Compiled(nn.DataParallel(m))],
                         ids=["compiled", "dataparallel of compiled", "compiled dataparallel"])
def test_a_compiled_or_wrapped_models_checkpoint_loads_into_the_plain_model(tmp_path, wrap):
    torch.manual_seed(0)
    trained = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.LazyLinear(3))
    trained(torch.zeros(1, 1, 6, 6))
    path = saved(tmp_path / "wrapped.pt", wrap(trained).state_dict())
    loaded, _ = read_checkpoint(path)
    assert all(key.startswith(("_orig_mod.", "module.")) for key in loaded)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(32, 3))
    load_into(model, loaded, path)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in trained.state_dict().items())


def test_load_into_keeps_module_versions_under_the_compile_prefix(tmp_path):
    path = saved(tmp_path / "compiled.pt", Compiled(VersionedNet()).state_dict())
    loaded, _ = read_checkpoint(path)
    model = VersionedNet()
    load_into(model, loaded, path)
    assert model.seen == 3


def test_malformed_module_metadata_is_dropped_not_a_traceback(tmp_path):
    state = nn.BatchNorm1d(2).state_dict()
    state._metadata = {"": {"version": "2"}}  # BatchNorm compares the version with 2
    loaded, _ = read_checkpoint(saved(tmp_path / "bn.pt", state))
    assert getattr(loaded, "_metadata", None) is None
    load_into(nn.BatchNorm1d(2), loaded, tmp_path / "bn.pt")
