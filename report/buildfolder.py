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
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from analysis.data.files import printable
from analysis.errors import InputError
from analysis.store.writer import (STALE_PREFIX, TMP_PREFIX, dumps, file_mode, holds, is_store, remove_temporary,
                                   sha256_file, stage_file, write_atomic)
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
    "report.html", "report.pdf", "notes.json", "render.json", CURRENT_STORE, "assets", "stores", "figures",
    "checkpoints", "cache", "series", "compares", "compare.html", "compare.pdf", "compare-notes.json",
    "history.html", "history.pdf", "history-notes.json", "history.csv", "history.parquet", "tables", "summary.md",
    "training",
})
MARKS = frozenset({MARKER, CACHEDIR_TAG, LOCK, JOURNAL})
# Folders where runs write temporary files (see clean_leftovers).
WORK_FOLDERS = ("", "stores", "figures", "series", "compares", "assets", "checkpoints", "cache", "tables", "training")
NESTED_FOLDERS = ("cache/parquet", "cache/matplotlib")  # written into too: never through a link
# Inside each folder of the tool, the names it writes there, as exact patterns (a user's `module-best.pt` or
# `my-notes.txt` never matches); `clean` removes only these, and of the checkpoints only those whose bytes still
# have the hash their name or their `.sha256` file records (see _holds_recorded_hash).
HEX16, HEX32 = "[0-9a-f]{16}", "[0-9a-f]{32}"
OWN_ENTRIES = {
    "stores": (HEX16,), "series": (HEX16,), "compares": (HEX16,),  # folders whose manifest names them (_is_own_store)
    "figures": (HEX16,),  # a store's figures (report.figures), named like it
    "checkpoints": (rf"default-{HEX16}\.pt", rf"default-{HEX16}\.pt\.sha256", rf"module-{HEX16}\.pt"),
    "tables": tuple(re.escape(name) for name in TABLE_FILES),  # the report's tables (report.render.tables)
    "training": (rf"epoch-[0-9]{{4,}}-{HEX16}\.pt",),  # checkpoints the training callbacks saved (report.training)
    "cache": (rf"mnist5k-nchw-{HEX16}\.npz", rf"mnist5k-nchw-{HEX16}\.npz\.sha256", "matplotlib", "parquet",
              rf"data-{HEX16}\.npz"),  # data given in memory (analysis.inmemory), named by its bytes' hash
    "cache/parquet": (rf"table-{HEX32}\.parquet",),  # report.exports.cached_parquet
    "cache/matplotlib": (r"fontlist-v[0-9][0-9.]*\.json",),  # matplotlib's font list (fontlist-v3.11.0.json)
    "assets": (re.escape("report.css"),),
}
STORE_FOLDERS = ("stores", "figures", "series", "compares")


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
    try:
        str(out.resolve()).encode("utf-8")
    except UnicodeEncodeError:  # bytes that are no UTF-8 (kept as surrogates): no page or PDF can name them
        raise InputError(f"--out {printable(out)}: the folder's path is not valid UTF-8: give a folder whose path is, "
                         "e.g. --out build") from None
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
        linked = [name for name in (*WORK_FOLDERS[1:], *NESTED_FOLDERS) if (out / name).is_symlink()]
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
    out = prepare(out)
    with _locked(out, wait, log, prepare_again=prepare):
        recover(out, log)
        clean_leftovers(out)
        with temporary_files_inside(out):
            yield out


@contextlib.contextmanager
def _locked(out: Path, wait: float, log=print, prepare_again=None):
    """Hold ``out/.lock``. A lock file that `clean` removed while this run waited for it is no lock any more:
    the run makes the folder again (``prepare_again``) and takes the new file's lock."""
    from filelock import FileLock, Timeout

    lock_path = out / LOCK
    deadline = time.monotonic() + wait
    announced = False
    while True:
        if lock_path.is_symlink() or (lock_path.exists() and not lock_path.is_file()):
            raise InputError(f"{lock_path} is not the lock file this tool writes (it is a folder or a link): remove "
                             "it once no report run is using this folder")
        lock = FileLock(str(lock_path))
        try:
            try:
                lock.acquire(timeout=0)
            except Timeout:
                if not announced:
                    log(f"report: another run is using {out}; waiting up to {wait:.0f} s")
                    announced = True
                lock.acquire(timeout=max(0.0, deadline - time.monotonic()))
        except Timeout:
            raise InputError(f"another report run still holds {lock_path} after {wait:.0f} s: let it finish, "
                             "or give this run another --out") from None
        except FileNotFoundError:  # the folder went while this run waited (a clean)
            pass
        else:
            if _still_the_lock_file(lock_path, lock):
                break
            lock.release()
        if prepare_again is None:
            raise InputError(f"{out} was removed while this run waited for it: nothing more to remove")
        prepare_again(out)
    try:
        yield
    finally:
        lock.release()


