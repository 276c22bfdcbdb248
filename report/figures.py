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


def ensure_figures(store_dir: Path, groups: tuple[str, ...] | None = None) -> Path | None:
    """The store's figures folder holding (at least) the images of ``groups`` (analysis.store.schema.FIGURE_GROUPS;
    None: every group), drawn now when it is missing or damaged, lacks one of them, or was drawn from other
    bytes or by other drawing code; None for a store that holds its images itself. A folder that lacks groups
    is drawn again with the groups it had and those asked for."""
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
    return draw_figures(store_dir, folder, wanted, tuple(g for g in ALL_GROUPS if g in asked | kept))


def draw_figures(store_dir: Path, folder: Path, inputs: dict, groups: tuple[str, ...]) -> Path:
    """Draw the images of ``groups`` that the store's documents name into ``folder``, replacing what is there; the
    folder's manifest records the groups drawn beside the inputs."""
    from analysis.figures.draw import figures  # numpy, and matplotlib for charts: only when there is something to draw

    findings = load_findings(store_dir)  # every file checked against the store's manifest
    writer = StoreWriter(folder)
    try:
        for path, png in figures(figure_arrays(store_dir), findings.model, findings.evaluation, findings.activations,
                                 findings.embeddings, findings.separation, findings.provenance.config["seed"], groups,
                                 attribution=findings.attribution):
            writer.write_bytes(path, png)
        return writer.commit({"key": store_dir.name, "kind": FIGURES_FOLDER,
                              "inputs": {**inputs, GROUPS_DRAWN: list(groups)}})
    except BaseException:
        writer.abort()
        raise
