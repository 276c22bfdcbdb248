"""Bring stores written by older versions of the analysis up to the current schema, in memory.

Each step takes the manifest and the documents of version N and returns them as N + 1.
The files on disk are not changed (their hashes stay valid); only what is rendered is.
"""

from __future__ import annotations

import copy

from analysis.store.schema import SCHEMA_VERSION


def _v1_to_v2(manifest: dict, docs: dict) -> tuple[dict, dict]:
    """Version 1 knew only the assignment CNN on MNIST digits: fill in what version 2 records. Only what is
    missing is filled: the last writers of version 1 already recorded some of it (MACs, the channels shown)."""
    model, evaluation = docs["model.json"], docs["evaluation.json"]
    maps, emb = docs["activations.json"], docs["embeddings.json"]
    for key, value in (("source", "assignment"), ("weights", "checkpoint"),
                       ("normalisation", {"mean": [0.1307], "std": [0.3081]})):
        model["model"].setdefault(key, value)
    model["parameters"].setdefault("buffer_list", [])
    for layer in model["parameters"]["layers"]:
        layer.setdefault("aliases", [])
    for row in model["trace"]["rows"]:
        row.setdefault("macs", 0)
    model["trace"].setdefault("total_macs", sum(row["macs"] for row in model["trace"]["rows"] if row["is_leaf"]))
    for kernel in model["kernels"]:
        kernel.setdefault("groups", 1)
    model["kernel_image"].setdefault("shown", model["kernel_image"]["shape"][0])
    model["kernel_image"].setdefault("colouring", "single channel")
    for grid in maps["grids"]:
        grid.setdefault("shown_channels", list(range(grid["shape"][0])))
        grid.setdefault("selection", "all")
    emb.setdefault("side", "output")
    emb.setdefault("description", f"{emb['layer']} after ReLU" if emb["after_relu"] else f"{emb['layer']} output")
    evaluation.setdefault("class_names", [str(d) for d in range(10)])
    evaluation.setdefault("outputs", 10)
    manifest["schema_version"] = 2
    return manifest, docs


def _v2_to_v3(manifest: dict, docs: dict) -> tuple[dict, dict]:
    """Version 2 had no whole-split analysis: its report simply has no such sections."""
    docs["separation.json"] = None
    docs["evaluation.json"]["position"] = None
    manifest["schema_version"] = 3
    return manifest, docs


def _v3_to_v4(manifest: dict, docs: dict) -> tuple[dict, dict]:
    """Version 3 counted MACs with module hooks (Conv and Linear modules only) and traced modules only: the
    declared defaults say so (counting "module-hooks", every module executed, unused parameters unknown)."""
    manifest["schema_version"] = 4
    return manifest, docs


MIGRATIONS = {1: _v1_to_v2, 2: _v2_to_v3, 3: _v3_to_v4}


def migrate(manifest: dict, docs: dict) -> tuple[dict, dict]:
    manifest, docs = copy.deepcopy(manifest), copy.deepcopy(docs)
    while manifest["schema_version"] < SCHEMA_VERSION:
        manifest, docs = MIGRATIONS[manifest["schema_version"]](manifest, docs)
    return manifest, docs
