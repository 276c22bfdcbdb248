"""Stage 1 entry points: train the default checkpoint, and analyse a checkpoint into a store."""

from __future__ import annotations

import platform
import sys
from pathlib import Path

import numpy as np
import torch

from analysis import activations, embeddings, images, params, trace
from analysis.checkpoint import load_into, read_checkpoint
from analysis.config import AnalysisConfig, TrainConfig
from analysis.data import DataSplits, load
from analysis.errors import InputError
from analysis.fingerprint import analysis_inputs, store_key
from analysis.inference import predict_logits, to_input
from analysis.model import ACTIVATION_OF, INPUT_SHAPE, AssignmentCNN
from analysis.store import StoreWriter

ACTIVATION_GRIDS = (  # (module captured, what it shows)
    ("relu1", "conv1 after ReLU"),
    ("pool1", "conv1 after ReLU and 2×2 max pooling"),
    ("relu2", "conv2 after ReLU"),
    ("pool2", "conv2 after ReLU and 2×2 max pooling"),
)
MAP_CMAP = "viridis"
KERNEL_CMAP = "RdBu_r"


def train_default(data: str | None, train_config: TrainConfig, config: AnalysisConfig,
                  checkpoint: Path, cache_dir: Path, show_progress: bool) -> dict:
    from analysis.train import save_checkpoint, train

    splits = load(data, cache_dir)
    model, record = train(splits, train_config, config, show_progress)
    save_checkpoint(model, record, checkpoint)
    return record


def analyse(checkpoint: Path, data: str | None, config: AnalysisConfig, stores_dir: Path,
            cache_dir: Path) -> Path:
    """Compute every result for ``checkpoint`` and publish the store; returns its folder."""
    torch.set_num_threads(2)
    inputs = analysis_inputs(checkpoint, data, config)
    state, training = read_checkpoint(checkpoint)
    model = AssignmentCNN()
    load_into(model, state, checkpoint)
    model.eval()
    splits = load(data, cache_dir)
    _check_images_fit(splits)
    writer = StoreWriter(Path(stores_dir) / store_key(inputs))
    try:
        x_test = to_input(splits.test.images, config.mean, config.std)
        logits = predict_logits(model, x_test)
        writer.write_json("model.json", _model_results(model, x_test[:1], writer))
        writer.write_json("evaluation.json", _evaluation(logits, splits, training))
        writer.write_json("activations.json", _activation_results(model, x_test, splits, config, writer))
        writer.write_json("embeddings.json", _embedding_results(model, x_test, logits, splits, config, writer))
        manifest = {
            "key": store_key(inputs), "inputs": inputs, "data_description": splits.description,
            "producer": {"python": platform.python_version(), "torch": torch.__version__.split("+")[0],
                         "numpy": np.__version__, "platform": sys.platform},
        }
        return writer.commit(manifest)
    except BaseException:
        writer.abort()
        raise


def _check_images_fit(splits: DataSplits) -> None:
    shape = tuple(splits.test.images.shape[1:])
    if shape != INPUT_SHAPE[1:]:
        raise InputError(f"the data's images are {shape[0]}×{shape[1]} but the model needs "
                         f"{INPUT_SHAPE[1]}×{INPUT_SHAPE[2]} grey images: give MNIST-format data")


def _model_results(model, example, writer: StoreWriter) -> dict:
    conv1 = model.conv1.weight.detach().numpy()[:, 0]
    bound = float(np.abs(conv1).max())
    writer.write_bytes("images/conv1_kernels.png",
                       images.png_bytes(images.grid(conv1, -bound, bound, KERNEL_CMAP, columns=8)))
    writer.write_bytes("images/kernel_colourbar.png", images.png_bytes(images.colourbar(KERNEL_CMAP)))
    return {
        "model": {"class": type(model).__name__, "input_shape": list(INPUT_SHAPE)},
        "parameters": params.count_parameters(model),
        "trace": trace.trace_shapes(model, example),
        "kernels": trace.kernel_shapes(model),
        "kernel_image": {"layer": "conv1", "path": "images/conv1_kernels.png", "shape": list(model.conv1.weight.shape),
                         "vmin": -bound, "vmax": bound, "cmap": KERNEL_CMAP,
                         "colourbar": "images/kernel_colourbar.png", "columns": 8},
    }


