"""The files of a data set as data: only regular files are read, each hashed for the store key, and their
names shown in one-line messages. Torch- and numpy-free: the store key is computed from here."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from analysis.errors import InputError
from analysis.store.writer import sha256_file


def hash_file(path: Path) -> str:
    """The file's sha256, read only when it is a regular file (a FIFO would block the hashing for ever)."""
    regular_file(path)
    try:
        return sha256_file(path)
    except OSError as error:
        raise InputError(f"cannot read {printable(path)} ({error.strerror or error}): make it readable, or "
                         "remove it") from None


def name_in(path: Path, folder: Path) -> str:
    """A file's name in the identity, which is stored as JSON: undecodable bytes shown as for class names."""
    return shown_name(str(path.relative_to(folder)))


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
        raise InputError(f"{printable(path)} is {file_kind(mode)}, not a regular file: data are read from "
                         "regular files only; replace it with the file itself")
    return path


def file_kind(mode: int) -> str:
    kinds = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def present(path: Path) -> bool:
    """Whether anything is at ``path`` (links followed): what a layout is detected by; the listing then
    refuses what is there but not a regular file, rather than skipping it silently."""
    return os.path.exists(path)


def present_file(path: Path) -> bool:
    """Something other than a folder at ``path``: CIFAR-100's ``test`` and ``train`` are files, and a folder
    of that name belongs to another layout (an image folder's train/ and test/)."""
    return present(path) and not path.is_dir()


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
