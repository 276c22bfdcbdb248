"""The order the suite's files are handed to pytest-xdist's workers: the costliest first (tests/conftest.py), from
the CPU seconds a measured run wrote (tests/cputime.py)."""

from __future__ import annotations

import json
import types

from conftest import FILE_COSTS, costliest_files_first
from cputime import file_costs


def items(*nodeids: str) -> list:
    return [types.SimpleNamespace(nodeid=nodeid) for nodeid in nodeids]


def test_the_costliest_files_come_first_each_in_its_own_order_and_unknown_files_last(tmp_path):
    costs = tmp_path / "costs.json"
    costs.write_text(json.dumps({"tests/test_a.py": 1.0, "tests/test_b.py": 5.0}))
    collected = items("tests/test_a.py::one", "tests/test_c.py::new", "tests/test_b.py::x[1]", "tests/test_a.py::two",
                      "tests/test_b.py::x[2]", "tests/test_d.py::newer")
    assert [i.nodeid for i in costliest_files_first(collected, costs)] == [
        "tests/test_b.py::x[1]", "tests/test_b.py::x[2]", "tests/test_a.py::one", "tests/test_a.py::two",
        "tests/test_c.py::new", "tests/test_d.py::newer"]


def test_without_readable_costs_the_order_is_the_collections(tmp_path):
    collected = items("tests/test_z.py::t", "tests/test_a.py::t")
    assert costliest_files_first(collected, tmp_path / "absent.json") == collected
    (tmp_path / "bad.json").write_text("{not json")
    assert costliest_files_first(collected, tmp_path / "bad.json") == collected


def test_the_costs_are_summed_per_file_over_the_workers_reports(tmp_path):
    for worker, rows in (("gw0", [("tests/test_a.py::one", 1.25), ("tests/test_b.py::t", 2.0)]),
                         ("gw1", [("tests/test_a.py::two[x::y]", 0.5)])):
        (tmp_path / f"c-{worker}.json").write_text(json.dumps(
            {"total_cpu": 0, "rows": [{"test": t, "cpu": c, "wall": c, "slow": False} for t, c in rows]}))
    assert file_costs(sorted(str(p) for p in tmp_path.glob("c-*.json"))) == {"tests/test_a.py": 1.8,
                                                                            "tests/test_b.py": 2.0}


def test_the_committed_costs_name_files_of_this_suite():
    costs = json.loads(FILE_COSTS.read_text())
    folder = FILE_COSTS.parent
    assert costs and all((folder.parent / path).is_file() for path in costs)
    assert all(isinstance(cost, (int, float)) and cost >= 0 for cost in costs.values())
