"""Resolved settings of one analysis run (torch-free, saved into the manifest)."""

from __future__ import annotations

import dataclasses
import hashlib
import json

# MNIST's usual normalisation (mean and std of the training pixels in [0, 1]), and ImageNet's for RGB.
MNIST_MEAN, MNIST_STD = (0.1307,), (0.3081,)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
# Torch threads of an analysis and of the default checkpoint's training, whatever the machine or the command,
# unless REPORT_THREADS gives another number: kernels add in another order on another number of threads (a
# convolution on 1 thread and on 2 differs in the last bits), so the number is part of the config that keys a
# store, and a build, a batch worker and a Dask shard of one analysis all run on it.
ANALYSIS_THREADS = 2


@dataclasses.dataclass(frozen=True)
class AnalysisConfig:
    """What to analyse. Defaults reproduce the assignment's report; None means "decide from the data,
    the model or the checkpoint's stored config"."""

    model: str | None = None               # assignment | torchvision:NAME | package.module:Class
    model_kwargs: str | None = None        # JSON object passed to the model's constructor
    strip_prefix: str | None = None        # taken off every checkpoint key that has it (``net.``, a wrapper's)
    classes: tuple[str, ...] | None = None  # classes whose samples are embedded (default 6 and 7 if present)
    per_class: int | None = None           # samples per class (default: 2, fewer when a class has fewer test images)
    image_class: str | None = None         # activation maps use the first test image of this class...
    image_index: int | None = None         # ...unless a test index is given
    embedding_layer: str | None = None     # default: fc2 after ReLU (assignment), else the input of the last Linear
    layers: tuple[str, ...] | None = None  # layers whose activation maps are shown (default: every Conv2d)
    max_channels: int | None = None        # maps per layer at most (top-k by mean activation); default:
                                           # 32, fewer (at least 8) beyond 12 layers, so grids stay near 384 maps
    input_size: int | None = None          # resize image-folder data to N×N
    mean: tuple[float, ...] | None = None  # normalisation per channel (default: MNIST for grey, ImageNet for RGB)
    std: tuple[float, ...] | None = None
    class_names: tuple[str, ...] | None = None
    seed: int = 0                          # random weights without a checkpoint; bootstrap, samples, t-SNE
    metric: str = "mse"                    # distance of the whole-split statistics: mse, euclidean or cosine
    whole_split: bool = True               # the whole-split pass (separation, depth, map, errors, filters)
    maps: bool = True                      # activation maps of one test image (the activations section)
    samples: bool = True                   # embeddings of the chosen samples and their distances
    attribution: bool = True               # attribution maps and their checks (analysis/attribution/)
    attribution_images: int | None = None  # check images of the attribution checks at most (default: the MAC rule)
    attribution_layers: str = "last"       # Grad-CAM at the last map layer, or also at the activation maps' layers
    device: str = "cpu"                    # the kind of device (cpu, cuda, mps): it changes results in the last bits
    batch_size: int = 250                  # images per forward pass: part of the key, as it may change them too
    threads: int = ANALYSIS_THREADS        # torch threads (REPORT_THREADS): part of the key, as they change them too

    def to_dict(self) -> dict:
        """The record the manifest keeps and the key hashes. ``threads`` only when it is not the default: a store
        made on the default number records what stores recorded before the number could be chosen."""
        record = dataclasses.asdict(self)
        if record["threads"] == ANALYSIS_THREADS:
            del record["threads"]
        return record

    def fingerprint(self) -> str:
        return sha256_of_json(self.to_dict())


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """How the default checkpoint is trained (fixed seed, ANALYSIS_THREADS threads unless REPORT_THREADS says)."""

    epochs: int = 10
    batch_size: int = 64
    learning_rate: float = 2e-3  # peak of a one-cycle schedule
    seed: int = 0
    threads: int = ANALYSIS_THREADS

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def default_normalisation(channels: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    if channels == 1:
        return MNIST_MEAN, MNIST_STD
    if channels == 3:
        return IMAGENET_MEAN, IMAGENET_STD
    return (0.5,) * channels, (0.5,) * channels


def sha256_of_json(value) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
