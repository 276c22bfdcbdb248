"""Process-wide settings changed for one call only: ``python -m report watch`` analyses many checkpoints in
one process, so a setting that training or an analysis needs (torch's thread count, deterministic
algorithms, a seeded global random generator) must not outlive the call that made it.

``process_state()`` records these settings and puts them back on exit, also when the call raises; used
as a decorator it does so around every call of the function. It also holds every other thread pool to one
thread for the call (``pools_beside_torch``): torch's pool is the one that computes. Seed with
``seed_torch``: it seeds torch's CPU generator exactly as ``torch.manual_seed`` does, without also queueing a
seed for CUDA devices, whose generators ``process_state`` does not record (the analysis runs on the CPU)."""

from __future__ import annotations

import contextlib
import random
from pathlib import Path

import numpy as np
import torch


@contextlib.contextmanager
def process_state():
    """Torch's intra-op thread count, its deterministic-algorithms mode (and warn-only flag), whether GPUs
    may compute in TF32, and the global random generators of torch (CPU), numpy and Python, restored on exit as they were on entry."""
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch_rng = torch.get_rng_state()
    tf32 = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    numpy_rng = np.random.get_state()
    python_rng = random.getstate()
    try:
        with pools_beside_torch():
            yield
    finally:
        random.setstate(python_rng)
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32
        np.random.set_state(numpy_rng)
        torch.set_rng_state(torch_rng)
        # Only when changed: the setter imports torch's compiler configuration (over a second on 2 cores).
        if (torch.are_deterministic_algorithms_enabled(),
                torch.is_deterministic_algorithms_warn_only_enabled()) != (deterministic, warn_only):
            torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)


@contextlib.contextmanager
def pools_beside_torch(threads: int = 1):
    """Every BLAS and OpenMP pool loaded in this process except torch's own (numpy's and scipy's OpenBLAS, any
    other OpenMP runtime) at most ``threads`` threads for the block, restored on exit; libraries loaded during
    the block keep their own count. Torch's pool keeps the analysis's count, which decides its order of
    additions and so the stored bytes (scikit-learn's OpenMP loops run in torch's runtime when torch was
    imported first: its symbols are global). A second pool of as many threads beside it asks the cores for
    more threads than they have, and a thread waiting at a barrier for one that is not running spins: a
    two-thread t-SNE took 6 to 20 times a one-thread one on a busy 2-core machine (bench/TSNE.md). What numpy
    computes in an analysis is small (distances between a thousand rows: tenths of a second on one core), and
    on one thread it is the same to the bit on every machine."""
    from threadpoolctl import ThreadpoolController

    controller = ThreadpoolController()
    torch_libraries = Path(torch.__file__).resolve().parent
    others = [pool.filepath for pool in controller.lib_controllers
              if not Path(pool.filepath).resolve().is_relative_to(torch_libraries)]
    if not others:
        yield
        return
    with controller.select(filepath=others).limit(limits=threads):
        yield


def exact_float32() -> None:
    """GPU matrix products and convolutions in full float32 (cuDNN uses TF32 by default on recent GPUs,
    which moves outputs by about 1e-3): the analysis's results must agree with the CPU's."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False


def seed_torch(seed: int) -> None:
    """Seed torch's global CPU generator: the same weights as ``torch.manual_seed(seed)`` gives."""
    torch.default_generator.manual_seed(int(seed))
