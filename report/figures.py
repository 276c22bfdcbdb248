"""The figures step, between the analysis and the render: a store's images drawn from the arrays it holds into
``build/figures/<store key>/``, a folder written like a store (assembled aside, renamed into place, every file in
its manifest with its sha256) and read by the render stage like one.

The folder is named by the store it draws; its manifest records what it was drawn from: the store's manifest hash
and the drawing code's (``analysis.keys.figures_inputs``). When either differs (a caption or a colour edited in
analysis/figures/, or the store analysed again) the figures are drawn again and the folder replaced: no torch, no
analysis, numpy and matplotlib only when there is something to draw. Stores written before issue 31 hold their
images themselves and have no figures folder.
"""

from __future__ import annotations

import contextlib
import re
import warnings
from collections.abc import Iterator
from pathlib import Path

from analysis.errors import StoreError
from analysis.keys import figures_inputs
from analysis.store.schema import FIGURE_GROUPS as ALL_GROUPS
from analysis.store.schema import FIGURES_FOLDER
from analysis.store.writer import StoreWriter
from report.render.load import (
    draws_figures,
    figure_arrays,
    figures_folder,
    load_findings,
    manifest_sha256,
    read_manifest,
)
from report.render.load import figures_inputs as drawn_from

GROUPS_DRAWN = "groups"  # the figures folder's manifest: which groups of images it holds (inputs["groups"])


def ensure_figures(store_dir: Path, groups: tuple[str, ...] | None = None, log=None) -> Path | None:
    """The store's figures folder holding (at least) the images of ``groups`` (analysis.store.schema.FIGURE_GROUPS;
    None: every group), drawn now when it is missing or damaged, lacks one of them, or was drawn from other
    bytes or by other drawing code; None for a store that holds its images itself. A folder that lacks groups
    is drawn again with the groups it had and those asked for. ``log``: where a line about characters the figures'
    font lacks goes (none: ``--quiet``)."""
    store_dir = Path(store_dir)
    try:
        manifest = read_manifest(store_dir)
    except StoreError:
        return None  # the render's own reading of the store says what is wrong with it
    if not draws_figures(manifest):
        return None
    folder = figures_folder(store_dir)
    wanted = figures_inputs(manifest_sha256(store_dir))
    recorded = drawn_from(folder) or {}
    had = recorded.pop(GROUPS_DRAWN, None)
    valid = recorded == wanted and isinstance(had, list)  # drawn from these bytes by this code
    kept, asked = set(had) if valid else set(), set(ALL_GROUPS if groups is None else groups)
    if valid and asked <= kept:
        return folder
    return draw_figures(store_dir, folder, wanted, tuple(g for g in ALL_GROUPS if g in asked | kept), log)


def draw_figures(store_dir: Path, folder: Path, inputs: dict, groups: tuple[str, ...], log=None) -> Path:
    """Draw the images of ``groups`` that the store's documents name into ``folder``, replacing what is there; the
    folder's manifest records the groups drawn beside the inputs."""
    from analysis.figures.draw import figures  # numpy, and matplotlib for charts: only when there is something to draw

    findings = load_findings(store_dir)  # every file checked against the store's manifest
    writer = StoreWriter(folder)
    try:
        with glyphs_missing(log):
            for path, png in figures(figure_arrays(store_dir), findings.model, findings.evaluation,
                                     findings.activations, findings.embeddings, findings.separation,
                                     findings.provenance.config["seed"], groups, attribution=findings.attribution):
                writer.write_bytes(path, png)
        return writer.commit({"key": store_dir.name, "kind": FIGURES_FOLDER,
                              "inputs": {**inputs, GROUPS_DRAWN: list(groups)}})
    except BaseException:
        writer.abort()
        raise


# matplotlib's warning for a character its font lacks ("Glyph 12354 (\N{HIRAGANA LETTER A}) missing from font(s)
# DejaVu Sans."): one per character and drawing, dozens for a few class names in another script
GLYPH_MISSING = re.compile(r"Glyph (\d+) .*missing from font")


@contextlib.contextmanager
def glyphs_missing(log=None) -> Iterator[None]:
    """Within this block, matplotlib's warnings of characters missing from its font become one line for ``log``
    (none when it is None: ``--quiet``), naming the characters; every other warning is shown as it came."""
    with warnings.catch_warnings(record=True) as caught:  # the filters in place decide what else is recorded
        warnings.filterwarnings("always", message=GLYPH_MISSING.pattern, category=UserWarning)
        yield
    missing = set()
    for warning in caught:
        match = GLYPH_MISSING.search(str(warning.message))
        if match:
            missing.add(chr(int(match.group(1))))
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    if missing and log:
        from analysis.data.paths import printable  # class names are data: no control character reaches a terminal

        shown = sorted(missing)
        listed = " ".join(shown[:GLYPHS_LISTED]) + (f" and {len(shown) - GLYPHS_LISTED:,} more"
                                                     if len(shown) > GLYPHS_LISTED else "")
        log(printable(f"report: the figures' font (DejaVu Sans) lacks {len(shown):,} character"
                      f"{'s' if len(shown) != 1 else ''} of the class names or labels ({listed}): the figures "
                      "draw them as empty boxes"))


GLYPHS_LISTED = 8