def _still_the_lock_file(lock_path: Path, lock) -> bool:
    """The file locked is the one at ``lock_path`` (not one removed meanwhile and perhaps created anew)."""
    descriptor = getattr(getattr(lock, "_context", None), "lock_file_fd", None)
    if descriptor is None:
        return lock_path.is_file()
    try:
        held, present = os.fstat(descriptor), os.stat(lock_path)
    except OSError:
        return False
    return (held.st_dev, held.st_ino) == (present.st_dev, present.st_ino)


@contextlib.contextmanager
def temporary_files_inside(out: Path, matplotlib_cache: bool = True):
    """For the run, temporary files of this process and its children (torch, Pillow, ctypes, the PDF
    worker) go to a folder inside ``out``, removed afterwards (or by the next run if this one is killed):
    nothing is left in the system's temporary folder. The previous setting is restored. Importing
    torchvision's models alone creates ``$TMPDIR/torchinductor_<user>``."""
    scratch = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}scratch.", dir=out))
    # Figures are drawn on matplotlib's Agg canvas through its object API, never pyplot: a backend named in
    # MPLBACKEND is never used, but one matplotlib does not know fails its import.
    settings = {"TMPDIR": str(scratch), "MPLBACKEND": "Agg"}
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


def publish(out: Path, files: dict[Path, bytes], remove: Iterable[Path] = ()) -> list[Path]:
    """Replace several files of the build folder as one, and remove the outputs in ``remove`` (documents of an
    earlier build that this one does not replace: left in place they would pass for this build's). Each file is
    written and fsynced under a temporary name; then a journal listing the renames and removals is written (the
    commit point); then the renames and removals happen and the journal goes. A run killed among them is
    completed by the next run (``recover``), so a reader never finds outputs of two builds side by side once the
    next run has started; a run that fails before the journal leaves every previous output as it was. A file
    that already holds its bytes is left as it is (its name, inode and time)."""
    out = Path(out)
    staged: list[tuple[Path, Path]] = []
    mode = file_mode()  # read once for all the files
    removals = [os.path.relpath(path, out) for path in remove if Path(path).is_file() and not Path(path).is_symlink()]
    if not all(_removable(out, name) for name in removals):
        raise ValueError(f"only the tool's outputs at the top of {out} are removed when stale: {removals}")
    # a stale document goes only when its content is the tool's too: a user's notes saved as report.pdf stay
    removals = [name for name in removals if name.startswith("tables/") or _looks_written_by_the_tool(out / name)]
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
    if not staged and not removals:
        return []
    renames = [[os.path.relpath(tmp, out), os.path.relpath(target, out)] for tmp, target in staged]
    write_atomic(out / JOURNAL, dumps({"renames": renames, "removes": removals}))
    _apply(out, renames, removals)
    (out / JOURNAL).unlink()
    return [target for _, target in staged]  # what was replaced: files that already held their bytes are not


def _removable(out: Path, name: str) -> bool:
    """A stale output this tool may remove: a document it writes at the top of the build folder, or a table
    it writes in tables/."""
    folder, _, file = name.rpartition("/")
    if folder == "tables":
        return file in TABLE_FILES
    return not folder and name in OUTPUTS and Path(name).suffix in (".html", ".pdf")


def _apply(out: Path, renames: list[list[str]], removals: list[str] = ()) -> None:
    for tmp, target in renames:
        if (out / tmp).exists():
            os.replace(out / tmp, out / target)
    for name in removals:
        (out / name).unlink(missing_ok=True)
    for folder in {(out / name).parent for name in [*(target for _, target in renames), *removals]}:
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


