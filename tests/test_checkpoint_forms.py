"""Checkpoints as people save them (issue 32): a state_dict under a wrapper's attribute (``net.``, Lightning's
``model.``, an EMA's ``ema.module.``), --strip-prefix for a prefix only some keys have, Lightning ``.ckpt`` and
``.safetensors`` files; and the files that hold no state dict (TorchScript, torch.export, ONNX, other zips),
each refused in its own words without being loaded."""

from __future__ import annotations

import json
import warnings
import zipfile
from html import unescape
from pathlib import Path

import pytest
import torch
from conftest import run_cli, run_main
from torch import nn

from analysis.errors import InputError
from analysis.models.assignment import AssignmentCNN
from analysis.models.checkpoint import check_fits, load_into, read_checkpoint
from analysis.store.schema import ModelInfo, from_json, to_json
from test_hostile_checkpoint import VersionedNet  # records the version it loads with


@pytest.fixture
def weights():
    torch.manual_seed(0)
    return AssignmentCNN().state_dict()


def saved(path: Path, obj) -> Path:
    torch.save(obj, path)
    return path


def prefixed(state: dict, prefix: str, only=lambda key: True) -> dict:
    return {(prefix + key if only(key) else key): value for key, value in state.items()}


def loads_exactly(state: dict, path: Path, weights: dict) -> str:
    """Loads ``state`` into a fresh AssignmentCNN; the prefix it says it took off. The weights must be ``weights``."""
    model = AssignmentCNN()
    prefix = load_into(model, state, path)
    assert all(torch.equal(model.state_dict()[key], value) for key, value in weights.items())
    return prefix


def lightning_checkpoint(weights: dict) -> dict:
    """What Lightning's Trainer.save_checkpoint writes for a LightningModule holding the network as ``self.model``
    (the keys of Lightning 2.x; random weights)."""
    optimiser = {"state": {0: {"step": torch.tensor(2.0), "exp_avg": torch.zeros(3)}},
                 "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "params": [0]}]}
    return {"epoch": 4, "global_step": 120, "pytorch-lightning_version": "2.5.0",
            "state_dict": prefixed(weights, "model."), "loops": {"fit_loop": {"epoch_progress": {"current": 4}}},
            "callbacks": {"ModelCheckpoint{'monitor': None}": {"best_model_score": None, "best_model_path": ""}},
            "optimizer_states": [optimiser], "lr_schedulers": [{"last_epoch": 120, "_step_count": 121}],
            "hparams_name": "kwargs", "hyper_parameters": {"lr": 1e-3, "width": 3}}


# --- one prefix on every key: found and taken off, and said ------------------------------------------------

@pytest.mark.parametrize("prefix", ["net.", "model.", "backbone.model.", "ema.module.", "module.net.", "net.module.",
                                    "_orig_mod.net."])
def test_a_state_dict_under_one_common_prefix_loads_and_names_the_prefix(tmp_path, weights, prefix):
    path = saved(tmp_path / "wrapped.pt", prefixed(weights, prefix))
    loaded, _ = read_checkpoint(path)
    assert loads_exactly(loaded, path, weights) == prefix


def test_the_wrappers_own_prefixes_are_taken_off_silently_as_before(tmp_path, weights):
    path = saved(tmp_path / "ddp.pt", prefixed(weights, "module._orig_mod."))
    assert loads_exactly(read_checkpoint(path)[0], path, weights) == ""


def test_the_shorter_common_prefix_is_taken_when_the_model_itself_has_one_child(tmp_path):
    """Every key of a model with one child shares that child's name: only the wrapper's part is taken off."""
    model = nn.Sequential(nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 2)))  # keys 0.0.weight ... 0.1.bias
    path = saved(tmp_path / "lit.pt", prefixed(model.state_dict(), "model."))  # model.0.0.weight: "model.0." shared
    fresh = nn.Sequential(nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 2)))
    assert load_into(fresh, read_checkpoint(path)[0], path) == "model."
    assert torch.equal(fresh[0][1].bias, model[0][1].bias)


class Holder(nn.Module):
    """A training wrapper that holds the network as an attribute (a LightningModule's ``self.net``)."""

    _version = 7

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net


