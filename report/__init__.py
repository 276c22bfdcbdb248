"""``python -m report``: the command line, and the orchestrator that drives both stages.

Stage 1 is ``analysis/`` (torch), run only when a store for the current inputs is missing or invalid;
stage 2 is ``report.render`` (read a store, interpret its numbers, render HTML and PDF), which never
imports torch (declared in .importlinter, checked by tests/test_architecture.py).
"""