def _valid_removals(out: Path, document) -> list[str] | None:
    """The journal's removals (none in journals of earlier versions), if each names a stale document of ours."""
    removals = document.get("removes", []) if isinstance(document, dict) else None
    if not (isinstance(removals, list) and all(isinstance(n, str) and _removable(out, n) for n in removals)):
        return None
    return removals


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
        document = json.loads(journal.read_text())
        renames, removals = _valid_renames(Path(out), document), _valid_removals(Path(out), document)
    except (OSError, ValueError):
        renames = removals = None
    if renames is None or removals is None:
        log(f"report: {journal} is damaged; ignored (the outputs are rebuilt as needed)")
    else:
        _apply(Path(out), renames, removals)
        log(f"report: completed the outputs of a run that was stopped while replacing them in {out}")
    journal.unlink()
    return True


def clean(out: Path, wait: float = 600, log=print) -> tuple[list[str], list[str]]:
    """Remove what this tool wrote in the build folder ``out``: (removed names, names left in place).
    Only recognisable entries go: the outputs it names, stores whose manifest names them, its checkpoints
    whose bytes still match their recorded hash, its caches and temporaries, each by its exact name pattern
    (OWN_ENTRIES). A folder without this tool's marker, or a link to one, is refused; the folder itself is
    removed only when it ends empty and this tool created it. Like every run it holds the folder's lock,
    waiting up to ``wait`` seconds for a running build to finish."""
    out = Path(out)
    if not out.exists() and not out.is_symlink():
        return [], []
    if out.is_symlink() or not out.is_dir() or not is_marked(out):
        raise InputError(f"{out} is not a build folder made by this tool (no {MARKER} file, or a link to a folder): "
                         "nothing was removed")
    with _locked(out, wait, log):
        removed, kept = _clean_entries(out)
        if kept:
            return removed, kept
        created = created_by_this_tool(out)
        (out / MARKER).unlink()
        removed.append(MARKER)
        # The lock file goes last, still held: a run waiting for it finds it replaced and starts over (_locked).
        (out / LOCK).unlink(missing_ok=True)
        if created:
            out.rmdir()
        return removed, []


def _clean_entries(out: Path) -> tuple[list[str], list[str]]:
    removed, kept = [], []
    for entry in sorted(out.iterdir(), key=lambda p: p.name):
        name = entry.name
        if name in OWN_ENTRIES and entry.is_dir() and not entry.is_symlink():
            inner_removed, inner_kept = _clean_folder(entry, name)
            removed += inner_removed
            kept += inner_kept
        elif (name in OUTPUTS and name not in OWN_ENTRIES and entry.is_file() and not entry.is_symlink()
              and _looks_written_by_the_tool(entry)) \
                or _is_ours(name) or (name in (CACHEDIR_TAG, JOURNAL) and entry.is_file() and not entry.is_symlink()):
            _remove(entry)
            removed.append(name)
        elif name not in (MARKER, LOCK):
            kept.append(name)
    return removed, kept


# What each kind of top-level output starts with or holds, as this tool writes it: a user's notes saved as
# build/report.pdf or build/history.csv are not the tool's, whatever their name.
HTML_MARK = 'name="author" content="report — CNN analysis"'.encode()
HISTORY_HEADERS = (b"order,checkpoint,epoch,step,store,run,metric,distance,value\n",
                   b"order,checkpoint,epoch,step,store,metric,distance,value\n")  # and as earlier versions wrote it


