"""The artifact store: canonical JSON, PNGs and a manifest, written atomically.

Torch-free: the report stage reads stores through ``report.render.load`` using the
constants and helpers here. A store is one folder ``build/stores/<key>/``; it
is assembled in a hidden temporary folder and renamed into place, so a reader
never sees half a store and a failed run leaves the previous ones untouched.
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import shutil
import stat
import tempfile
from pathlib import Path

from analysis.store.schema import SCHEMA_VERSION, to_json

MANIFEST = "manifest.json"
FLOAT_DIGITS = 7  # significant digits kept in stored floats: same inputs, same bytes
# Every temporary file or folder this tool makes starts with one of these prefixes: clean-up after a
# killed run removes only names that carry them, so it never touches a file it did not create.
TMP_PREFIX = ".report-tmp."
STALE_PREFIX = ".report-stale."


def remove_temporary(path: Path) -> None:
    """Remove a temporary file or folder this tool made: refused for any name without its prefixes, so
    no code path can remove something the tool did not create."""
    path = Path(path)
    if not path.name.startswith((TMP_PREFIX, STALE_PREFIX)):
        raise ValueError(f"refusing to remove {path}: not a temporary of this tool")
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def umask() -> int:
    """The process's umask, read without changing it where Linux allows (os.umask is a write)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    current = os.umask(0o022)
    os.umask(current)
    return current


def file_mode() -> int:
    """The mode a plain open() would give a new file: mkstemp's 0600 would hide reports from others."""
    return 0o666 & ~umask()


def folder_mode() -> int:
    return 0o777 & ~umask()


def canonical(value):
    """Plain JSON types with floats rounded, so equal results give equal bytes."""
    if isinstance(value, dict):
        return {str(k): canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return canonical(value.tolist())
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        rounded = float(f"{value:.{FLOAT_DIGITS}g}")
        return 0.0 if rounded == 0 else rounded  # no "-0.0"
    raise TypeError(f"cannot store {type(value).__name__} in JSON")


def dumps(document: dict) -> bytes:
    return (json.dumps(canonical(document), indent=2, sort_keys=True) + "\n").encode()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def holds(path: Path, data: bytes, mode: int | None = None) -> bool:
    """Whether ``path`` is already a regular file with exactly these bytes and the permissions ``stage_file``
    would give it (``mode``: ``file_mode()``, passed in when many files are checked): then it need not be
    written again. A link, a pipe or a folder is never read."""
    try:
        status = os.lstat(path)
        if (not stat.S_ISREG(status.st_mode) or status.st_size != len(data)
                or stat.S_IMODE(status.st_mode) != (file_mode() if mode is None else mode)):
            return False
        with open(path, "rb") as handle:
            return handle.read(len(data) + 1) == data
    except OSError:
        return False


def stage_file(path: Path, data: bytes) -> Path:
    """Write ``data`` to a new temporary file beside ``path`` and fsync it; returns the temporary path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f"{TMP_PREFIX}{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, file_mode())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        remove_temporary(Path(tmp))
        raise
    return Path(tmp)


def write_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary file beside ``path``, fsync, then rename over it."""
    tmp = stage_file(path, data)
    try:
        os.replace(tmp, path)
    except BaseException:
        remove_temporary(tmp)
        raise


def is_store(folder: Path) -> bool:
    """A store written by this tool (analysis, series or compare): a real folder holding a manifest with a
    schema version and a file list. Names alone prove nothing: anyone may have a folder called ``stores``."""
    manifest = Path(folder) / MANIFEST
    if Path(folder).is_symlink() or not manifest.is_file():
        return False
    try:
        document = json.loads(manifest.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(document, dict) and isinstance(document.get("schema_version"), int) \
        and isinstance(document.get("files"), dict)


def is_intact(store_dir: Path) -> bool:
    """Every file the manifest lists is present with its recorded sha256."""
    try:
        files = json.loads((Path(store_dir) / MANIFEST).read_text())["files"]
        return all(sha256_file(Path(store_dir) / name) == digest for name, digest in files.items())
    except (OSError, ValueError, KeyError, TypeError):
        return False


class StoreWriter:
    """Collects a store's files in a temporary folder; ``commit`` publishes it."""

    def __init__(self, final_dir: Path):
        self.final_dir = Path(final_dir)
        self.final_dir.parent.mkdir(parents=True, exist_ok=True)
        self.tmp_dir = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{self.final_dir.name}.",
                                             dir=self.final_dir.parent))
        self.files: dict[str, str] = {}

    def write_bytes(self, relpath: str, data: bytes) -> str:
        target = self.tmp_dir / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        self.files[relpath] = sha256_bytes(data)
        return relpath

    def path_of(self, relpath: str) -> Path:
        """Where ``relpath`` is staged: a writer of a large file may fill it there itself, then ``adopt`` it."""
        target = self.tmp_dir / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        return target.resolve()

    def adopt(self, relpath: str) -> str:
        """A file written in place at ``path_of(relpath)``, listed with its hash as ``write_bytes`` lists."""
        self.files[relpath] = sha256_file(self.tmp_dir / relpath)
        return relpath

    def write_json(self, relpath: str, document: dict) -> str:
        return self.write_bytes(relpath, dumps({"schema_version": SCHEMA_VERSION, **document}))

    def write_record(self, relpath: str, record) -> str:
        """A document declared in ``analysis.store.schema``, serialised as that module says."""
        return self.write_json(relpath, to_json(record))

    def commit(self, manifest: dict) -> Path:
        manifest = {**manifest, "schema_version": SCHEMA_VERSION, "files": dict(sorted(self.files.items()))}
        (self.tmp_dir / MANIFEST).write_bytes(dumps(manifest))
        for path in self.tmp_dir.rglob("*"):
            if path.is_file():
                with open(path, "rb") as handle:
                    os.fsync(handle.fileno())
        self.tmp_dir.chmod(folder_mode())
        existing = self.final_dir / MANIFEST
        if (existing.is_file() and existing.read_bytes() == (self.tmp_dir / MANIFEST).read_bytes()
                and is_intact(self.final_dir)):
            self.abort()  # the same inputs gave the same bytes: keep the published store untouched
            return self.final_dir
        if self.final_dir.exists():  # an older, damaged store for the same inputs: replace it
            if self.final_dir.is_symlink() or not (self.final_dir / MANIFEST).is_file():
                self.abort()  # not recognisably a store of this tool (no manifest.json): never removed
                raise FileExistsError(errno.EEXIST, "a folder that is not a store of this tool is in the way "
                                                    "(move it away)", str(self.final_dir))
            stale = self.final_dir.with_name(f"{STALE_PREFIX}{self.final_dir.name}.{os.getpid()}")
            os.rename(self.final_dir, stale)
            os.rename(self.tmp_dir, self.final_dir)
            remove_temporary(stale)
        else:
            os.rename(self.tmp_dir, self.final_dir)
        return self.final_dir

    def abort(self) -> None:
        remove_temporary(self.tmp_dir)
