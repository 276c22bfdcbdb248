"""Stage 1 entry points: train the default checkpoint, and analyse a checkpoint into a store."""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
import json
import platform
import sys
import threading
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.parameter import is_lazy

from analysis import batches, devices, figure_arrays, scoped
from analysis.batches import Inputs
from analysis.capture import activations, trace
from analysis.capture.kinds import is_map_convolution
from analysis.capture.nesting import check_nesting
from analysis.capture.outputs import take_logits
from analysis.config import AnalysisConfig, TrainConfig, default_normalisation
from analysis.data.datasets import DataSplits, load
from analysis.data.files import data_identity
from analysis.data.images import ImageSize
from analysis.data.resize import resized
from analysis.errors import InputError
from analysis.models.build import ExpectedInput, build_model, check_input_size, expected_input
from analysis.models.checkpoint import check_fits, load_into, non_finite, read_checkpoint
from analysis.models.inference import predict_logits, to_input, top_predictions
from analysis.models.layers import EmbeddingPoint, activation_layers, embedding_point, features
from analysis.models.sources import DEFAULT_SOURCE, kind_of, resolve_source
from analysis.keys import analysis_inputs, store_key
from analysis.stats import embeddings, params
from analysis.store.schema import (
    DISTANCE_TABLE_MAX_SAMPLES,
    KERNEL_CMAP,
    MAP_CMAP,
    MIN_MAP_SIDE,
    ActivationsDocument,
    ClassAccuracy,
    EmbeddingsDocument,
    EvaluationDocument,
    InputImage,
    KernelImage,
    MapGrid,
    ModelDocument,
    ModelInfo,
    Sample,
    SmallMaps,
    Trace,
)
from analysis.store.writer import StoreWriter

MAX_KERNELS = 64
KERNEL_COLUMNS = 8
MAP_TILE_BUDGET = 384   # maps in all grids together, when --max-channels is not given


@dataclasses.dataclass(frozen=True)
class Setup:
    """The resolved model and data of a run: options first, then the checkpoint's stored config."""

    source: str
    kwargs: dict
    weights: str                 # "checkpoint" or "random (seed N)"
    mean: tuple[float, ...]
    std: tuple[float, ...]
    preprocessing: dict = dataclasses.field(default_factory=dict)  # ModelInfo.preprocessing
    stripped_prefix: str = ""    # ModelInfo.stripped_prefix


def train_default(data: str | None, train_config: TrainConfig, config: AnalysisConfig,
                  checkpoint: Path, cache_dir: Path | None, show_progress: bool, announce=None) -> dict:
    """Train the assignment CNN and save it; ``announce()`` once the data have loaded (bad data get their
    one line and nothing else)."""
    from analysis.train import save_checkpoint, train

    splits = resized(load(data, cache_dir, config.input_size, list(config.class_names or []) or None),
                     config.input_size)
    if not len(splits.train):
        raise InputError(f"{splits.description} has no training images, and without --checkpoint the default model is "
                         "trained on them: give --checkpoint, or data with a train split")
    mean, std = _normalisation(config, {}, splits)
    if announce:
        announce()
    model, record = train(splits, train_config, mean, std, show_progress)
    save_checkpoint(model, record, checkpoint, model_config={"source": DEFAULT_SOURCE, "kwargs": {}},
                    data_config={"mean": list(mean), "std": list(std), "class_names": splits.class_names})
    return record


def _input_size(config: AnalysisConfig, data_config: dict, own: ExpectedInput | None) -> tuple[int | None, str | None]:
    """The side images are resized to, and where it comes from: --input-size, then the checkpoint's data_config,
    then the model's own preprocessing (timm, transformers); else None: the data's own size."""
    if config.input_size:
        return config.input_size, "--input-size"
    if data_config.get("input_size"):
        return data_config["input_size"], "the checkpoint's data_config"
    if own is not None:  # with its interpolation and crop: what its weights were evaluated with
        return ImageSize(own.size, own.interpolation, own.crop_pct), own.config
    return None, None


