"""Load a checkpoint safely (weights only) into the model, with errors a user can act on."""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import re
import warnings
from collections import Counter, OrderedDict
from pathlib import Path

import torch
from torch import nn
from torch.nn.parameter import is_lazy

from analysis.data.files import names_list, printable
from analysis.errors import InputError
from analysis.models.checkpoint_meta import (
    META_KEYS,
    POSITION_KEYS,
    checkpoint_file_problem,
    HEAD_BYTES,
    checkpoint_format,
    safetensors_fields,
    unrecognised_format,
    validate,
    zip_archive_problem,
)

STATE_DICT_KEYS = ("state_dict", "model_state_dict", "model")
DETAIL_LIMIT = 160   # characters of a loader's own error text shown in our one line


def read_checkpoint(path: Path, expected_sha256: str | None = None,
                    strip_prefix: str | None = None) -> tuple[dict[str, torch.Tensor], dict]:
    """The state_dict, and what else the checkpoint records about itself, checked by
    analysis.models.checkpoint_meta.validate (``training``, ``model_config``, ``data_config``, ``position``;
    ``warnings`` names what was left out). The file is read once, and everything comes from those bytes:
    with ``expected_sha256`` (the hash the store is keyed on) a file replaced since it was hashed is refused,
    so a store never holds the results of other bytes than its key names. ``strip_prefix`` (--strip-prefix)
    is taken off every key that starts with it."""
    state, meta = _read(Path(path), expected_sha256)
    return (given_prefix_stripped(state, strip_prefix, path) if strip_prefix else state), meta


def _read(path: Path, expected_sha256: str | None) -> tuple[dict[str, torch.Tensor], dict]:
    problem = checkpoint_file_problem(path)
    if problem:
        raise InputError(problem)
    data = snapshot(path, expected_sha256)
    kind = checkpoint_format(data[:HEAD_BYTES])
    # By content, not by name: a .safetensors renamed .pt is still read, a text file is not unpickled.
    if kind == "safetensors" or (kind is None and path.suffix == ".safetensors"):
        return read_safetensors(path, data)
    if kind is None:
        raise InputError(unrecognised_format(path, data[:HEAD_BYTES]))
    if kind == "zip" and (problem := zip_archive_problem(path, data)):  # TorchScript, torch.export: never loaded
        raise InputError(problem)
    loaded = _load_weights_only(path, data)
    del data  # the tensors are copies: the file's bytes need not stay in memory beside them
    state = extract_state_dict(loaded, path)
    # A bare state_dict has no metadata: a parameter named like a field (a buffer "step") is a weight.
    fields = {} if _is_state_dict(loaded) else _metadata_fields(loaded)
    return state, validate(fields, path).to_dict()


def snapshot(path: Path, expected_sha256: str | None = None) -> bytes:
    """The checkpoint's bytes, read once; refused when they are not the bytes hashed for the store's key (the
    file was replaced or is still being written)."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise InputError(f"checkpoint {path} cannot be read ({error.strerror or error}): "
                         "give a file saved with torch.save") from None
    if expected_sha256 is not None and hashlib.sha256(data).hexdigest() != expected_sha256:
        raise InputError(f"checkpoint {path} changed while this run read it (it is being written or was replaced): "
                         "run again once it is complete")
    return data


def _load_weights_only(path: Path, data: bytes):
    try:
        # Safe mode only, whatever the error text suggests: unsafe loading would run foreign code.
        # Its warnings (e.g. about the pickle protocol) are internals, and would break our one-line errors.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise InputError(f"checkpoint {path} was refused by the safe loader ({loader_detail(error)}): it holds "
                         "objects other than tensors and plain data; save model.state_dict() instead") from None
    except Exception as error:  # torch's loader raises many types for damaged files (EOFError, IndexError...)
        raise InputError(f"checkpoint {path} is not a readable torch checkpoint ({loader_detail(error)}): "
                         "it may be truncated or not a torch.save file") from None


# torch's refusals explain how to load the file unsafely; those sentences must never reach a user.
UNSAFE_ADVICE = re.compile(r"weights_only|Re-running|trusted source|safe_globals|allowlist|file an issue|"
                           r"documentation|do those steps|two options|Weights only load failed", re.IGNORECASE)


def loader_detail(error: BaseException) -> str:
    """The informative sentence of a loader's error: no unsafe advice, cut at a word boundary."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))  # torch colours part of its message
    sentences = [s.strip() for s in re.split(r"(?<=\.)\s+|\n+", text) if s.strip()]
    useful = [s for s in sentences if not UNSAFE_ADVICE.search(s)]
    detail = useful[0] if useful else type(error).__name__
    detail = re.sub(r"^WeightsUnpickler error:\s*", "", detail).rstrip(".")
    if len(detail) <= DETAIL_LIMIT:
        return detail
    return detail[:DETAIL_LIMIT].rsplit(" ", 1)[0] + " …"


