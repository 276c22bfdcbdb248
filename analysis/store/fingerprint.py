"""Content keys of a run's inputs, computed without torch so no-op builds stay cheap."""

from __future__ import annotations

import hashlib
from pathlib import Path

from analysis.config import AnalysisConfig, TrainConfig, sha256_of_json
from analysis.data.files import data_identity
from analysis.errors import InputError
from analysis.models.checkpoint_meta import checkpoint_file_problem
from analysis.models.sources import user_model_file
from analysis.store.writer import sha256_file

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # analysis/
TRAINING_CODE = ("models/assignment.py", "train.py", "models/inference.py", "data/datasets.py", "data/files.py",
                 "config.py", "scoped.py")


def code_version(files: tuple[str, ...] | None = None) -> str:
    """sha256 over the analysis sources (all of them, in every subpackage, or the named ones)."""
    digest = hashlib.sha256()
    paths = sorted(PACKAGE_DIR.rglob("*.py")) if files is None else [PACKAGE_DIR / f for f in sorted(files)]
    for path in paths:
        digest.update(path.relative_to(PACKAGE_DIR).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


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