def test_module_versions_follow_the_keys_out_of_the_attribute(tmp_path):
    """BatchNorm and others convert older layouts by the version _metadata records under the module's name."""
    path = saved(tmp_path / "held.pt", Holder(VersionedNet()).state_dict())
    model = VersionedNet()
    assert load_into(model, read_checkpoint(path)[0], path) == "net."
    assert model.seen == 3  # the wrapper's own version (7) gave way to the network's


def test_shapes_are_checked_after_the_prefix_is_taken_off(tmp_path, weights):
    path = saved(tmp_path / "wide.pt", {**prefixed(weights, "net."), "net.fc3.bias": torch.zeros(11)})
    with pytest.raises(InputError, match=r"shape mismatch fc3\.bias \(11,\) vs \(10,\)"):
        check_fits(AssignmentCNN(), read_checkpoint(path)[0], path)


def test_stored_model_info_keeps_its_bytes_without_a_prefix_and_older_documents_read():
    info = ModelInfo(class_name="AssignmentCNN", source="assignment", weights="checkpoint", input_shape=[1, 28, 28],
                     normalisation={"mean": [0.1], "std": [0.3]})
    assert "stripped_prefix" not in to_json(info)  # every store of an ordinary checkpoint keeps its bytes
    written = to_json(ModelInfo(**{**info.__dict__, "stripped_prefix": "model."}))
    assert written["stripped_prefix"] == "model." and from_json(ModelInfo, written).stripped_prefix == "model."
    assert from_json(ModelInfo, to_json(info)).stripped_prefix == ""


# --- --strip-prefix: a prefix only some keys have ----------------------------------------------------------

def backbone_only(weights: dict) -> dict:
    return prefixed(weights, "backbone.", only=lambda key: key.startswith("conv"))


def test_strip_prefix_takes_it_off_the_keys_that_have_it(tmp_path, weights):
    path = saved(tmp_path / "mixed.pt", backbone_only(weights))
    loaded, _ = read_checkpoint(path, strip_prefix="backbone.")
    assert loads_exactly(loaded, path, weights) == ""  # nothing more taken off: --strip-prefix is in the config


def test_without_strip_prefix_the_refusal_names_the_prefix_to_give(tmp_path, weights):
    path = saved(tmp_path / "mixed.pt", backbone_only(weights))
    with pytest.raises(InputError, match=r"give a checkpoint of this model, or --strip-prefix backbone\. "):
        load_into(AssignmentCNN(), read_checkpoint(path)[0], path)


def test_strip_prefix_matching_no_key_is_refused_naming_how_the_keys_start(tmp_path, weights):
    path = saved(tmp_path / "plain.pt", weights)
    with pytest.raises(InputError, match=r"--strip-prefix net\. matches no key of checkpoint .*plain\.pt \(its keys "
                                         r"start with conv1\., conv2\., fc1\., fc2\. … and 1 more\)"):
        read_checkpoint(path, strip_prefix="net.")


def test_strip_prefix_that_would_give_two_tensors_one_key_is_refused(tmp_path, weights):
    path = saved(tmp_path / "both.pt", {**weights, "ema.fc3.bias": torch.zeros(10)})
    with pytest.raises(InputError, match=r"two tensors .* the key fc3\.bias \(it holds ema\.fc3\.bias too\)"):
        read_checkpoint(path, strip_prefix="ema.")


@pytest.mark.parametrize("given", ["net", ".net.", "net..x.", "net .", "ne\nt."])
def test_strip_prefix_must_be_module_names_each_followed_by_a_dot(tmp_path, given):
    result = run_main("--strip-prefix", given, "--out", str(tmp_path / "out"))
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert lines[0].startswith("report: error: argument --strip-prefix: expected module names each followed by a dot")
    assert not (tmp_path / "out").exists()


def test_strip_prefix_without_a_checkpoint_is_refused_before_any_training(tmp_path):
    result = run_main("--strip-prefix", "net.", "--out", str(tmp_path / "out"))
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        "report: error: --strip-prefix net. needs --checkpoint: give the checkpoint whose keys have it"]
    assert not (tmp_path / "out" / "checkpoints").exists()


