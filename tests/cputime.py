"""A pytest plugin that records each test's wall time and CPU time (the test process, the processes it waited
for, and the commands forked by tests/clirunner.py), to compare the suite's cost on a machine others share:

    .venv/bin/python -m pytest -p cputime ...            # writes cputime.json (or $CPUTIME_OUT)

CPU time barely moves with the machine's load; wall time does. Not loaded unless asked for with ``-p``."""

from __future__ import annotations

import json
import os
import resource
import time

import pytest

_rows: list[dict] = []


def _cpu() -> float:
    try:
        from clirunner import forked_cpu
    except ImportError:  # a checkout from before the zygote: every command is a child of this process
        forked_cpu = 0.0
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime + forked_cpu


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    wall, cpu = time.perf_counter(), _cpu()
    yield
    _rows.append({"test": item.nodeid, "wall": time.perf_counter() - wall, "cpu": _cpu() - cpu,
                  "slow": item.get_closest_marker("slow") is not None})


def pytest_sessionfinish(session):
    path = os.environ.get("CPUTIME_OUT", "cputime.json")
    if "PYTEST_XDIST_WORKER" in os.environ:  # one file per worker: cputime-gw0.json, ...
        stem, dot, suffix = path.rpartition(".")
        path = f"{stem}-{os.environ['PYTEST_XDIST_WORKER']}{dot}{suffix}"
    with open(path, "w") as handle:
        json.dump({"total_cpu": _cpu(), "rows": _rows}, handle, indent=0)
