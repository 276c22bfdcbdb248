"""What a checkpoint file is and what it says about itself, checked before anything uses it (torch-free).

A checkpoint may come from anywhere, so everything read from it is data to check, never code to run:

- ``checkpoint_file_problem`` and ``unrecognised_format`` say in one line why a path cannot be a
  checkpoint (a folder, a link loop, a text file...), without torch, so the store key
  (analysis.keys) and the loader (analysis.models.checkpoint) give the same messages.
- ``validate`` checks every metadata field the tool reads against the declared schema below and returns
  typed values. Fields that steer the analysis (``model_config``, ``data_config``) are refused in one
  line when malformed: guessing would analyse the wrong thing. Informational fields (the ``training``
  record, the position in a training run) are left out with a warning instead: the report is right
  without them, and nothing malformed may reach the store, whose readers trust its shape.
"""

from __future__ import annotations

import dataclasses
import errno
import io
import json
import math
import os
import stat
import struct
import zipfile
from collections.abc import Mapping
from pathlib import Path

from analysis.data.paths import names_list
from analysis.errors import InputError

MODEL_CONFIG, DATA_CONFIG, TRAINING = "model_config", "data_config", "training"
META_KEYS = (TRAINING, MODEL_CONFIG, DATA_CONFIG)
POSITION_KEYS = ("epoch", "step", "global_step", "iteration")  # where a checkpoint sits in its training run

MAX_INPUT_SIZE = 4096       # pixels per side: larger images would not fit in memory for a whole split
MAX_CHANNELS = 1024         # values of mean / std, one per image channel
MAX_CLASSES = 100_000
MAX_NAME_LENGTH = 200       # a class name or a model source
MAX_NESTING = 16            # of model_config.kwargs; also stops self-referencing lists a pickle can build
MAX_KWARGS_VALUES = 10_000
MAX_HISTORY = 100_000       # epochs in a training record
MAX_COUNT = 2 ** 53         # larger integers are not exact in JSON readers (JavaScript)
HEAD_BYTES = 512            # enough to recognise every format below (tar's magic sits at 257)


# --- The file itself -------------------------------------------------------------------------------

def checkpoint_file_problem(path: Path | str) -> str | None:
    """Why ``path`` cannot be read as a checkpoint file, as one line, or None when it can."""
    try:
        info = os.stat(path)
    except OSError as error:
        return f"checkpoint {path} {_missing_or_unreachable(path, error)}"
    if stat.S_ISDIR(info.st_mode):
        return (f"checkpoint {path} is a folder, not a checkpoint file: give a file in it saved with "
                "torch.save, or a .safetensors file")
    if not stat.S_ISREG(info.st_mode):
        return (f"checkpoint {path} is not a regular file (a pipe, socket or device): "
                "give a file saved with torch.save")
    if info.st_size == 0:
        return f"checkpoint {path} is empty: the save was interrupted; save it again"
    try:
        with open(path, "rb"):  # stat succeeds on files we may not open
            pass
    except PermissionError:
        return f"checkpoint {path} cannot be read (permission denied): make it readable, e.g. chmod u+r {path}"
    except OSError as error:
        return f"checkpoint {path} cannot be read ({error.strerror or error}): give a file saved with torch.save"
    return None


def _missing_or_unreachable(path: Path | str, error: OSError) -> str:
    if error.errno == errno.ELOOP:
        return "is a symbolic link loop: point it at a real checkpoint file"
    if error.errno in (errno.EACCES, errno.EPERM):
        return "cannot be read (permission denied on a folder of its path): give a checkpoint you may read"
    if error.errno == errno.ENAMETOOLONG:
        return "has too long a name: give the path of a file saved with torch.save"
    if os.path.islink(path):  # stat follows links: the link is there, its target is not
        return f"is a symbolic link to {os.readlink(path)}, which does not exist: give a file saved with torch.save"
    if error.errno in (errno.ENOENT, errno.ENOTDIR):
        return "does not exist: give a file saved with torch.save"
    return f"cannot be read ({error.strerror or error}): give a file saved with torch.save"


def read_head(path: Path | str) -> bytes:
    """The first bytes of a checkpoint, which say its format."""
    try:
        with open(path, "rb") as handle:
            return handle.read(HEAD_BYTES)
    except OSError as error:
        raise InputError(f"checkpoint {path} cannot be read ({error.strerror or error}): "
                         "give a file saved with torch.save") from None


