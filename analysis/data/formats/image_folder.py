"""Image folders as torchvision's ImageFolder reads them: class sub-folders of image files, optionally under
train/ and test/ (or val/), read by analysis.data.datasets (images decoded when used)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path

from analysis.data.formats import Format
from analysis.data.limits import refuse_too_many_classes
from analysis.data.paths import name_in, printable, regular_file, shown_name
from analysis.errors import InputError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp"}


def is_image_folder(folder: Path) -> bool:
    """Class sub-folders of images (optionally under train/ and test/), as torchvision's ImageFolder reads.
    An IDX folder holding images too is an IDX folder: that format comes first in the registry."""
    if not folder.is_dir():
        return False
    # Only a detection: a folder reached twice is skipped here; the listing refuses it when it reads it.
    return any(True for _ in _image_files_under(folder, refuse_repeats=False))


@dataclasses.dataclass(frozen=True)
class ImageFolderListing:
    """Every image the loader reads, in its order, with its label: the one listing that both the loader
    and the data's identity use, so that the identity covers exactly the files read."""

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


def image_folder_files(data: str | None) -> dict[str, Path]:
    """The loader's own listing: exactly the files it reads, symlinked class folders included."""
    folder = Path(data)
    return {name_in(path, folder): path for path in image_folder_listing(folder).paths()}


FORMAT = Format("image-folder", lambda data: data is not None and is_image_folder(Path(data)),
                image_folder_files, kind="image-folder", reader="analysis.data.datasets:read_image_folder",
                sized=True)
