"""Many checkpoints: analyse them in parallel (local processes or a Dask cluster), reusing cached stores."""

from __future__ import annotations

import multiprocessing
import re
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from analysis.config import ANALYSIS_THREADS, AnalysisConfig
from analysis.errors import InputError
from analysis.spawning import main_script_left_out
from analysis.store.writer import sha256_file
from report.watch import candidates


def natural_key(path: Path) -> list:
    """epoch2 before epoch10."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def checkpoints_in(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise InputError(f"checkpoint folder {folder} does not exist")
    found = sorted(candidates(folder), key=natural_key)
    if not found:
        raise InputError(f"no checkpoints (.pt, .pth, .ckpt, .bin, .safetensors) in {folder}")
    return found


def analysis_task(checkpoint: str, data: str | None, config: AnalysisConfig, out: str, threads: int) -> dict:
    """One checkpoint's analysis; runs in a worker process (local pool or Dask) and in this one alike."""
    from threadpoolctl import threadpool_limits

    from report.pipeline import BuildOptions, ensure_store

    options = BuildOptions(out=Path(out), data=data, config=config, quiet=True, threads=threads)
    with threadpool_limits(limits=threads):  # BLAS and OpenMP too, or parallel workers oversubscribe the cores
        store_dir, analysed = ensure_store(options, Path(checkpoint))
    return {"checkpoint": checkpoint, "store": str(store_dir), "analysed": analysed}


def _on_dask(address: str, arguments: list[tuple]) -> list[dict]:
    from analysis.cluster import connect

    with connect(address) as client:
        futures = [client.submit(analysis_task, *args, pure=False) for args in arguments]
        return client.gather(futures)


def run_batch(checkpoints: list[Path], data: str | None, config: AnalysisConfig, out: Path, workers: int = 2,
              dask_address: str | None = None) -> list[dict]:
    """Analyse every checkpoint (identical files once); results in the order given."""
    digests = [sha256_file(path) for path in checkpoints]
    first_of: dict[str, str] = {}
    for path, digest in zip(checkpoints, digests):
        first_of.setdefault(digest, str(path))
    unique = list(first_of.values())
    threads = ANALYSIS_THREADS  # as a build's: the same store bytes under the same key, whatever the workers
    arguments = [(path, data, config, str(out), threads) for path in unique]
    if dask_address:
        results = _on_dask(dask_address, arguments)
    elif workers == 1 or len(unique) == 1:
        results = [analysis_task(*args) for args in arguments]
    else:
        # Spawned, never forked: a caller of the API may have torch's thread pools running, and a child
        # forked from them waits forever on a lock one of those threads held (a test's pool did).
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            with main_script_left_out():  # map submits every task, and each submit may start a process
                pending = pool.map(analysis_task, *zip(*arguments))
            results = list(pending)
    by_path = {r["checkpoint"]: r for r in results}
    return [{**by_path[first_of[digest]], "checkpoint": str(p)} for p, digest in zip(checkpoints, digests)]
