"""The classification quality computed in a helper process started ahead of the analysis (torch-free).

scipy.stats, scipy.optimize and scikit-learn's metrics take about a second to import, and a build needs them
only after its evaluation pass, for the classification quality (analysis.stats.classification). Imported in
the command's own process they wait for torch's import and then add their own, one after the other. Started
here before torch is imported, a helper process imports them on the other core meanwhile, and then computes
the quality from the predictions it is sent: the same function on the same numbers, so the same record.

The helper is worth its start only when the analysis needs no other statistics in its own process (the
whole-split statistics import them anyway: the caller says so), and only where they are not imported yet
(``worthwhile``): a process that has them (a notebook or ``watch`` after a whole-split build, a test's forked
command) computes the quality itself, and so does a helper of ``batch`` or ``history`` (a pool process: one
helper per worker would put more processes than cores to work). ``watch`` of assignment sections starts one
per build: a second of CPU on the other core for a second less to wait. When the helper cannot serve (it did
not start, or died), the quality is computed here: the helper only ever saves time. It ends with the command
(analysis.spawning: signals, a parent that died).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import sys
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import numpy as np

from analysis.spawning import helper_pool, main_script_left_out, stop_pool, stoppable

# What the classification quality imports and what its helper imports ahead.
STATISTICS = ("scipy.stats", "scipy.optimize", "sklearn.metrics")

_running: list[ProcessPoolExecutor] = []  # the helper of the ``started`` block this process is in, if any


def worthwhile() -> bool:
    """Whether a helper saves time here: the statistics are not imported yet, and this is no pool's process."""
    return (multiprocessing.parent_process() is None
            and not all(name in sys.modules for name in STATISTICS))


@contextlib.contextmanager
def started(wanted: bool = True) -> Iterator[None]:
    """Within this block, ``classification_quality`` runs in a helper process started now (when ``wanted`` and
    worthwhile) that imports the statistics while the caller goes on; on leaving, the helper is stopped."""
    if not (wanted and worthwhile()):
        yield
        return
    pool = helper_pool(1)
    try:
        with main_script_left_out():  # the submit starts the process
            pool.submit(_import_statistics)
    except OSError:  # no process to be had (a limit on processes): the quality is computed here
        pool.shutdown(wait=False)
        yield
        return
    _running.append(pool)
    try:
        yield
    finally:
        _running.remove(pool)
        stop_pool(pool)  # idle by now, its one task done: it ends at once


def classification_quality(labels: np.ndarray, predicted: np.ndarray, confidence: np.ndarray, classes: int):
    """analysis.stats.classification.classification_quality (without figures): in the helper when one runs,
    else here."""
    if _running:
        try:
            return _running[-1].submit(stoppable, _quality, labels, predicted, confidence, classes).result()
        except BrokenProcessPool:  # the helper died (killed, out of memory): compute it here
            pass
    return _quality(labels, predicted, confidence, classes)


def _quality(labels: np.ndarray, predicted: np.ndarray, confidence: np.ndarray, classes: int):
    from analysis.stats.classification import classification_quality as quality

    return quality(labels, predicted, confidence, classes)


def _import_statistics() -> None:
    import analysis.stats.classification  # noqa: F401  scipy and scikit-learn, while the parent imports torch
