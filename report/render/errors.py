"""Errors of the rendering stage that a user can act on."""

from analysis.errors import ReportError


class StoreError(ReportError):
    """The store is missing, incomplete, tampered with or of another schema version."""


class RenderError(ReportError):
    """Rendering failed: a template, an image or the PDF writer refused."""

    exit_code = 1
