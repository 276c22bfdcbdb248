"""Views of the network itself: parameters, shape trace, kernels, activation maps, provenance."""

from __future__ import annotations

import dataclasses
import math

from analysis.store.schema import MIN_MAP_SIDE
from report.render import fmt
from report.render.findings import Findings
from report.render.interpret.shapes import moves_batch, shape_text
from report.render.views.common import Figure, Place, field, scale, url

NO_VALUE = "—"  # a cell with nothing to show (no weight tensor, no shape recorded)


# --- parameters -------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class ParameterRow:
    name: str = field("the layer's qualified name")
    type: str = field("its class name")
    weight_shape: str = field("shape of its weight tensor, or a dash when it has none")
    weights: str = field("number of weights, formatted (in_proj_weight and the like included)")
    biases: str = field("number of biases, formatted (in_proj_bias and the like included)")
    norm: str = field("a normalisation layer's scale and shift (its weight and bias), formatted")
    other: str = field("parameters of any other role (a class token, a position embedding...), formatted")
    other_tensors: str = field("those tensors by name and role, e.g. 'cls_token (class token, 32)', shown under the "
                               "layer's name; empty when none")
    formula: str = field("how the count is made up, e.g. 32·1·3·3 + 32")
    total: str = field("parameters counted for this layer, formatted")
    share: str = field("its share of all parameters, or a dash when the model has none")
    shared: str = field("which tensors it shares with other layers and its other names; empty when neither")
    inference: str = field("how inference uses it: empty when it runs, 'not executed' when it never runs and "
                           "its parameters are never read, 'weights read by its parent' when it is not called itself")


@dataclasses.dataclass(frozen=True)
class ParametersView:
    """_parameters.html.j2: the parameter table."""

    total: str = field("all parameters, each tensor counted once, formatted")
    layers: list[ParameterRow] = field("one row per layer that owns parameters, in definition order")
    sharing: bool = field("true when some layer shares a tensor or has another name: the table gets a Shared column")
    weights: str = field("sum of the weight column, formatted")
    biases: str = field("sum of the bias column, formatted")
    norm: str = field("sum of the normalisation column, formatted")
    other: str = field("sum of the other column, formatted")
    roles: bool = field("true when some layer holds a normalisation scale or shift or a tensor of another role: "
                        "the table gets the Norm and Other columns")
    trainable: str = field("trainable parameters, formatted")
    frozen: str = field("parameters that are not trainable, formatted")
    buffers: str | None = field("values held in buffers (not parameters), formatted; None when there are none")
    buffer_tensors: str = field("how many buffer tensors hold them")
    idle: bool = field("true when some layer is not executed at inference: the table gets an Inference column")
    unused: str | None = field("parameters inference never reads, formatted; None when there are none (or unknown)")
    span: str = field("how many columns a footer cell spans after the three-column label (5, plus the optional ones)")


OTHER_ROLES_SHOWN = 4  # tensors named in a row's other cell; beyond, a count


def _shared(layer) -> str:
    parts = []
    if layer.shared_with:
        parts.append(f"uses {', '.join(layer.shared_with)} (counted there)")
    if layer.aliases:
        parts.append(f"also named {', '.join(layer.aliases)}")
    return "; ".join(parts)


def _other_tensors(layer) -> str:
    """The tensors behind a row's other column, by name and role ("" for a store that did not record roles)."""
    others = [t for t in layer.tensors if t.counted and t.role not in ("weight", "bias", "norm scale", "norm shift")]
    named = [f"{t.name} ({t.role}, {fmt.integer(t.counted)})" if t.role != "other" else
             f"{t.name} ({fmt.integer(t.counted)})" for t in others[:OTHER_ROLES_SHOWN]]
    more = len(others) - OTHER_ROLES_SHOWN
    return ", ".join(named) + (f" and {more} more" if more > 0 else "")


