"""Stopping on SIGINT, SIGTERM and SIGHUP: a command ends as on Ctrl-C, cleaning up on the way out.

SIGTERM's default action ends a process on the spot: no ``finally`` runs, so worker processes, the PDF
worker and temporary folders outlive the command, and workers go on to publish stores after it ended. While
``stop_on_signals()`` holds (``python -m report`` holds it for the whole command), SIGINT, SIGTERM and SIGHUP
(the terminal was closed: its default action too ends a process on the spot) raise ``Stopped``, a
``KeyboardInterrupt``: ``except Exception`` lets it through, every ``finally`` and context manager cleans up
as for Ctrl-C (pools end their workers, a store being written is removed, the lock is released), and the
command line says which signal ended it.

Only the first signal raises. Later ones (a second Ctrl-C, a SIGTERM after the SIGINT) are noted and
ignored for ``PATIENCE`` seconds: raising again inside a clean-up would cut it short and leave a worker
running, and every wait in a clean-up is bounded. After that, a signal raises again: the first one was
swallowed somewhere, or the clean-up hangs, and the user asks once more.

Torch-free (report/ and spawned helpers use it before any analysis).
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator

# SIGHUP only where the platform has it (not on Windows)
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))
PATIENCE = 10.0  # seconds after the first stop signal during which later ones are ignored (see above)


class Stopped(KeyboardInterrupt):
    """SIGINT, SIGTERM or SIGHUP arrived: end the command after cleaning up. A KeyboardInterrupt, so that code
    written for Ctrl-C (and every ``except Exception``) treats SIGTERM and SIGHUP alike."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(int(signum))
        self.signum = int(signum)

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name

    def __str__(self) -> str:
        return f"stopped by {self.name}"


_received: list[int] = []  # the stop signals that came while the handlers were installed, first first
_first_at: list[float] = []  # when the first came (time.monotonic)


def received() -> int | None:
    """The first stop signal that came during the outermost ``stop_on_signals()`` (kept after it ends), or None.
    An error raised after it is a consequence of the stop (a worker it ended, a pipe it closed), not a fault."""
    return _received[0] if _received else None


def _stop(signum, frame) -> None:
    now = time.monotonic()
    if not _received:
        _first_at[:] = [now]
    _received.append(signum)
    if len(_received) == 1 or now - _first_at[0] > PATIENCE:
        raise Stopped(signum)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP raise ``Stopped`` within this block (the previous handlers come back after).
    SIGINT is set explicitly: a shell starts a background job with SIGINT ignored, and Python then leaves it so.
    An ignored SIGHUP stays ignored: ``nohup`` ignores it so that the command outlives its terminal.
    Nested blocks share the outermost one's handlers; outside the main thread (which alone receives signals)
    the block does nothing."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) is _stop:
        yield
        return
    _received.clear()
    _first_at.clear()
    saved = {sig: signal.signal(sig, _stop) for sig in STOP_SIGNALS if not _kept_ignored(sig)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def _kept_ignored(sig: int) -> bool:
    return sig == getattr(signal, "SIGHUP", None) and signal.getsignal(sig) is signal.SIG_IGN


def signal_of(interrupt: KeyboardInterrupt) -> int:
    """The signal behind a KeyboardInterrupt: Stopped's, else SIGINT (Python's own Ctrl-C handler)."""
    return interrupt.signum if isinstance(interrupt, Stopped) else int(signal.SIGINT)


def raise_if_stopped() -> None:
    """Raise Stopped again when a stop signal came: for code that caught an error the stop may have caused
    and would otherwise go on (a watch's next build), since only the first signal raises."""
    if received() is not None:
        raise Stopped(received())
