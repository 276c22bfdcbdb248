"""The build folder: which folders may become one, one run at a time, and outputs replaced together.

The tool deletes only what it created, recognisably: temporary names that start with
``analysis.store.writer.TMP_PREFIX`` or ``STALE_PREFIX``, its own journal, and (``clean``) the entries it
writes in a folder it marked as a build folder. A folder it did not make is never adopted unless it is
empty, so ``--out ~`` or ``--out .`` in a clone is refused before anything is written there.

Build folders are marked twice: ``CACHEDIR.TAG`` (the convention pip and cargo use, so backup tools skip
them) and ``.report-build``, this tool's own marker.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import shutil
import tempfile
from pathlib import Path

from analysis.errors import InputError
from analysis.store.writer import (STALE_PREFIX, TMP_PREFIX, dumps, file_mode, holds, is_store, remove_temporary,
                                   stage_file, write_atomic)
from report.render.tables import TABLE_FILES

MARKER = ".report-build"
CACHEDIR_TAG = "CACHEDIR.TAG"
TAG_TEXT = ("Signature: 8a477f597d28d172789f06886806bc55\n"
            "# This file is a cache directory tag created by the report generator (python -m report).\n"
            "# For information about cache directory tags, see https://bford.info/cachedir/\n")
MARKER_TEXT = "This folder is a build folder of the report generator (python -m report).\n"
CREATED = "created: this tool made the folder\n"   # the marker's second line: may `clean` remove the folder?
ADOPTED = "adopted: the folder existed before\n"
LOCK = ".lock"
JOURNAL = ".report-journal.json"
CURRENT_STORE = "current-store.txt"
# Everything the tool writes at a build folder's top level; `clean` removes these and nothing else.
OUTPUTS = frozenset({
    "report.html", "report.pdf", "notes.json", "render.json", CURRENT_STORE, "assets", "stores",
    "checkpoints", "cache", "series", "compares", "compare.html", "compare.pdf", "compare-notes.json",
    "history.html", "history.pdf", "history-notes.json", "history.csv", "history.parquet", "tables", "summary.md",
    "training",
})
MARKS = frozenset({MARKER, CACHEDIR_TAG, LOCK, JOURNAL})
# Folders where runs write temporary files (see clean_leftovers).
WORK_FOLDERS = ("", "stores", "series", "compares", "assets", "checkpoints", "cache", "tables", "training")
# Inside each folder of the tool, the names it writes there (shell patterns); `clean` removes only these.
OWN_ENTRIES = {
    "stores": ("*",), "series": ("*",), "compares": ("*",),   # folders holding a manifest.json of this tool
    "checkpoints": ("default-*.pt", "default-*.pt.sha256", "module-*.pt"),
    "tables": TABLE_FILES,             # the report's tables (report.render.tables), by name
    "training": ("epoch-*.pt",),     # checkpoints the training callbacks saved (report.training)
    "cache": ("mnist5k-nchw-*.npz", "matplotlib", "parquet"),
    "assets": ("report.css",),
}
STORE_FOLDERS = ("stores", "series", "compares")


def is_marked(out: Path) -> bool:
    return (Path(out) / MARKER).is_file()


def _forbidden(resolved: Path) -> str | None:
    if resolved == Path(resolved.anchor):
        return "is the root of the file system"
    homes = {Path.home().resolve()}
    if os.environ.get("HOME"):
        homes.add(Path(os.environ["HOME"]).resolve())
    if resolved in homes:
        return "is your home folder"
    return None


def _is_earlier_build_folder(out: Path, entries: list[str]) -> bool:
    """A build folder written before folders were marked: only names this tool writes, and
    ``current-store.txt`` naming a store of this tool (its manifest read, not just its name)."""
    if not set(entries) <= OUTPUTS | MARKS or CURRENT_STORE not in entries:
        return False
    try:
        name = (out / CURRENT_STORE).read_text(errors="replace").strip()
    except OSError:
        return False
    return bool(name) and Path(name).name == name and is_store(out / "stores" / name)


def prepare(out: Path) -> Path:
    """Check that ``out`` may be used as a build folder, create and mark it; refused in one line if not."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file, not a folder: give a folder for the report")
    problem = _forbidden(out.resolve())
    if problem:
        raise InputError(f"--out {out} {problem}: give a folder of its own for the report, e.g. --out build")
    existed = out.is_dir()
    if existed and not is_marked(out):
        entries = sorted(entry.name for entry in out.iterdir())
        if entries and not _is_earlier_build_folder(out, entries):
            shown = ", ".join(entries[:5]) + (f" and {len(entries) - 5} more" if len(entries) > 5 else "")
            raise InputError(f"--out {out} already holds files this tool did not make ({shown}): give a new or "
                             "empty folder, or a build folder made by this tool")
    if existed:
        linked = [name for name in WORK_FOLDERS[1:] if (out / name).is_symlink()]
        if linked:  # writing through it would replace files elsewhere (a website's report.css, say)
            raise InputError(f"{out / linked[0]} is a symbolic link: this tool writes only into folders of its own; "
                             "replace the link by a folder")
    out.mkdir(parents=True, exist_ok=True)
    if not is_marked(out):
        write_atomic(out / CACHEDIR_TAG, TAG_TEXT.encode())
        write_atomic(out / MARKER, (MARKER_TEXT + (ADOPTED if existed else CREATED)).encode())
    return out