# torch.save's legacy (non-zip) format opens with a pickled magic number; with protocol 0 or 1 it is text.
LEGACY_MAGIC_TEXT = b"L1195470371460388013"   # 0x1950a86a20f9469cfc6c as pickle protocol 0/1 writes it


def checkpoint_format(head: bytes) -> str | None:
    """"zip" (torch.save), "pickle" (legacy torch.save or a plain pickle), "tar" (torch before 0.4),
    "safetensors", or None for anything else."""
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if (len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5) or head.startswith(LEGACY_MAGIC_TEXT):
        return "pickle"  # the PROTO opcode and a protocol number: what the safe unpickler understands
    if head[257:262] == b"ustar":
        return "tar"
    if len(head) > 8 and 0 < struct.unpack("<Q", head[:8])[0] and head[8:9] == b"{":
        return "safetensors"  # an 8-byte little-endian header length, then the JSON header
    return None


def unrecognised_format(path: Path | str, head: bytes) -> str:
    """One line for a file that no loader would understand, with a hint from its first bytes."""
    if head.startswith(b"version https://git-lfs"):
        return (f"checkpoint {path} is a Git LFS pointer, not the checkpoint itself: run git lfs pull "
                "to fetch the file")
    if _is_onnx(head) or Path(path).suffix.lower() == ".onnx":
        return (f"checkpoint {path} is an ONNX model, which holds an exported graph, not a torch state dict: "
                "give model.state_dict() saved with torch.save")
    return (f"checkpoint {path} is not a readable torch checkpoint (it starts with {_preview(head)}): "
            "give a file saved with torch.save or a .safetensors file")


# An ONNX file is a protobuf ModelProto: field 1 (ir_version, a small varint: tag 0x08), then the next field's tag
# (producer_name 0x12 ... opset_import 0x42), as every exporter writes it: "\x08\x07\x12\x07pytorch".
ONNX_NEXT_TAGS = frozenset(b"\x12\x1a\x22\x28\x32\x3a\x42")


def _is_onnx(head: bytes) -> bool:
    return len(head) >= 3 and head[0] == 0x08 and 1 <= head[1] < 0x80 and head[2] in ONNX_NEXT_TAGS


def zip_archive_problem(path: Path | str, data: bytes) -> str | None:
    """One line for a zip that torch.save did not write (TorchScript, torch.export, any other zip), told by the
    names of its entries alone: nothing in it is read, let alone run. None for torch.save's zip, or for a zip
    too damaged to list (torch's reader then says what is wrong)."""
    try:
        names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        return None
    inside = {name.split("/", 1)[1] for name in names if "/" in name}  # torch writes every entry in one folder
    if "constants.pkl" in inside or any(name.startswith("code/") for name in inside):
        return (f"checkpoint {path} is a TorchScript archive (torch.jit.save), which holds compiled code, not a "
                "state dict: give model.state_dict() saved with torch.save (from this file, if you trust it: "
                f"torch.save(torch.jit.load('{Path(path).name}').state_dict(), 'weights.pt'))")
    if "archive_format" in inside or any(name.startswith("models/") for name in inside):
        return (f"checkpoint {path} is a torch.export archive (torch.export.save, .pt2), which holds a traced "
                "program, not a state dict: give model.state_dict() saved with torch.save (from this file: "
                f"torch.save(torch.export.load('{Path(path).name}').state_dict, 'weights.pt'))")
    if "data.pkl" not in inside:
        shown = names_list(names, most=4) or "nothing"  # entry names are data: escaped, shortened
        return (f"checkpoint {path} is a zip archive that torch.save did not write (it holds {shown}): "
                "give a file saved with torch.save, or unzip it and give the checkpoint inside")
    return None


def _preview(head: bytes, characters: int = 9) -> str:
    text = head[:characters * 4].decode("utf-8", errors="replace")[:characters]
    if text and text.isprintable() and "\ufffd" not in text:
        return f"'{text}…'"
    return "bytes " + " ".join(f"{b:02x}" for b in head[:6]) + " …"


# --- The metadata: errors and how a value is shown -------------------------------------------------

class FieldError(Exception):
    """One field breaks the schema: where it is, what it should be, and what was found."""

    def __init__(self, field: str, expected: str, value: object):
        super().__init__(field)
        self.field, self.expected, self.value = field, expected, value

    def describe(self) -> str:
        return f"{self.field} must be {self.expected}, got {shown(self.value)}"


class _Missing:
    """A required field that is absent: shown as such, not as null."""


MISSING = _Missing()


