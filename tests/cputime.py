"""A pytest plugin that records each test's wall time and CPU time (the test process, the processes it waited
for, and the commands forked by tests/clirunner.py), to compare the suite's cost on a machine others share:

    .venv/bin/python -m pytest -p cputime ...            # writes cputime.json (or $CPUTIME_OUT)

CPU time barely moves with the machine's load; wall time does. Not loaded unless asked for with ``-p``.

    .venv/bin/python tests/cputime.py costs cputime-gw*.json     # rewrites tests/file_costs.json

writes each test file's CPU seconds in such a run to tests/file_costs.json, which tests/conftest.py reads to hand
the costliest files to the workers first."""

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


def file_costs(reports: list[str]) -> dict[str, float]:
    """CPU seconds per test file (``tests/test_x.py``) over the workers' reports of one run."""
    costs: dict[str, float] = {}
    for report in reports:
        with open(report) as handle:
            for row in json.load(handle)["rows"]:
                path = row["test"].split("::")[0]
                costs[path] = costs.get(path, 0.0) + row["cpu"]
    return {path: round(cost, 1) for path, cost in sorted(costs.items())}


if __name__ == "__main__":
    import sys
    from pathlib import Path

    if len(sys.argv) < 3 or sys.argv[1] != "costs":
        sys.exit("usage: python tests/cputime.py costs CPUTIME-REPORT.json ...")
    target = Path(__file__).resolve().parent / "file_costs.json"
    target.write_text(json.dumps(file_costs(sys.argv[2:]), indent=0) + "\n")
    print(f"wrote {target}")