def _looks_written_by_the_tool(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
    except OSError:
        return False
    if path.suffix == ".pdf":
        return head.startswith(b"%PDF-")
    if path.suffix == ".html":
        return HTML_MARK in head
    if path.suffix == ".parquet":
        return _is_parquet(path)
    if path.suffix == ".csv":
        return head.startswith(HISTORY_HEADERS)
    if path.suffix == ".json":
        try:
            return isinstance(json.loads(path.read_text()), dict)
        except (OSError, ValueError):
            return False
    if path.suffix == ".md":
        return head.startswith(b"## ")
    return re.fullmatch(rb"[^/\n]{1,64}\n", head) is not None  # current-store.txt: a store's name on one line


def _clean_folder(folder: Path, relative: str) -> tuple[list[str], list[str]]:
    """Remove the entries of ``folder`` (``relative`` to the build folder) that this tool writes there;
    the folder too when nothing else is left in it."""
    patterns = [re.compile(pattern) for pattern in OWN_ENTRIES[relative]]
    removed, kept = [], []
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        shown = f"{relative}/{entry.name}"
        if shown in OWN_ENTRIES and entry.is_dir() and not entry.is_symlink():
            inner_removed, inner_kept = _clean_folder(entry, shown)
            removed += inner_removed
            kept += inner_kept
            continue
        named = any(pattern.fullmatch(entry.name) for pattern in patterns)
        if _is_ours(entry.name) or (named and _is_own_entry(entry, relative)):
            _remove(entry)
            removed.append(shown)
        else:
            kept.append(shown)
    if not kept:
        folder.rmdir()
    return removed, kept


def _is_own_entry(entry: Path, relative: str) -> bool:
    """An entry named as this tool names them is still checked where its content can prove more: a store
    must be this tool's (its manifest naming it and listing everything in it), a checkpoint must hold the
    bytes its recorded hash says, a cached table must be a Parquet file, a cache folder a folder."""
    if entry.is_symlink():
        return False
    if relative in STORE_FOLDERS:
        return _is_own_store(entry)
    if relative in ("checkpoints", "training") or (
            relative == "cache" and entry.name.startswith(("mnist5k-", "data-"))):
        return entry.is_file() and _holds_recorded_hash(entry)
    if f"{relative}/{entry.name}" in NESTED_FOLDERS:
        return entry.is_dir()
    if relative == "cache/parquet":
        return entry.is_file() and _is_parquet(entry)
    return entry.is_file()


def _is_own_store(folder: Path) -> bool:
    """A store of this tool: its manifest names the folder, and every file in it is the manifest or listed
    by it (a user's notes put into a store keep the store from being removed)."""
    from report.render.load import manifest_listing

    if not is_store(folder):
        return False
    key, listed = manifest_listing(folder) or (None, set())
    if key != folder.name:
        return False
    listed |= {"manifest.json"}
    for path in folder.rglob("*"):
        if path.is_symlink() or (not path.is_dir() and path.relative_to(folder).as_posix() not in listed):
            return False
    return True


def _is_parquet(path: Path) -> bool:
    """A Parquet file opens and ends with its magic bytes."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4)
            handle.seek(-4, os.SEEK_END)
            return head == b"PAR1" and handle.read(4) == b"PAR1"
    except OSError:
        return False


def _holds_recorded_hash(path: Path) -> bool:
    """``module-<sha256[:16]>.pt`` and ``epoch-NNNN-<sha256[:16]>.pt`` name their hash; a default checkpoint's
    is in its ``.sha256`` file; that file itself is recognised by its content (one sha256)."""
    try:
        if path.name.endswith(".sha256"):
            return re.fullmatch(r"[0-9a-f]{64}\n?", path.read_text()) is not None
        digest = sha256_file(path)
        if path.name.startswith(("default-", "mnist5k-")):  # the digits' cache records its hash as one does
            recorded = path.with_name(path.name + ".sha256").read_text().strip()
            return digest == recorded
        return path.stem.endswith("-" + digest[:16])
    except (OSError, UnicodeDecodeError):
        return False


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
    from analysis.errors import StoreError

    pointer = Path(out) / CURRENT_STORE
    if not pointer.is_file():
        raise StoreError(f"no analysis in {out} yet: run `python -m report` (or `make report`) first")
    name = pointer.read_text(errors="replace").strip()
    stores = Path(out) / "stores"
    store = stores / name
    # One plain folder name inside stores/: a damaged or edited pointer must not lead anywhere else.
    plain = bool(name) and Path(name).name == name and not name.startswith(".") and "\x00" not in name
    if not (plain and store.is_dir() and store.resolve().parent == stores.resolve()):
        raise StoreError(f"{pointer} is damaged (it does not name a store in {Path(out) / 'stores'}): "
                         "run `python -m report` (or `make report`) to analyse again")
    return store