def _normalisation(config: AnalysisConfig, data_config: dict, splits: DataSplits,
                   own: ExpectedInput | None = None):
    channels = splits.image_shape[0]
    default_mean, default_std = default_normalisation(channels)
    mean = tuple(config.mean or data_config.get("mean") or (own and own.mean) or default_mean)
    std = tuple(config.std or data_config.get("std") or (own and own.std) or default_std)
    if len(mean) != channels or len(std) != channels:
        raise InputError(f"normalisation has {len(mean)} mean and {len(std)} std values but the images have "
                         f"{channels} channel(s): give one value per channel with --mean and --std")
    return mean, std


def _preprocessing(size: int | None, size_from: str | None, own: ExpectedInput | None) -> dict:
    """What was done to the images before the model saw them, as the store records it (ModelInfo.preprocessing;
    the data's description says from which size)."""
    record = {"input_size": size, "input_size_from": size_from} if size else {}
    if own is not None:
        record["model_config"] = own.preprocessing()
    return record


@dataclasses.dataclass(frozen=True)
class Choices:
    """What the options and defaults resolve to for this model and data, decided before any result."""

    maps: list[tuple[str, str]]   # layers whose activation maps are shown (module, description)
    point: EmbeddingPoint | None  # where embeddings are taken (None: nothing is embedded)
    per_class: int                # samples embedded per class
    fewer: list[int]              # classes with fewer test images than the default samples per class


@dataclasses.dataclass(frozen=True)
class Prepared:
    """A run's model and data, built and checked against every option before any result is computed."""

    model: nn.Module
    splits: DataSplits
    setup: Setup
    traced: Trace
    usage: trace.Usage  # which modules ran and which parameters were read in the traced pass
    choices: Choices
    broken: list[str]   # parameter tensors holding NaN or infinite values
    meta: dict          # the checkpoint's validated metadata


def prepare(checkpoint: Path | None, data: str | None, config: AnalysisConfig, cache_dir: Path,
            module: nn.Module | None = None, checkpoint_sha256: str | None = None) -> Prepared:
    """Read the checkpoint and the data, build the model, and check every input and option against them;
    bad input raises InputError here, before anything is written. ``module``: a model given in memory
    (report.api), used through a copy instead of being built from its source."""
    state, meta = read_checkpoint(checkpoint, checkpoint_sha256, config.strip_prefix) if checkpoint else (None, {})
    model_config, data_config = meta.get("model_config", {}), meta.get("data_config", {})
    # A checkpoint may name only a built-in model: any other source imports code, so the user must name it.
    source, kwargs = resolve_source(config.model, config.model_kwargs, model_config, checkpoint)
    expected = expected_input(source, kwargs)  # what the model expects of its images, where its kind knows it
    own = expected if expected is not None and expected.config else None  # the model's own preprocessing
    input_size, size_from = _input_size(config, data_config, own)
    names = list(config.class_names or data_config.get("class_names") or []) or None
    names_from = "--class-names" if config.class_names else "the checkpoint's data_config.class_names"
    splits = load(data, cache_dir, input_size, names, names_from)
    splits = resized(splits, input_size)  # arrays too: every container gives the model the same images
    mean, std = _normalisation(config, data_config, splits, own)
    check_input_size(source, expected, splits.image_shape)
    scoped.seed_torch(config.seed)
    if module is not None:
        from analysis.models.memory import copy_module

        model = copy_module(module)
    else:
        # (a library's saved layout, such as transformers', is checked by its own loader)
        check_model_fits(source, kwargs, None if kind_of(source).own_layout else state, checkpoint)
        model = build_model(source, kwargs)
        check_nesting(model)  # before anything walks it recursively
    # the prefix the keys were under, if any
    stripped = kind_of(source).load(model, state, checkpoint) if state is not None else ""
    model.eval()
    setup = Setup(source, kwargs, "checkpoint" if state is not None else f"random (seed {config.seed})",
                  mean, std, _preprocessing(input_size, size_from, own), stripped)
    traced, usage = trace.trace_shapes(model, to_input(splits.test.images[:1], mean, std))  # fails if the data do not fit
    if traced.output_taken:
        take_logits(model)
    check_outputs_cover_labels(traced.output_shape, splits)
    choices = check_choices(model, splits, config, traced, usage)
    return Prepared(model, splits, setup, traced, usage, choices, non_finite(state) if state is not None else [],
                    meta)


