"""Regimes that change what the numbers can say: random weights, a network at chance level.

In these regimes distances and separation describe an initialisation, not anything learned; the rules
that speak about embeddings add ``caveat(f)`` to their sentence instead of claiming learning."""

from __future__ import annotations

from report.render.findings import Findings

NEAR_CHANCE_MARGIN = 0.05   # accuracy within 5 points of always answering the largest class: near chance


def chance_level(f: Findings) -> float:
    """The accuracy of always answering the most frequent test class."""
    e = f.evaluation
    return max((row.n for row in e.per_class), default=0) / e.n_test if e.n_test else 0.0


def near_chance(f: Findings) -> bool:
    return f.evaluation.n_test > f.evaluation.correct and f.evaluation.accuracy <= chance_level(f) + NEAR_CHANCE_MARGIN


def caveat(f: Findings) -> str:
    """A sentence to append where embeddings are interpreted, or "" for a trained network."""
    if f.weights != "checkpoint":
        return " With random weights this describes the initialisation, not anything learned."
    if near_chance(f):
        return " The network is at chance level, so this describes an untrained state, not what it learned."
    return ""
