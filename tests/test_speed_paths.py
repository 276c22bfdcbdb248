"""Speed without spinning (issue 31, point 7): the t-SNE map comes from openTSNE on one thread, the same to the
bit on every run whatever the thread pools are sized to, with separate clusters kept apart; an analysis holds
every thread pool but torch's to one thread and gives them back as they were."""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import ROOT
from threadpoolctl import threadpool_info, threadpool_limits

from analysis import scoped
from analysis.stats.fullsplit import _tsne


def clusters(per_class: int = 20, classes: int = 10, dimensions: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Clearly separated clusters: centres 10 apart in every direction, unit spread around them."""
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(classes), per_class)
    points = rng.normal(scale=10.0, size=(classes, dimensions))[labels] + rng.normal(size=(len(labels), dimensions))
    return points.astype(np.float32), labels


def nearest_label_agreement(mapped: np.ndarray, labels: np.ndarray) -> float:
    distances = ((mapped[:, None, :] - mapped[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(distances, np.inf)
    return float(np.mean(labels[distances.argmin(1)] == labels))


def test_the_map_is_the_same_to_the_bit_on_every_run_whatever_the_pools_are_sized_to():
    points, _ = clusters()
    first = _tsne(points, 0)
    with threadpool_limits(limits=1):
        second = _tsne(points, 0)
    assert first.shape == (len(points), 2) and first.dtype == np.float64
    assert first.tobytes() == second.tobytes()
    assert _tsne(points, 1).tobytes() != first.tobytes()  # the seed is used


def test_separate_clusters_stay_apart_in_the_map():
    points, labels = clusters()
    assert nearest_label_agreement(_tsne(points, 0), labels) >= 0.95


def test_a_one_number_embedding_and_huge_values_get_a_map():
    points, labels = clusters()
    single = _tsne(points[:, :1] + labels[:, None] * 20.0, 0)  # one feature: the PCA start needs a second axis
    assert single.shape == (len(points), 2) and np.isfinite(single).all()
    huge = _tsne(points * np.float32(1e30), 0)  # near float32's top: the affinities overflowed unscaled
    assert np.isfinite(huge).all() and nearest_label_agreement(huge, labels) >= 0.95


def test_a_map_of_too_few_or_identical_points_is_none():
    assert _tsne(np.ones((20, 4), dtype=np.float32), 0) is None
    assert _tsne(np.eye(4, dtype=np.float32), 0) is None


# In a fresh process (pools start their threads once, at their first parallel loop): the map adds no thread,
# which a pool of two would (its second thread, spinning at every barrier), and torch's count is as it was.
NO_NEW_THREAD = """
import os, numpy as np, torch
from openTSNE import TSNE  # its import (and scikit-learn's, scipy's) starts threads of its own: counted before
from analysis.stats.fullsplit import _tsne
torch.set_num_threads(2)
before = len(os.listdir("/proc/self/task"))
rng = np.random.default_rng(0)
mapped = _tsne(rng.normal(size=(200, 16)).astype(np.float32), 0)
print(before, len(os.listdir("/proc/self/task")), torch.get_num_threads())
"""


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads in /proc")
def test_the_map_starts_no_thread_and_leaves_torch_its_threads():
    done = subprocess.run([sys.executable, "-c", NO_NEW_THREAD], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert done.returncode == 0, done.stderr
    before, after, threads = map(int, done.stdout.split())
    assert (after, threads) == (before, 2)


def pools() -> dict[str, int]:
    return {pool["filepath"]: pool["num_threads"] for pool in threadpool_info()}


def test_process_state_holds_every_pool_but_torchs_to_one_thread_and_gives_them_back():
    import scipy.linalg  # noqa: F401  (scipy's own BLAS loaded too)

    with threadpool_limits(limits=2):
        before, torch_threads = pools(), torch.get_num_threads()
        with scoped.process_state():
            inside = pools()
            assert torch.get_num_threads() == torch_threads
        assert pools() == before and torch.get_num_threads() == torch_threads
    # resolved paths: threadpoolctl names libraries by their real path, which differs from torch.__file__'s
    # where the environment is reached through a link
    torch_dir = os.path.realpath(os.path.dirname(torch.__file__))
    in_torch = {path: os.path.realpath(path).startswith(torch_dir + os.sep) for path in inside}
    others = {path: threads for path, threads in inside.items() if not in_torch[path]}
    assert others and set(others.values()) == {1}
    assert all(threads == before[path] for path, threads in inside.items() if in_torch[path])


def test_imports_ahead_run_in_order_on_one_thread_and_a_failed_one_is_left_to_the_caller(tmp_path, monkeypatch):
    import threading

    from analysis.run import ImportsAhead

    # modules of this test's own, so that nothing has imported them before; the first records the thread it ran on
    (tmp_path / "ahead_probe_one.py").write_text("import threading\nTHREAD = threading.current_thread().name\n")
    (tmp_path / "ahead_probe_broken.py").write_text("raise ImportError('broken on purpose')\n")
    (tmp_path / "ahead_probe_two.py").write_text("import ahead_probe_one\nAFTER = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    names = ("ahead_probe_one", "ahead_probe_broken", "ahead_probe_two")
    for name in names:
        monkeypatch.delitem(sys.modules, name, raising=False)
    ahead = ImportsAhead(list(names))
    ahead.wait("not asked for")  # at once
    ahead.wait("ahead_probe_broken")  # a failed import is waited for too, and raises nothing here
    ahead.wait("ahead_probe_two")
    assert sys.modules["ahead_probe_one"].THREAD == "import ahead" and sys.modules["ahead_probe_two"].AFTER
    assert "ahead_probe_broken" not in sys.modules
    with pytest.raises(ImportError, match="broken on purpose"):  # the caller's own import says what is wrong
        import ahead_probe_broken  # noqa: F401
    for thread in threading.enumerate():
        if thread.name == "import ahead":
            thread.join(10)  # it ends after its last import
    before = threading.active_count()
    ImportsAhead([])  # nothing to import: no thread
    assert threading.active_count() == before and not any(
        t.name == "import ahead" for t in threading.enumerate())