@scoped.process_state()  # the threads and seed set below are undone when it returns or raises
def analyse(checkpoint: Path | None, data: str | None, config: AnalysisConfig, stores_dir: Path,
            cache_dir: Path, inputs: dict | None = None, show_progress: bool = True,
            announce=None, device: str | None = None, workers: int | None = None, dask: str | None = None,
            module: nn.Module | None = None) -> Path:
    """Compute every result and publish the store; returns its folder. ``inputs`` saves hashing the
    checkpoint and data again when the caller already did (analysis_inputs). Every input and option is
    checked against the model and the data first; ``announce()`` is called once they all passed, when
    the analysis proper starts (so bad input gets its one line and nothing else). ``device``: where it
    runs (``cuda:1``; default: the config's kind); ``workers``: DataLoader processes decoding image files
    (default: analysis.batches.default_workers); ``dask``: a scheduler's address, to run the whole-split pass
    there as shards (the result is the same to the bit); ``module``: a model in memory whose weights are the
    checkpoint's (analysed from a copy, see prepare)."""
    torch.set_num_threads(config.threads)
    inputs = inputs or analysis_inputs(checkpoint, data, config)
    target = devices.torch_device(device or config.device)
    if devices.kind(str(target)) != config.device:
        raise InputError(f"the analysis was configured for {config.device} but runs on {target}: give --device "
                         f"{config.device}, or the device in the configuration")
    scoped.exact_float32()
    run = prepare(checkpoint, data, config, cache_dir, module, inputs["checkpoint"]["sha256"])
    if announce:
        announce()
    key = store_key(inputs)
    writer = StoreWriter(Path(stores_dir) / key)
    try:
        write_results(run, config, writer, show_progress, target, batches.default_workers(run.splits, workers), dask)
        refuse_changed_data(data, config, inputs)
        return writer.commit({
            "key": key, "inputs": inputs, "data_description": run.splits.description,
            "producer": producer(run.setup.source, computed(config, run), target),
        })
    except BaseException:
        writer.abort()
        raise


# The libraries that compute stored numbers beside torch and numpy, by distribution name, and when they do.
COMPUTING_LIBRARIES = (("scipy", lambda config: True), ("scikit-learn", lambda config: True),
                       ("openTSNE", lambda config: config.whole_split),
                       ("captum", lambda config: config.attribution))


def computed(config: AnalysisConfig, run: Prepared) -> AnalysisConfig:
    """``config`` with the parts that did not run switched off: the whole-split pass and the attribution are left
    out for weights that hold NaN or infinite values (write_results)."""
    if not run.broken:
        return config
    return dataclasses.replace(config, whole_split=False, attribution=False)


def producer(source: str, config: AnalysisConfig, target) -> dict[str, str]:
    """What wrote the store: Python, the platform, the device, and the version of every library that computed its
    numbers (torch, numpy, the statistics' and the attribution's libraries as ``config`` uses them: ``computed``,
    and the model source's own library: timm, transformers or torchvision). Decided by the run's options, never by
    what this process happens to have imported, so that the same inputs give the same manifest in any process."""
    libraries = [name for name, used in COMPUTING_LIBRARIES if used(config)]
    library = kind_of(source).library
    versions = {name: _version(name) for name in ([library] if library else []) + libraries}
    return {"python": platform.python_version(), "torch": torch.__version__.split("+")[0], "numpy": np.__version__,
            **{name: version for name, version in sorted(versions.items()) if version},
            "platform": sys.platform, "device": devices.describe(target)}


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution).split("+")[0]
    except importlib.metadata.PackageNotFoundError:  # an optional library that is not installed: not used either
        return None


