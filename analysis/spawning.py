"""Spawned helper processes that do not run the caller's script again.

Under ``spawn`` every new process first runs the parent's main script once more (as ``__mp_main__``), so
that objects pickled from it can be found. The helpers this tool starts (DataLoader workers, the pool of
``batch``) need nothing from that script: their work is importable from ``analysis`` and ``report``. And
running it again is harmful when a script calls the tool at top level, without an
``if __name__ == "__main__":`` guard: each helper would run the caller's whole script (a training run,
say) before failing to start helpers of its own, and when the parent's message to it is larger than a
pipe's buffer, the parent then waits for ever on the half-sent message (CPython's spawn writes it while
holding the pipe's read end open itself).

Helpers also end with the command (``helper_started``, a pool's initializer): when it stops they are
stopped by it, and when it dies without stopping them (SIGKILL, a crash) they notice and end themselves, so
none goes on to publish a store into the build folder after the command ended and released its lock.

Not for the training report process (report.training): it may need a model class defined in the script.
Torch-free, so that report/ can use it."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator

_MISSING = object()


@contextlib.contextmanager
def main_script_left_out() -> Iterator[None]:
    """Within this block, processes started with ``spawn`` import no main script: the one run by path
    (``__file__``) and the one run as a module (``__spec__``) are both hidden from multiprocessing's
    preparation data, and put back on leaving; a SIGHUP reaches none of them (``_hangup_held``). Start the
    processes inside, use them outside."""
    main = sys.modules.get("__main__")
    if main is None:
        yield
        return
    saved = {name: main.__dict__.get(name, _MISSING) for name in ("__file__", "__spec__")}
    main.__dict__.pop("__file__", None)
    main.__dict__["__spec__"] = None
    try:
        with _hangup_held():
            yield
    finally:
        for name, value in saved.items():
            if value is _MISSING:
                main.__dict__.pop(name, None)
            else:
                main.__dict__[name] = value


@contextlib.contextmanager
def _hangup_held() -> Iterator[None]:
    """SIGHUP blocked in this thread within the block (delivered on leaving), and multiprocessing's resource
    tracker started in it if not yet: processes started inside inherit the block and keep it for life (Python
    lifts none it did not set), so that a closed terminal's SIGHUP to the process group ends none of them
    before the command, which stops them itself. A tracker ended so is started again by the next user, which
    then fails (a traceback on stderr) to unregister the semaphores the first one held."""
    if not (hasattr(signal, "pthread_sigmask") and hasattr(signal, "SIGHUP")):  # not on Windows
        yield
        return
    from multiprocessing import resource_tracker

    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
    try:
        resource_tracker.ensure_running()
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


PARENT_POLL = 0.2   # seconds between two looks of a helper at its parent
GRACE = 2.0         # seconds a helper being stopped gets to clean up before it is killed

_task_running = False  # in a helper: whether a task runs now (a SIGTERM then stops it, else ends the helper)


def helper_started(parent: int) -> None:
    """Set up a spawned helper (the initializer of a pool's processes) to end with the command whose process
    is ``parent`` (passed in: were it read here, a parent already dead would go unnoticed). Its tasks are run
    through ``stoppable``.

    SIGINT and SIGHUP are ignored: Ctrl-C, or a closed terminal, reaches the whole process group, and the
    parent, which sees it too, stops its helpers itself, so that a helper never prints a traceback of its own
    (nor dies at once, its store half written, which the parent would report as a failure). SIGTERM (the parent
    stopping it) raises SystemExit in a running task, whose clean-up runs (a store being written is removed,
    DataLoader workers are joined); then, or at once when no task runs, the helper ends without the
    interpreter's teardown (a second of torch's modules, which would only delay the command's end).
    A watchdog thread stops the helper so when the parent is gone: it looks at ``os.getppid()`` (POSIX: a
    helper whose parent died is adopted by another process, so the value changes; on Windows it would not,
    and a dead parent's helper would run its task to the end)."""
    _ignore_group_signals()
    signal.signal(signal.SIGTERM, _stop_helper)
    _watch_parent(parent)
    _no_named_locks_for_progress_bars()


def _no_named_locks_for_progress_bars() -> None:
    """tqdm's first bar (even a disabled one) creates a multiprocessing RLock, a named semaphore registered
    with the resource tracker: a helper killed after its grace period left it behind, and the tracker then
    printed "leaked semaphore objects" under the command's one line. A helper's bars are its own: a thread
    lock serves them."""
    from tqdm import tqdm

    tqdm.set_lock(threading.RLock())


def dataloader_worker_started(parent: int, worker_id: int) -> None:
    """A DataLoader's ``worker_init_fn`` (bound to ``parent``, the process that iterates the DataLoader, with
    ``functools.partial``): the worker ends when that process is gone. torch's own check looks at the parent
    only while the worker waits for work, and a worker whose results nobody reads any more waits for ever on
    its full pipe instead (with it the resource tracker, whose pipe it holds). The parent's SIGTERM, which
    torch sends to a worker that does not end, keeps its default action; SIGINT and SIGHUP to the process
    group are left to the parent, as in ``helper_started``. Changes no random state: what a worker reads does
    not depend on it."""
    _ignore_group_signals()
    _watch_parent(parent)


def _ignore_group_signals() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "SIGHUP"):  # not on Windows
        signal.signal(signal.SIGHUP, signal.SIG_IGN)


def _watch_parent(parent: int) -> None:
    threading.Thread(target=_end_with_parent, args=(parent,), name="report-parent-watch", daemon=True).start()


def stoppable(task, *args):
    """``task(*args)`` in a helper set up by ``helper_started``: a SIGTERM stops it, and the helper ends once
    the task has cleaned up (the parent, which stopped it, wants no result)."""
    global _task_running
    _task_running = True
    try:
        return task(*args)
    except SystemExit as stop:
        if stop.code == 128 + signal.SIGTERM:
            _exit_now(stop.code)
        raise
    finally:
        _task_running = False


def _stop_helper(signum, frame) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: a second one must not cut the clean-up short
    if _task_running:
        raise SystemExit(128 + signum)
    _exit_now(128 + signum)


def _exit_now(code: int) -> None:
    """End this helper at once: multiprocessing's exit finalizers run (they unlink named semaphores, which the
    resource tracker would otherwise report as leaked on the command's stderr), the interpreter's teardown
    does not."""
    from multiprocessing import util

    util._run_finalizers(0)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    os._exit(code)


def _end_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_POLL)
    os.kill(os.getpid(), signal.SIGTERM)  # as if the parent had stopped it: the clean-up runs
    time.sleep(GRACE)
    os._exit(128 + signal.SIGTERM)  # the clean-up hung: end without it (the next run removes temporaries)


def stop_pool(pool) -> None:
    """Cancel the tasks not started, stop the workers (SIGTERM: each removes the store it was writing), kill
    those still there after ``GRACE`` seconds, and wait until all are gone. The executor has no public way to
    reach its processes before Python 3.14 (``terminate_workers``), hence ``_processes``."""
    processes = list((pool._processes or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    deadline = time.monotonic() + GRACE
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
    for process in processes:
        if process.is_alive():
            process.kill()
            process.join()


def helper_pool(workers: int):
    """A pool of ``workers`` spawned helpers set up by ``helper_started`` to end with this process. Spawned,
    never forked: a caller of the API may have torch's thread pools running, and a child forked from them waits
    forever on a lock one of those threads held. Submit inside ``main_script_left_out()`` (a submit may start a
    process); end it with ``stop_pool``."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=helper_started, initargs=(os.getpid(),))
