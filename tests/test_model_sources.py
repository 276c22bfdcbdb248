"""Models by name from the libraries engineers use: timm (``timm:NAME``) and Hugging Face transformers
(``huggingface:Architecture``, a ``save_pretrained`` folder as ``--checkpoint``); their preprocessing taken from the
model's own config; the recipe of such a model in memory recorded, so that the API, the command line and the
training callbacks build the same store; the input size of a model without such a config is the data's own."""

from __future__ import annotations

import importlib
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from analysis.errors import InputError
from conftest import run_cli


class _ImportedOnUse:
    """A library imported at its first use, not when the file is collected: every test worker collects every
    file, and timm with transformers take 2–4 s to import, which only the worker running these tests needs."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attribute: str):
        return getattr(importlib.import_module(self._name), attribute)


pytestmark = pytest.mark.skipif(not all(importlib.util.find_spec(name) for name in ("timm", "transformers")),
                                reason="needs timm and transformers (requirements-dev.txt)")
timm, transformers = _ImportedOnUse("timm"), _ImportedOnUse("transformers")

# torchvision's published figures for resnet18 (its weights' meta: 11,689,512 parameters, 1.814 GFLOPS counted as
# multiply-accumulates), which timm's resnet18 shares layer for layer.
RESNET18_PARAMETERS = 11_689_512
RESNET18_GMACS = 1.814


def write_npz(path: Path, n: int = 8, size: int = 32, channels: int = 3, classes: int = 4, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    shape = (n, size, size, channels) if channels == 3 else (n, size, size)
    np.savez(path, x_train=rng.integers(0, 256, shape, dtype=np.uint8), y_train=np.arange(n) % classes,
             x_test=rng.integers(0, 256, shape, dtype=np.uint8), y_test=np.arange(n) % classes)
    return path


def write_image_folder(folder: Path, n: int = 4, size: int = 32, classes: int = 2) -> Path:
    from PIL import Image

    rng = np.random.default_rng(1)
    for split in ("train", "test"):
        for c in range(classes):
            (folder / split / f"c{c}").mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(
                    folder / split / f"c{c}" / f"{i}.png")
    return folder


def tiny_vit(num_channels: int = 1, image_size: int = 28):
    config = transformers.ViTConfig(image_size=image_size, patch_size=7, num_channels=num_channels, hidden_size=32,
                                    num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, num_labels=10)
    return transformers.ViTForImageClassification(config).eval()


def save_tiny_vit(folder: Path):
    model = tiny_vit()
    model.save_pretrained(folder)
    transformers.ViTImageProcessor(size={"height": 28, "width": 28}, image_mean=[0.5], image_std=[0.5],
                                   resample=3).save_pretrained(folder)
    return model


def store_of(out: Path) -> str:
    return (out / "current-store.txt").read_text().strip()


# ------------------------------------------------------------------------------------------------ registry


def test_the_library_sources_are_kinds_of_the_registry():
    from analysis.models.sources import forms, is_builtin, kind_of

    assert kind_of("timm:resnet18").id == "timm" and kind_of("huggingface:ViTForImageClassification").id == "huggingface"
    assert kind_of("timm.models.resnet:ResNet").id == "class"  # a module path is still a class source
    assert "timm:NAME" in forms() and "huggingface:Architecture" in forms()
    # both build only their library's own classes, so a checkpoint may name them
    assert is_builtin("timm:resnet18") and is_builtin("huggingface:ViTForImageClassification")


def test_timm_preprocessing_comes_from_its_pretrained_cfg():
    from analysis.models.timm_models import expected_input

    cfg = timm.models.get_pretrained_cfg("resnet18").to_dict()
    found = expected_input("timm:resnet18", {})
    assert (found.size, found.interpolation, found.crop_pct) == (cfg["input_size"][-1], cfg["interpolation"],
                                                                 cfg["crop_pct"])
    assert found.mean == tuple(cfg["mean"]) and found.std == tuple(cfg["std"]) and "resnet18" in found.config
    grey = expected_input("timm:resnet18", {"in_chans": 1})  # the statistics follow the channels
    assert grey.mean == pytest.approx((sum(cfg["mean"]) / 3,)) and grey.std == pytest.approx((sum(cfg["std"]) / 3,))
    assert expected_input("timm:vit_tiny_patch16_224", {"img_size": 32}).size == 32


def test_unknown_timm_names_and_download_arguments_are_refused_in_one_line():
    from analysis.models.build import build_model

    with pytest.raises(InputError, match=r"timm has no model 'resnet1800'.*similar: .*resnet18"):
        build_model("timm:resnet1800", {})
    with pytest.raises(InputError, match="may not set pretrained"):
        build_model("timm:resnet18", {"pretrained": True})
    with pytest.raises(InputError, match="does not accept --model-kwargs"):
        build_model("timm:resnet18", {"no_such_argument": 1})


def test_the_recipe_of_a_timm_model_in_memory_is_found_and_checked():
    from analysis.models.memory import module_source

    assert module_source(timm.create_model("resnet18", num_classes=10))[:2] == ("timm:resnet18", {"num_classes": 10})
    assert module_source(timm.create_model("resnet18", num_classes=10, in_chans=1))[:2] == (
        "timm:resnet18", {"num_classes": 10, "in_chans": 1})
    # a timm model whose shapes no recipe rebuilds (a changed head) falls back to its class
    model = timm.create_model("resnet18", num_classes=10)
    model.fc = __import__("torch").nn.Linear(512, 3)
    assert module_source(model)[0] == "timm.models.resnet:ResNet"


def test_timm_models_with_cached_attention_biases_are_copied():
    """LeViT keeps attention biases computed from parameters (with gradient history) after a forward pass."""
    import torch

    from analysis.models.memory import copy_module

    model = timm.create_model("levit_128s", num_classes=4).eval()
    model(torch.randn(1, 3, 224, 224))
    copied = copy_module(model)
    with torch.no_grad():
        x = torch.randn(1, 3, 224, 224)
        assert torch.equal(copied(x), model(x))


def test_a_huggingface_folder_names_its_model(tmp_path):
    from analysis.models.source_kinds.huggingface import folder_recipe

    save_tiny_vit(tmp_path / "vit")
    weights, source, recipe = folder_recipe(tmp_path / "vit")
    assert weights == tmp_path / "vit" / "model.safetensors" and source == "huggingface:ViTForImageClassification"
    assert recipe["config"] == json.loads((tmp_path / "vit" / "config.json").read_text())
    assert recipe["preprocessor"]["image_mean"] == [0.5]
    assert folder_recipe(weights) == (weights, source, recipe)  # the weights file inside the folder: the same
    assert folder_recipe(tmp_path / "vit" / "config.json") is None
    (tmp_path / "vit" / "model.safetensors").unlink()
    with pytest.raises(InputError, match="has config.json but no weights file"):
        folder_recipe(tmp_path / "vit")


def test_huggingface_preprocessing_comes_from_the_image_processor():
    from analysis.models.huggingface_models import expected_input

    config = tiny_vit().config.to_diff_dict()
    found = expected_input("huggingface:ViTForImageClassification",
                           {"config": config, "preprocessor": {"size": {"height": 28, "width": 28}, "resample": 3,
                                                               "image_mean": [0.5], "image_std": [0.25]}})
    assert (found.size, found.interpolation, found.mean, found.std) == (28, "bicubic", (0.5,), (0.25,))
    cropped = expected_input("huggingface:X", {"config": config, "preprocessor": {
        "size": {"shortest_edge": 256}, "crop_size": {"height": 224, "width": 224}, "do_center_crop": True}})
    assert (cropped.size, cropped.crop_pct) == (224, 224 / 256)
    assert expected_input("huggingface:X", {"config": config}).size == 28  # no processor: the config's image_size


def test_a_huggingface_recipe_builds_only_transformers_own_image_classifiers():
    from analysis.models.build import build_model

    with pytest.raises(InputError, match="no configuration of model_type 'my_remote_model'"):
        build_model("huggingface:Mine", {"config": {"model_type": "my_remote_model", "auto_map": {"x": "y"}}})
    with pytest.raises(InputError, match="takes the arguments"):
        build_model("huggingface:ViTForImageClassification", {"num_classes": 3})


# ------------------------------------------------------------------------------------------ whole builds


@pytest.mark.slow
def test_timm_by_name_on_the_command_line_counts_as_published(tmp_path):
    data = write_npz(tmp_path / "d.npz")
    out = tmp_path / "out"
    result = run_cli("--model", "timm:resnet18", "--data", str(data), "--sections", "parameters,shapes",
                     "--format", "html", "--out", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    import report

    made = report.rerender(out, formats="html", quiet=True)
    assert made.summary.parameters == RESNET18_PARAMETERS
    assert made.summary.macs / 1e9 == pytest.approx(RESNET18_GMACS, abs=0.005)
    info = made.findings.model.model
    assert info.input_shape == [3, 224, 224]  # the 32-pixel arrays resized to timm's input size
    assert info.preprocessing["input_size_from"] == "timm's pretrained_cfg of resnet18"
    assert tuple(info.normalisation["mean"]) == tuple(timm.models.get_pretrained_cfg("resnet18").mean)
    html = made.outputs["html"].read_text()
    assert "resized from 32×32 to 224×224" in html and "bicubic interpolation" in html


@pytest.mark.slow
def test_a_timm_model_in_memory_and_on_the_command_line_give_one_store(tmp_path):
    import report

    data = write_npz(tmp_path / "d.npz", size=24)
    model = timm.create_model("resnet18", num_classes=4)
    api = report.build(model=model, data=str(data), out=tmp_path / "api", sections="parameters,shapes",
                       formats="html", input_size=24)
    saved = next((tmp_path / "api" / "checkpoints").glob("module-*.pt"))
    result = run_cli("--checkpoint", str(saved), "--model", "timm:resnet18", "--model-kwargs", '{"num_classes":4}',
                     "--data", str(data), "--input-size", "24", "--sections", "parameters,shapes", "--format", "html",
                     "--out", str(tmp_path / "cli"), "--quiet")
    assert result.returncode == 0, result.stderr
    assert store_of(tmp_path / "cli") == store_of(tmp_path / "api") and api.analysed


@pytest.mark.slow
def test_a_huggingface_folder_is_analysed_with_its_own_weights(tmp_path):
    """The tiny ViT's accuracy in the report equals transformers' own: its saved tensor names (the layout
    transformers writes) were converted, none left at random."""
    import torch

    import report
    from analysis.data.datasets import load

    model = save_tiny_vit(tmp_path / "vit")
    out = tmp_path / "out"
    result = run_cli("--checkpoint", str(tmp_path / "vit"), "--sections", "parameters,accuracy", "--format", "html",
                     "--out", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    made = report.rerender(out, formats="html", quiet=True)
    test = load(None).test
    with torch.no_grad():
        x = (torch.as_tensor(np.asarray(test.images), dtype=torch.float32) / 255 - 0.5) / 0.5
        expected = (model(x).logits.argmax(1).numpy() == test.labels).sum()
    assert made.summary.correct == expected and made.summary.n_test == len(test.labels)
    assert made.findings.model.model.source == "huggingface:ViTForImageClassification"
    api = report.build(checkpoint=tmp_path / "vit" / "model.safetensors", out=tmp_path / "api",
                       sections="parameters,accuracy", formats="html")
    assert store_of(tmp_path / "api") == store_of(out) and api.analysed


@pytest.mark.slow
def test_a_model_without_its_own_config_runs_at_the_datas_size_whatever_the_container(tmp_path):
    """torchvision's models are built without weights, so the crop size of ImageNet weights does not apply: the
    same 32-pixel images run at 32 pixels from an image folder as from arrays."""
    import report

    folder = write_image_folder(tmp_path / "images")
    made = report.build(model="torchvision:resnet18", data=str(folder), out=tmp_path / "out",
                        sections="parameters,shapes", formats="html")
    assert made.findings.model.model.input_shape == [3, 32, 32]
    assert made.findings.model.model.preprocessing is None  # nothing resized, no config of the model's own


def test_the_training_callbacks_record_a_recipe_that_builds_the_model_again():
    """The report process builds the model from the recorded recipe: for a library's model that is its name and
    arguments (timm) or its configuration (transformers), never its class (which needs arguments it cannot know)."""
    from analysis.models.build import build_model
    from report.training import source_of

    for model in (timm.create_model("resnet18", num_classes=4, in_chans=1), tiny_vit()):
        source, kwargs = source_of(model)
        rebuilt = build_model(source, json.loads(json.dumps(kwargs)))  # as the report process gets it: JSON
        assert {k: v.shape for k, v in rebuilt.state_dict().items()} == \
            {k: v.shape for k, v in model.state_dict().items()}, source
        assert type(rebuilt) is type(model)


@pytest.mark.slow
def test_a_reporter_follows_a_timm_model(tmp_path):
    from report.training import Reporter

    data = write_npz(tmp_path / "d.npz", size=24)
    model = timm.create_model("resnet18", num_classes=4)
    lines = []
    with Reporter(out=tmp_path / "out", data=str(data), input_size=24, sections="parameters", formats="html",
                  history=False, log=lines.append) as reporter:
        reporter.epoch_end(model, 0)
    assert [r.status for r in reporter.results] == ["done"], lines
    assert reporter.results[0].summary["parameters"] == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("size", [(40, 30), (30, 40), (32, 32), (37, 23)])
def test_a_models_interpolation_and_crop_are_torchvisions_evaluation_transform(size):
    """ImageSize(224, "bicubic", 0.95) brings an image to the model as timm's evaluation transform does:
    the shorter side resized to floor(224 / 0.95) and the centre 224×224 kept (torchvision's Resize and
    CenterCrop, computed independently here); it pickles for DataLoader workers with what it carries."""
    import pickle

    from PIL import Image
    from torchvision import transforms

    from analysis.data.images import ImageSize, resized_image

    image = Image.fromarray(np.random.default_rng(3).integers(0, 256, (*size[::-1], 3), dtype=np.uint8))
    wanted = transforms.Compose([transforms.Resize(235, interpolation=transforms.InterpolationMode.BICUBIC),
                                 transforms.CenterCrop(224)])(image)
    target = ImageSize(224, "bicubic", 0.95)
    assert np.array_equal(np.asarray(resized_image(image, target)), np.asarray(wanted))
    again = pickle.loads(pickle.dumps(target))
    assert (int(again), again.interpolation, again.crop_pct) == (224, "bicubic", 0.95)
    # a plain side: the square bilinear resize image files always had
    assert np.array_equal(np.asarray(resized_image(image, 16)), np.asarray(image.resize((16, 16), Image.BILINEAR)))


def test_a_long_setting_such_as_a_huggingface_configuration_is_shortened_on_the_page():
    from report.render.views.network import SETTING_SHOWN, settings_rows

    config = {"model_kwargs": json.dumps({"config": {"id2label": {str(i): f"class {i}" for i in range(1000)}}}),
              "seed": 0}
    rows = {row.name: row.value for row in settings_rows(config)}
    assert rows["seed"] == "0"
    assert len(rows["model_kwargs"]) < SETTING_SHOWN + 100 and rows["model_kwargs"].startswith(config["model_kwargs"][:50])
    assert f"{len(config['model_kwargs']):,} characters in all" in rows["model_kwargs"]


def test_the_store_records_the_versions_of_the_libraries_that_computed_it():
    import importlib.metadata
    import sys

    import torch

    from analysis.config import AnalysisConfig
    from analysis.run import producer

    cpu = torch.device("cpu")
    full = producer("assignment", AnalysisConfig(), cpu)
    assert full["captum"] == importlib.metadata.version("captum") and full["openTSNE"] and full["scipy"]
    assert {"timm", "transformers", "torchvision"}.isdisjoint(full)  # the course CNN is this tool's own code
    lean = producer("timm:resnet18", AnalysisConfig(whole_split=False, attribution=False), cpu)
    assert lean["timm"] == timm.__version__.split("+")[0] and {"captum", "openTSNE"}.isdisjoint(lean)
    assert producer("huggingface:ViTForImageClassification", AnalysisConfig(), cpu)["transformers"] == transformers.__version__
    assert producer("torchvision:resnet18", AnalysisConfig(), cpu)["torchvision"]
    # what this process has imported does not enter it: timm and transformers are imported here
    assert "timm" in sys.modules and producer("assignment", AnalysisConfig(), cpu) == full
    # weights holding NaN get neither the whole split nor the attribution: their libraries computed nothing
    import types

    from analysis.run import computed

    broken = producer("assignment", computed(AnalysisConfig(), types.SimpleNamespace(broken=["fc1.weight"])), cpu)
    assert {"captum", "openTSNE"}.isdisjoint(broken) and broken["scipy"] == full["scipy"]
    assert computed(AnalysisConfig(), types.SimpleNamespace(broken=[])) == AnalysisConfig()
