"""Errors of the rendering stage that a user can act on."""


class StoreError(Exception):
    """The store is missing, incomplete, tampered with or of another schema version."""


class RenderError(Exception):
    """Rendering failed: a template, an image or the PDF writer refused."""
