"""``package.module:Class``: the user's own ``nn.Module`` subclass, imported from the working folder or
sys.path, so only when the user names it (a checkpoint may not). Any source string that no other kind
parses is taken for one: building it says when it is not of this form."""

from __future__ import annotations

import sys
from pathlib import Path

from analysis.models.source_kinds import SourceKind


def module_file(source: str) -> Path | None:
    """The source file of a ``package.module:Class`` model, found without importing it: its bytes enter the
    store key, so that editing the model's code analyses it again."""
    if source.partition(":")[0] == "__main__":  # the running script's (a training callback's report process)
        main = getattr(sys.modules.get("__main__"), "__file__", None)
        return Path(main) if main and Path(main).is_file() else None
    parts = source.partition(":")[0].split(".")
    for base in [Path.cwd(), *map(Path, sys.path)]:
        for candidate in (base.joinpath(*parts).with_suffix(".py"), base.joinpath(*parts, "__init__.py")):
            if candidate.is_file():
                return candidate
    return None


KIND = SourceKind("class", "package.module:Class", lambda source: True, builtin=False, code_file=module_file,
                  builder="analysis.models.build:build_user_class")