class ImportsAhead:
    """Modules imported one after the other on one thread while the passes run: ``wait(module)`` before using one
    (an import that failed there fails again, with its own error, when the caller imports the module). The
    statistics (scipy and scikit-learn, 1.2 s) and captum (0.6 s, pyplot with it) are Python work, and the passes
    are mostly torch's, which releases the GIL: on two cores they overlap. One thread, not one per module, so
    that no two threads of this tool import the same dependencies at once."""

    def __init__(self, modules: list[str]):
        self._done = {module: threading.Event() for module in modules}
        if modules:
            threading.Thread(target=self._import, args=(modules,), name="import ahead", daemon=True).start()

    def _import(self, modules: list[str]) -> None:
        for module in modules:
            try:
                importlib.import_module(module)
            except Exception:  # noqa: BLE001 - the caller's own import raises it again, where it can be reported
                pass
            finally:
                self._done[module].set()

    def wait(self, module: str) -> None:
        """Until ``module`` is imported (at once for a module not asked for)."""
        if module in self._done:
            self._done[module].wait()


# What the classification quality and the whole-split statistics import (scipy, scikit-learn), and the attribution.
STATISTICS_MODULE = "analysis.stats.classification"
ATTRIBUTION_MODULE = "analysis.attribution.document"


def refuse_changed_data(data: str | None, config: AnalysisConfig, inputs: dict) -> None:
    """The data files are read image by image during the pass: if they are not the files hashed for the
    store's key any more, the store would be keyed on other data than it holds."""
    if data_identity(data, config.input_size) != inputs["data"]:
        raise InputError(f"the data in {data} changed while this run read it: run again once it is complete")


def write_results(run: Prepared, config: AnalysisConfig, writer: StoreWriter, show_progress: bool,
                  device: torch.device = torch.device("cpu"), workers: int = 0, dask: str | None = None) -> None:
    """Every document of the store, through ``writer`` (the whole-split pass only when asked for and the
    weights are finite: NaN embeddings give NaN statistics, and the report says why they are missing).
    The model's own document is made on the CPU; the passes over images run on ``device``."""
    model, splits = run.model, run.splits
    parts = computed(config, run)
    attribution, whole_split = parts.attribution, parts.whole_split
    # the statistics here only with the whole split (else a helper process computes the quality, analysis.stats.ahead)
    ahead = ImportsAhead(([STATISTICS_MODULE] if whole_split else []) + ([ATTRIBUTION_MODULE] if attribution else []))
    model_doc = _model_results(model, run.traced, run.usage, run.setup, splits, run.broken, writer)
    model.to(device)
    x_test = Inputs(splits.test.images, run.setup.mean, run.setup.std, device, config.batch_size, workers)
    point = run.choices.point
    passed = None
    if whole_split:
        from analysis.stats import fullsplit  # matplotlib and scikit-learn: only when the sections need them

        passed = fullsplit.split_pass(model, x_test, point, run.usage.ran, show_progress, dask,
                                      fullsplit.embeddings_allocator(writer))
        logits = passed.logits
    else:
        logits = predict_logits(model, x_test, what="classifying the test split", show_progress=show_progress)
    writer.write_record("model.json", model_doc)
    ahead.wait(STATISTICS_MODULE)
    evaluation = _evaluation(logits, splits, run.meta, passed, writer)
    writer.write_record("evaluation.json", evaluation)
    activations_doc = separation = None
    if config.maps:
        activations_doc = _activation_results(model, x_test, splits, config, run.choices.maps, writer)
        writer.write_record("activations.json", activations_doc)
    embeddings_doc = None
    if config.samples or passed is not None:
        embeddings_doc = _embedding_results(model, x_test, logits, splits, config, run.choices, writer)
        writer.write_record("embeddings.json", embeddings_doc)
    if passed is not None:
        separation = fullsplit.results(model, x_test, passed, splits, point, config.metric, config.seed,
                                       embeddings_doc, writer, show_progress)
        if separation is not None:  # None: fewer than two finite embeddings (evaluation.json counts them)
            writer.write_record("separation.json", separation)
    if attribution:  # last: it reuses the images the other documents stored
        ahead.wait(ATTRIBUTION_MODULE)
        from analysis.attribution.document import attribution_results  # captum: only when asked for

        writer.write_record("attribution.json", attribution_results(run, x_test, config, evaluation, activations_doc,
                                                                    embeddings_doc, separation, writer))