def created_by_this_tool(out: Path) -> bool:
    try:
        return CREATED in (Path(out) / MARKER).read_text()
    except OSError:
        return False


@contextlib.contextmanager
def exclusive(out: Path, wait: float, log=print):
    """One run at a time per build folder. The holder first completes a publication that a killed run left
    half-done, then removes the temporary files of killed runs."""
    from filelock import FileLock, Timeout

    out = prepare(out)
    lock_path = out / LOCK
    if lock_path.is_symlink() or (lock_path.exists() and not lock_path.is_file()):
        raise InputError(f"{lock_path} is not the lock file this tool writes (it is a folder or a link): remove "
                         "it once no report run is using this folder")
    lock = FileLock(str(lock_path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        log(f"report: another run is using {out}; waiting up to {wait:.0f} s")
        try:
            lock.acquire(timeout=wait)
        except Timeout:
            raise InputError(f"another report run still holds {lock_path} after {wait:.0f} s: let it finish, "
                             "or give this run another --out") from None
    try:
        recover(out, log)
        clean_leftovers(out)
        with temporary_files_inside(out):
            yield out
    finally:
        lock.release()


@contextlib.contextmanager
def temporary_files_inside(out: Path, matplotlib_cache: bool = True):
    """For the run, temporary files of this process and its children (torch, Pillow, ctypes, the PDF
    worker) go to a folder inside ``out``, removed afterwards (or by the next run if this one is killed):
    nothing is left in the system's temporary folder. The previous setting is restored. Importing
    torchvision's models alone creates ``$TMPDIR/torchinductor_<user>``."""
    scratch = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}scratch.", dir=out))
    settings = {"TMPDIR": str(scratch)}
    if matplotlib_cache:  # matplotlib keeps its font list in a config folder, by default under HOME
        settings["MPLCONFIGDIR"] = str(Path(out).resolve() / "cache" / "matplotlib")
    saved_env = {name: os.environ.get(name) for name in settings}
    saved_default = tempfile.tempdir
    os.environ.update(settings)
    tempfile.tempdir = str(scratch)
    try:
        yield scratch
    finally:
        tempfile.tempdir = saved_default
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        remove_temporary(scratch)


def _is_ours(name: str) -> bool:
    return name.startswith(TMP_PREFIX) or name.startswith(STALE_PREFIX)


def clean_leftovers(out: Path) -> list[Path]:
    """Remove the temporary files and folders of killed runs: only names with this tool's prefixes."""
    removed = []
    for sub in WORK_FOLDERS:
        folder = Path(out) / sub
        if not folder.is_dir() or folder.is_symlink():
            continue
        for leftover in folder.iterdir():
            if _is_ours(leftover.name):
                try:
                    _remove(leftover)
                except OSError:  # gone already, or not removable now: the next run tries again
                    continue
                removed.append(leftover)
    return removed


def publish(out: Path, files: dict[Path, bytes]) -> list[Path]:
    """Replace several files of the build folder as one. Each is written and fsynced under a temporary
    name; then a journal listing the renames is written (the commit point); then the renames happen and
    the journal goes. A run killed among the renames is completed by the next run (``recover``), so a
    reader never finds outputs of two builds side by side once the next run has started; a run that fails
    before the journal leaves every previous output as it was. A file that already holds its bytes is left
    as it is (its name, inode and time)."""
    out = Path(out)
    staged: list[tuple[Path, Path]] = []
    mode = file_mode()  # read once for all the files
    try:
        for target, data in files.items():
            if not Path(target).resolve().is_relative_to(out.resolve()):
                raise ValueError(f"{target} is not inside the build folder {out}")
            if not holds(Path(target), data, mode):
                staged.append((stage_file(target, data), Path(target)))
    except BaseException:
        for tmp, _ in staged:
            remove_temporary(tmp)
        raise
    if not staged:
        return []
    renames = [[os.path.relpath(tmp, out), os.path.relpath(target, out)] for tmp, target in staged]
    write_atomic(out / JOURNAL, dumps({"renames": renames}))
    _apply(out, renames)
    (out / JOURNAL).unlink()
    return [target for _, target in staged]  # what was replaced: files that already held their bytes are not


def _apply(out: Path, renames: list[list[str]]) -> None:
    for tmp, target in renames:
        if (out / tmp).exists():
            os.replace(out / tmp, out / target)
    for folder in {(out / target).parent for _, target in renames}:
        _fsync_folder(folder)


def _fsync_folder(folder: Path) -> None:
    """Make the renames in ``folder`` durable (a power cut after them keeps them)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def _valid_renames(out: Path, document) -> list[list[str]] | None:
    """The journal's renames, if every one moves a temporary file of ours to a place inside ``out``."""
    renames = document.get("renames") if isinstance(document, dict) else None
    if not isinstance(renames, list):
        return None
    root = out.resolve()
    for pair in renames:
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)):
            return None
        tmp, target = (out / pair[0]).resolve(), (out / pair[1]).resolve()
        if not (Path(pair[0]).name.startswith(TMP_PREFIX) and tmp.is_relative_to(root)
                and target.is_relative_to(root)):
            return None
    return renames


