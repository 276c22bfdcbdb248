"""Stage 2: read an artifact store, interpret its numbers, render HTML and PDF.

Never imports torch. ``python -m report`` is the command line for both stages.
"""

from pathlib import Path

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"