def _model_results(model: nn.Module, traced: Trace, usage: trace.Usage, setup: Setup, splits: DataSplits,
                   broken: list[str], writer: StoreWriter) -> ModelDocument:
    return ModelDocument(
        model=ModelInfo(class_name=type(model).__name__, source=setup.source, kwargs=setup.kwargs,
                        weights=setup.weights, input_shape=list(splits.image_shape),
                        normalisation={"mean": list(setup.mean), "std": list(setup.std)},
                        preprocessing=setup.preprocessing or None,
                        training_mode_restored=not model.training, stripped_prefix=setup.stripped_prefix),
        parameters=params.count_parameters(model, usage.ran, usage.storages),
        trace=traced,
        kernels=trace.kernel_shapes(model),
        kernel_image=_kernel_image(model, writer),
        non_finite=broken,
    )


MAX_MODEL_BYTES = 8 << 30  # parameters and buffers: beyond this the analysis cannot run on a laptop-sized machine


def check_model_fits(source: str, kwargs: dict, state: dict | None, checkpoint: Path | None) -> None:
    """Build the model on the meta device first, which allocates nothing: arguments that would make it
    enormous (a checkpoint's ``num_classes: 10**9``), or a checkpoint whose shapes do not fit, are refused
    before any memory is taken. Models that cannot be built on the meta device skip this check."""
    try:
        with torch.random.fork_rng(devices=[]), torch.device("meta"):
            skeleton = build_model(source, kwargs)
    except InputError:
        raise
    except Exception:  # e.g. a user model that computes with real tensors in __init__
        return
    check_nesting(skeleton)  # before anything walks it recursively
    if any(is_lazy(t) for t in (*skeleton.parameters(), *skeleton.buffers())):
        return  # lazy layers have no size until the first forward pass: the shape trace is that pass
    size = sum(t.numel() * t.element_size() for t in (*skeleton.parameters(), *skeleton.buffers()))
    if size > MAX_MODEL_BYTES:
        raise InputError(f"the model {source} with arguments {json.dumps(kwargs)[:200]} would hold "
                         f"{size / 2**30:,.1f} GiB of parameters, more than the {MAX_MODEL_BYTES / 2**30:.0f} GiB "
                         "this tool analyses: check --model-kwargs or the checkpoint's model_config.kwargs")
    if state is not None:
        check_fits(skeleton, state, checkpoint)


def check_choices(model: nn.Module, splits: DataSplits, config: AnalysisConfig, traced: Trace,
                  usage: trace.Usage) -> Choices:
    """Every option that names an image, a class or a layer, checked against the data and the model before
    the analysis starts; the results are computed later by the same functions. ``traced``: the shape trace,
    which tells whether a layer chosen for activation maps gives (channels, height, width) maps. Returns what
    was decided here, once: the activation-map layers, the embedding point, the samples per class."""
    if config.maps:
        _activation_image(splits, config)
    per_class, fewer = 0, []
    if config.samples or config.whole_split:
        classes = _chosen_classes(splits, config)
        per_class, fewer = embeddings.samples_per_class(splits.test.labels, tuple(classes), config.per_class)
    maps = activation_layers(model, config.layers, usage.ran)
    for module, _label in maps:
        shapes = {tuple(row.output_shape or ()) for row in traced.rows if row.name == module and row.kind == "module"}
        if config.layers and module not in usage.ran:
            raise InputError(f"layer {module} never runs in the model's forward pass (in eval mode), so it has no "
                             "activation maps: choose layers that run for --layers")
        if config.layers and shapes and not any(len(shape) == 3 for shape in shapes):
            raise InputError(f"layer {module} gives output of shape {list(next(iter(shapes)))}, not image maps: "
                             "choose layers with (channels, height, width) output for --layers")
    if not (config.samples or config.whole_split):  # nothing is embedded: only a named layer is checked
        if config.embedding_layer:
            embedding_point(model, config.embedding_layer, traced)
        return Choices(maps, None, per_class, fewer)
    point = embedding_point(model, config.embedding_layer, traced)
    if point.module not in usage.ran:
        raise InputError(f"layer {point.layer} never runs in the model's forward pass (in eval mode), so it has no "
                         "embedding: choose a layer that runs for --embedding-layer")
    return Choices(maps, point, per_class, fewer)


