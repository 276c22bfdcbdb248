"""``torchvision:NAME``: a classification model from torchvision's registry, built with ``weights=None``
(never a download)."""

from __future__ import annotations

from analysis.models.source_kinds import SourceKind, no_code_file

PREFIX = "torchvision:"


def model_name(source: str) -> str:
    """NAME of ``torchvision:NAME``."""
    return source.split(":", 1)[1]


KIND = SourceKind("torchvision", f"{PREFIX}NAME", lambda source: source.startswith(PREFIX), builtin=True,
                  code_file=no_code_file, builder="analysis.models.build:build_torchvision",
                  expected="analysis.models.build:torchvision_expected_input", library="torchvision")
