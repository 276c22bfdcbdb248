"""The garbage collector's pace in the tool's own processes: ``python -m report``, ``cnn-report`` and the PDF
worker. Never in a process that imports ``report`` as a library (a notebook, a training script): it keeps its own.

CPython (3.11) collects its youngest objects after every 700 new container objects, the middle generation every
tenth time, and walks every object of the process every tenth of those when the long-lived objects grew by a
quarter. A build's objects mostly live to its end: importing torch, scipy and WeasyPrint makes some hundreds of
thousands, and laying out a PDF makes boxes that live until it is written, so those walks found little to free
and were a tenth of the PDF worker's work (gc.callbacks, one ``--sections assignment`` build: 0.30–0.35 s of
collecting in the worker, 0.36–0.46 s in the command; with 10,000 new objects a round, 0.04–0.07 s and
0.20–0.32 s; the full default report's command 0.89–0.96 s, then 0.43–0.52 s). Cyclic garbage is still
collected, a round later: memory stays bounded (``watch`` runs for hours).
"""

from __future__ import annotations

import gc

NEW_OBJECTS_PER_COLLECTION = 10_000  # CPython's default: 700


def few_collections() -> None:
    """Collect the youngest objects after ``NEW_OBJECTS_PER_COLLECTION`` new ones; the older generations' pace is
    kept (counted in collections of the younger)."""
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(NEW_OBJECTS_PER_COLLECTION, middle, oldest)