def check_outputs_cover_labels(output_shape: list[int], splits: DataSplits) -> None:
    """The model must give one score per class for every label in the test split: a label beyond its
    outputs can never be predicted, and accuracy and confusion would silently be wrong."""
    if len(output_shape) != 1:
        raise InputError(f"the model's output has shape {output_shape} per image, not one score per class: "
                         "give a classifier whose forward pass returns (batch, classes) logits")
    top = int(splits.test.labels.max(initial=0))
    if top >= output_shape[0]:
        raise InputError(f"the test split has labels up to {top} but the model gives {output_shape[0]} class "
                         f"scores: give data with labels 0..{output_shape[0] - 1} or a model with at least "
                         f"{top + 1} outputs")


def _kernel_image(model: nn.Module, writer: StoreWriter) -> KernelImage | None:
    """The first convolution's kernels: RGB tiles for 3-channel input, else channel 0 on a diverging scale (the
    kernels shown and the scale's bound stored as arrays; the figures step draws them)."""
    first = next(((n, m) for n, m in model.named_modules() if is_map_convolution(m)), None)
    if first is None:
        return None
    name, conv = first
    weight = conv.weight.detach().numpy()
    shown = weight[:MAX_KERNELS]
    bound = float(np.abs(weight).max()) or 1.0
    if weight.shape[1] == 3:
        colouring = "rgb"
    else:
        shown = shown[:, 0]
        colouring = "input channel 0" if weight.shape[1] > 1 else "single channel"
    path = figure_arrays.write(writer, "images/kernels.png", shown)
    figure_arrays.write(writer, path, [bound], "bound")
    return KernelImage(layer=name, path=path, shape=list(weight.shape), shown=len(shown),
                       colouring=colouring, vmin=-bound, vmax=bound, cmap=KERNEL_CMAP,
                       colourbar="images/kernel_colourbar.png", columns=KERNEL_COLUMNS)


def _position_from_training(training: dict | None) -> dict | None:
    """Our own training record (checked by analysis.models.checkpoint_meta) ends after config.epochs epochs."""
    return {"epoch": training["config"]["epochs"]} if training else None


def _prediction(logits_row: torch.Tensor) -> tuple[int, float]:
    probabilities = torch.softmax(logits_row, dim=0)
    return int(probabilities.argmax()), float(probabilities.max())