def parameters_view(f: Findings, place: Place) -> ParametersView:
    p = f.parameters
    rows = [ParameterRow(
        name=layer.name or f"{layer.type} (the model itself)", type=layer.type,
        weight_shape=fmt.shape(layer.weight_shape) if layer.weight_shape else NO_VALUE,
        weights=fmt.integer(layer.weights), biases=fmt.integer(layer.biases), norm=fmt.integer(layer.norm),
        other=fmt.integer(layer.other), other_tensors=_other_tensors(layer), formula=layer.formula,
        total=fmt.integer(layer.total), share=fmt.percent(layer.total / p.total) if p.total else NO_VALUE,
        shared=_shared(layer), inference=_inference(layer)) for layer in p.layers]
    sharing = any(layer.shared_with or layer.aliases for layer in p.layers)
    idle = any(not layer.executed for layer in p.layers)
    roles = any(layer.norm or layer.other for layer in p.layers)
    return ParametersView(
        total=fmt.integer(p.total), layers=rows, sharing=sharing,
        weights=fmt.integer(sum(layer.weights for layer in p.layers)),
        biases=fmt.integer(sum(layer.biases for layer in p.layers)),
        norm=fmt.integer(sum(layer.norm for layer in p.layers)),
        other=fmt.integer(sum(layer.other for layer in p.layers)), roles=roles,
        trainable=fmt.integer(p.trainable), frozen=fmt.integer(p.non_trainable),
        buffers=fmt.integer(p.buffers) if p.buffers else None, buffer_tensors=str(len(p.buffer_list)),
        idle=idle, unused=fmt.integer(p.unused) if p.unused_known and p.unused else None,
        span=str(5 + 2 * roles + sharing + idle))


def _inference(layer) -> str:
    if layer.executed:
        return ""
    return "weights read by its parent" if layer.read else "not executed"


# --- shapes -----------------------------------------------------------------------------------------------

INDENT_EM, INDENT_STEP_EM = 0.5, 0.9  # left padding of a trace row's name, and per level of nesting


@dataclasses.dataclass(frozen=True)
class TraceRowView:
    number: str = field("position in call order, from 1")
    name: str = field("the module's qualified name, or a functional call's name (F.relu, operator +)")
    type: str = field("its class name; 'function' for a functional call")
    depth: int = field("nesting depth, from 1: the row's CSS class")
    function: bool = field("true for a functional call (it gets the function CSS class)")
    is_leaf: bool = field("false for a container module (it gets the container CSS class)")
    indent: str = field("left padding of the name in em, by nesting depth")
    input_shape: str = field("shape of its input without the batch dimension, or a dash when not recorded; N marks "
                             "the batch where an operation moved it from the front, and a dagger a full shape (no "
                             "dimension is the batch alone: a parameter, or the batch folded into another)")
    output_shape: str = field("shape of its output, written the same way")
    changed: bool = field("true when the output's shape differs from the input's (highlighted)")
    params: str = field("the module's own parameters, formatted")
    macs: str = field("multiply-accumulates per image in words (1.2 M); empty when none are counted")


@dataclasses.dataclass(frozen=True)
class TraceGroupView:
    name: str = field("top-level module the rows belong to")
    type: str = field("its class name")
    rows: list[TraceRowView] = field("the trace rows of this module and everything inside it, in call order")
    collapsible: bool = field("true when the group is a container worth folding (more than one row)")
    calls: str = field("how many rows (module calls) the group holds")
    input_shape: str = field("shape of the group's first call's input, written as a row's")
    output_shape: str = field("shape of the group's first call's output, written as a row's")


@dataclasses.dataclass(frozen=True)
class ShapesView:
    """_shapes.html.j2: the shape trace."""

    input_shape: str = field("shape of the input, without the batch dimension")
    batch_size: str = field("the batch size of the traced input")
    macs: str = field("multiply-accumulates per image, in words (1.82 G)")
    macs_exact: str = field("the same count in full, formatted")
    groups: list[TraceGroupView] = field("the trace split by top-level module: one table, a heading row per group")
    moved: bool = field("true when some shape marks the batch with N (an operation moved it from the front)")
    full: bool = field("true when some shape is shown in full, with a dagger (no dimension is the batch alone)")
    dispatch: bool = field("true when functional calls are rows and MACs were counted for every dispatched "
                           "operation; false for stores traced with module hooks only (schema 3 and older)")
    lower_bound: bool = field("true when some heavy operation ran without a counting formula (MACs are a lower bound)")


