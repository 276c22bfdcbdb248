"""Stage 2: read an artifact store, interpret its numbers, render HTML and PDF.

Never imports torch, nor any module of ``analysis/`` that does, nor the orchestrator around it
(``report.cli``, ``report.pipeline``...): the contracts in .importlinter, checked by
tests/test_architecture.py. Loading this package or any module in it loads neither torch nor numpy.
"""

from pathlib import Path

TEMPLATE_DIR = Path(__file__).resolve().parent.parent.parent / "templates"
