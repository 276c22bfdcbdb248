"""Many checkpoints: analyse them in parallel (local processes or a Dask cluster), reusing cached stores
(``Workspace.batch`` and ``Workspace.history`` run them)."""

from __future__ import annotations

import re
from pathlib import Path

from analysis.config import AnalysisConfig
from analysis.errors import InputError
from analysis.spawning import helper_pool, main_script_left_out, stop_pool, stoppable
from analysis.store.writer import sha256_file
from report.watching import candidates


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


def analysis_task(checkpoint: str, data: str | None, config: AnalysisConfig, out: str) -> dict:
    """One checkpoint's analysis; runs in a worker process (local pool or Dask) and in this one alike, on the
    config's threads (a build's: the same store bytes under the same key, whatever the workers)."""
    from threadpoolctl import threadpool_limits

    from report.pipeline import BuildOptions, ensure_store

    options = BuildOptions.for_store(Path(out), data, config, quiet=True)
    with threadpool_limits(limits=config.threads):  # BLAS and OpenMP too, or parallel workers oversubscribe
        store_dir, analysed = ensure_store(options, Path(checkpoint))
    return {"checkpoint": checkpoint, "store": str(store_dir), "analysed": analysed}


def _on_dask(address: str, arguments: list[tuple]) -> list[dict]:
    from analysis.cluster import connect

    with connect(address) as client:
        futures = [client.submit(analysis_task, *args, pure=False) for args in arguments]
        try:
            return client.gather(futures)
        except BaseException:
            # Stopped or failed: no task may start any more. One already running on a Dask worker cannot be
            # interrupted (it runs in a thread there) and finishes its store on its own.
            client.cancel(futures, force=True)
            raise


def run_batch(checkpoints: list[Path], data: str | None, config: AnalysisConfig, out: Path, workers: int = 2,
              dask_address: str | None = None) -> list[dict]:
    """Analyse every checkpoint (identical files once); results in the order given."""
    digests = [sha256_file(path) for path in checkpoints]
    first_of: dict[str, str] = {}
    for path, digest in zip(checkpoints, digests):
        first_of.setdefault(digest, str(path))
    unique = list(first_of.values())
    arguments = [(path, data, config, str(out)) for path in unique]
    if dask_address:
        results = _on_dask(dask_address, arguments)
    elif workers == 1 or len(unique) == 1:
        results = [analysis_task(*args) for args in arguments]
    else:
        results = _in_processes(arguments, workers)
    by_path = {r["checkpoint"]: r for r in results}
    for digest, path in first_of.items():
        refuse_a_store_of_other_bytes(by_path[path], digest)
    return [{**by_path[first_of[digest]], "checkpoint": str(p)} for p, digest in zip(checkpoints, digests)]


def refuse_a_store_of_other_bytes(result: dict, digest: str) -> None:
    """The rows were keyed on digests taken before the analysis hashed each file again: a file replaced between
    the two gives a store of other bytes, which every row keyed on ``digest`` (its identical files too) would
    report, and ``history`` would give those rows another epoch's results."""
    from report.render.load import checkpoint_sha256

    if checkpoint_sha256(Path(result["store"]), verified=True) != digest:  # ensure_store just validated it
        raise InputError(f"checkpoint {result['checkpoint']} changed while this run read it: "
                         "run again once it is complete")


def _in_processes(arguments: list[tuple], workers: int) -> list[dict]:
    """``analysis_task`` for each arguments in a pool of ``workers`` processes; results in order. Whatever ends
    the wait (SIGINT or SIGTERM through Stopped, a failed task), no worker outlives this call: a pool's own
    exit would wait for every task still queued, and its workers would go on publishing stores after the
    command ended and released the build folder's lock."""
    pool = helper_pool(workers)
    try:
        with main_script_left_out():  # each submit may start a process
            futures = [pool.submit(stoppable, analysis_task, *args) for args in arguments]
        results = [future.result() for future in futures]
    except BaseException:
        stop_pool(pool)
        raise
    pool.shutdown()
    return results