def _trace_row(row) -> TraceRowView:
    return TraceRowView(
        number=str(row.order + 1), name=row.name, type=row.type, depth=row.depth, is_leaf=row.is_leaf,
        function=row.kind == "function",
        indent=str(INDENT_EM + (row.depth - 1) * INDENT_STEP_EM),
        input_shape=shape_text(row.input_shape, row.input_batch, moves_batch(row)),
        output_shape=shape_text(row.output_shape, row.output_batch, moves_batch(row)),
        changed=(row.input_shape, row.input_batch) != (row.output_shape, row.output_batch),
        params=fmt.integer(row.params), macs=fmt.count(row.macs) if row.macs else "")


def trace_groups(f: Findings) -> list[TraceGroupView]:
    """Consecutive rows under the same top-level module form one group."""
    groups: list[tuple[str, str, list]] = []
    for row in f.trace.rows:
        owner = row.caller if row.kind == "function" else row.name  # a functional call belongs to its module
        top = owner.split(".")[0] if owner else row.name
        if groups and groups[-1][0] == top and row.depth > 1:
            groups[-1][2].append(row)
        else:
            groups.append((top, row.type, [row]))
    return [TraceGroupView(name=name, type=type_, rows=[_trace_row(row) for row in rows],
                           collapsible=len(rows) > 1, calls=str(len(rows)),
                           input_shape=shape_text(rows[0].input_shape or [], rows[0].input_batch),
                           output_shape=shape_text(rows[0].output_shape or [], rows[0].output_batch))
            for name, type_, rows in groups]


def shapes_view(f: Findings, place: Place) -> ShapesView:
    t = f.trace
    batches = [b for row in t.rows for shape, b in ((row.input_shape, row.input_batch),
                                                     (row.output_shape, row.output_batch)) if shape is not None]
    return ShapesView(input_shape=fmt.shape(t.input_shape), batch_size=str(t.batch_size),
                      macs=fmt.count(t.total_macs), macs_exact=fmt.integer(t.total_macs), groups=trace_groups(f),
                      dispatch=t.counting == "dispatch", lower_bound=bool(t.uncounted),
                      moved=any(b not in (0, None) for b in batches), full=any(b is None for b in batches))


# --- kernels ----------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class KernelRow:
    name: str = field("the convolution's qualified name")
    shape: str = field("its kernel tensor's shape (out channels, in channels, height, width)")
    count: str = field("how many kernels it has (its out channels), formatted")


@dataclasses.dataclass(frozen=True)
class KernelsView:
    """_kernels.html.j2: kernel shapes and the first convolution's kernels as a picture."""

    kernels: list[KernelRow] = field("one row per convolution")
    figure: Figure | None = field("the kernel picture; None when the network has no Conv2d layer")


def _kernel_figure(f: Findings, place: Place) -> Figure | None:
    k = f.kernel_image
    if k is None:
        return None
    which = f"all {k.shape[0]}" if k.shown == k.shape[0] else f"the first {k.shown} of {k.shape[0]}"
    if k.colouring == "rgb":
        return Figure(url(place, k.path), f"{k.layer} kernels shown as colour images",
                      f"The {k.layer} kernels ({which}, shape {fmt.shape(k.shape)}) as colour images: each kernel's "
                      "three input-channel weights become red, green and blue, each kernel stretched to its own range. "
                      f"Kernel 0 at the top left, {k.columns} per row.")
    channel = ", input channel 0 only" if k.colouring == "input channel 0" else ""
    return Figure(url(place, k.path), f"{k.layer} kernels, {k.shown} tiles of weights",
                  f"The {k.layer} kernels ({which}, shape {fmt.shape(k.shape)}){channel}, kernel 0 at the top left, "
                  f"{k.columns} per row. Colour scale symmetric about zero: red positive, blue negative "
                  "weights.", scale(place, k.colourbar, k.vmin, k.vmax, k.cmap))


