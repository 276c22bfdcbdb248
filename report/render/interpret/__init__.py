"""Interpretation text: small pure functions of the stored numbers.

Each rule takes ``Findings`` and returns notes (possibly none). A note keeps the
rule id, which branch of the rule fired, and the numbers it used, so every
sentence in the report can be traced back to the store.

Which rules a report runs, in which order and when (a section's rules need what it shows), is the section
registry's (``report.render.sections``: each section declares its rules; ``run_rules`` runs them). This package
imports none of its rule modules, and they import ``Note`` from ``notes.py``: no import cycle.
"""

from report.render.interpret.notes import Note, by_section

__all__ = ["Note", "by_section"]
