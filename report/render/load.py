"""Read and verify an artifact store, and turn it into ``Findings``."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from analysis.store.schema import LayerParams, TraceRow
from analysis.store.writer import MANIFEST, SCHEMA_VERSION, sha256_file
from report.render import findings as f
from report.render.errors import StoreError
from report.render.migrate import MIGRATIONS, migrate

DOCUMENTS = ("model.json", "evaluation.json", "activations.json", "embeddings.json")
OPTIONAL = "separation.json"  # absent in stores of schema 1 and 2 (migrated to None)
METRIC_ORDER = ("mse", "euclidean", "cosine")  # the assignment's metric first


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


def verify(store_dir: Path, manifest: dict, required: tuple[str, ...] = DOCUMENTS) -> None:
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


def model_identity(store_dir: Path) -> tuple[str, str, tuple]:
    """(class, source, parameter shapes) of the analysed model: two stores of one architecture agree."""
    findings = load_findings(store_dir, verified=True)
    shapes = tuple((layer.name, tuple(layer.weight_shape or ()), tuple(layer.bias_shape or ()), layer.total)
                   for layer in findings.parameters.layers)
    return findings.model_class, findings.model_source, shapes


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


def has_whole_split(store_dir: Path, verified: bool = False) -> bool:
    """Whether the store holds whole-split results: not when its analysis skipped that pass (sections
    without one, non-finite weights) nor in stores of schema 1 and 2."""
    return OPTIONAL in checked_manifest(store_dir, verified).get("files", {})


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
    """The manifest as stored: what a rendering's fingerprint hashes."""
    return (Path(store_dir) / MANIFEST).read_bytes()


def load_findings(store_dir: Path, verified: bool = False, checkpoint_name: str | None = None) -> f.Findings:
    """The store's findings; its files are checked against the manifest unless the caller just did
    (``verified``: the build has checked or written this store in the same run). ``checkpoint_name``:
    the file name to show, which stores do not hold (they are keyed on the checkpoint's bytes alone)."""
    store_dir = Path(store_dir)
    manifest = checked_manifest(store_dir, verified)
    check_analysis_manifest(store_dir, manifest)
    docs = {name: json.loads((store_dir / name).read_text()) for name in DOCUMENTS}
    if OPTIONAL in manifest.get("files", {}):
        docs[OPTIONAL] = json.loads((store_dir / OPTIONAL).read_text())
    try:
        manifest, docs = migrate(manifest, docs)
        return _build(store_dir, manifest, docs, checkpoint_name)
    except (KeyError, TypeError, AttributeError, ValueError) as error:  # a field of another shape
        raise StoreError(f"store {store_dir} lacks an expected field ({error}): rebuild with `make report`") from None


def _make(cls, data: dict, **overrides):
    """Build a dataclass from a stored dict, ignoring extra keys (newer writers may add some)."""
    values = {field.name: data[field.name] for field in dataclasses.fields(cls)
              if field.name not in overrides and (field.name in data or field.default is dataclasses.MISSING)}
    return cls(**values, **overrides)


def _checkpoint_label(checkpoint: dict, name: str | None) -> str:
    if checkpoint.get("sha256") is None:
        return "(none: random weights)"
    return name or checkpoint.get("file") or "(file name not recorded)"  # stores before schema 3.1 kept it


def _build(store_dir: Path, manifest: dict, docs: dict, checkpoint_name: str | None = None) -> f.Findings:
    model, evaluation = docs["model.json"], docs["evaluation.json"]
    maps, emb = docs["activations.json"], docs["embeddings.json"]
    inputs = manifest["inputs"]
    params = model["parameters"]
    trace = model["trace"]
    return f.Findings(
        store_dir=store_dir,
        provenance=f.Provenance(
            key=manifest["key"], checkpoint_file=_checkpoint_label(inputs["checkpoint"], checkpoint_name),
            checkpoint_sha256=inputs["checkpoint"]["sha256"] or "", checkpoint_bytes=inputs["checkpoint"]["bytes"],
            data_kind=inputs["data"]["kind"], data_description=manifest["data_description"],
            config=inputs["config"], code_version=inputs["code_version"], producer=manifest["producer"],
            schema_version=manifest["schema_version"]),
        model_class=model["model"]["class"],
        model_source=model["model"]["source"],
        weights=model["model"]["weights"],
        normalisation=model["model"]["normalisation"],
        non_finite=model.get("non_finite", []),
        input_shape=model["model"]["input_shape"],
        parameters=_make(f.Parameters, params, layers=[_make(LayerParams, layer) for layer in params["layers"]]),
        trace=_make(f.Trace, trace, rows=[_make(TraceRow, row) for row in trace["rows"]]),
        kernels=model["kernels"],
        kernel_image=_make(f.KernelImage, model["kernel_image"]) if model["kernel_image"] else None,
        input_image=_make(f.InputImage, maps["input"]),
        map_colourbar=maps["colourbar"],
        map_grids=[_make(f.MapGrid, grid) for grid in maps["grids"]],
        embeddings=_make(
            f.Embeddings, emb,
            samples=[_make(f.Sample, s) for s in emb["samples"]],
            distances={metric: _make(f.DistanceTable, table, pairs=[_make(f.Pair, p) for p in table["pairs"]])
                       for metric, table in sorted(emb["distances"].items(), key=_metric_rank)}),
        evaluation=_make(
            f.Evaluation, evaluation,
            per_class=[f.ClassAccuracy(cls=row["class"], n=row["n"], correct=row["correct"],
                                       accuracy=row["accuracy"]) for row in evaluation["per_class"]]),
        separation=_separation(docs.get(OPTIONAL)),
    )


def _separation(doc: dict | None) -> f.Separation | None:
    if doc is None:
        return None
    spreads = [f.ClassSpread(cls=row["class"], **{k: row[k] for k in (
        "n", "intra_mean", "intra_std", "pairs", "ci_low", "ci_high", "ci_sample", "silhouette")})
        for row in doc["per_class"]]
    return _make(f.Separation, doc, per_class=spreads,
                 depth=[_make(f.LayerSeparation, row) for row in doc["depth"]],
                 filters=[_make(f.FilterStats, row) for row in doc["filters"]])


def _metric_rank(item) -> tuple[int, str]:
    metric = item[0]
    return (METRIC_ORDER.index(metric) if metric in METRIC_ORDER else len(METRIC_ORDER), metric)