def shown(value: object, depth: int = 0) -> str:
    """A short JSON-like view of any loaded value: bounded, so a huge or self-referencing list cannot
    blow up an error message."""
    if value is MISSING:
        return "nothing (the field is missing)"
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, int) and abs(value) >= 10 ** 18:
        return "a huge integer"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if isinstance(value, str):
        return json.dumps(value[:40] + ("…" if len(value) > 40 else ""), ensure_ascii=False)
    if isinstance(value, (list, tuple, dict)):
        if depth >= 2:
            return "[…]" if not isinstance(value, dict) else "{…}"
        if isinstance(value, dict):
            items = [f"{shown(k, 2)}: {shown(v, depth + 1)}" for k, v in list(value.items())[:3]]
            opening, closing = "{", "}"
        else:
            items = [shown(v, depth + 1) for v in list(value[:3])]
            opening, closing = "[", "]"
        more = ", …" if len(value) > 3 else ""
        return opening + ", ".join(items) + more + closing
    return f"a {type(value).__name__}"


# --- Field checks: each returns the plain value or raises FieldError -----------------------------

def _integer(value: object, field: str, low: int = 0, high: int = MAX_COUNT) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        bounds = f"of at least {low}" if high == MAX_COUNT else f"from {low} to {high}"
        raise FieldError(field, f"a whole number {bounds}", value)
    return int(value)


def _number(value: object, field: str, low: float | None = None, above_zero: bool = False,
            finite: bool = True) -> float:
    as_float = _as_float(value)
    ok = as_float is not None and (not finite or math.isfinite(as_float))
    ok = ok and (low is None or as_float >= low) and (not above_zero or as_float > 0)
    if not ok:
        bound = " above 0" if above_zero else f" of at least {low}" if low is not None else ""
        raise FieldError(field, f"a {'finite ' if finite else ''}number{bound}", value)
    return as_float


