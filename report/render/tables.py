"""The report's tables: each section's, as the section registry declares them (report.render.sections), and
their files. Each table's rows are built in report.render.rows; its names are here too, as callers know them.

A table of the page names its data with ``data-table="<id>"`` (tests/test_tables.py checks that every table of
a rendered report has one, and that each id is in TABLE_IDS).
"""

from __future__ import annotations

from report.render.rows import (  # noqa: F401 (their names here, as callers and tests import them)
    HISTORY_METRICS,
    TABLES_DIR,
    Table,
    _cell,
    _inert,
    activations,
    class_accuracy,
    class_distances,
    class_spread,
    closest_pairs,
    confusion,
    depth,
    distance_matrices,
    distance_means,
    distance_pairs,
    embeddings,
    filters,
    history_table,
    index,
    kernels,
    misclassified,
    parameters,
    pca,
    predictions,
    provenance,
    shapes,
    two_sample,
    two_sample_verdicts,
)
from report.render.sections import REGISTRY

# Every section's table builders, in report order; a builder returns None when the store lacks its numbers.
TABLES = REGISTRY.table_builders

# Every id a table can have, and the index: what ``clean`` may remove from tables/ (a test checks each builder's
# id is here).
TABLE_IDS = (*REGISTRY.table_ids, "index")
TABLE_FILES = tuple(f"{id}.{kind}" for id in TABLE_IDS for kind in ("csv", "parquet"))

report_tables = REGISTRY.tables
