"""Resolved settings of one analysis run (torch-free, saved into the manifest)."""

from __future__ import annotations

import dataclasses
import hashlib
import json

# MNIST's usual normalisation (mean and std of the training pixels in [0, 1]).
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081


@dataclasses.dataclass(frozen=True)
class AnalysisConfig:
    """What to analyse. Defaults reproduce the assignment's report."""

    digits: tuple[int, ...] = (6, 7)       # classes whose samples are embedded
    per_class: int = 2                     # samples per class
    image_class: int = 7                   # activation maps use the first test image of this class...
    image_index: int | None = None         # ...unless a test index is given
    embedding_layer: str = "fc2"           # embeddings are taken after this layer's ReLU
    mean: float = MNIST_MEAN
    std: float = MNIST_STD

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def fingerprint(self) -> str:
        return sha256_of_json(self.to_dict())


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """How the default checkpoint is trained (fixed seed, 2 threads)."""

    epochs: int = 10
    batch_size: int = 64
    learning_rate: float = 2e-3  # peak of a one-cycle schedule
    seed: int = 0
    threads: int = 2

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def sha256_of_json(value) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