def _as_float(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return float(value)
    except OverflowError:  # an integer beyond float's range
        return None


def _text(value: object, field: str, what: str = "a string") -> str:
    # Printable only: names end up in one-line error messages and in the report.
    if not isinstance(value, str) or not value or len(value) > MAX_NAME_LENGTH or not value.isprintable():
        raise FieldError(field, f"{what} of 1 to {MAX_NAME_LENGTH} printable characters", value)
    return value


def _mapping(value: object, field: str, what: str) -> Mapping:
    if not isinstance(value, dict):
        raise FieldError(field, what, value)
    return value


def _sequence(value: object, field: str, what: str, low: int, high: int) -> list:
    if not isinstance(value, (list, tuple)) or not low <= len(value) <= high:
        raise FieldError(field, f"{what} ({low} to {high} of them)", value)
    return list(value)


def _numbers(value: object, field: str, above_zero: bool = False) -> tuple[float, ...]:
    what = "a list of finite numbers above 0" if above_zero else "a list of finite numbers"
    items = _sequence(value, field, what, 1, MAX_CHANNELS)
    try:
        return tuple(_number(item, field, above_zero=above_zero) for item in items)
    except FieldError:
        raise FieldError(field, what, value) from None


def _plain_json(value: object, field: str, depth: int = 0, budget: list[int] | None = None) -> object:
    """A deep copy made of JSON types only (tuples become lists), or FieldError."""
    budget = budget if budget is not None else [MAX_KWARGS_VALUES]
    budget[0] -= 1
    if depth > MAX_NESTING or budget[0] < 0:
        raise FieldError(field, f"plain JSON nested at most {MAX_NESTING} deep, with at most "
                                f"{MAX_KWARGS_VALUES} values", value)
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return _number(value, field)
    if isinstance(value, (list, tuple)):
        return [_plain_json(item, f"{field}[{i}]", depth + 1, budget) for i, item in enumerate(value)]
    if isinstance(value, dict):
        copy = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise FieldError(field, "an object with string keys", value)
            copy[key] = _plain_json(item, f"{field}.{key}", depth + 1, budget)
        return copy
    raise FieldError(field, "plain JSON (null, true/false, numbers, strings, lists, objects)", value)


# --- The schema ------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """``model_config``: which network the weights belong to."""

    source: str | None                   # assignment | torchvision:NAME | package.module:Class
    kwargs: dict                         # plain JSON, passed to the model's constructor

    @classmethod
    def check(cls, value: object) -> ModelConfig:
        fields = _mapping(value, MODEL_CONFIG, 'an object such as {"source": "assignment", "kwargs": {}}')
        source = fields.get("source")
        kwargs = fields.get("kwargs")
        if kwargs is not None and not isinstance(kwargs, dict):
            raise FieldError(f"{MODEL_CONFIG}.kwargs", 'an object such as {"num_classes": 10}', kwargs)
        return cls(source=None if source is None else _text(source, f"{MODEL_CONFIG}.source"),
                   kwargs=_plain_json(kwargs or {}, f"{MODEL_CONFIG}.kwargs"))

    def to_dict(self) -> dict:
        return {**({"source": self.source} if self.source is not None else {}), "kwargs": dict(self.kwargs)}


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """``data_config``: how the images were prepared for the network, and what the classes are called."""

    input_size: int | None
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None
    class_names: tuple[str, ...] | None

    @classmethod
    def check(cls, value: object) -> DataConfig:
        fields = _mapping(value, DATA_CONFIG, 'an object such as {"input_size": 28, "mean": [0.1307], '
                                              '"std": [0.3081], "class_names": ["0", "1"]}')
        present = {key: fields[key] for key in ("input_size", "mean", "std", "class_names")
                   if fields.get(key) is not None}
        config = cls(
            input_size=_integer(present["input_size"], f"{DATA_CONFIG}.input_size", 1, MAX_INPUT_SIZE)
            if "input_size" in present else None,
            mean=_numbers(present["mean"], f"{DATA_CONFIG}.mean") if "mean" in present else None,
            std=_numbers(present["std"], f"{DATA_CONFIG}.std", above_zero=True) if "std" in present else None,
            class_names=_class_names(present["class_names"]) if "class_names" in present else None)
        if config.mean and config.std and len(config.mean) != len(config.std):
            raise FieldError(f"{DATA_CONFIG}.std", f"one value per channel like {DATA_CONFIG}.mean "
                                                   f"({len(config.mean)} of them)", present["std"])
        return config

    def to_dict(self) -> dict:
        values = {"input_size": self.input_size, "mean": self.mean, "std": self.std, "class_names": self.class_names}
        return {key: list(value) if isinstance(value, tuple) else value
                for key, value in values.items() if value is not None}


def _class_names(value: object) -> tuple[str, ...]:
    field = f"{DATA_CONFIG}.class_names"
    what = "a list of distinct class names (strings)"
    names = _sequence(value, field, what, 1, MAX_CLASSES)
    try:
        checked = tuple(_text(name, field, "a class name") for name in names)
    except FieldError:
        raise FieldError(field, what, value) from None
    if len(set(checked)) != len(checked):
        raise FieldError(field, what, value)
    return checked


@dataclasses.dataclass(frozen=True)
class TrainingSettings:
    """``training.config``: analysis.config.TrainConfig as analysis.train records it."""

    epochs: int
    batch_size: int
    learning_rate: float
    seed: int
    threads: int

    @classmethod
    def check(cls, value: object, field: str) -> TrainingSettings:
        fields = _mapping(value, field, "an object with epochs, batch_size, learning_rate, seed and threads")
        return cls(epochs=_integer(fields.get("epochs", MISSING), f"{field}.epochs"),
                   batch_size=_integer(fields.get("batch_size", MISSING), f"{field}.batch_size", 1),
                   learning_rate=_number(fields.get("learning_rate", MISSING), f"{field}.learning_rate",
                                         above_zero=True),
                   seed=_integer(fields.get("seed", MISSING), f"{field}.seed", -MAX_COUNT),
                   threads=_integer(fields.get("threads", MISSING), f"{field}.threads", 1))


@dataclasses.dataclass(frozen=True)
class EpochRecord:
    """One row of ``training.history``."""

    epoch: int
    train_loss: float          # NaN when a run diverged: kept (the store writes it as null)
    test_accuracy: float

    @classmethod
    def check(cls, value: object, field: str) -> EpochRecord:
        fields = _mapping(value, field, "an object with epoch, train_loss and test_accuracy")
        return cls(epoch=_integer(fields.get("epoch", MISSING), f"{field}.epoch", 1),
                   train_loss=_number(fields.get("train_loss", MISSING), f"{field}.train_loss", finite=False),
                   test_accuracy=_share(fields.get("test_accuracy", MISSING), f"{field}.test_accuracy"))


def _share(value: object, field: str) -> float:
    share = _number(value, field, low=0)
    if share > 1:
        raise FieldError(field, "a share from 0 to 1", value)
    return share


@dataclasses.dataclass(frozen=True)
class TrainingRecord:
    """``training``: the record analysis.train writes; report/interpret/accuracy.py reads it from the store."""

    config: TrainingSettings
    seconds: float
    history: tuple[EpochRecord, ...]
    test_accuracy: float | None      # None when no epoch ran
    n_train: int
    n_test: int

    @classmethod
    def check(cls, value: object) -> TrainingRecord:
        fields = _mapping(value, TRAINING, "the training record this tool writes "
                                           "(config, seconds, history, test_accuracy, n_train, n_test)")
        settings = TrainingSettings.check(fields.get("config", MISSING), f"{TRAINING}.config")
        rows = _sequence(fields.get("history", MISSING), f"{TRAINING}.history", "a list of epochs", 0, MAX_HISTORY)
        accuracy = fields.get("test_accuracy")
        return cls(config=settings,
                   seconds=_number(fields.get("seconds", MISSING), f"{TRAINING}.seconds", low=0),
                   history=tuple(EpochRecord.check(row, f"{TRAINING}.history[{i}]") for i, row in enumerate(rows)),
                   test_accuracy=None if accuracy is None else _share(accuracy, f"{TRAINING}.test_accuracy"),
                   n_train=_integer(fields.get("n_train", MISSING), f"{TRAINING}.n_train"),
                   n_test=_integer(fields.get("n_test", MISSING), f"{TRAINING}.n_test"))

    def to_dict(self) -> dict:
        return {"config": dataclasses.asdict(self.config), "seconds": self.seconds,
                "history": [dataclasses.asdict(row) for row in self.history],
                "test_accuracy": self.test_accuracy, "n_train": self.n_train, "n_test": self.n_test}


@dataclasses.dataclass(frozen=True)
class CheckpointMeta:
    """Every metadata field the tool uses, checked; ``warnings`` name what was left out and why."""

    model_config: ModelConfig | None = None
    data_config: DataConfig | None = None
    training: TrainingRecord | None = None
    position: dict[str, int] | None = None     # some of POSITION_KEYS
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        """The ``meta`` dict analysis.run reads; fields that are absent are left out."""
        parts = {MODEL_CONFIG: self.model_config and self.model_config.to_dict(),
                 DATA_CONFIG: self.data_config and self.data_config.to_dict(),
                 TRAINING: self.training and self.training.to_dict(),
                 "position": dict(self.position) if self.position else None,
                 "warnings": list(self.warnings) if self.warnings else None}
        return {key: value for key, value in parts.items() if value is not None}


def validate(fields: Mapping[str, object], checkpoint: Path | str) -> CheckpointMeta:
    """Check the metadata fields of a checkpoint (its top-level keys other than the state_dict; for a
    .safetensors file its metadata strings, parsed as JSON). A missing or null field is simply absent."""
    warnings: list[str] = []
    try:
        model_config = ModelConfig.check(fields[MODEL_CONFIG]) if fields.get(MODEL_CONFIG) is not None else None
        data_config = DataConfig.check(fields[DATA_CONFIG]) if fields.get(DATA_CONFIG) is not None else None
    except FieldError as error:
        raise InputError(f"checkpoint {checkpoint}: {error.describe()}: fix or remove that field") from None
    training = _informational(lambda: TrainingRecord.check(fields[TRAINING]), "the training record",
                              warnings) if fields.get(TRAINING) is not None else None
    position = {}
    for key in POSITION_KEYS:
        if fields.get(key) is not None:
            value = _informational(lambda key=key: _integer(fields[key], key), f"the {key}", warnings)
            if value is not None:
                position[key] = value
    return CheckpointMeta(model_config, data_config, training, position or None, tuple(warnings))


def _informational(check, what: str, warnings: list[str]):
    """The checked value, or None with a warning: the report is right without it. The warning does not
    name the file: stores are keyed by checkpoint content, so a renamed copy shares them."""
    try:
        return check()
    except FieldError as error:
        warnings.append(f"checkpoint metadata {error.describe()}: {what} is left out of the report")
        return None


def safetensors_fields(metadata: Mapping[str, str]) -> dict[str, object]:
    """The metadata fields of a .safetensors file, whose values are strings: JSON where it parses, else the
    text itself (which then fails the schema with the text shown)."""
    fields = {}
    for key in (*META_KEYS, *POSITION_KEYS):
        if key in metadata:
            try:
                fields[key] = json.loads(metadata[key])
            except (ValueError, RecursionError):  # RecursionError: "[[[[..." nested beyond Python's stack
                fields[key] = metadata[key]
    return fields