def _prediction(logits_row: torch.Tensor) -> tuple[int, float]:
    probabilities = torch.softmax(logits_row, dim=0)
    return int(probabilities.argmax()), float(probabilities.max())


def _evaluation(logits: torch.Tensor, splits: DataSplits, training: dict | None) -> dict:
    predicted = logits.argmax(1).numpy()
    labels = splits.test.labels
    per_class = [{"class": int(c), "n": int((labels == c).sum()),
                  "correct": int(((labels == c) & (predicted == c)).sum())} for c in np.unique(labels)]
    for row in per_class:
        row["accuracy"] = row["correct"] / row["n"]
    return {"n_test": len(labels), "correct": int((predicted == labels).sum()),
            "accuracy": float((predicted == labels).mean()), "per_class": per_class, "training": training}


def _activation_results(model, x_test, splits, config: AnalysisConfig, writer: StoreWriter) -> dict:
    index = config.image_index
    if index is None:
        index = embeddings.first_index_of(splits.test.labels, config.image_class)
    elif not 0 <= index < len(splits.test):
        raise InputError(f"--image-index {index} is outside the test split (0..{len(splits.test) - 1})")
    captured, logits_one = activations.capture(model, x_test[index:index + 1], [m for m, _ in ACTIVATION_GRIDS])
    predicted, confidence = _prediction(logits_one[0])
    writer.write_bytes("images/input.png", images.png_bytes(images.digit(splits.test.images[index], factor=6)))
    writer.write_bytes("images/map_colourbar.png", images.png_bytes(images.colourbar(MAP_CMAP)))
    grids = []
    for module, label in ACTIVATION_GRIDS:
        maps = captured[module][0]
        stats = activations.map_statistics(maps)
        path = f"images/maps_{module}.png"
        columns = images.columns_for(len(maps))
        writer.write_bytes(path, images.png_bytes(images.grid(maps, stats["vmin"], stats["vmax"], MAP_CMAP, columns)))
        grids.append({"module": module, "label": label, "path": path, "cmap": MAP_CMAP, "columns": columns, **stats})
    return {
        "input": {"index": index, "label": int(splits.test.labels[index]), "predicted": predicted,
                  "confidence": confidence, "path": "images/input.png",
                  "chosen_by": "index" if config.image_index is not None else f"first test image of class {config.image_class}"},
        "colourbar": "images/map_colourbar.png",
        "grids": grids,
    }


def _embedding_results(model, x_test, logits, splits, config: AnalysisConfig, writer: StoreWriter) -> dict:
    if config.embedding_layer not in ACTIVATION_OF:
        raise InputError(f"unknown embedding layer {config.embedding_layer!r}: choose one of "
                         f"{', '.join(ACTIVATION_OF)}")
    module = ACTIVATION_OF[config.embedding_layer]
    chosen = embeddings.select_samples(splits.test.labels, config.digits, config.per_class)
    captured, _ = activations.capture(model, x_test[chosen], [module])
    vectors = captured[module].reshape(len(chosen), -1)
    labels = [int(splits.test.labels[i]) for i in chosen]
    samples = []
    for position, index in enumerate(chosen):
        predicted, confidence = _prediction(logits[index])
        path = f"images/sample_{position}.png"
        writer.write_bytes(path, images.png_bytes(images.digit(splits.test.images[index], factor=4)))
        samples.append({"index": index, "label": labels[position], "predicted": predicted,
                        "confidence": confidence, "path": path, "vector": vectors[position]})
    return {
        "layer": config.embedding_layer, "module": module, "after_relu": module != config.embedding_layer,
        "dimensions": int(vectors.shape[1]), "classes": list(config.digits), "per_class": config.per_class,
        "samples": samples, "distances": embeddings.distance_tables(vectors, labels),
    }