def _evaluation(logits: torch.Tensor, splits: DataSplits, meta: dict, passed=None,
                writer: StoreWriter | None = None) -> EvaluationDocument:
    """Accuracy over the test split, per class, with its uncertainty (analysis.stats.classification: intervals,
    where the predictions go, calibration, relabelling; its figures through ``writer``), each image's prediction
    and confidence, the checkpoint's own record of its training and position (``meta``: its validated metadata;
    ``warnings``: metadata left out, and why), and how many images got NaN or infinite scores, or embeddings
    (``passed``: the whole-split pass, when it ran)."""
    from analysis.stats import ahead
    from analysis.stats.separation import finite_rows
    predicted, confidence = top_predictions(logits)
    labels = splits.test.labels
    per_class = []
    for c in np.unique(labels):
        n, correct = int((labels == c).sum()), int(((labels == c) & (predicted == c)).sum())
        per_class.append(ClassAccuracy(cls=int(c), n=n, correct=correct, accuracy=correct / n))
    classes = max(len(splits.class_names), int(labels.max(initial=-1)) + 1)
    quality = ahead.classification_quality(labels, predicted, confidence, classes)
    if writer is not None and quality.calibration is not None:
        quality = quality.with_calibration_figures(*_calibration_arrays(writer, quality.calibration.bins))
    training = meta.get("training")
    return EvaluationDocument(
        n_test=len(labels), correct=int((predicted == labels).sum()), accuracy=float((predicted == labels).mean()),
        per_class=per_class, training=training, class_names=splits.class_names, outputs=int(logits.shape[1]),
        position=meta.get("position") or _position_from_training(training),
        checkpoint_warnings=meta.get("warnings", []),
        non_finite_scores=int((~torch.isfinite(logits).all(1)).sum()),
        non_finite_embeddings=0 if passed is None else int((~finite_rows(passed.embeddings)).sum()),
        quality=quality,
        predicted=predicted.tolist(), confidence=confidence.tolist(), labels=labels.tolist())


def _calibration_arrays(writer: StoreWriter, bins) -> tuple[str, str]:
    """Stores the bins the reliability diagram and the confidence histogram are drawn from (low, high, images,
    correct, mean confidence: NaN for an empty bin), once for each; returns the figures' paths."""
    rows = np.array([[b.low, b.high, b.count, b.correct, np.nan if b.confidence is None else b.confidence]
                     for b in bins], dtype=np.float64).reshape(-1, 5)
    return (figure_arrays.write(writer, "images/reliability.png", rows),
            figure_arrays.write(writer, "images/confidence.png", rows))


def resolve_class(value: str, class_names: list[str]) -> int:
    """A class given by name or by label index."""
    if value in class_names:
        return class_names.index(value)
    if value.lstrip("-").isdigit() and 0 <= int(value) < len(class_names):
        return int(value)
    shown = ", ".join(f"{i}={n}" for i, n in enumerate(class_names[:8]))
    more = f" and {len(class_names) - 8} more" if len(class_names) > 8 else ""
    raise InputError(f"unknown class {value!r}: the data's classes are {shown}{more} (by label or by name)")


def _default_classes(splits: DataSplits) -> list[int]:
    names = splits.class_names
    if "6" in names and "7" in names:
        return [names.index("6"), names.index("7")]
    return list(range(min(2, len(names))))


def _activation_image(splits: DataSplits, config: AnalysisConfig) -> tuple[int, str]:
    """The test image whose activation maps are shown, and how it was chosen."""
    index = config.image_index
    if index is not None:
        if not 0 <= index < len(splits.test):
            raise InputError(f"--image-index {index} is outside the test split (0..{len(splits.test) - 1})")
        return index, "index"
    wanted = config.image_class or ("7" if "7" in splits.class_names else None)
    if wanted is None:
        return 0, "first test image"
    return (embeddings.first_index_of(splits.test.labels, resolve_class(wanted, splits.class_names)),
            f"first test image of class {wanted}")


def _chosen_classes(splits: DataSplits, config: AnalysisConfig) -> list[int]:
    if config.classes:
        return [resolve_class(c, splits.class_names) for c in config.classes]
    return _default_classes(splits)


