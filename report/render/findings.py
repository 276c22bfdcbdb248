"""Typed view of one artifact store: its documents, as the records of ``analysis.store.schema`` declare
them, and where they came from. What the rules and the view models work from."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from analysis.errors import StoreError
from analysis.store.schema import (
    ActivationsDocument,
    AttributionDocument,
    DistanceTable,
    EmbeddingsDocument,
    EvaluationDocument,
    InputImage,
    KernelImage,
    LayerParams,
    MapGrid,
    ModelDocument,
    Parameters,
    SeparationDocument,
    Trace,
    TraceRow,
)

__all__ = ["Findings", "Provenance", "DistanceTable", "LayerParams", "MapGrid", "TraceRow", "confusion_cells"]


def confusion_cells(separation: SeparationDocument) -> list[tuple[int, int, int]]:
    """The confusion matrix's non-zero cells as (row, column, images), in row-major order: from the dense matrix,
    or from the cells stored instead of it beyond PAIR_MATRIX_MAX_CLASSES classes."""
    if separation.confusion_cells:
        return sorted((int(r), int(c), int(n)) for r, c, n in separation.confusion_cells if n)
    return [(r, c, n) for r, row in enumerate(separation.confusion) for c, n in enumerate(row) if n]


@dataclasses.dataclass(frozen=True)
class Provenance:
    """From the manifest: which inputs made the numbers."""

    key: str
    checkpoint_file: str
    checkpoint_sha256: str
    checkpoint_bytes: int
    data_kind: str
    data_description: str
    config: dict
    code_version: str
    producer: dict
    schema_version: int   # as written; the documents were migrated to the current schema when read


@dataclasses.dataclass(frozen=True)
class Findings:
    store_dir: Path
    provenance: Provenance
    model: ModelDocument
    evaluation: EvaluationDocument
    activations: ActivationsDocument | None  # None: the activation maps were not asked for (--sections)
    embeddings: EmbeddingsDocument | None    # None: the sample embeddings were not asked for (--sections)
    separation: SeparationDocument | None   # None: the whole-split pass did not run (or schema 1 and 2)
    # Where the image files the documents name lie: the store's figures folder (drawn from its arrays), or the
    # store itself for stores that hold their images (None: the store's); ``figures_problem`` says why there is
    # no folder to show them from (figures not drawn, or damaged), raised only when an image is asked for.
    figures_dir: Path | None = None
    figures_problem: str | None = None
    attribution: AttributionDocument | None = None  # None: the attribution maps were not asked for (--sections),
                                                    # or a store written before they existed

    @property
    def images_dir(self) -> Path:
        """The folder the documents' image paths (``images/...``) are relative to."""
        if self.figures_problem:
            raise StoreError(self.figures_problem)
        return self.figures_dir or self.store_dir

    # Shorthands for what the rules use most.
    @property
    def model_class(self) -> str:
        return self.model.model.class_name

    @property
    def model_source(self) -> str:
        return self.model.model.source

    @property
    def weights(self) -> str:
        return self.model.model.weights

    @property
    def normalisation(self) -> dict:
        return self.model.model.normalisation

    @property
    def preprocessing(self) -> dict:
        """What was done to the images first (analysis.store.schema.ModelInfo.preprocessing); empty: nothing."""
        return self.model.model.preprocessing or {}

    @property
    def input_shape(self) -> list[int]:
        return self.model.model.input_shape

    @property
    def non_finite(self) -> list[str]:
        return self.model.non_finite

    @property
    def parameters(self) -> Parameters:
        return self.model.parameters

    @property
    def trace(self) -> Trace:
        return self.model.trace

    @property
    def kernels(self) -> list[dict]:
        return self.model.kernels

    @property
    def kernel_image(self) -> KernelImage | None:
        return self.model.kernel_image

    @property
    def input_image(self) -> InputImage:
        return self.activations.input

    @property
    def map_colourbar(self) -> str:
        return self.activations.colourbar

    @property
    def map_grids(self) -> list[MapGrid]:
        return self.activations.grids

    def class_name(self, label: int) -> str:
        names = self.evaluation.class_names
        return names[label] if 0 <= label < len(names) else str(label)
