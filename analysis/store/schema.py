"""The stored documents, declared once: the analysis builds these records and writes them, the render stage
reads them back, tests build synthetic stores from them. Torch-free and numpy-free.

A record is a frozen dataclass. ``to_json`` turns one into plain JSON types (a field whose stored key
differs from its name, such as ``class``, says so with ``key=``); ``from_json`` reads one back, filling
fields a document lacks with their declared default and refusing a document that lacks a required one.
Keys a record does not declare are ignored, so a newer writer's extra fields do not break an older reader.
Changing a document's shape means bumping ``SCHEMA_VERSION`` and adding a migration in
``report/render/migrate.py`` (tested against the frozen stores in ``tests/fixtures/stores/``). A field added
within a version, with a default that reads every older store right, is declared ``when_set(default)``: it is
written only when it differs from the default, so a store with nothing to say in it keeps its bytes.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing

SCHEMA_VERSION = 4  # 2: any model and data set; 3: whole-split separation (separation.json);
                    # 4: MACs counted at the dispatch level, functional calls in the trace, modules that never ran


def stored(key: str | None = None, **kwargs):
    """A field whose stored JSON key is ``key`` (default: the field's name)."""
    return dataclasses.field(metadata={"key": key} if key else {}, **kwargs)


def when_set(default):
    """A field added within a schema version that is written only when it differs from ``default``: stores that
    have nothing to say in it keep the bytes they had before it existed, and the reader fills in the default."""
    return dataclasses.field(default=default, metadata={"when_set": True})


def _key(field: dataclasses.Field) -> str:
    return field.metadata.get("key") or field.name


def _written(field: dataclasses.Field, value) -> bool:
    return not field.metadata.get("when_set") or to_json(value) != to_json(field.default)


def to_json(value):
    """Records, lists and dicts of them as plain JSON values (numbers are rounded later, by the writer)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {_key(f): to_json(getattr(value, f.name)) for f in dataclasses.fields(value)
                if _written(f, getattr(value, f.name))}
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    return value


@functools.cache
def _hints(cls) -> dict:
    return typing.get_type_hints(cls)


def _read(hint, value):
    """``value`` read as ``hint``: records are built, lists and dicts of records read element-wise."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        inner = [a for a in args if a is not type(None)]
        return _read(inner[0], value) if len(inner) == 1 else value
    if dataclasses.is_dataclass(hint):
        return from_json(hint, value)
    if origin is list and args:
        if not isinstance(value, list):
            raise TypeError(f"expected a list, found {type(value).__name__}")
        return [_read(args[0], v) for v in value]
    if origin is dict and len(args) == 2:
        if not isinstance(value, dict):
            raise TypeError(f"expected an object, found {type(value).__name__}")
        return {k: _read(args[1], v) for k, v in value.items()}
    return value


def from_json(cls, data: dict):
    """A record of type ``cls`` from its stored form; KeyError names a required key that is missing."""
    if not isinstance(data, dict):
        raise TypeError(f"{cls.__name__}: expected an object, found {type(data).__name__}")
    hints, values = _hints(cls), {}
    for f in dataclasses.fields(cls):
        key = _key(f)
        if key in data:
            values[f.name] = _read(hints[f.name], data[key])
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise KeyError(f"{cls.__name__}.{key}")
    return cls(**values)


# --- vocabularies shared by writer, reader and report ------------------------------------------------------

# The distance metrics by id, in the order of tables and columns (the assignment's metric first). The formulas are
# analysis.stats.metrics.METRICS (numpy: the store cannot import it), with the same ids in the same order, and
# SILHOUETTE_METRICS below as their silhouettes: tests/test_registries.py checks both. How the page and the figures
# name them is presentation: report/render/words.py and analysis/figures/words.py.
METRIC_IDS = ("mse", "euclidean", "cosine")
PRIMARY_METRIC = "mse"   # the assignment's metric: the sentences about two samples use it

# A heat map of class against class (analysis.figures.plots.heatmap) prints its values in the cells only up to
# this many classes: beyond it a number at least 7 pt high in print no longer fits a cell. The captions say so.
HEATMAP_NUMBERS_MAX_CLASSES = 10

# Module classes (torch.nn names) whose output is zero wherever the unit is silent: only after one of these
# does "zero" or "dead" mean something. analysis.capture.kinds turns the names into classes.
ACTIVATION_TYPES = ("ReLU", "ReLU6", "LeakyReLU", "GELU", "SiLU", "Hardswish")
# Of those, the ones whose output is exactly zero, and never negative, wherever the unit is silent: only a map
# after one of these is "dead" when it is never positive. GELU, SiLU, Hardswish and LeakyReLU give negative
# values for negative inputs (never exactly zero there), Tanh and Sigmoid are never zero at all.
SILENT_ZERO_TYPES = ("ReLU", "ReLU6")
# Pooling layers: they keep the zeros of what they pool, so the report does not count silent maps twice.
POOLING_TYPES = ("MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d",
                 "AdaptiveMaxPool2d", "AdaptiveAvgPool2d", "LPPool2d")


def metric_rank(metric_id: str) -> tuple[int, str]:
    """Sort key: registered metrics in registry order, then any other stored id by name."""
    return (METRIC_IDS.index(metric_id) if metric_id in METRIC_IDS else len(METRIC_IDS), metric_id)


# --- model.json -------------------------------------------------------------------------------------------

# What a parameter tensor is for (analysis.stats.params gives each its role): the table's columns are the roles,
# grouped, so that they add up to the total.
PARAM_ROLES = ("weight", "bias", "norm scale", "norm shift", "class token", "position embedding", "other")


@dataclasses.dataclass(frozen=True)
class ParamTensor:
    """One parameter tensor a layer owns, under its role."""

    name: str             # its name in the module: weight, in_proj_bias, cls_token...
    role: str             # one of PARAM_ROLES
    shape: list[int]
    counted: int          # values counted in this layer (0: a tensor shared with an earlier layer, counted there)


@dataclasses.dataclass(frozen=True)
class LayerParams:
    """Parameters of one module that owns some (its own, not its children's)."""

    name: str
    type: str
    weight_shape: list[int] | None
    bias_shape: list[int] | None
    weights: int
    biases: int
    other: int            # parameters other than weight and bias
    total: int            # counted here: a tensor shared with an earlier layer counts 0
    trainable: int
    formula: str          # e.g. "32·1·3·3 + 32"
    shared_with: list[str]  # owners of tensors this layer shares (counted there, not here)
    aliases: list[str] = dataclasses.field(default_factory=list)  # other names of this same module
    executed: bool = True  # False: the module was never called in the traced forward pass (an auxiliary head in
                           # eval mode, or a module whose parent reads its weights itself, like MultiheadAttention's out_proj)
    read: bool = True      # False: no operation read its own parameters in that pass (inference never uses them)
    # Since issue 30 (written only when set): weights and biases by role (in_proj_weight is a weight, in_proj_bias
    # a bias), a normalisation layer's scale and shift apart (``norm``), so that weights + biases + norm + other
    # = total; every tensor under its role; and the layer's kind, by class: "convolution", "linear",
    # "attention", "normalisation", "embedding", "recurrent" or "" (other).
    norm: int = when_set(0)
    tensors: list[ParamTensor] = when_set(())
    kind: str = when_set("")


@dataclasses.dataclass(frozen=True)
class Parameters:
    layers: list[LayerParams]
    total: int
    trainable: int
    non_trainable: int
    buffers: int
    buffer_list: list[dict]   # {"name", "shape", "numel"} per registered buffer
    bytes_float32: int
    unused: int = 0           # parameters no operation read in the traced forward pass (inference never uses them)
    unused_known: bool = False  # False: written before the analysis watched which parameters were read


@dataclasses.dataclass
class TraceRow:
    """One module call, or one functional call, of the forward pass, in execution order."""

    order: int
    name: str
    type: str
    depth: int
    is_leaf: bool
    input_shape: list[int] | None    # without the batch dimension (input_batch tells which one that was)
    output_shape: list[int] | None   # without the batch dimension (output_batch tells which one that was)
    params: int                      # this module's own parameters
    geometry: dict                   # kernel, stride, padding... where the module has them
    macs: int = 0                    # multiply-accumulates per sample counted while this call was the innermost
                                     # one running (its own work, not its children's rows)
    kind: str = "module"             # "module", or "function": a functional call (name: F.relu, torch.flatten...)
    caller: str | None = None        # a function row's module, whose forward made the call ("": the model's own)
    # Since issue 30 (written only when set). Where the batch is: the dimension of the full shape that is the
    # batch, left out of input_shape/output_shape (0, the first, before); None: no dimension is the batch alone
    # (a parameter, or the batch folded into another dimension), so the shape is stored in full.
    input_batch: int | None = when_set(0)
    output_batch: int | None = when_set(0)
    source: int | None = when_set(None)        # order of the call that made the first tensor input (-1: the
                                               # model's input); None: unknown, or a parameter (source_tensor)
    source_tensor: str | None = when_set(None)  # the parameter or buffer that the first tensor input is
    parameters: list[str] = when_set(())        # a functional call's parameters and buffers read directly
    arguments: str = when_set("")               # a functional call's other arguments, as written: [:, 0], (2, 0, 1)


@dataclasses.dataclass(frozen=True)
class UncountedOp:
    """An operation that ran without a counting formula although it does heavy arithmetic."""

    op: str        # the dispatched operation, e.g. aten._native_multi_head_attention
    where: str     # the module (or functional call) running it
    calls: int


@dataclasses.dataclass(frozen=True)
class Trace:
    batch_size: int
    input_shape: list[int]
    output_shape: list[int]
    rows: list[TraceRow]
    functional_note: str
    total_macs: int
    counting: str = "module-hooks"   # "dispatch" (every operation, FlopCounterMode) or "module-hooks" (before
                                     # schema 4: Conv and Linear modules only, functional calls missed)
    uncounted: list[UncountedOp] = dataclasses.field(default_factory=list)
    unattributed_macs: int = 0       # MACs counted outside every recorded call (in total_macs, in no row)
    output_taken: str | None = None  # where the logits were found when the forward pass returns more than a tensor


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    class_name: str = stored("class")
    source: str = stored()
    weights: str = stored()          # "checkpoint" or "random (seed N)"
    input_shape: list[int] = stored()
    normalisation: dict = stored()   # {"mean": [...], "std": [...]}, one value per channel
    kwargs: dict = stored(default_factory=dict)
    training_mode_restored: bool = stored(default=True)
    # The prefix taken off every checkpoint key to fit the model (a wrapper's attribute: ``net.``, Lightning's
    # ``model.``), found by analysis.models.checkpoint.fitted; "" for none (--strip-prefix is in the config).
    stripped_prefix: str = when_set("")
    # What was done to the images first: {"input_size": N, "input_size_from": "--input-size" | "the checkpoint's
    # data_config" | the model's config, "model_config": {"from", "input_size", "interpolation", "crop_pct", "mean",
    # "std"}}; None: the data's own size and no preprocessing config of the model's.
    preprocessing: dict | None = when_set(None)


# The colour maps the documents record (KernelImage.cmap, MapGrid.cmap): the analysis decides them and stores their
# names, the figures step draws with the names the store records.
KERNEL_CMAP = "RdBu_r"
MAP_CMAP = "viridis"


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
class ModelDocument:
    model: ModelInfo
    parameters: Parameters
    trace: Trace
    kernels: list[dict]              # {"name", "type", "shape", "groups"} per convolution
    kernel_image: KernelImage | None
    non_finite: list[str] = dataclasses.field(default_factory=list)  # tensors holding NaN or infinite values


# --- evaluation.json --------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class ClassAccuracy:
    cls: int = stored("class")
    n: int = stored()
    correct: int = stored()
    accuracy: float = stored()


@dataclasses.dataclass(frozen=True)
class EvaluationDocument:
    n_test: int
    correct: int
    accuracy: float
    per_class: list[ClassAccuracy]
    training: dict | None            # our own training record (analysis.models.checkpoint_meta checks it)
    class_names: list[str]
    outputs: int
    position: dict | None = None     # epoch / step of the checkpoint, when it records one
    checkpoint_warnings: list[str] = dataclasses.field(default_factory=list)  # metadata left out, and why
    non_finite_scores: int = when_set(0)             # test images whose scores hold NaN or infinite values
    non_finite_embeddings: int = when_set(0)         # test images whose whole-split embedding does: left out of
                                     # every whole-split statistic (0 also when no whole-split pass ran)
    # Added within version 4 (absent from older stores: the report then states the accuracy without intervals and
    # judges no regime). Computed by analysis.stats.classification.
    quality: ClassificationQuality | None = when_set(None)
    predicted: list[int] = when_set(())      # each test image's predicted class, in test-split order
    confidence: list[float | None] = when_set(())  # its max softmax probability (None: non-finite scores)
    labels: list[int] = when_set(())         # each test image's true class, in test-split order (with
                                     # ``predicted``: the per-image correctness compare's paired test reads)


@dataclasses.dataclass(frozen=True)
class Interval:
    """A value with its 95% interval (how it was computed is said where the interval is declared)."""

    value: float
    low: float
    high: float


@dataclasses.dataclass(frozen=True)
class ClassQuality:
    """One class of the data: scikit-learn's precision, recall and F1 (zero_division=0), and the recall's 95%
    Wilson interval (None for a class without test images)."""

    cls: int = stored("class")
    support: int = stored()          # its test images
    correct: int = stored()          # of them, predicted as it
    predicted: int = stored()        # test images predicted as this class
    precision: float = stored()
    recall: float = stored()
    f1: float = stored()
    recall_low: float | None = stored()
    recall_high: float | None = stored()


@dataclasses.dataclass(frozen=True)
class PredictionSpread:
    """Where the predictions go. Collapsed: the most-predicted class takes at least half of the predictions and
    the Wilson lower bound of its share is above twice its share of the test labels."""

    counts: list[int]                # test images predicted as each class (index: class)
    outside: int                     # predictions of an output that names no class of the data
    most: int                        # the most-predicted class (the lowest index among ties)
    most_share: Interval             # its share of the predictions, with its Wilson interval
    most_true_share: float           # its share of the test labels
    collapsed: bool


@dataclasses.dataclass(frozen=True)
class CalibrationBin:
    low: float                       # confidence range [low, high) (the last bin includes 1)
    high: float
    count: int                       # images whose confidence falls here
    correct: int                     # of them, classified correctly
    confidence: float | None         # their mean confidence (None: empty bin)


@dataclasses.dataclass(frozen=True)
class Calibration:
    """Confidence (max softmax) against accuracy in equal-width bins. ``ece``: expected calibration error (sum over
    bins of the bin's share of images times |accuracy − mean confidence|); ``gap``: mean confidence minus
    accuracy. Both intervals: percentiles of a seeded bootstrap over the images."""

    bins: list[CalibrationBin]
    images: int                      # images with a finite confidence (the others are left out)
    ece: Interval
    gap: Interval
    mean_confidence: float
    resamples: int
    seed: int
    reliability: str                 # the reliability diagram in the store
    histogram: str                   # the confidence histogram (correct against wrong)


@dataclasses.dataclass(frozen=True)
class Relabelling:
    """The one-to-one relabelling of predicted classes that makes the most predictions right (scipy's
    linear_sum_assignment on the confusion matrix), and the accuracies it would give."""

    moves: list[list[int]]           # [true class, predicted class it is mapped to], for the classes that move
    accuracy: Interval               # Wilson
    balanced_accuracy: Interval      # as ClassificationQuality.balanced_accuracy
    shuffled_balanced_accuracy: float  # 95th percentile of the best relabelling's balanced accuracy with the
                                     # predictions shuffled against the labels (seeded): what the search finds by itself


@dataclasses.dataclass(frozen=True)
class ClassificationQuality:
    """Classification quality with its uncertainty (analysis.stats.classification)."""

    classes: list[ClassQuality]      # every class of the data, in label order
    test_classes: int                # K: classes with at least one test image
    chance: float                    # 1 / K: the balanced accuracy of any prediction that ignores the image
    accuracy: Interval               # Wilson
    balanced_accuracy: Interval      # mean recall over the K classes; interval: balanced_method
    balanced_method: str
    macro_f1: float
    predictions: PredictionSpread
    calibration: Calibration | None  # None: no image has finite scores
    relabelling: Relabelling | None  # None: too many classes to assign

    def with_calibration_figures(self, reliability: str, histogram: str) -> ClassificationQuality:
        """This record with the paths of its calibration figures (computed without them, the figures' arrays
        stored afterwards); unchanged without calibration."""
        if self.calibration is None:
            return self
        return dataclasses.replace(self, calibration=dataclasses.replace(self.calibration, reliability=reliability,
                                                                         histogram=histogram))


# --- activations.json -------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class InputImage:
    index: int
    label: int
    predicted: int
    confidence: float
    path: str
    chosen_by: str


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


# Activation maps smaller than this on either side (1 × 1 after global pooling, 2 × 2) are a number or four per
# channel, not a picture: they are left out of the map grids, and the report says which and why.
MIN_MAP_SIDE = 3


@dataclasses.dataclass(frozen=True)
class SmallMaps:
    """A chosen layer whose maps were too small to draw (smaller than MIN_MAP_SIDE on a side)."""

    module: str
    label: str
    shape: list[int]                 # (channels, height, width)


@dataclasses.dataclass(frozen=True)
class ActivationsDocument:
    input: InputImage
    colourbar: str
    grids: list[MapGrid]
    convolutions: int | None = None  # Conv2d modules in the model (not recorded before schema 3)
    chosen: str | None = None        # "options" (--layers) or "default"
    small: list[SmallMaps] = when_set(())  # chosen layers left out of the grids (added within version 4)


# --- embeddings.json --------------------------------------------------------------------------------------

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
    intra_by_class: dict         # {"<class>": {"mean", "pairs"}}
    inter_by_class_pair: dict    # {"<a>-<b>": {"mean", "pairs"}}

    @property
    def ratio(self) -> float | None:
        """Mean inter-class over mean intra-class distance; None when either is missing or intra is zero."""
        if not self.intra_mean or self.inter_mean is None:
            return None
        return self.inter_mean / self.intra_mean


# A distance matrix of the samples is a table of numbers up to this many samples (ten columns fit the A4 text
# width at the report's table font); beyond, a heat-map figure stands for them and the numbers are in the CSV.
DISTANCE_TABLE_MAX_SAMPLES = 10


@dataclasses.dataclass(frozen=True)
class EmbeddingsDocument:
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
    fewer_than_default: list[int] = dataclasses.field(default_factory=list)  # classes whose test images
                                     # were fewer than the default 2 samples: per_class gave way to what is there
    matrix_image: str | None = when_set(None)  # added within version 4: beyond DISTANCE_TABLE_MAX_SAMPLES
                                     # samples, the heat maps of the distance matrices, a panel per metric


# --- separation.json --------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class ClassSpread:
    cls: int = stored("class")
    n: int = stored()
    intra_mean: float | None = stored()
    intra_std: float | None = stored()
    pairs: int = stored()
    ci_low: float | None = stored()
    ci_high: float | None = stored()
    ci_sample: int = stored()
    silhouette: float = stored()


@dataclasses.dataclass(frozen=True)
class LayerSeparation:
    module: str
    label: str
    dims: int                       # values per image the measures used
    ratio: float | None
    silhouette: float
    pooled_from: int | None = None  # values the output had when it was average-pooled down to ``dims``
                                    # (added within version 4: a store without it pooled nothing)
    left_out: int = when_set(0)     # images of the sample whose output here holds NaN or infinite values


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
class ClassPair:
    """Two classes and how close they are, over the whole test split."""

    a: int
    b: int
    inter_mean: float | None      # mean distance between an image of one and an image of the other
    centroid: float | None        # distance between their centroids
    ratio: float | None           # inter_mean over the mean of their two mean intra-class distances


@dataclasses.dataclass(frozen=True)
class PairSelection:
    """The class pairs kept when the class-by-class matrices are too large to store: the ``kept`` pairs with the
    smallest ratio (closest relative to their spread), in that order, out of ``total`` measured."""

    total: int
    kept: list[ClassPair]
    order: str = "ratio"


@dataclasses.dataclass(frozen=True)
class CentroidAccuracy:
    """Nearest-centroid accuracy with each image left out of its own class's centroid ((n·c − x) / (n − 1)),
    and its 95% Wilson interval (scipy.stats.binomtest). Images alone in their class cannot be judged that way
    (without them the class has no centroid): they are ``unjudged``, in neither ``correct`` nor ``judged``."""

    correct: int
    judged: int
    unjudged: int
    accuracy: float | None        # correct / judged; None when no image could be judged
    ci_low: float | None
    ci_high: float | None


@dataclasses.dataclass(frozen=True)
class EuclideanSeparation:
    """With --metric mse, the same pairs of images measured in Euclidean distance (per pair √(MSE · D)):
    MSE is a squared distance, so its inter/intra ratio reads as the square of a ratio of lengths; this one
    reads as a ratio. Means over every pair, as the MSE figures are; the silhouette as scikit-learn's
    ``silhouette_score(metric="euclidean")``."""

    intra_mean: float | None
    inter_mean: float | None
    ratio: float | None
    silhouette: float


# The distance each stored metric's silhouette is computed on, as scikit-learn names it: the silhouette is a
# ratio, so MSE (squared Euclidean over D) gives the silhouette of the squared Euclidean distance.
SILHOUETTE_METRICS = {"mse": "sqeuclidean", "euclidean": "euclidean", "cosine": "cosine"}


# Up to this many classes the class-by-class matrices are stored in full (10,000 cells each); beyond it, the
# closest pairs (CLOSEST_PAIRS_KEPT) and the non-zero cells of the confusion matrix.
PAIR_MATRIX_MAX_CLASSES = 100
CLOSEST_PAIRS_KEPT = 20


@dataclasses.dataclass(frozen=True)
class SeparationDocument:
    """Statistics over every test image (schema 3); stores of schema 1 and 2 have none."""

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
    closest_pairs: list[dict]        # {"a", "b", "ratio", "inter_mean", "examples": [{"class", "index", "path"}]}
    two_sample: dict | None          # {"classes", "intra": {"<c>": {"two_sample", "full"}}, "inter": {...}}
    depth: list[LayerSeparation]
    depth_sample: int
    pca_variance: list[float]
    tsne_sample: int
    confusion: list[list[int]]
    confusion_names: list[str]
    misclassified: list[dict]        # {"index", "label", "predicted", "confidence", "path"}
    wrong: int
    filters: list[FilterStats]
    images: dict                     # figure name -> path in the store
    settings: dict                   # the constants the statistics used (bootstrap, dead shares, chunk)
    # Beyond PAIR_MATRIX_MAX_CLASSES classes the class-by-class matrices (inter_matrix, centroid_matrix and the
    # dense confusion) are not stored, since they grow with the square of the classes: ``pairs`` keeps the
    # closest class pairs and ``confusion_cells`` the confusion matrix's non-zero cells.
    pairs: PairSelection | None = when_set(None)
    confusion_cells: list[list[int]] = when_set(())  # [row, column, images]: indices into classes and
                                     # confusion_names (the dense ``confusion`` is then empty)
    # Added within version 4 (None in older stores: the report then says the nearest-centroid figure counts each
    # image in its own centroid, and names MSE ratios as ratios of a squared distance without the Euclidean one).
    # two_sample["inter"] gains "ci_low"/"ci_high" (95% bootstrap interval of the pair's mean) at the same time.
    centroid_left_out: CentroidAccuracy | None = when_set(None)
    euclidean: EuclideanSeparation | None = when_set(None)   # only with metric "mse"
    # What the confusion figure's colour shows (added within version 4): "images" (the count; older stores) or
    # ROW_SHARE (each cell's share of its true class, analysis.figures.plots.confusion_figure).
    confusion_colour: str = when_set("images")


ROW_SHARE = "row share"  # SeparationDocument.confusion_colour of the confusion figure the figures step draws


# --- compares/<key>/compare.json -------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class DriftRow:
    """One parameter tensor present in both checkpoints with the same shape."""

    name: str
    shape: list[int]
    norm_a: float
    norm_b: float
    change: float                 # ‖B − A‖
    relative: float | None        # ‖B − A‖ / ‖A‖; None when A is all zero


@dataclasses.dataclass(frozen=True)
class CompareSide:
    file: str
    sha256: str | None            # None: random weights
    store: str                    # the analysis store's folder name


@dataclasses.dataclass(frozen=True)
class CompareDocument:
    a: CompareSide
    b: CompareSide
    drift: list[DriftRow]
    unmatched: list[str]          # tensors in only one checkpoint, or of another shape
    images: dict                  # figure name -> path in the store
    # The first convolution's kernels of A and of B drawn on one symmetric scale, ±(largest |weight| of either):
    # {"layer", "shape", "shown", "columns", "colouring" ("rgb", "input channel 0" or "single channel"), "cmap",
    # "vmin", "vmax", "a", "b", "colourbar"} (paths in the store). None: stored before shared scales, or no
    # convolution in both.
    kernels: dict | None = None
    # Added within version 4 (None in comparisons stored before): the accuracies with their intervals and the
    # paired test, and the scale each side's embedding values are on.
    paired: PairedComparison | None = None
    scale: EmbeddingScale | None = None


@dataclasses.dataclass(frozen=True)
class SideAccuracy:
    """One checkpoint's test accuracy with its 95% Wilson interval (scipy's binomtest(...).proportion_ci)."""

    correct: int
    n: int
    accuracy: float
    ci_low: float
    ci_high: float


@dataclasses.dataclass(frozen=True)
class McNemarTest:
    """McNemar's exact test on the per-image correctness of A and B over one test split. If A and B were right
    equally often, an image only one of them gets right would be A's (b) or B's (c) with even odds: the two-sided
    p-value is scipy.stats.binomtest(b, b + c, 0.5)'s, and 1 when b + c = 0 (no image to tell them apart)."""

    n: int                        # test images, the same in both
    both_right: int
    a_only: int                   # McNemar's b: A right, B wrong
    b_only: int                   # McNemar's c: A wrong, B right
    both_wrong: int
    p_value: float
    alpha: float                  # one checkpoint is called better only when p is below this


@dataclasses.dataclass(frozen=True)
class PairedComparison:
    """Each side's accuracy, and McNemar's test when both stores hold per-image predictions of one test split."""

    a: SideAccuracy
    b: SideAccuracy
    split_a: str                  # sha256 of the test split's identity each store records (data files, split)
    split_b: str
    mcnemar: McNemarTest | None   # None: no paired test (``refused`` says why)
    refused: str | None = None


@dataclasses.dataclass(frozen=True)
class EmbeddingScale:
    """The scale of each side's sample-embedding values, their root mean square over the finite values: raw
    distances of two checkpoints are on these two scales. None where a store has no sample embeddings."""

    a: float | None
    b: float | None
    images_a: int
    images_b: int


# --- series/<key>/history.json ----------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class HistoryRow:
    """One checkpoint of a series: accuracy and the two-sample distances always, the whole-split fields None
    when its store has no whole-split results."""

    checkpoint: str
    store: str
    sha256: str | None
    position: dict | None
    accuracy: float
    two_sample: dict              # {"classes", "intra_mean", "inter_mean"} (+ "metric" when not the primary one)
    class_names: list[str]
    metric: str | None
    intra_mean: float | None
    inter_mean: float | None
    ratio: float | None
    silhouette: float | None
    nearest_centroid_accuracy: float | None
    class_intra: dict | None      # "<class>" -> mean intra-class distance
    run: TrainingRun | None = when_set(None)  # the training run its metadata records; None: it records none
    accuracy_ci: list[float] | None = when_set(None)  # [low, high]: the accuracy's 95% Wilson interval (None: a
                                                      # store written before it was stored)


@dataclasses.dataclass(frozen=True)
class TrainingRun:
    """A training run as a checkpoint's own training record names it (analysis.train writes it: the settings
    and the size of the training split). Checkpoints with one record are of one run; another run's epoch 1 is
    not an epoch of this one."""

    id: str                       # the first 12 hex digits of the sha256 of the settings and split sizes
    description: str              # "10 epochs, seed 0, batch 64, learning rate 0.002"


@dataclasses.dataclass(frozen=True)
class HistoryDocument:
    order: str                    # "name" or "step"
    rows: list[HistoryRow]
    images: dict


# --- attribution.json -------------------------------------------------------------------------------------
# Where the network looks (analysis/attribution/): maps of the activation-map image, the sampled images and the
# most confident errors by each method, and each method's checks (cascading randomisation, deletion and
# insertion against a random order), computed on the stored numbers' own images.

ATTRIBUTION_METHODS = ("gradcam", "integrated_gradients")  # ids; their words: report/render/words.py


@dataclasses.dataclass(frozen=True)
class AttributionMap:
    """One image's map by one method for one class: ``path`` (images/attribution_....png) is drawn from
    ``array_path(path)``, an (H, W) float32 array of the image's size scaled to [0, 1] (the positive evidence for
    ``target``; 1: the map's maximum), overlaid on the image (``image_path``) with the colour map ``cmap``."""

    method: str            # an ATTRIBUTION_METHODS id
    role: str              # why the image is shown: "activation" (the activation maps' image), "sample", "error"
    index: int             # its index in the test split
    label: int
    predicted: int
    target: int            # the class attributed: the predicted one; for an error also the true one (two maps)
    probability: float     # the model's probability of ``target`` for this image
    path: str
    image_path: str        # the image itself as the store holds it (drawn under the map)
    cmap: str
    centre_share: float    # share of the map's mass in the image's central region (half the side, a quarter of
                           # the area)
    object_share: float    # share of the map's mass on the image's foreground (pixels unlike its border)
    object_area: float     # the foreground's share of the image's area (what object_share is judged against)


@dataclasses.dataclass(frozen=True)
class RandomisationStep:
    """Parameters re-drawn (seeded) from the output layer down to and including ``layer``; the maps of the check
    images by the randomised network against the original ones."""

    layer: str
    rank_correlation: Interval   # Spearman's rho of the two maps per image (scipy.stats.spearmanr), mean
    ssim: Interval               # structural similarity of the two maps per image (torchmetrics), mean


@dataclasses.dataclass(frozen=True)
class FaithfulnessCurve:
    """Pixels removed (deletion: set to the baseline) or revealed (insertion: from the baseline) in the map's order
    and in a random order (seeded), ``fractions`` of the pixels at a time; the mean probability of the target class
    at each step, and the areas under the curves per image."""

    fractions: list[float]
    method: list[float]          # mean probability at each fraction, in the map's order
    random: list[float]          # the same in a random order
    auc: Interval                # area under the method's curve (trapezoid over fractions), per image, mean
    random_auc: Interval
    difference: Interval         # paired: method's area − random's area per image, mean


@dataclasses.dataclass(frozen=True)
class RoadCurve:
    """ROAD, "remove and debias" (Rong et al. 2022): the share ``fractions`` of the pixels a map ranks highest (most
    relevant first, MoRF) or lowest (least relevant first, LeRF) replaced by noisy linear imputation from their
    neighbours instead of a constant, so the image stays close to the data the network saw and a drop comes from
    the pixels taken, not from the look of the hole. A faithful map loses more when its top pixels go: LeRF − MoRF
    above 0."""

    fractions: list[float]
    most_relevant_first: list[float]   # mean probability of the target class at each fraction, MoRF
    least_relevant_first: list[float]  # the same, LeRF
    score: Interval                    # per image: the mean over fractions of LeRF − MoRF; mean over images
    noise: float                       # standard deviation of the noise added to each imputed value (normalised)


@dataclasses.dataclass(frozen=True)
class CheckImage:
    """One check image's numbers behind a method's means (``MethodChecks``), so that each mean and interval can be
    recomputed from the store."""

    index: int                         # in the test split
    label: int
    predicted: int                     # the class its maps are for
    rank_correlation: float | None     # with the fully randomised network's map (the last step); None: no steps
    ssim: float | None
    deletion_auc: float
    deletion_random_auc: float
    insertion_auc: float
    insertion_random_auc: float
    road: float | None                 # mean over ROAD's fractions of LeRF − MoRF; None where ROAD did not run
    centre_share: float
    object_share: float
    object_area: float


@dataclasses.dataclass(frozen=True)
class MethodChecks:
    method: str                  # an ATTRIBUTION_METHODS id
    layer: str | None            # the layer it reads (Grad-CAM), None for a method on the input pixels
    images: int                  # check images (images_per_class of each class, correctly or not classified)
    randomisation: list[RandomisationStep]  # from the output layer down; the last step randomises every layer
    deletion: FaithfulnessCurve
    insertion: FaithfulnessCurve
    # Where the maps of the check images (for the predicted class) put their mass:
    centre_share: Interval       # in the central region (a quarter of the area)
    object_share: Interval       # on the foreground
    object_excess: Interval      # paired: object_share − object_area per image (> 0: more than the area's share)
    errors_vs_correct: Interval | None  # mean object_share of misclassified check images' maps − that of
                                        # correctly classified ones (None: fewer than 2 of either)
    road: RoadCurve | None = when_set(None)       # added within version 4; None where ROAD did not run
    per_image: list[CheckImage] = when_set(())    # added within version 4: the numbers behind the means


@dataclasses.dataclass(frozen=True)
class LayerMap:
    """Grad-CAM of the activation maps' image at one more layer (the layers the activation section shows), for its
    predicted class: drawn like an ``AttributionMap`` from ``array_path(path)``."""

    layer: str
    side: list[int]              # the layer's map (H, W) before it is stretched to the image
    positive: bool               # false when the weighted maps are nowhere positive: the map is empty (all 0)
    index: int
    target: int
    path: str
    image_path: str
    cmap: str
    centre_share: float
    object_share: float
    object_area: float


@dataclasses.dataclass(frozen=True)
class AttributionDocument:
    library: str                 # "captum 0.9.0": the library that computed the maps
    maps: list[AttributionMap]
    checks: list[MethodChecks]
    images_per_class: int        # test images per class the checks ran on (fewer where a class has fewer)
    baseline: str                # what a removed pixel becomes, in words ("the mean pixel of the training split")
    seed: int
    steps: int                   # integration steps of Integrated Gradients
    layer_maps: list[LayerMap] = when_set(())  # added within version 4: Grad-CAM at each layer of the activation
                                               # maps, for their image, when asked for (--attribution-layers)
    check_limit: str = when_set("")             # added within version 4: how the number of check images was set,
                                               # in words ("" in stores before it: the automatic rule)


# --- the analysis store -----------------------------------------------------------------------------------

# Each document of an analysis store and its record; separation.json only when the whole-split pass ran.
DOCUMENTS = {
    "model.json": ModelDocument,
    "evaluation.json": EvaluationDocument,
    "activations.json": ActivationsDocument,
    "embeddings.json": EmbeddingsDocument,
    "separation.json": SeparationDocument,
    "attribution.json": AttributionDocument,
}
REQUIRED = ("model.json", "evaluation.json")
SAMPLED = ("activations.json", "embeddings.json")  # written when their sections are asked for (every store of
                                                    # schema 3 and older has both)
OPTIONAL = "separation.json"

# The arrays each figure is drawn from (stores written since issue 31; earlier stores hold the PNGs themselves): the
# analysis stores them, the figures step (report/figures.py) draws ``images/<name>.png`` from
# ``arrays/<name>.npy`` (and ``arrays/<name>.<part>.npy`` where a figure needs more than one array) into the
# store's figures folder, so that the drawing code can change without the analysis running again.
ARRAYS = "arrays/"
FIGURES_FOLDER = "figures"  # build/figures/<store key>/: a store's figures, beside build/stores/<store key>/
# The groups of images the documents name, each drawn as one (analysis/figures/draw.py): model.json's kernels,
# evaluation.json's calibration charts, activations.json's maps, embeddings.json's samples and distance matrices,
# separation.json's charts and images. A report section names the groups it shows (its ``figures``), and a
# rendering draws only the groups of the sections it shows (report/figures.py).
FIGURE_GROUPS = ("kernels", "calibration", "activations", "samples", "separation", "attribution")


def array_path(image: str, part: str | None = None) -> str:
    """Where the array an image is drawn from is stored: images/maps_00_conv1.png -> arrays/maps_00_conv1.npy
    (``part``: arrays/maps_00_conv1.<part>.npy)."""
    stem = image.removeprefix("images/").removesuffix(".png")
    return f"{ARRAYS}{stem}{'.' + part if part else ''}.npy"
