"""What the compare page says about the two models themselves, one architecture or two: which model each side is,
what it costs (parameters, multiply-accumulates per image), each class's recall in both, and whether their
tensors pair up. Two checkpoints of one architecture pair up tensor by tensor (parameter drift, kernels on one
scale); two architectures do not, and are compared by what each does with the same test images."""

from __future__ import annotations

import dataclasses

from report.render import fmt
from report.render.findings import Findings
from report.render.views.common import field

NOT_AVAILABLE = "n/a"


@dataclasses.dataclass(frozen=True)
class RecallRow:
    name: str = field("the class")
    images: str = field("its test images (the same in A and B), formatted")
    a: str = field("its recall in A, the share of its test images classified correctly, with its 95% Wilson "
                   "interval where the store holds it")
    b: str = field("the same in B")
    difference: str = field("B − A in percentage points; n/a where either is missing")


def architecture(f: Findings) -> tuple:
    """(class, source, each parameter's layer and shapes): two checkpoints of one architecture agree."""
    shapes = tuple((layer.name, tuple(layer.weight_shape or ()), tuple(layer.bias_shape or ()), layer.total)
                   for layer in f.parameters.layers)
    return f.model_class, f.model_source, shapes


def same_architecture(a: Findings, b: Findings) -> bool:
    """Whether A's and B's tensors pair up name by name: only then do parameter drift and shared kernel scales
    mean anything (two architectures' tensors that share a name are not one unit moved by training)."""
    return architecture(a) == architecture(b)


def model_words(f: Findings) -> str:
    """ "AssignmentCNN (assignment)": the class and the source it was built from."""
    return f"{f.model_class} ({f.model_source})"


def heading(a: Findings, b: Findings) -> str:
    """The page's heading: the one model's name, or both."""
    if a.model_class == b.model_class:
        return f"{a.model_class}: A against B"
    return f"{a.model_class} (A) against {b.model_class} (B)"


def title(a: Findings, b: Findings, file_a: str, file_b: str) -> str:
    """The document's title: the checkpoints' file names, each with its model where they differ."""
    if a.model_class == b.model_class:
        return f"{a.model_class}: {file_a} against {file_b}"
    return f"{a.model_class} {file_a} against {b.model_class} {file_b}"


def macs(f: Findings) -> str:
    """Multiply-accumulates per image in words, marked as a lower bound where some heavy operation went
    uncounted (as the single report's summary marks it)."""
    return fmt.count(f.trace.total_macs) + (" (at least)" if f.trace.uncounted else "")


def architecture_note(a: Findings, b: Findings) -> str:
    """Why a page of two architectures has no parameter drift and no kernels; empty for one architecture."""
    if same_architecture(a, b):
        return ""
    return (f"A is {model_words(a)} and B is {model_words(b)}: two architectures, whose parameters do not pair up "
            "tensor by tensor, so this page shows no parameter drift and no kernel grids. They are compared by "
            f"what each does with the same {fmt.integer(a.evaluation.n_test)} test images.")


def _recalls(f: Findings) -> dict[int, tuple[int, float, str]]:
    """Each class with test images: (its images, its recall, the recall in words with its interval)."""
    quality = f.evaluation.quality
    if quality is not None:
        return {c.cls: (c.support, c.recall, fmt.percent_ci(c.recall, c.recall_low, c.recall_high))
                for c in quality.classes if c.support}
    return {c.cls: (c.n, c.accuracy, fmt.percent(c.accuracy)) for c in f.evaluation.per_class if c.n}


def recall_rows(a: Findings, b: Findings) -> list[RecallRow]:
    """Each class's recall in A and B side by side (the test images are the same, so are the classes)."""
    in_a, in_b = _recalls(a), _recalls(b)
    rows = []
    for cls in sorted(set(in_a) | set(in_b)):
        side_a, side_b = in_a.get(cls), in_b.get(cls)
        images = (side_a or side_b)[0]
        difference = (f"{fmt.number((side_b[1] - side_a[1]) * 100, 2)} points" if side_a and side_b
                      else NOT_AVAILABLE)
        rows.append(RecallRow(a.class_name(cls), fmt.integer(images), side_a[2] if side_a else NOT_AVAILABLE,
                              side_b[2] if side_b else NOT_AVAILABLE, difference))
    return rows


def recall_note(a: Findings, b: Findings) -> str:
    """How far the per-class differences can be read: they are not tested one by one."""
    stored = a.evaluation.quality is not None and b.evaluation.quality is not None
    intervals = ("Each recall has its 95% Wilson interval. " if stored else
                 "One of the stores holds no intervals of its recalls (written before they were kept). ")
    return (intervals + "The differences of single classes are not tested: with few images per class a "
            "difference of a few points can be chance; McNemar's test above is the comparison over all images.")
