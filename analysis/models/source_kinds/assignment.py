"""``assignment``: the course's CNN (analysis.models.assignment), the default model."""

from __future__ import annotations

from analysis.models.source_kinds import SourceKind, no_code_file

DEFAULT_SOURCE = "assignment"

KIND = SourceKind("assignment", DEFAULT_SOURCE, lambda source: source == DEFAULT_SOURCE, builtin=True,
                  code_file=no_code_file, builder="analysis.models.build:build_assignment")