def _activation_results(model, x_test, splits: DataSplits, config: AnalysisConfig, layers: list[tuple[str, str]],
                        writer: StoreWriter) -> ActivationsDocument:
    index, chosen_by = _activation_image(splits, config)
    captured, logits_one = activations.capture(model, x_test.take([index]), [m for m, _ in layers])
    predicted, confidence = _prediction(logits_one[0])
    figure_arrays.picture(writer, "images/input.png", splits.test.images[index])
    for module, _label in layers:
        if captured[module][0].ndim != 3:
            raise InputError(f"layer {module} gives output of shape {list(captured[module][0].shape)}, not image "
                             "maps: choose layers with (channels, height, width) output for --layers")
    # Maps of one pixel (after global pooling) or a few are numbers, not pictures: left out of the grids, named.
    small = [SmallMaps(module=module, label=label, shape=list(captured[module][0].shape)) for module, label in layers
             if min(captured[module][0].shape[1:]) < MIN_MAP_SIDE]
    drawn = [(position, module, label) for position, (module, label) in enumerate(layers)
             if min(captured[module][0].shape[1:]) >= MIN_MAP_SIDE]
    limit = config.max_channels or min(32, max(8, MAP_TILE_BUDGET // max(1, len(drawn))))
    grids = []
    for position, module, label in drawn:
        maps = captured[module][0]
        stats = activations.map_statistics(maps)
        shown = activations.top_channels(maps, limit)
        path = f"images/maps_{position:02d}_{module.replace('.', '_')}.png"
        columns = grid_columns(len(shown), maps.shape[1])
        figure_arrays.write(writer, path, maps[shown])
        figure_arrays.write(writer, path, [stats["vmin"], stats["vmax"]], "range")
        grids.append(MapGrid(module=module, label=label, path=path, cmap=MAP_CMAP, columns=columns,
                             shown_channels=shown, selection="all" if len(shown) == len(maps) else
                             f"top {len(shown)} of {len(maps)} by mean activation", **stats))
    return ActivationsDocument(
        input=InputImage(index=index, label=int(splits.test.labels[index]), predicted=predicted,
                         confidence=confidence, path="images/input.png", chosen_by=chosen_by),
        colourbar="images/map_colourbar.png",
        grids=grids,
        convolutions=len([m for m in model.modules() if is_map_convolution(m)]),
        chosen="options" if config.layers else "default",
        small=small,
    )


def _embedding_results(model, x_test, logits, splits: DataSplits, config: AnalysisConfig, choices: Choices,
                       writer: StoreWriter) -> EmbeddingsDocument:
    classes, point = _chosen_classes(splits, config), choices.point
    chosen = embeddings.select_samples(splits.test.labels, tuple(classes), choices.per_class)
    inputs_of = (point.module,) if point.side == "input" else ()
    captured, _ = activations.capture(model, x_test.take(chosen), [point.module], inputs_of)
    vectors = features(torch.from_numpy(captured[point.module]), point).numpy()
    labels = [int(splits.test.labels[i]) for i in chosen]
    samples = []
    for position, index in enumerate(chosen):
        predicted, confidence = _prediction(logits[index])
        path = figure_arrays.picture(writer, f"images/sample_{position}.png", splits.test.images[index])
        samples.append(Sample(index=index, label=labels[position], predicted=predicted, confidence=confidence,
                              path=path, vector=vectors[position].tolist()))
    distances = embeddings.distance_tables(vectors, labels)
    return EmbeddingsDocument(
        layer=point.layer, module=point.module, side=point.side, description=point.label,
        after_relu=point.after_relu, dimensions=int(vectors.shape[1]), classes=classes,
        per_class=choices.per_class, fewer_than_default=choices.fewer, samples=samples, distances=distances,
        matrix_image=_distance_heatmaps(distances, labels, splits.class_names, writer))


def _distance_heatmaps(distances: dict, labels: list[int], class_names: list[str],
                       writer: StoreWriter) -> str | None:
    """Beyond DISTANCE_TABLE_MAX_SAMPLES samples the distance matrices are too wide for tables on the page: one
    figure of heat maps, a panel per metric, stands for them (the numbers stay in embeddings.json and the CSV;
    each metric's matrix, unrounded, in arrays/sample_distances.<metric>.npy for the figure)."""
    if len(labels) <= DISTANCE_TABLE_MAX_SAMPLES:
        return None
    path = "images/sample_distances.png"
    for metric, table in distances.items():
        figure_arrays.write(writer, path, np.asarray(table.matrix, dtype=np.float64), metric)
    return path


def grid_columns(count: int, height: int) -> int:
    """Eight tiles per row for large maps, sixteen for small ones (at most 16 pixels high): stored in MapGrid."""
    return 16 if height <= 16 and count > 8 else 8