def read_safetensors(path: Path, data: bytes) -> tuple[dict[str, torch.Tensor], dict]:
    """A .safetensors file: tensors only (it cannot hold code); configs may sit in its string metadata."""
    from safetensors import SafetensorError
    from safetensors.torch import load as load_tensors

    try:
        state = load_tensors(data)
        metadata = _safetensors_metadata(data)
    except (SafetensorError, OSError, ValueError, TypeError, RuntimeError) as error:
        # SafetensorError covers lying headers too: lengths beyond the file, overlapping offsets.
        raise InputError(f"checkpoint {path} is not a readable safetensors file ({loader_detail(error)}): "
                         "it may be truncated or damaged") from None
    if not state:
        raise InputError(f"checkpoint {path} holds no tensors")
    return state, validate(safetensors_fields(metadata), path).to_dict()


def _safetensors_metadata(data: bytes) -> dict:
    """The header's ``__metadata__`` (string to string); safetensors has checked the header's length already."""
    length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + length])
    metadata = header.get("__metadata__") if isinstance(header, dict) else None
    return metadata if isinstance(metadata, dict) else {}


def non_finite(state: dict[str, torch.Tensor]) -> list[str]:
    """Names of floating-point tensors holding NaN or infinite values."""
    return sorted(name for name, tensor in state.items()
                  if torch.is_floating_point(tensor) and not bool(torch.isfinite(tensor).all()))


def _is_state_dict(value) -> bool:
    return (isinstance(value, dict) and bool(value)
            and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in value.items()))


def _metadata_fields(loaded) -> dict:
    """The top-level entries that may describe the checkpoint (analysis.models.checkpoint_meta checks them)."""
    if not isinstance(loaded, dict):
        return {}
    return {key: loaded[key] for key in (*META_KEYS, *POSITION_KEYS) if key in loaded}


def extract_state_dict(loaded, path: Path) -> dict[str, torch.Tensor]:
    """A bare state_dict, or one under a key training scripts commonly use; with its ``_metadata``."""
    if _is_state_dict(loaded):
        return _with_module_metadata(loaded)
    if isinstance(loaded, dict):
        for key in STATE_DICT_KEYS:
            if _is_state_dict(loaded.get(key)):
                return _with_module_metadata(loaded[key])
    keys = ", ".join(sorted(map(str, loaded))[:8]) if isinstance(loaded, dict) else type(loaded).__name__
    raise InputError(f"checkpoint {path} holds no state_dict (found: {keys}): "
                     f"save model.state_dict(), or a dict with one of the keys {', '.join(STATE_DICT_KEYS)}")


def _with_module_metadata(state: dict) -> OrderedDict:
    """A copy that keeps ``_metadata``: module.state_dict() records each module's version there, and
    _load_from_state_dict of e.g. BatchNorm reads it to convert older layouts."""
    copy = OrderedDict(state)
    metadata = _plain_module_metadata(getattr(state, "_metadata", None))
    if metadata is not None:
        copy._metadata = metadata
    return copy


