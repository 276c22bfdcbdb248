"""``python -m report watch DIR``: rebuild the report whenever a checkpoint in DIR is new or changed.

A checkpoint is read only once it is settled: present under its final name (not ``.*``, ``*.tmp``,
``*.part``), seen unchanged (size and modification time) at two looks, and last modified at least
``settle`` seconds ago, so a file still being written, or copied, is never read half-way. The watcher looks
again the moment a pending file would settle, not only every ``interval``.

The watch is warm (``Workspace.watch`` runs it): torch stays loaded and one PDF worker stays alive between
builds, so a new checkpoint costs its analysis and the layout; the HTML is published as soon as it is made, the
PDF when it is laid out. A bad checkpoint, or any failure of one build, is one line and the watch goes on.
SIGINT (Ctrl-C) and SIGTERM end it cleanly, also during a build and when it was started in the background (where
a shell ignores SIGINT): they raise ``analysis.stopping.Stopped``, which no build's error handling catches, and
the build under way cleans up (its PDF worker and DataLoader workers end, a store being written is removed).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import http.server
import signal
import threading
import time
from pathlib import Path

from analysis.errors import InputError, ReportError
from analysis.stopping import raise_if_stopped, stop_on_signals

SUFFIXES = {".pt", ".pth", ".ckpt", ".bin", ".safetensors"}
PARTIAL = (".tmp", ".part", ".partial", ".crdownload")


def candidates(folder: Path) -> dict[Path, tuple[int, int]]:
    found = {}
    try:
        entries = list(folder.iterdir())
    except OSError as error:  # the folder was removed or made unreadable while watching
        raise InputError(f"cannot list the watched folder {folder} ({error.strerror or error}): "
                         "the watch stops") from None
    for path in entries:
        if path.name.startswith(".") or path.name.endswith(PARTIAL) or path.suffix not in SUFFIXES:
            continue
        try:
            stat = path.stat()
        except OSError:  # renamed or removed between listing and stat, a link loop, no permission
            continue
        if path.is_file():
            found[path] = (stat.st_size, stat.st_mtime_ns)
    return found


@dataclasses.dataclass
class Watcher:
    folder: Path
    settle: float = 2.0
    seen: dict = dataclasses.field(default_factory=dict)      # path -> (size, mtime) last built
    pending: dict = dataclasses.field(default_factory=dict)   # path -> ((size, mtime), first seen unchanged)

    def ready(self, now: float, wall: float | None = None) -> list[Path]:
        """Checkpoints that are new or changed, were seen unchanged at an earlier look, and were last modified
        ``settle`` seconds ago (by the file's time; by this watcher's clock when the file's lies ahead)."""
        wall = time.time() if wall is None else wall
        current = candidates(self.folder)
        ready = []
        for path, signature in current.items():
            if self.seen.get(path) == signature:
                continue
            previous = self.pending.get(path)
            if previous is None or previous[0] != signature:
                self.pending[path] = (signature, now)
            elif signature[0] > 0 and (wall - signature[1] / 1e9 >= self.settle or now - previous[1] >= self.settle):
                ready.append(path)
        for path in list(self.pending):
            if path not in current:
                del self.pending[path]
        return sorted(ready, key=lambda p: (current[p][1], p.name))

    def next_look(self, now: float, interval: float, wall: float | None = None) -> float:
        """Seconds until the next look: ``interval``, or less when a pending file settles sooner."""
        wall = time.time() if wall is None else wall
        soonest = interval
        for (size, mtime), first in self.pending.values():
            settles = min(mtime / 1e9 + self.settle - wall, first + self.settle - now)
            soonest = min(soonest, max(settles, 0.0) + 0.005)
        return max(0.01, soonest)

    def built(self, path: Path) -> None:
        """``path`` was looked at, built or failed, at its settled signature: it is looked at again only once its
        size or modification time change (a file that failed half-written is retried when its writer goes on)."""
        self.seen[path], _ = self.pending.pop(path)


def serve(folder: Path, port: int) -> http.server.ThreadingHTTPServer:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    try:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError as error:
        raise InputError(f"--serve {port}: cannot serve on 127.0.0.1:{port} ({error.strerror or error}): "
                         "choose another port") from None
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def watch(folder: Path, build_one, settle: float = 2.0, interval: float = 0.5, max_builds: int | None = None,
          timeout: float | None = None, log=print) -> int:
    """Poll ``folder``; call ``build_one(path)`` for each settled new or changed checkpoint. Returns the builds
    that published a report: a failed one does not count toward ``max_builds``, or ``--max-builds 1`` would end
    with no report when the first file it sees was still being written.
    Any failure of one build is logged in one line and the watch goes on; SIGINT and SIGTERM raise
    ``analysis.stopping.Stopped`` (a KeyboardInterrupt) out of it, after the build under way cleaned up."""
    if not folder.is_dir():
        raise InputError(f"watch folder {folder} does not exist: give a folder where checkpoints are saved")
    watcher = Watcher(folder, settle)
    started, builds = time.monotonic(), 0
    log(f"report: watching {folder} for checkpoints ({', '.join(sorted(SUFFIXES))}); Ctrl-C to stop")
    try:
        with stop_on_signals(), deadline(timeout):
            while True:
                for path in watcher.ready(time.monotonic()):
                    published = build_safely(build_one, path, log)
                    watcher.built(path)
                    builds += published
                    if max_builds is not None and builds >= max_builds:
                        return builds
                if timeout is not None and time.monotonic() - started > timeout:
                    return builds
                time.sleep(watcher.next_look(time.monotonic(), interval))
    except TimeUp:
        log(f"report: the watch ended after its --timeout of {timeout:g} s, stopping the build under way")
        return builds


class TimeUp(KeyboardInterrupt):
    """The watch's --timeout passed during a build: the build is stopped as by Ctrl-C, cleaning up on its way
    out (a KeyboardInterrupt, so that no build's error handling catches it)."""


@contextlib.contextmanager
def deadline(seconds: float | None):
    """``seconds`` from now, raise TimeUp in the main thread even if a build hangs (a model whose forward never
    returns kept a watch with --timeout running for ever). Nothing where no timer can be set."""
    if seconds is None or threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def time_up(signum, frame):
        raise TimeUp()

    saved = signal.signal(signal.SIGALRM, time_up)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.001))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, saved)


def build_safely(build_one, path: Path, log) -> bool:
    """One build; True when it published a report. Whatever goes wrong is one line and the watch goes on. A stop
    (Stopped, a KeyboardInterrupt) is never caught here, nor an error it caused (the PDF worker it ended, say):
    the watch ends with it."""
    from report.lines import one_line

    try:
        build_one(path)
        return True
    except (ReportError, OSError) as error:  # a bad checkpoint, data that no longer fit, a full disk
        raise_if_stopped()
        text = one_line(error) if isinstance(error, ReportError) else f"{error.filename or path}: {error.strerror or error}"
        log(f"report: error: {path.name}: {text} (still watching)")
    except Exception as error:  # noqa: BLE001 - a fault of this tool on one checkpoint must not end the watch
        raise_if_stopped()
        log(f"report: error: {path.name}: internal error ({type(error).__name__}: {one_line(error)[:300]}) "
            "(still watching)")
    return False


@contextlib.contextmanager
def serving(out: Path, port: int | None, log):
    """Serve the build folder on 127.0.0.1:``port`` for the watch's duration (nothing when ``port`` is None)."""
    if port is None:
        yield None
        return
    server = serve(out, port)
    log(f"report: serving {out} at http://127.0.0.1:{server.server_address[1]}/report.html")
    try:
        yield server
    finally:
        server.shutdown()