def kernels_view(f: Findings, place: Place) -> KernelsView:
    return KernelsView(
        kernels=[KernelRow(k["name"], fmt.shape(k["shape"]), fmt.integer(k["shape"][0])) for k in f.kernels],
        figure=_kernel_figure(f, place))


# --- activations ------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class ActivationsView:
    """_activations.html.j2: the input image and one grid of activation maps per chosen layer."""

    input: Figure = field("the input image all maps respond to")
    grids: list[Figure] = field("one grid of activation maps per layer, each with its colour scale")
    left_out: str = field('the chosen layers whose maps were too small to draw, and why, in words ("" for none)')


def small_maps_note(f: Findings) -> str:
    """Which chosen layers' maps are left out of the grids for being smaller than MIN_MAP_SIDE on a side."""
    small = f.activations.small
    if not small:
        return ""
    sizes: dict[tuple[int, int], list[str]] = {}
    for layer in small:
        sizes.setdefault((layer.shape[1], layer.shape[2]), []).append(layer.label)
    layers = "; ".join(f"{fmt.listing(labels)}, whose maps are {h} × {w} pixels" for (h, w), labels in sizes.items())
    return (f"Left out of the grids: {layers}. A map smaller than {MIN_MAP_SIDE} × {MIN_MAP_SIDE} pixels is one "
            "number or a few per channel, not a picture of where the channel responds.")


def activations_view(f: Findings, place: Place) -> ActivationsView:
    i = f.input_image
    label, predicted = f.class_name(i.label), f.class_name(i.predicted)
    grids = []
    for grid in f.map_grids:
        maps = f"all {grid.shape[0]}" if grid.selection == "all" else grid.selection
        grids.append(Figure(
            url(place, grid.path), f"{len(grid.shown_channels)} activation maps of {grid.label}",
            f"{grid.label}: {maps} maps of shape {fmt.shape(grid.shape)}, channel index above each, {grid.columns} "
            f"per row. One colour scale shared by all maps, from {fmt.number(grid.vmin)} to "
            f"{fmt.number(grid.vmax)}.",
            scale(place, f.map_colourbar, grid.vmin, grid.vmax, grid.cmap)))
    return ActivationsView(
        input=Figure(url(place, i.path), f"test image {i.index}, class {label}",
                     f"Input: test image #{i.index} ({i.chosen_by}), class {label}, predicted {predicted}. "
                     "Each map below is the response of one channel to this image."),
        grids=grids, left_out=small_maps_note(f))


# --- provenance -------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class SettingRow:
    name: str = field("the option's name, as in the configuration")
    value: str = field("its value in words: lists comma-separated, yes/no for switches")


@dataclasses.dataclass(frozen=True)
class ProvenanceView:
    """_provenance.html.j2: the inputs and versions behind every number."""

    model_class: str = field("the model's class name")
    model_source: str = field("where the model came from (module:Class, torchvision:name...)")
    weights: str = field('"checkpoint", or which weights were used instead')
    mean: str = field("the normalisation mean, one value per channel, comma-separated")
    std: str = field("the normalisation standard deviation, one value per channel, comma-separated")
    preprocessing: str = field("the resizing the images got and the model's own preprocessing, in words; empty "
                               "when the images went in at their own size and the model has no such config")
    checkpoint: str = field('the checkpoint\'s file name and size, or "no checkpoint: random weights (seed N)"')
    checkpoint_sha256: str = field("its sha256, in full; empty without a checkpoint")
    checkpoint_keys: str = field("the prefixes taken off the checkpoint's keys to load it, in words; empty: none")
    data_description: str = field("the data set, in words")
    settings: list[SettingRow] = field("the analysis options that are set, one row each")
    code_version: str = field("the analysis code's hash, shortened")
    store: str = field("the store, relative to the HTML file")
    schema_version: str = field("the store's schema version, as written")
    software: str = field('the versions that wrote the store, as "name version, ..."')


