"""Read and verify an artifact store, and turn it into ``Findings``; read a store's arrays for its figures and
find its figures folder (``build/figures/<store key>/``, drawn from those arrays by report/figures.py)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from analysis.store.schema import (
    ARRAYS,
    DOCUMENTS,
    FIGURES_FOLDER,
    OPTIONAL,
    REQUIRED,
    SCHEMA_VERSION,
    from_json,
    metric_rank,
)
from analysis.store.writer import MANIFEST, sha256_bytes, sha256_file
from report.render import findings as f
from analysis.errors import StoreError
from report.render.migrate import MIGRATIONS, migrate


def manifest_listing(store_dir: Path) -> tuple[object, set[str]] | None:
    """The key and the file names a store's manifest records, whatever its schema version (``clean`` tells
    the tool's stores from look-alikes by them); None when there is no readable manifest of that shape."""
    try:
        manifest = json.loads((Path(store_dir) / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        return None
    return manifest.get("key"), set(manifest["files"])


def read_manifest(store_dir: Path) -> dict:
    path = Path(store_dir) / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise StoreError(f"no store at {store_dir}: run the analysis (`make report`)") from None
    except (OSError, ValueError) as error:
        raise StoreError(f"store manifest {path} is unreadable ({error}): rebuild with `make report`") from None
    version = manifest.get("schema_version") if isinstance(manifest, dict) else None
    if version != SCHEMA_VERSION and version not in MIGRATIONS:
        raise StoreError(f"store {store_dir} has schema version {version}, this report reads "
                         f"{', '.join(map(str, sorted({*MIGRATIONS, SCHEMA_VERSION})))}: rebuild it with `make report`")
    _check_shape(path, manifest, MANIFEST_FIELDS)
    _check_file_list(path, manifest["files"])
    return manifest


# The manifest is the one file its own hashes cannot cover: its shape is checked instead, so an edited
# manifest makes the store invalid (analysed again), never a traceback.
MANIFEST_FIELDS = {"schema_version": int, "files": dict, "key": str, "inputs": dict}
ANALYSIS_FIELDS = {"data_description": str, "producer": dict}


def _check_shape(path: Path, manifest: dict, fields: dict) -> None:
    for name, kind in fields.items():
        if not isinstance(manifest.get(name), kind):
            raise StoreError(f"store manifest {path} has no valid {name!r}: rebuild with `make report`")


def _check_file_list(path: Path, files: dict) -> None:
    """Each listed file is a plain relative path inside the store, with a sha256 as text."""
    for relpath, digest in files.items():
        parts = Path(relpath).parts
        if not (isinstance(digest, str) and relpath and not Path(relpath).is_absolute() and ".." not in parts):
            raise StoreError(f"store manifest {path} lists {relpath!r}, which is not a file inside the store: "
                             "rebuild with `make report`")


def verify(store_dir: Path, manifest: dict, required: tuple[str, ...] = REQUIRED) -> None:
    """Every listed file exists and matches its recorded sha256, and the required documents are listed."""
    for relpath, expected in manifest.get("files", {}).items():
        path = Path(store_dir) / relpath
        if not path.is_file():
            raise StoreError(f"store file {path} is missing: rebuild with `make report`")
        if sha256_file(path) != expected:
            raise StoreError(f"store file {path} does not match its recorded hash: rebuild with `make report`")
    missing = [name for name in required if name not in manifest.get("files", {})]
    if missing:
        raise StoreError(f"store {store_dir} lacks {', '.join(missing)}: rebuild with `make report`")


def check_analysis_manifest(store_dir: Path, manifest: dict) -> None:
    """The fields only an analysis store's manifest has (history and compare stores lack them)."""
    _check_shape(Path(store_dir) / MANIFEST, manifest, ANALYSIS_FIELDS)


def checked_manifest(store_dir: Path, verified: bool = False) -> dict:
    """The store's manifest, its schema version accepted and, unless the caller just did (``verified``),
    every file it lists checked against its hash."""
    manifest = read_manifest(store_dir)
    if not verified:
        verify(store_dir, manifest)
    return manifest


def checkpoint_sha256(store_dir: Path, verified: bool = False) -> str | None:
    """The sha256 of the checkpoint the store was analysed from (hashed then: the manifest holds it);
    None for random weights."""
    try:
        return checked_manifest(store_dir, verified)["inputs"]["checkpoint"]["sha256"]
    except (KeyError, TypeError, AttributeError, ValueError) as error:  # a field of another shape
        raise StoreError(f"store {store_dir} lacks an expected field ({error}): rebuild with `make report`") from None


def split_identity(store_dir: Path, verified: bool = False) -> dict:
    """Which data the store's test split came from, as its manifest records it (the data files' hashes, how they
    were split): two stores with equal identities evaluated the same test images in the same order."""
    data = checked_manifest(store_dir, verified)["inputs"].get("data")
    if not isinstance(data, dict):
        raise StoreError(f"store {store_dir} lacks an expected field (inputs.data): rebuild with `make report`")
    return data


def has_whole_split(store_dir: Path, verified: bool = False) -> bool:
    """Whether the store holds whole-split results: not when its analysis skipped that pass (sections
    without one, non-finite weights) nor in stores of schema 1 and 2."""
    return OPTIONAL in checked_manifest(store_dir, verified).get("files", {})


def has_document(store_dir: Path, name: str, verified: bool = False) -> bool:
    """Whether the store holds the document ``name`` (activations.json and embeddings.json are written only
    for the sections that show them)."""
    return name in checked_manifest(store_dir, verified).get("files", {})


def manifest_sha256(store_dir: Path) -> str:
    """The sha256 of the manifest's bytes, unverified: a fingerprint of everything the store holds (each
    file's hash is in it), cheap enough to decide whether a rendering is up to date."""
    return sha256_file(Path(store_dir) / MANIFEST)


def read_document(store_dir: Path, name: str) -> dict:
    """One listed JSON document of a store other than an analysis store (history.json, compare.json),
    after checking the store's files against the manifest."""
    store_dir = Path(store_dir)
    verify(store_dir, read_manifest(store_dir), required=(name,))
    try:
        return json.loads((store_dir / name).read_text())
    except (OSError, ValueError) as error:
        raise StoreError(f"store file {store_dir / name} is unreadable ({error}): rebuild with `make report`") from None


def manifest_bytes(store_dir: Path) -> bytes:
    """The manifest as stored, and its figures folder's when it has one: what a rendering's fingerprint hashes (a
    caption re-drawn changes the figures' manifest, so the documents are rendered again)."""
    figures = figures_folder(store_dir) / MANIFEST
    return (Path(store_dir) / MANIFEST).read_bytes() + (figures.read_bytes() if figures.is_file() else b"")


# ---------------------------------------------------------------- figures

def figures_folder(store_dir: Path) -> Path:
    """Where a store's figures are drawn: ``build/figures/<key>/`` beside ``build/stores/<key>/``."""
    return Path(store_dir).parent.parent / FIGURES_FOLDER / Path(store_dir).name


def draws_figures(manifest: dict) -> bool:
    """Whether the store holds arrays to draw its figures from (written since issue 31): then its images are in
    its figures folder. Earlier stores hold their images themselves."""
    return any(name.startswith(ARRAYS) for name in manifest.get("files", {}))


def figure_arrays(store_dir: Path) -> dict[str, bytes]:
    """Every array the store's figures are drawn from, by path, each checked against the manifest's hash as it is
    read (the bytes checked are the bytes used)."""
    store_dir = Path(store_dir)
    manifest = read_manifest(store_dir)
    arrays = {}
    for relpath, expected in manifest["files"].items():
        if relpath.startswith(ARRAYS):
            try:
                data = (store_dir / relpath).read_bytes()
            except OSError as error:
                raise StoreError(f"store file {store_dir / relpath} is unreadable ({error}): rebuild with "
                                 "`make report`") from None
            if sha256_bytes(data) != expected:
                raise StoreError(f"store file {store_dir / relpath} does not match its recorded hash: rebuild with "
                                 "`make report`")
            arrays[relpath] = data
    return arrays


def figures_inputs(figures_dir: Path) -> dict | None:
    """What a figures folder was drawn from (the store's manifest hash, the drawing code's), as its manifest
    records it; None when there is no intact figures folder there (missing, damaged, edited)."""
    try:
        manifest = read_manifest(figures_dir)
        verify(figures_dir, manifest, required=())
    except StoreError:
        return None
    inputs = manifest["inputs"]
    return inputs if manifest.get("kind") == FIGURES_FOLDER and isinstance(inputs, dict) else None


def _figures_of(store_dir: Path, manifest: dict, verified: bool) -> tuple[Path | None, str | None]:
    """(the folder holding the images the documents name, why there is none): the store itself for stores that
    hold their images, else its figures folder when it is intact (unless ``verified``: checked or drawn in
    this run) and was drawn from this store's bytes."""
    if not draws_figures(manifest):
        return store_dir, None
    folder = figures_folder(store_dir)
    try:
        drawn = read_manifest(folder)
        if not verified:
            verify(folder, drawn, required=())
    except StoreError:
        return None, f"the figures in {folder} are missing or damaged: draw them again with `python -m report render`"
    if not isinstance(drawn.get("inputs"), dict) or drawn["inputs"].get("store") != manifest_sha256(store_dir):
        return None, (f"the figures in {folder} were drawn from another store's contents: draw them again with "
                      "`python -m report render`")
    return folder, None


def load_findings(store_dir: Path, verified: bool = False, checkpoint_name: str | None = None) -> f.Findings:
    """The store's findings; its files are checked against the manifest unless the caller just did
    (``verified``: the build has checked or written this store in the same run). ``checkpoint_name``:
    the file name to show, which stores do not hold (they are keyed on the checkpoint's bytes alone)."""
    store_dir = Path(store_dir)
    manifest = checked_manifest(store_dir, verified)
    check_analysis_manifest(store_dir, manifest)
    docs = {name: json.loads((store_dir / name).read_text()) for name in REQUIRED}
    for name in (name for name in DOCUMENTS if name not in REQUIRED):  # written only for the sections asked for
        docs[name] = json.loads((store_dir / name).read_text()) if name in manifest.get("files", {}) else None
    try:
        written = manifest["schema_version"]  # shown in the provenance; the documents are migrated
        figures = _figures_of(store_dir, manifest, verified)
        manifest, docs = migrate(manifest, docs)
        return _build(store_dir, manifest, docs, checkpoint_name, written, figures)
    except (KeyError, TypeError, AttributeError, ValueError) as error:  # a field of another shape
        raise StoreError(f"store {store_dir} lacks an expected field ({error}): rebuild with `make report`") from None


def _checkpoint_label(checkpoint: dict, name: str | None) -> str:
    if checkpoint.get("sha256") is None:
        return "(none: random weights)"
    return name or checkpoint.get("file") or "(file name not recorded)"  # stores before schema 3.1 kept it


def _provenance(manifest: dict, checkpoint_name: str | None, written: int) -> f.Provenance:
    inputs = manifest["inputs"]
    return f.Provenance(
        key=manifest["key"], checkpoint_file=_checkpoint_label(inputs["checkpoint"], checkpoint_name),
        checkpoint_sha256=inputs["checkpoint"]["sha256"] or "", checkpoint_bytes=inputs["checkpoint"]["bytes"],
        data_kind=inputs["data"]["kind"], data_description=manifest["data_description"],
        config=inputs["config"], code_version=inputs["code_version"], producer=manifest["producer"],
        schema_version=written)


def _build(store_dir: Path, manifest: dict, docs: dict, checkpoint_name: str | None, written: int,
           figures: tuple[Path | None, str | None]) -> f.Findings:
    records = {name: from_json(DOCUMENTS[name], doc) for name, doc in docs.items() if doc is not None}
    embeddings = records.get("embeddings.json")
    if embeddings is not None:
        embeddings = dataclasses.replace(embeddings, distances=dict(
            sorted(embeddings.distances.items(), key=lambda item: metric_rank(item[0]))))
    return f.Findings(
        store_dir=store_dir,
        provenance=_provenance(manifest, checkpoint_name, written),
        model=records["model.json"],
        evaluation=records["evaluation.json"],
        activations=records.get("activations.json"),
        embeddings=embeddings,
        separation=records.get(OPTIONAL),
        attribution=records.get("attribution.json"),
        figures_dir=figures[0],
        figures_problem=figures[1],
    )
