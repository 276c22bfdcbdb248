"""The most a data set may declare, checked before anything is allocated for what it declares.

A data file's numbers (a label, a count of rows, a list of class names) cost memory in proportion to their
value, not to the file's size: one label 2**31-1 in a 1 KB .npz file made 2 billion class names. So every
such number is bounded here, by one documented limit per kind, before it is used. Numpy-free: the checks
call methods of the arrays they are given, and the messages are made by the callers' ``where``."""

from __future__ import annotations

from analysis.errors import InputError

# Classes of one data set: labels 0..K-1 with K at most this, class folders, names in a file's metadata.
# The whole-split pass keeps matrices of K × K present classes (class-pair distances, centroids, the
# confusion matrix) and a (N, K) silhouette table: at 10,000 classes one matrix is 800 MB, and past that
# the figures could not show a class anyway. The largest common image-classification sets stay within it
# (ImageNet-1k, iNaturalist 2021's 10,000 species).
MAX_CLASSES = 10_000

# Rows of one split of parquet files, as their metadata declare them: the labels are read whole (8 bytes a
# row). Above ImageNet-21k's 14 million images; more is a damaged or hostile footer.
MAX_ROWS = 20_000_000

# The bytes of one row group's image column after decompression, as its metadata declare them: the reader
# holds one row group at a time (the Hugging Face hub writes row groups of about 100 images).
MAX_ROW_GROUP_BYTES = 2 << 30

# The huggingface metadata of one parquet file (JSON, parsed whole): 10,000 class names of 200 characters
# fit in 2 MB.
MAX_METADATA_BYTES = 8 << 20


def class_count(where: str, labels: list, names: int | None = None, named_by: str = "its names") -> int:
    """K, the number of classes of integer ``labels`` (arrays of one data set): ``names`` when the data name
    their classes (``named_by`` says where, for the message), else the largest label + 1. Refuses a negative
    label, a label beyond the names, and K beyond MAX_CLASSES, before anything of size K is made. ``where``
    names the labels in the message."""
    low = min((int(part.min()) for part in labels if len(part)), default=0)
    top = max((int(part.max()) for part in labels if len(part)), default=-1)
    if low < 0:
        raise InputError(f"{where} holds label {low}: give class labels 0, 1, 2, …")
    if names is not None:
        refuse_too_many_classes(where, names, "names")
        if top >= names:
            raise InputError(f"{where} holds label {top}, beyond the {names} classes {named_by}: the labels or the "
                             "names are damaged; replace the file with an intact copy")
        return names
    if top >= MAX_CLASSES:
        raise InputError(f"{where} holds label {top:,}, which would make {top + 1:,} classes, more than the limit "
                         f"of {MAX_CLASSES:,}: the labels are damaged; give class labels 0, 1, 2, … up to "
                         f"{MAX_CLASSES - 1:,}")
    return top + 1


def refuse_too_many_classes(where: str, count: int, what: str) -> None:
    """``count`` classes (folders, names) declared by ``where``, refused beyond MAX_CLASSES."""
    if count > MAX_CLASSES:
        raise InputError(f"{where} has {count:,} class {what}, more than the limit of {MAX_CLASSES:,}: the data "
                         f"are damaged, or have more classes than a report can show; give at most {MAX_CLASSES:,}")


def refuse_too_many_rows(where: str, rows: int) -> None:
    if rows > MAX_ROWS:
        raise InputError(f"{where} declare {rows:,} rows, more than the limit of {MAX_ROWS:,}: the files are "
                         "damaged, or too large to analyse here; give fewer rows")