CODE_VERSION_SHOWN = 16  # hex digits of the code hash shown


def _setting(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(_setting(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={_setting(v)}" for k, v in value.items())
    return str(value)


SETTING_SHOWN = 400  # characters of a setting's value on the page (a Hugging Face configuration runs to pages)


def _shortened(text: str) -> str:
    if len(text) <= SETTING_SHOWN:
        return text
    return f"{text[:SETTING_SHOWN]}… ({fmt.integer(len(text))} characters in all: the store's manifest holds them)"


def settings_rows(config: dict) -> list[SettingRow]:
    """The options that are set (None and empty values are defaults resolved later, so they are left out)."""
    return [SettingRow(name, _shortened(_setting(value))) for name, value in config.items()
            if value is not None and value != [] and value != {} and value != ()]


def preprocessing_words(record: dict) -> str:
    """ModelInfo.preprocessing in words: the size the images were given at and where it comes from; with the
    model's own config, how they were brought to it (its interpolation and centre crop), or what of it this
    report did not apply because an option or the checkpoint set the size."""
    size, size_from = record.get("input_size"), record.get("input_size_from")
    config = record.get("model_config") or {}
    interpolation, crop = config.get("interpolation", "bilinear"), config.get("crop_pct", 1.0)
    how = f"{interpolation} interpolation" + (
        f", the shorter side resized to {math.floor(config.get('input_size', 0) / crop)} and the centre kept "
        f"(crop {fmt.percent(crop)})" if crop < 1 else "")
    if config and size and size_from == config.get("from"):
        return f"images given to the model at {size}×{size} pixels as {size_from} gives: {how}"
    words = [f"images given to the model at {size}×{size} pixels (resized bilinearly where they differ), the size "
             f"{size_from} gives"] if size else []
    if config:
        words.append(f"{config.get('from')} asks for {config.get('input_size')}×{config.get('input_size')} pixels "
                     f"with {how}, which this report does not apply ({'the size comes from ' + size_from if size else 'the images keep their own size'})")
    return "; ".join(words)


def checkpoint_keys_words(f: Findings) -> str:
    """How the checkpoint's keys were read, when they were not the model's own names: the prefix --strip-prefix
    took off the keys that had it, then the one a wrapper's attribute put on every key (ModelInfo.stripped_prefix)."""
    words = []
    if f.weights == "checkpoint" and f.provenance.config.get("strip_prefix"):
        words.append(f'keys stored under the prefix "{f.provenance.config["strip_prefix"]}" were loaded without it '
                     "(--strip-prefix)")
    if f.model.model.stripped_prefix:
        words.append(f'keys stored under the prefix "{f.model.model.stripped_prefix}" (a wrapper\'s attribute) were '
                     "loaded without it")
    return "; ".join(words)


def provenance_view(f: Findings, place: Place) -> ProvenanceView:
    pv = f.provenance
    checkpoint = (f"{pv.checkpoint_file} ({fmt.integer(pv.checkpoint_bytes)} bytes)" if f.weights == "checkpoint"
                  else f"no checkpoint: {f.weights.replace('random', 'random weights', 1)}" if f.weights.startswith("random")
                  else f"no checkpoint: {f.weights}")
    return ProvenanceView(
        model_class=f.model_class, model_source=f.model_source, weights=f.weights,
        mean=", ".join(str(x) for x in f.normalisation["mean"]), std=", ".join(str(x) for x in f.normalisation["std"]),
        preprocessing=preprocessing_words(f.preprocessing), checkpoint=checkpoint, checkpoint_sha256=pv.checkpoint_sha256 if f.weights == "checkpoint" else "",
        checkpoint_keys=checkpoint_keys_words(f),
        data_description=pv.data_description, settings=settings_rows(pv.config),
        code_version=pv.code_version[:CODE_VERSION_SHOWN], store=place.store_folder,
        schema_version=str(pv.schema_version),
        software=", ".join(f"{key} {value}" for key, value in pv.producer.items()))
