"""The attribution methods, one module each, in the order of ``schema.ATTRIBUTION_METHODS`` (a new method: its
module, its line here, its id there, its words in the render stage)."""

from __future__ import annotations

from analysis.attribution import gradcam, integrated_gradients
from analysis.attribution.method import Method

METHODS: tuple[Method, ...] = (gradcam.METHOD, integrated_gradients.METHOD)
