"""Typed view of one artifact store: what the rules and templates work from."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from analysis.store.schema import LayerParams, TraceRow


@dataclasses.dataclass(frozen=True)
class Parameters:
    layers: list[LayerParams]
    total: int
    trainable: int
    non_trainable: int
    buffers: int
    buffer_list: list[dict]
    bytes_float32: int


@dataclasses.dataclass(frozen=True)
class Trace:
    batch_size: int
    input_shape: list[int]
    output_shape: list[int]
    rows: list[TraceRow]
    functional_note: str
    total_macs: int


@dataclasses.dataclass(frozen=True)
class KernelImage:
    layer: str
    path: str
    shape: list[int]
    shown: int
    colouring: str  # "single channel", "input channel 0" or "rgb"
    vmin: float
    vmax: float
    cmap: str
    colourbar: str
    columns: int


@dataclasses.dataclass(frozen=True)
class MapGrid:
    module: str
    label: str
    path: str
    cmap: str
    columns: int
    shape: list[int]
    vmin: float
    vmax: float
    channel_peak: list[float]
    channel_mean: list[float]
    channel_zero_share: list[float]
    dead_channels: list[int]
    near_zero_channels: list[int]
    near_zero_threshold: float
    zero_share: float
    shown_channels: list[int]
    selection: str


@dataclasses.dataclass(frozen=True)
class InputImage:
    index: int
    label: int
    predicted: int
    confidence: float
    path: str
    chosen_by: str


@dataclasses.dataclass(frozen=True)
class Sample:
    index: int
    label: int
    predicted: int
    confidence: float
    path: str
    vector: list[float]


@dataclasses.dataclass(frozen=True)
class Pair:
    i: int
    j: int
    class_i: int
    class_j: int
    kind: str  # "intra" or "inter"
    distance: float


@dataclasses.dataclass(frozen=True)
class DistanceTable:
    matrix: list[list[float]]
    pairs: list[Pair]
    intra_mean: float | None
    inter_mean: float | None
    intra_by_class: dict
    inter_by_class_pair: dict

    @property
    def ratio(self) -> float | None:
        """Mean inter-class over mean intra-class distance; None when either is missing or intra is zero."""
        if not self.intra_mean or self.inter_mean is None:
            return None
        return self.inter_mean / self.intra_mean


@dataclasses.dataclass(frozen=True)
class Embeddings:
    layer: str
    module: str
    side: str           # "output" or "input" of the module
    description: str
    after_relu: bool
    dimensions: int
    classes: list[int]
    per_class: int
    samples: list[Sample]
    distances: dict[str, DistanceTable]


@dataclasses.dataclass(frozen=True)
class ClassAccuracy:
    cls: int
    n: int
    correct: int
    accuracy: float


@dataclasses.dataclass(frozen=True)
class Evaluation:
    n_test: int
    correct: int
    accuracy: float
    per_class: list[ClassAccuracy]
    training: dict | None
    class_names: list[str]
    outputs: int
    position: dict | None = None   # epoch / step of the checkpoint, when it records one
    checkpoint_warnings: tuple[str, ...] = ()  # checkpoint metadata left out because it was malformed, and why


@dataclasses.dataclass(frozen=True)
class ClassSpread:
    cls: int
    n: int
    intra_mean: float | None
    intra_std: float | None
    pairs: int
    ci_low: float | None
    ci_high: float | None
    ci_sample: int
    silhouette: float


@dataclasses.dataclass(frozen=True)
class LayerSeparation:
    module: str
    label: str
    dims: int
    ratio: float | None
    silhouette: float


@dataclasses.dataclass(frozen=True)
class FilterStats:
    module: str
    label: str
    channels: int
    mean: list[float]
    zero_fraction: list[float]
    activated: bool     # after a ReLU-like activation: only then is an always-zero filter "dead"
    dead: list[int]
    near_dead: list[int]
    images: int
    path: str | None


@dataclasses.dataclass(frozen=True)
class Separation:
    """Statistics over every test image (schema 3); None for older stores."""

    metric: str
    n: int
    dimensions: int
    layer: str
    description: str
    classes: list[int]
    embeddings_file: str
    per_class: list[ClassSpread]
    inter_matrix: list[list[float]]
    centroid_matrix: list[list[float]]
    ratio: float | None
    silhouette: float
    nearest_centroid_accuracy: float
    network_accuracy: float
    closest_pairs: list[dict]
    two_sample: dict | None
    depth: list[LayerSeparation]
    depth_sample: int
    pca_variance: list[float]
    tsne_sample: int
    confusion: list[list[int]]
    confusion_names: list[str]
    misclassified: list[dict]
    wrong: int
    filters: list[FilterStats]
    images: dict
    settings: dict


@dataclasses.dataclass(frozen=True)
class Provenance:
    key: str
    checkpoint_file: str
    checkpoint_sha256: str
    checkpoint_bytes: int
    data_kind: str
    data_description: str
    config: dict
    code_version: str
    producer: dict
    schema_version: int


@dataclasses.dataclass(frozen=True)
class Findings:
    store_dir: Path
    provenance: Provenance
    model_class: str
    model_source: str
    weights: str
    normalisation: dict
    input_shape: list[int]
    non_finite: list[str]   # parameter tensors holding NaN or infinite values
    parameters: Parameters
    trace: Trace
    kernels: list[dict]
    kernel_image: KernelImage | None
    input_image: InputImage
    map_colourbar: str
    map_grids: list[MapGrid]
    embeddings: Embeddings
    evaluation: Evaluation
    separation: Separation | None

    def class_name(self, label: int) -> str:
        names = self.evaluation.class_names
        return names[label] if 0 <= label < len(names) else str(label)
