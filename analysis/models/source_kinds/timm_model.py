"""``timm:NAME``: a model from timm's registry (any name ``timm.list_models()`` gives, ``NAME.tag`` included),
built with ``pretrained=False`` (never a download) and ``--model-kwargs`` passed to ``timm.create_model``. Its
input size, interpolation, crop, mean and std come from the model's ``pretrained_cfg``. timm is an optional
dependency (``pip install 'cnn-report[timm]'``), imported only when such a model is built."""

from __future__ import annotations

from analysis.models.source_kinds import SourceKind, no_code_file

PREFIX = "timm:"


def model_name(source: str) -> str:
    """NAME of ``timm:NAME``."""
    return source.split(":", 1)[1]


KIND = SourceKind("timm", f"{PREFIX}NAME", lambda source: source.startswith(PREFIX), builtin=True,
                  code_file=no_code_file, builder="analysis.models.timm_models:build",
                  expected="analysis.models.timm_models:expected_input",
                  recipe="analysis.models.timm_models:recipe", library="timm")
