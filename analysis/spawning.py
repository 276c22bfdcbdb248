"""Spawned helper processes that do not run the caller's script again.

Under ``spawn`` every new process first runs the parent's main script once more (as ``__mp_main__``), so
that objects pickled from it can be found. The helpers this tool starts (DataLoader workers, the pool of
``batch``) need nothing from that script: their work is importable from ``analysis`` and ``report``. And
running it again is harmful when a script calls the tool at top level, without an
``if __name__ == "__main__":`` guard: each helper would run the caller's whole script (a training run,
say) before failing to start helpers of its own, and when the parent's message to it is larger than a
pipe's buffer, the parent then waits for ever on the half-sent message (CPython's spawn writes it while
holding the pipe's read end open itself).

Not for the training report process (report.training): it may need a model class defined in the script.
Torch-free, so that report/ can use it."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

_MISSING = object()


@contextlib.contextmanager
def main_script_left_out() -> Iterator[None]:
    """Within this block, processes started with ``spawn`` import no main script: the one run by path
    (``__file__``) and the one run as a module (``__spec__``) are both hidden from multiprocessing's
    preparation data, and put back on leaving. Start the processes inside, use them outside."""
    main = sys.modules.get("__main__")
    if main is None:
        yield
        return
    saved = {name: main.__dict__.get(name, _MISSING) for name in ("__file__", "__spec__")}
    main.__dict__.pop("__file__", None)
    main.__dict__["__spec__"] = None
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is _MISSING:
                main.__dict__.pop(name, None)
            else:
                main.__dict__[name] = value