def test_strip_prefix_is_part_of_the_analysis_record():
    from report.options import AnalysisOptions

    assert AnalysisOptions(strip_prefix="net.").config(("parameters",)).strip_prefix == "net."
    with pytest.raises(InputError, match="argument --strip-prefix: expected module names"):
        AnalysisOptions(strip_prefix="net")


# --- Lightning and safetensors -----------------------------------------------------------------------------

def test_a_lightning_checkpoint_loads_with_its_position(tmp_path, weights):
    path = saved(tmp_path / "epoch=4-step=120.ckpt", lightning_checkpoint(weights))
    loaded, meta = read_checkpoint(path)
    assert meta["position"] == {"epoch": 4, "global_step": 120}
    assert loads_exactly(loaded, path, weights) == "model."


@pytest.mark.slow
def test_a_checkpoint_lightnings_trainer_wrote_loads(tmp_path, weights):
    """Not a copy of its layout: the file the installed Lightning writes (hyper-parameters, optimiser, scheduler)."""
    lightning = pytest.importorskip("lightning")
    from torch.utils.data import DataLoader, TensorDataset

    class Classifier(lightning.LightningModule):
        def __init__(self, lr: float = 1e-3):
            super().__init__()
            self.save_hyperparameters()
            self.model = AssignmentCNN()

        def training_step(self, batch, index):
            images, labels = batch
            return nn.functional.cross_entropy(self.model(images), labels)

        def configure_optimizers(self):
            optimiser = torch.optim.Adam(self.parameters(), lr=self.hparams.lr)
            return {"optimizer": optimiser,
                    "lr_scheduler": torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=0.01, total_steps=4)}

    data = TensorDataset(torch.randn(4, 1, 28, 28), torch.randint(0, 10, (4,)))
    trainer = lightning.Trainer(max_steps=1, logger=False, enable_progress_bar=False, enable_model_summary=False,
                                enable_checkpointing=False, accelerator="cpu", default_root_dir=tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = Classifier()
        trainer.fit(module, DataLoader(data, batch_size=4))
        trainer.save_checkpoint(tmp_path / "last.ckpt")
    loaded, meta = read_checkpoint(tmp_path / "last.ckpt")
    assert meta["position"]["global_step"] == 1
    assert loads_exactly(loaded, tmp_path / "last.ckpt", module.model.state_dict()) == "model."


@pytest.mark.parametrize("prefix", ["", "model."])
def test_a_safetensors_file_loads_with_or_without_a_wrapper_prefix(tmp_path, weights, prefix):
    from safetensors.torch import save_file

    path = tmp_path / "model.safetensors"
    save_file(prefixed(weights, prefix), path)
    loaded, _ = read_checkpoint(path)
    assert loads_exactly(loaded, path, weights) == prefix
    if prefix:  # --strip-prefix reads a safetensors file's keys as a pickle's
        assert loads_exactly(read_checkpoint(path, strip_prefix=prefix)[0], path, weights) == ""


# --- files that hold no state dict -------------------------------------------------------------------------

def torchscript(path: Path, how: str) -> Path:
    model = AssignmentCNN().eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit is deprecated: people still have such files
        compiled = torch.jit.script(model) if how == "script" else torch.jit.trace(model, torch.zeros(1, 1, 28, 28))
        torch.jit.save(compiled, path)
    return path


def exported(path: Path) -> Path:
    program = torch.export.export(AssignmentCNN().eval(), (torch.zeros(1, 1, 28, 28),))
    torch.export.save(program, path)
    return path


def onnx(path: Path) -> Path:
    """The head of an ONNX ModelProto as exporters write it (ir_version, producer_name, ...): onnx is not installed."""
    path.write_bytes(b"\x08\x08\x12\x07pytorch\x1a\x052.5.0:\x80\x01" + bytes(200))
    return path


def named_onnx(path: Path) -> Path:
    path.write_bytes(b"\x00not protobuf either")
    return path


def foreign_zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("weights/model.pt", b"not here")
        archive.writestr("config\x1b[31m.json", b"{}")  # entry names are data: escaped in the line
    return path


FORMS = {
    "torchscript (scripted)": (lambda tmp: torchscript(tmp / "scripted.pt", "script"),
                               "is a TorchScript archive (torch.jit.save), which holds compiled code, not a state "
                               "dict: give model.state_dict() saved with torch.save (from this file, if you trust it: "
                               "torch.save(torch.jit.load('scripted.pt').state_dict(), 'weights.pt'))"),
    "torchscript (traced)": (lambda tmp: torchscript(tmp / "traced.pt", "trace"), "is a TorchScript archive"),
    "torch.export": (lambda tmp: exported(tmp / "model.pt2"),
                     "is a torch.export archive (torch.export.save, .pt2), which holds a traced program, not a state "
                     "dict: give model.state_dict() saved with torch.save (from this file: "
                     "torch.save(torch.export.load('model.pt2').state_dict, 'weights.pt'))"),
    "onnx": (lambda tmp: onnx(tmp / "model.bin"), "is an ONNX model, which holds an exported graph, not a torch state "
                                                  "dict: give model.state_dict() saved with torch.save"),
    "onnx by its name": (lambda tmp: named_onnx(tmp / "model.onnx"), "is an ONNX model"),
    "another zip": (lambda tmp: foreign_zip(tmp / "weights.zip"),
                    "is a zip archive that torch.save did not write (it holds weights/model.pt, config\\x1b[31m.json): "
                    "give a file saved with torch.save, or unzip it and give the checkpoint inside"),
}


@pytest.mark.parametrize("form", FORMS)
def test_a_file_that_holds_no_state_dict_is_refused_in_its_own_words_unloaded(tmp_path, monkeypatch, form):
    make, words = FORMS[form]
    path = make(tmp_path)

    def never(*args, **kwargs):
        raise AssertionError("the file was handed to torch.load")

    monkeypatch.setattr(torch, "load", never)  # told by its entry names or first bytes, never loaded
    with pytest.raises(InputError) as refused:
        read_checkpoint(path)
    assert f"checkpoint {path} {words}" in str(refused.value)


def test_a_torchscript_checkpoint_is_one_line_at_the_command_line(tmp_path):
    path = torchscript(tmp_path / "model.pt", "script")
    result = run_cli("--checkpoint", str(path), "--out", str(tmp_path / "out"), "--sections", "parameters",
                     "--format", "html")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert lines[0].startswith(f"report: error: checkpoint {path} is a TorchScript archive (torch.jit.save)")


# --- the report says what was taken off (whole builds) -----------------------------------------------------

def built(tmp_path: Path, checkpoint: Path, *options: str) -> Path:
    out = tmp_path / "out"
    result = run_cli("--checkpoint", str(checkpoint), *options, "--out", str(out), "--sections", "parameters",
                     "--format", "html")
    assert result.returncode == 0, result.stderr
    return out


def provenance_rows(out: Path) -> dict:
    lines = (out / "tables" / "provenance.csv").read_text().splitlines()[1:]
    return dict(line.split(",", 1) for line in lines)


@pytest.mark.slow
def test_the_report_says_a_wrappers_prefix_was_taken_off(tmp_path, weights):
    out = built(tmp_path, saved(tmp_path / "last.ckpt", lightning_checkpoint(weights)))
    html = unescape((out / "report.html").read_text())
    assert "keys stored under the prefix \"model.\" (a wrapper's attribute) were loaded without it" in html
    store = out / "stores" / (out / "current-store.txt").read_text().strip()
    assert json.loads((store / "model.json").read_text())["model"]["stripped_prefix"] == "model."
    assert provenance_rows(out)["checkpoint_stripped_prefix"] == "model."


@pytest.mark.slow
def test_the_report_says_strip_prefix_took_a_prefix_off(tmp_path, weights):
    out = built(tmp_path, saved(tmp_path / "mixed.pt", backbone_only(weights)), "--strip-prefix", "backbone.")
    html = unescape((out / "report.html").read_text())
    assert "keys stored under the prefix \"backbone.\" were loaded without it (--strip-prefix)" in html
    assert "a wrapper's attribute" not in html
    assert provenance_rows(out)["config.strip_prefix"] == "backbone."
