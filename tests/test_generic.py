"""Any image classifier: model sources, exact counts for torchvision models, nesting, data sets."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import run_cli, run_main
from synthetic import make_image_folder

from analysis.capture.activations import capture, top_channels
from analysis.capture.trace import trace_shapes
from analysis.data import datasets as data_module
from analysis.errors import InputError
from analysis.models.assignment import AssignmentCNN
from analysis.models.build import build_model
from analysis.models.sources import parse_kwargs
from analysis.stats.params import count_parameters
from report.pipeline import current_store
from report.render.load import load_findings

FIXTURES = Path(__file__).resolve().parent / "fixtures"
USER_ENV = {"PYTHONPATH": str(FIXTURES)}


@pytest.fixture(autouse=True)
def user_models_importable(monkeypatch):
    monkeypatch.syspath_prepend(str(FIXTURES))


@pytest.mark.parametrize("name", ["resnet18", "vgg11", "mobilenet_v2"])
def test_torchvision_totals_equal_the_published_counts(name):
    from torchvision.models import get_model_weights

    model = build_model(f"torchvision:{name}", {})
    counts = count_parameters(model)
    published = get_model_weights(name).DEFAULT.meta["num_params"]
    assert counts.total == published == sum(p.numel() for p in model.parameters())
    assert sum(layer.total for layer in counts.layers) == counts.total
    assert counts.buffers == sum(b.numel() for b in model.buffers())


def test_tied_weights_and_a_module_under_two_names_count_once():
    model = build_model("user_models:TiedNet", {})
    counts = count_parameters(model)
    assert counts.total == sum(p.numel() for p in model.parameters()) == 4674
    layers = {layer.name: layer for layer in counts.layers}
    assert layers["mix_again"].shared_with == ["mix.weight"] and layers["mix_again"].total == 16
    assert layers["head"].aliases == ["same_head"]


def test_multiply_accumulates_of_the_assignment_cnn():
    trace, _ = trace_shapes(AssignmentCNN(), torch.zeros(1, 1, 28, 28))
    macs = {row.name: row.macs for row in trace.rows}
    assert macs["conv1"] == 32 * 26 * 26 * 9 and macs["conv2"] == 64 * 11 * 11 * 32 * 9
    assert macs["fc1"] == 1600 * 128 and macs["relu1"] == 0
    assert trace.total_macs == 194_688 + 2_230_272 + 204_800 + 8_192 + 640


def test_resnet_trace_nests_and_counts_macs_once():
    trace, _ = trace_shapes(build_model("torchvision:resnet18", {}), torch.zeros(1, 3, 224, 224))
    rows = trace.rows
    assert rows[0].name == "conv1" and rows[0].output_shape == [64, 112, 112]
    block = next(r for r in rows if r.name == "layer1.0")
    assert block.depth == 2 and not block.is_leaf and block.type == "BasicBlock"
    assert next(r for r in rows if r.name == "layer1.0.conv1").depth == 3
    assert round(trace.total_macs / 1e9, 2) == 1.81  # torchvision lists 1.81 GFLOPS (MACs) for resnet18
    relu_calls = [r for r in rows if r.name == "layer1.0.relu"]
    assert len(relu_calls) == 2  # BasicBlock calls its one ReLU module twice


def test_module_called_twice_and_in_place_relu():
    model = build_model("user_models:ReusedBlockNet", {}).eval()
    trace, _ = trace_shapes(model, torch.zeros(1, 1, 28, 28))
    assert [r.name for r in trace.rows].count("act") == 3
    torch.manual_seed(0)
    captured, _ = capture(model, torch.randn(1, 1, 28, 28), ["bn1"])
    assert captured["bn1"].min() < 0  # taken before the in-place ReLU overwrote it


def test_top_channels_by_mean_activation():
    maps = np.zeros((6, 2, 2))
    maps[[1, 4, 5]] = [[[1.0]], [[3.0]], [[2.0]]]
    assert top_channels(maps, 2) == [4, 5]
    assert top_channels(maps, 10) == list(range(6))


@pytest.mark.parametrize("source, message", [
    ("no_such_module:Net", "module 'no_such_module' cannot be imported"),
    ("user_models:Missing", "module 'user_models' has no class 'Missing' (nn.Module classes there: Broken, "),
    ("user_models:torch", "'torch' is not a torch.nn.Module subclass"),
    ("user_models:Broken", "Broken(**{}) failed (RuntimeError: this model cannot be built)"),
    ("torchvision:resnet9000", "torchvision has no classification model 'resnet9000'"),
    ("justaname", "is not of a known form: give assignment, torchvision:NAME, timm:NAME"),
])
def test_model_source_errors_say_which_part_failed(source, message):
    with pytest.raises(InputError) as caught:
        build_model(source, {})
    assert message in str(caught.value)


def test_model_kwargs_must_be_a_json_object():
    assert parse_kwargs('{"width": 4}') == {"width": 4}
    with pytest.raises(InputError, match="not valid JSON"):
        parse_kwargs("{width: 4}")
    with pytest.raises(InputError, match="must be a JSON object"):
        parse_kwargs("[4]")


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    return make_image_folder(tmp_path_factory.mktemp("shapes"))


def test_image_folder_reads_like_torchvision(image_folder):
    from torchvision.datasets import ImageFolder

    splits = data_module.load(str(image_folder))
    reference = ImageFolder(str(image_folder / "test"))
    assert splits.class_names == reference.classes == ["circle", "square", "stripes"]
    assert splits.test.labels.tolist() == [label for _, label in reference.samples]
    first = np.asarray(reference[0][0]).transpose(2, 0, 1)
    assert np.array_equal(splits.test.images[0], first) and splits.image_shape == (3, 64, 64)


def test_image_folder_without_splits_is_split_stratified(tmp_path):
    make_image_folder(tmp_path, per_split=10, split=False)
    splits = data_module.load(str(tmp_path))
    assert np.bincount(splits.test.labels).tolist() == [2, 2, 2]
    assert np.bincount(splits.train.labels).tolist() == [8, 8, 8]


def test_image_sizes_must_agree_or_be_resized(tmp_path):
    from PIL import Image

    make_image_folder(tmp_path, per_split=2)
    Image.new("RGB", (50, 40)).save(tmp_path / "test" / "circle" / "odd.png")
    with pytest.raises(InputError, match="different sizes .*give --input-size N"):
        data_module.load(str(tmp_path))
    assert data_module.load(str(tmp_path), input_size=32).image_shape == (3, 32, 32)


def test_idx_class_names_follow_the_folder(tmp_path):
    splits = data_module.load_embedded()
    for family, first in (("FashionMNIST", "T-shirt/top"), ("KMNIST", "o"), ("MNIST", "0")):
        folder = tmp_path / family / "raw"
        folder.mkdir(parents=True)
        for stem, array in (("train-images-idx3-ubyte", splits.train.images[::200, 0]),
                            ("train-labels-idx1-ubyte", splits.train.labels[::200]),
                            ("t10k-images-idx3-ubyte", splits.test.images[::50, 0]),
                            ("t10k-labels-idx1-ubyte", splits.test.labels[::50])):
            data_module.write_idx(folder / stem, array)
        assert data_module.load(str(tmp_path / family)).class_names[0] == first
    names = tuple(f"c{i}" for i in range(10))
    assert data_module.load(str(tmp_path / "MNIST"), class_names=names).class_names == list(names)
    with pytest.raises(InputError, match="gives 2 names but the data has 10 classes"):
        data_module.load(str(tmp_path / "MNIST"), class_names=("a", "b"))


@pytest.mark.parametrize("name", ["resnet18"])  # a full report; every torchvision count is checked above
def test_torchvision_reports_render_from_an_image_folder(image_folder, tmp_path, name):
    from pypdf import PdfReader
    from torchvision.models import get_model_weights

    # 64 px (the folder's own size) instead of the 224 px resnet18's weights were made for: a quicker report
    result = run_cli("--model", f"torchvision:{name}", "--data", str(image_folder), "--out", str(tmp_path),
                     "--input-size", "64")
    assert result.returncode == 0, result.stderr
    findings = load_findings(current_store(tmp_path))
    assert findings.parameters.total == get_model_weights(name).DEFAULT.meta["num_params"]
    assert findings.weights == "random (seed 0)" and findings.input_shape == [3, 64, 64]
    assert findings.embeddings.classes == [0, 1]  # no 6 and 7 here: the first two classes
    pdf, html = tmp_path / "report.pdf", tmp_path / "report.html"
    pages = len(PdfReader(pdf).pages)
    html_bytes = html.stat().st_size + sum(p.stat().st_size for p in current_store(tmp_path).rglob("*.png"))
    assert pages < 40 and pdf.stat().st_size < 15e6 and html_bytes < 15e6, (pages, pdf.stat().st_size, html_bytes)
    text = html.read_text()
    assert "No checkpoint: the weights are random (seed 0)" in text and "circle" in text
    if name == "resnet18":
        # layer4's 2 × 2 maps (64 px input) are left out of the grids: 15 layers share the tile budget
        assert "11,689,512" in text and "top 25 of 256 by mean activation" in text
        assert "Left out of the grids: layer4.0.conv1 (Conv2d output), layer4.0.conv2" in text


@pytest.mark.slow  # trains or builds a whole report
def test_a_user_class_with_batchnorm_dropout_and_reuse(tmp_path):
    result = run_cli("--model", "user_models:ReusedBlockNet", "--model-kwargs", '{"width": 4}',
                     "--out", str(tmp_path), "--format", "html", env=USER_ENV)
    assert result.returncode == 0, result.stderr
    f = load_findings(current_store(tmp_path))
    assert f.model_class == "ReusedBlockNet" and f.parameters.buffers == 2 * (4 + 8) + 2
    assert [row.name for row in f.trace.rows].count("act") == 3
    assert [(row.name, row.input_shape, row.output_shape) for row in f.trace.rows if row.kind == "function"] == [
        ("torch.flatten", [8, 13, 13], [1352])]  # a row of its own now, so the trace has no gap
    assert [n["branch"] for n in json.loads((tmp_path / "notes.json").read_text())["notes"]
            if n["rule"] == "shapes.gaps"] == ["none"]


@pytest.mark.slow  # trains or builds a whole report
def test_a_checkpoint_naming_user_code_is_used_once_the_user_names_it(tmp_path):
    import user_models

    torch.manual_seed(3)
    model = user_models.ReusedBlockNet(width=4)
    checkpoint = tmp_path / "own.pt"
    torch.save({"model_state_dict": model.state_dict(),
                "model_config": {"source": "user_models:ReusedBlockNet", "kwargs": {"width": 4}}}, checkpoint)
    # A stored user source would import code: the checkpoint alone may not, the message says what to add.
    refused = run_cli("--checkpoint", str(checkpoint), "--out", str(tmp_path / "b"), "--quiet", env=USER_ENV)
    assert refused.returncode == 2
    assert refused.stderr.strip().endswith(
        "add --model user_models:ReusedBlockNet --model-kwargs '{\"width\": 4}' to allow it")
    result = run_cli("--checkpoint", str(checkpoint), "--model", "user_models:ReusedBlockNet",
                     "--model-kwargs", '{"width": 4}', "--out", str(tmp_path / "b"), "--format", "html",
                     "--sections", "assignment", env=USER_ENV)
    assert result.returncode == 0, result.stderr
    f = load_findings(current_store(tmp_path / "b"))
    assert f.model_class == "ReusedBlockNet" and f.weights == "checkpoint"
    assert f.kernel_image.shape == [4, 1, 3, 3]


def test_a_state_dict_that_does_not_fit_names_the_keys(tmp_path):
    checkpoint = tmp_path / "assignment.pt"
    torch.save(AssignmentCNN().state_dict(), checkpoint)
    result = run_main("--checkpoint", str(checkpoint), "--model", "user_models:ReusedBlockNet",
                      "--out", str(tmp_path / "b"), env=USER_ENV)
    assert result.returncode == 2
    assert "missing bn1.bias" in result.stderr and "unexpected conv1.bias" not in result.stderr
    assert "shape mismatch conv1.bias (32,) vs (8,)" in result.stderr
    assert "conv2.weight (64, 32, 3, 3) vs (16, 8, 3, 3)" in result.stderr


@pytest.mark.slow  # trains or builds a whole report
def test_data_that_does_not_fit_the_model_is_one_clear_line(tmp_path):
    result = run_cli("--model", "torchvision:resnet18", "--out", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith(
        "report: error: the model cannot take the data's 1×28×28 images: the forward pass failed at layer conv1")


def test_layers_and_classes_by_name(image_folder, tmp_path):
    result = run_cli("--model", "torchvision:resnet18", "--data", str(image_folder), "--out", str(tmp_path),
                     "--layers", "layer1.0.conv1", "layer4", "--classes", "stripes", "circle", "--max-channels", "8",
                     "--embedding-layer", "avgpool", "--format", "html", "--input-size", "64",
                  "--sections", "activations,embeddings")  # the sections these options steer (a full report: above)
    assert result.returncode == 0, result.stderr
    f = load_findings(current_store(tmp_path))
    assert [g.module for g in f.map_grids] == ["layer1.0.conv1"]  # layer4's maps are 2 × 2 at 64 px: left out
    assert [(s.module, s.shape) for s in f.activations.small] == [("layer4", [512, 2, 2])]
    assert [len(g.shown_channels) for g in f.map_grids] == [8]
    assert f.embeddings.classes == [2, 0] and f.embeddings.dimensions == 512
    bad = run_cli("--model", "torchvision:resnet18", "--data", str(image_folder), "--out", str(tmp_path),
                  "--classes", "hexagon")
    assert bad.returncode == 2 and "unknown class 'hexagon': the data's classes are 0=circle" in bad.stderr