def recover(out: Path, log=print) -> bool:
    """Complete the publication a killed run left half-done; True if there was one."""
    journal = Path(out) / JOURNAL
    if not journal.is_file():
        return False
    try:
        renames = _valid_renames(Path(out), json.loads(journal.read_text()))
    except (OSError, ValueError):
        renames = None
    if renames is None:
        log(f"report: {journal} is damaged; ignored (the outputs are rebuilt as needed)")
    else:
        _apply(Path(out), renames)
        log(f"report: completed the outputs of a run that was stopped while replacing them in {out}")
    journal.unlink()
    return True


def clean(out: Path) -> tuple[list[str], list[str]]:
    """Remove what this tool wrote in the build folder ``out``: (removed names, names left in place).
    Only recognisable entries go: the outputs it names, stores with its manifest, its default checkpoints
    and caches, its temporaries. A folder without this tool's marker, or a link to one, is refused; the
    folder itself is removed only when it ends empty and this tool created it."""
    out = Path(out)
    if not out.exists() and not out.is_symlink():
        return [], []
    if out.is_symlink() or not out.is_dir() or not is_marked(out):
        raise InputError(f"{out} is not a build folder made by this tool (no {MARKER} file, or a link to a folder): "
                         "nothing was removed")
    removed, kept = [], []
    for entry in sorted(out.iterdir(), key=lambda p: p.name):
        name = entry.name
        if name in OWN_ENTRIES and entry.is_dir() and not entry.is_symlink():
            inner_removed, inner_kept = _clean_folder(entry)
            removed += [f"{name}/{n}" for n in inner_removed]
            kept += [f"{name}/{n}" for n in inner_kept]
            if not inner_kept:
                entry.rmdir()
        elif (name in OUTPUTS and name not in OWN_ENTRIES and not entry.is_dir()) or _is_ours(name) \
                or name in (CACHEDIR_TAG, LOCK, JOURNAL):
            _remove(entry)
            removed.append(name)
        elif name != MARKER:
            kept.append(name)
    if kept:
        return removed, kept
    created = created_by_this_tool(out)
    (out / MARKER).unlink()
    removed.append(MARKER)
    if created:
        out.rmdir()
    return removed, []


def _clean_folder(folder: Path) -> tuple[list[str], list[str]]:
    patterns = OWN_ENTRIES[folder.name]
    removed, kept = [], []
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if folder.name in STORE_FOLDERS:
            ours = _is_ours(entry.name) or is_store(entry)
        else:
            ours = _is_ours(entry.name) or any(fnmatch.fnmatchcase(entry.name, p) for p in patterns)
        if ours:
            _remove(entry)
            removed.append(entry.name)
        else:
            kept.append(entry.name)
    return removed, kept


def _remove(entry: Path) -> None:
    if entry.is_dir() and not entry.is_symlink():
        shutil.rmtree(entry)
    else:
        entry.unlink()


def remove_if_unused(out: Path) -> bool:
    """After a refused run: a folder this run created holding nothing but the tool's markers is removed
    again, so a mistyped option leaves no trace. True if removed."""
    out = Path(out)
    if not created_by_this_tool(out) or {entry.name for entry in out.iterdir()} - {MARKER, CACHEDIR_TAG, LOCK, "cache"}:
        return False
    clean(out)  # what this run wrote (markers, the digits cache), then the folder it created
    return not out.exists()


def current_store(out: Path) -> Path:
    """The store the report was last built from, as recorded in current-store.txt."""
    from report.render.errors import StoreError

    pointer = Path(out) / CURRENT_STORE
    if not pointer.is_file():
        raise StoreError(f"no analysis in {out} yet: run `make report` first")
    name = pointer.read_text(errors="replace").strip()
    stores = Path(out) / "stores"
    store = stores / name
    # One plain folder name inside stores/: a damaged or edited pointer must not lead anywhere else.
    plain = bool(name) and Path(name).name == name and not name.startswith(".") and "\x00" not in name
    if not (plain and store.is_dir() and store.resolve().parent == stores.resolve()):
        raise StoreError(f"{pointer} is damaged (it does not name a store in {Path(out) / 'stores'}): "
                         "run `make report` to analyse again")
    return store
