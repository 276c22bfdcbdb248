"""Content keys, computed without torch so no-op builds stay cheap: what names an analysis store (the inputs and
the code that computes what it holds), the default checkpoint, and a store's figures (the drawing code).

Outside ``analysis.store`` on purpose: a key reads the data files, the checkpoint and the options, while the store
package stays a leaf that imports nothing of the rest (the render stage reads stores through it).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from analysis.config import AnalysisConfig, TrainConfig, sha256_of_json
from analysis.data.files import data_identity
from analysis.errors import InputError
from analysis.models.checkpoint_meta import checkpoint_file_problem
from analysis.models.sources import user_model_file
from analysis.store.writer import sha256_file

PACKAGE_DIR = Path(__file__).resolve().parent  # analysis/
TRAINING_CODE = ("models/assignment.py", "train.py", "models/inference.py", "data/datasets.py", "data/files.py",
                 "config.py", "scoped.py")

# The analysis key hashes the code that can change a byte of a store: every module of analysis/ but two kinds,
# left out so that editing them keeps every store (and torch asleep):
# - the drawing code, analysis/figures/: the analysis stores arrays and draws nothing; the figures step
#   (report/figures.py) draws from the stored arrays under a key of its own, DRAWING_CODE. The import contract
#   "analysis-computes-without-figures" (.importlinter) keeps this true: no computing module imports it.
# - the error types, analysis/errors.py: classes and their exit codes, no logic; a run that raises stores nothing.
# Everything else counts, a new module included: a module counted needlessly costs a re-run, one left out wrongly
# would serve numbers computed by other code. (progress.py counts: it yields the batch boundaries.)
NOT_COMPUTING = ("figures/", "errors.py")
DRAWING_CODE = ("figures/",)


def _is_under(relative: str, prefixes: tuple[str, ...]) -> bool:
    return any(relative == prefix or (prefix.endswith("/") and relative.startswith(prefix)) for prefix in prefixes)


def computing_files(package_dir: Path = PACKAGE_DIR) -> list[str]:
    """The modules the analysis key covers, relative to analysis/ (every subpackage, less NOT_COMPUTING)."""
    return [relative for relative in _sources(package_dir) if not _is_under(relative, NOT_COMPUTING)]


def drawing_files(package_dir: Path = PACKAGE_DIR) -> list[str]:
    """The modules the figures key covers: the drawing code, relative to analysis/."""
    return [relative for relative in _sources(package_dir) if _is_under(relative, DRAWING_CODE)]


def _sources(package_dir: Path) -> list[str]:
    return sorted(path.relative_to(package_dir).as_posix() for path in package_dir.rglob("*.py"))


def _hash_files(files: list[str], package_dir: Path) -> str:
    digest = hashlib.sha256()
    for relative in sorted(files):
        digest.update(relative.encode() + b"\0" + (package_dir / relative).read_bytes() + b"\0")
    return digest.hexdigest()


def code_version(files: tuple[str, ...] | None = None, package_dir: Path = PACKAGE_DIR) -> str:
    """sha256 over the analysis code that computes what a store holds (computing_files), or the named files."""
    return _hash_files(computing_files(package_dir) if files is None else list(files), package_dir)


def drawing_version(package_dir: Path = PACKAGE_DIR) -> str:
    """sha256 over the drawing code: a caption or a colour changed there re-draws figures, never re-analyses."""
    return _hash_files(drawing_files(package_dir), package_dir)


def default_checkpoint_key(data: str | None, train: TrainConfig, analysis: AnalysisConfig) -> str:
    return sha256_of_json({
        "data": data_identity(data, analysis.input_size), "train": train.to_dict(),
        "normalisation": [analysis.mean, analysis.std], "code": code_version(TRAINING_CODE),
    })[:16]


def checkpoint_identity(checkpoint: Path | None, config: AnalysisConfig) -> dict:
    if checkpoint is None:
        return {"sha256": None, "bytes": 0, "weights": f"random (seed {config.seed})"}
    problem = checkpoint_file_problem(checkpoint)  # missing, a folder, a link loop, unreadable, empty
    if problem:
        raise InputError(problem)
    # Content only: a copied or renamed checkpoint is the same input (its name is shown, not keyed).
    return {"sha256": sha256_file(checkpoint), "bytes": Path(checkpoint).stat().st_size}


def analysis_inputs(checkpoint: Path | None, data: str | None, config: AnalysisConfig,
                    model_file: Path | None = None) -> dict:
    """Everything the analysis result depends on; its hash names the store. ``model_file``: the code of a
    model given in memory (report.api), else found from the source the user named."""
    model_file = model_file or (user_model_file(config.model) if config.model else None)
    return with_config({
        "checkpoint": checkpoint_identity(checkpoint, config),
        "data": data_identity(data, config.input_size),
        "code_version": code_version(),
        "model_code": {"file": model_file.name, "sha256": sha256_file(model_file)} if model_file else None,
    }, config)


def with_config(inputs: dict, config: AnalysisConfig) -> dict:
    """The same inputs analysed with another config (no file is hashed again)."""
    return {**inputs, "config": config.to_dict(), "config_sha256": config.fingerprint()}


def store_key(inputs: dict) -> str:
    return sha256_of_json(inputs)[:16]


def figures_inputs(store_manifest_sha256: str) -> dict:
    """What a store's figures depend on: the store's content (its manifest's sha256 covers every file's hash) and
    the drawing code. Recorded in the figures folder's manifest; a figures folder recording other inputs is drawn
    again (report/figures.py)."""
    return {"store": store_manifest_sha256, "drawing_code": drawing_version()}