def _plain_module_metadata(metadata) -> dict | None:
    """``_metadata`` as torch writes it ({module name: {"version": int, ...}}), or None: any other shape
    would make load_state_dict fail with a traceback (a version compared with an int), so it is dropped
    and the modules load as if it were absent, as for a state_dict saved as a plain dict."""
    if not isinstance(metadata, dict):
        return None
    for name, entry in metadata.items():
        if not isinstance(name, str) or not isinstance(entry, dict):
            return None
        if any(not isinstance(k, str) or not isinstance(v, (int, float, str, bool, type(None)))
               for k, v in entry.items()):
            return None
        version = entry.get("version")
        if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
            return None
    return {name: dict(entry) for name, entry in metadata.items()}


# Wrappers whose state_dict puts the wrapped model's keys under a prefix: nn.DataParallel and
# DistributedDataParallel (``module.``), torch.compile (``_orig_mod.``), in any nesting (DDP of a compiled model).
WRAPPER_PREFIXES = ("module", "_orig_mod")
PREFIX_HINT_CANDIDATES = 64  # prefixes tried for the --strip-prefix hint of a refusal: a bounded search


def unwrapped(name: str) -> str:
    """A key or module path without the wrappers' prefixes, however they nest."""
    while True:
        for prefix in WRAPPER_PREFIXES:
            if name == prefix:
                return ""
            if name.startswith(prefix + "."):
                name = name[len(prefix) + 1:]
                break
        else:
            return name


def without_prefix(key: str, prefix: str) -> str:
    """A key without ``prefix`` (``net.``: ``net.fc.weight`` is ``fc.weight``); keys without it are kept."""
    return key[len(prefix):] if key.startswith(prefix) else key


def renamed(state: dict[str, torch.Tensor], rename) -> OrderedDict:
    """``state`` with every key renamed by ``rename``, and every module's ``_metadata`` entry as its keys are (a
    module's path is the prefix of its keys: ``net`` holds ``net.*``, so it becomes the root ``""``). An entry that
    was renamed takes the place of one that kept its name: a wrapper's own entry gives way to the wrapped
    model's (the innermost comes last)."""
    stripped = OrderedDict((rename(k), v) for k, v in state.items())
    metadata = getattr(state, "_metadata", None)
    if metadata is not None:
        entries = {}
        for name, entry in metadata.items():
            new_name = rename(name + ".")[:-1] if name else name
            if new_name != name:
                entries[new_name] = entry
            else:
                entries.setdefault(name, entry)
        stripped._metadata = entries
    return stripped


def without_wrapper_prefixes(state: dict[str, torch.Tensor]) -> OrderedDict:
    """The wrappers (``WRAPPER_PREFIXES``) save every key, and every module's ``_metadata`` entry, under their
    prefix."""
    return renamed(state, unwrapped)


def given_prefix_stripped(state: dict[str, torch.Tensor], prefix: str, path: Path) -> OrderedDict:
    """``state`` with ``prefix`` (--strip-prefix, ending with a dot) taken off every key that has it, the others
    kept as they are; refused when no key has it, or when two tensors would then share a key."""
    if not any(key.startswith(prefix) for key in state):
        starts = sorted({key.split(".", 1)[0] + ("." if "." in key else "") for key in state})
        raise InputError(f"--strip-prefix {printable(prefix, 60)} matches no key of checkpoint {printable(path)} "
                         f"(its keys start with {names_list(starts, 4)}): give the prefix its keys start with, "
                         "or leave --strip-prefix out")
    stripped = renamed(state, lambda name: without_prefix(name, prefix))
    if len(stripped) < len(state):
        taken = next(k for k in state if k.startswith(prefix) and k[len(prefix):] in state
                     and not k[len(prefix):].startswith(prefix))  # the unprefixed key it meets
        raise InputError(f"--strip-prefix {printable(prefix, 60)} would give two tensors of checkpoint "
                         f"{printable(path)} the key {printable(taken[len(prefix):], 60)} (it holds "
                         f"{printable(taken, 60)} too): the keys without the prefix are another model's; "
                         "save the model's own state_dict")
    return stripped


