"""Stage 2: read an artifact store, interpret its numbers, render HTML and PDF.

Never imports torch, nor any module of ``analysis/`` that does, nor the orchestrator around it
(``report.cli``, ``report.pipeline``...): the contracts in .importlinter, checked by
tests/test_architecture.py. Loading this package or any module in it loads neither torch nor numpy.
"""

from pathlib import Path

def _templates() -> Path:
    """templates/ at the top of the repository (a checkout, or `pip install -e .`), else report/templates (a
    wheel: pyproject.toml installs them there)."""
    here = Path(__file__).resolve().parent.parent
    checkout = here.parent / "templates"
    return checkout if (checkout / "report.html.j2").is_file() else here / "templates"


TEMPLATE_DIR = _templates()
