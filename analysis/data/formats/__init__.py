"""Data formats, one module each: its ``FORMAT`` says how ``--data`` is recognised (``detect``), which files
make the data set (``files``: what is hashed for the store key, each a regular file) and which function reads
it (``reader``). The registry, in order of detection, is ``analysis.data.files.FORMATS``: detection, identity
and reading all go through it, so the files hashed are the files of the format that is read.

Adding a format: a module here ending in ``FORMAT = Format(...)`` and its line in ``FORMATS``. Modules here are
torch- and numpy-free (the store key is computed from them); ``reader`` names the function that reads the
files, ``"module:function"``, imported only when the data are read, as ``function(data, options)``
returning ``analysis.data.splits.DataSplits`` (numpy, Pillow, pyarrow there)."""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Mapping
from pathlib import Path

from analysis.data.paths import hash_file


@dataclasses.dataclass(frozen=True)
class ReadOptions:
    """What a reader may need beside ``--data``: the cache folder (the embedded digits parsed once), the side
    images are resized to, and class names given by the user (and where they came from, for messages)."""

    cache_dir: Path | None = None
    input_size: int | None = None
    class_names: list[str] | None = None
    names_from: str = "--class-names"


@dataclasses.dataclass(frozen=True)
class Format:
    """One data format. ``data`` is ``--data`` as given (None: the default)."""

    id: str
    detect: Callable[[str | None], bool]  # whether ``data`` is of this format: names and headers, nothing parsed
    files: Callable[[str | None], dict[str, Path]]  # every file read, by its name in the identity
    kind: str | Callable[[str | None], str]  # the kind stored with the identity and the splits
    reader: str  # "module:function" reading the data set, as function(data, options) -> DataSplits
    sized: bool = False  # images decoded from files: --input-size changes what is read, so it is in the identity
    facts: Mapping[str, str] = dataclasses.field(default_factory=dict)  # fixed facts of what is read (a split)

    def kind_of(self, data: str | None) -> str:
        return self.kind(data) if callable(self.kind) else self.kind

    def identity(self, data: str | None, input_size: int | None = None) -> dict:
        """Which data a run used, as hashes of its files (cheap: no parsing): part of the store key."""
        identity = {"kind": self.kind_of(data), **self.facts,
                    "files": {name: hash_file(path) for name, path in self.files(data).items()}}
        return {**identity, "input_size": input_size} if self.sized else identity

    def read(self, data: str | None, options: ReadOptions):
        module, _, function = self.reader.partition(":")
        return getattr(importlib.import_module(module), function)(data, options)


def folder_of(data: str | None) -> Path | None:
    """``--data`` as a path; None for the default (the embedded digits)."""
    return None if data is None else Path(data)
