"""``huggingface:Architecture``: a Hugging Face transformers image classifier (``ViTForImageClassification``...),
built offline from its configuration. The recipe is the arguments: ``{"config": <config.json>, "preprocessor":
<preprocessor_config.json>}``, so that a checkpoint or a training callback can record it and the model is built
again without its folder; the configuration is data (no ``trust_remote_code``: only transformers' own classes).

A ``save_pretrained`` folder given as ``--checkpoint`` names its own model (``folder_recipe``): its weights file
is the checkpoint, its ``config.json`` and ``preprocessor_config.json`` the recipe. transformers is an optional
dependency (``pip install 'cnn-report[huggingface]'``), imported only when such a model is built."""

from __future__ import annotations

import json
from pathlib import Path

from analysis.errors import InputError
from analysis.models.source_kinds import SourceKind, no_code_file

PREFIX = "huggingface:"
CONFIG = "config.json"
PREPROCESSOR = "preprocessor_config.json"
# The weights file of a save_pretrained folder, in the order transformers prefers them.
WEIGHTS = ("model.safetensors", "pytorch_model.bin")
MAX_CONFIG_BYTES = 16 << 20  # a config.json of a 22k-class model is about 1 MB


def architecture(source: str) -> str:
    """Architecture of ``huggingface:Architecture``."""
    return source.split(":", 1)[1]


def folder_recipe(path: Path) -> tuple[Path, str, dict] | None:
    """A ``save_pretrained`` folder, or a weights file inside one: (its weights file, the source, its recipe);
    None for anything else (a plain checkpoint file)."""
    folder = path if path.is_dir() else path.parent
    config_file = folder / CONFIG
    if not config_file.is_file():
        return None
    if path.is_dir():
        weights = next((folder / name for name in WEIGHTS if (folder / name).is_file()), None)
        if weights is None:
            if any(folder.glob("*.safetensors.index.json")) or any(folder.glob("*.bin.index.json")):
                raise InputError(f"{folder} holds a model saved in shards, which this tool does not read: save it "
                                 "again with model.save_pretrained(folder, max_shard_size='100GB')")
            raise InputError(f"{folder} has {CONFIG} but no weights file ({' or '.join(WEIGHTS)}): give the folder "
                             "model.save_pretrained() wrote")
    elif path.name in WEIGHTS:
        weights = path
    else:
        return None
    config = _json_object(config_file)
    names = config.get("architectures") or []
    if not (isinstance(names, list) and names and isinstance(names[0], str) and names[0]):
        raise InputError(f"{config_file} names no architecture (its \"architectures\" list is missing or empty): "
                         "save the model with save_pretrained(), or give --model and a state_dict checkpoint")
    preprocessor_file = folder / PREPROCESSOR
    recipe = {"config": config}
    if preprocessor_file.is_file():
        recipe["preprocessor"] = _json_object(preprocessor_file)
    return weights, f"{PREFIX}{names[0]}", recipe


def _json_object(path: Path) -> dict:
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise InputError(f"{path} is {path.stat().st_size} bytes, more than a model configuration holds: give the "
                         "folder save_pretrained() wrote")
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise InputError(f"{path} is not valid JSON ({error}): give the folder save_pretrained() wrote") from None
    if not isinstance(value, dict):
        raise InputError(f"{path} holds a {type(value).__name__}, not a JSON object: give the folder "
                         "save_pretrained() wrote")
    return value


KIND = SourceKind("huggingface", f"{PREFIX}Architecture", lambda source: source.startswith(PREFIX), builtin=True,
                  code_file=no_code_file, builder="analysis.models.huggingface_models:build",
                  expected="analysis.models.huggingface_models:expected_input",
                  recipe="analysis.models.huggingface_models:recipe",
                  loader="analysis.models.huggingface_models:load", library="transformers")