def common_prefixes(keys) -> list[str]:
    """The dotted prefixes every key starts with, longest first (``backbone.model.``, ``backbone.``): each
    leaves every key at least its last part."""
    keys = list(keys)
    shared = keys[0].split(".")[:-1] if keys else []
    for key in keys[1:]:
        parts = key.split(".")[:-1]
        length = 0
        while length < min(len(shared), len(parts)) and shared[length] == parts[length]:
            length += 1
        shared = shared[:length]
        if not shared:
            return []
    return [".".join(shared[:n]) + "." for n in range(len(shared), 0, -1)]


def fitted(model: nn.Module, state: dict[str, torch.Tensor]) -> tuple[OrderedDict, str]:
    """``state`` named as ``model`` names its tensors, and the one prefix taken off every key for that ("" for
    none). The wrappers' prefixes are always taken off. When the keys still do not fit, one prefix common to
    every key (a wrapper that holds the model as an attribute: Lightning's ``model.``, ``net.``, an EMA's
    ``ema.module.``) is taken off, the longest that makes the keys exactly the model's; else ``state`` is kept
    as it is and check_fits names what differs."""
    expected = set(model.state_dict())
    plain = without_wrapper_prefixes(state)
    if set(plain) == expected:
        return plain, ""
    for prefix in common_prefixes(state):
        candidate = without_wrapper_prefixes(renamed(state, lambda name: without_prefix(name, prefix)))
        if set(candidate) == expected:
            return candidate, prefix
    return plain, ""


def _prefix_hint(state: dict[str, torch.Tensor], expected: set[str]) -> str:
    """``, or --strip-prefix P (...)`` when taking P off the keys that have it (not all do, so it is not taken off
    by itself) makes them exactly the model's; else ""."""
    counts = Counter(".".join(parts[:n]) + "." for parts in (key.split(".")[:-1] for key in state)
                     for n in range(1, min(len(parts), 3) + 1))
    for prefix in sorted(counts, key=lambda p: (-counts[p], p))[:PREFIX_HINT_CANDIDATES]:
        if {unwrapped(without_prefix(key, prefix)) for key in state} == expected and len(state) == len(expected):
            return (f", or --strip-prefix {printable(prefix, 60)} (taking it off the keys that have it makes "
                    "them this model's)")
    return ""


def check_fits(model: nn.Module, state: dict[str, torch.Tensor], path: Path) -> tuple[OrderedDict, str]:
    """Refuse a state_dict whose keys or shapes do not fit ``model``, naming the keys (at most 8 of each kind,
    escaped: keys are data and may hold anything); else the state named as the model names its tensors and the
    prefix taken off for that (``fitted``). Works on a model built on the meta device too."""
    given = state
    state, prefix = fitted(model, given)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mismatched = [f"{printable(k, 60)} {tuple(state[k].shape)} vs {tuple(expected[k].shape)}"
                  for k in sorted(set(state) & set(expected))
                  if not is_lazy(expected[k]) and state[k].shape != expected[k].shape]  # a lazy layer's
                  # parameters have no shape yet: they take the checkpoint's when it is loaded
    problems = []
    if missing:
        problems.append("missing " + names_list(missing))
    if unexpected:
        problems.append("unexpected " + names_list(unexpected))
    if mismatched:
        problems.append("shape mismatch " + "; ".join(mismatched[:8]) +
                        (f" … and {len(mismatched) - 8} more" if len(mismatched) > 8 else ""))
    if problems:
        hint = _prefix_hint(given, set(expected)) if missing and unexpected else ""
        raise InputError(f"checkpoint {printable(path)} is for another architecture than {type(model).__name__} "
                         f"({'; '.join(problems)}): give a checkpoint of this model{hint}")
    return state, prefix


def load_into(model: nn.Module, state: dict[str, torch.Tensor], path: Path) -> str:
    """Load strictly; name every missing, unexpected or mismatched key. Returns the prefix taken off every key
    to fit the model beyond the wrappers' (``fitted``; "" for none): the report says so."""
    state, prefix = check_fits(model, state, path)
    try:
        model.load_state_dict(state, strict=True)
    except (RuntimeError, TypeError, ValueError) as error:  # e.g. a complex or sparse tensor for a weight
        raise InputError(f"checkpoint {printable(path)} does not fit {type(model).__name__} ({loader_detail(error)}): "
                         "give a checkpoint of this model") from None
    return prefix
