"""``python -m report watch DIR``: rebuild the report whenever a checkpoint in DIR is new or changed.

A checkpoint is read only once it is settled: present under its final name (not ``.*``, ``*.tmp``,
``*.part``) with the same size and modification time for ``settle`` seconds, so a file still being
written, or copied, is never read half-way. Ctrl-C ends the watch cleanly.
"""

from __future__ import annotations

import dataclasses
import functools
import http.server
import threading
import time
from pathlib import Path

from analysis.errors import InputError
from report.render.errors import RenderError, StoreError

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

    def ready(self, now: float) -> list[Path]:
        """Checkpoints that are new or changed and have stayed unchanged for ``settle`` seconds."""
        current = candidates(self.folder)
        ready = []
        for path, signature in current.items():
            if self.seen.get(path) == signature:
                continue
            previous = self.pending.get(path)
            if previous is None or previous[0] != signature:
                self.pending[path] = (signature, now)
            elif now - previous[1] >= self.settle and signature[0] > 0:
                ready.append(path)
        for path in list(self.pending):
            if path not in current:
                del self.pending[path]
        return sorted(ready, key=lambda p: (current[p][1], p.name))

    def built(self, path: Path) -> None:
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
    """Poll ``folder``; call ``build_one(path)`` for each settled new or changed checkpoint. Returns builds done."""
    if not folder.is_dir():
        raise InputError(f"watch folder {folder} does not exist: give a folder where checkpoints are saved")
    watcher = Watcher(folder, settle)
    started, builds = time.monotonic(), 0
    log(f"report: watching {folder} for checkpoints ({', '.join(sorted(SUFFIXES))}); Ctrl-C to stop")
    try:
        while True:
            for path in watcher.ready(time.monotonic()):
                try:
                    build_one(path)
                except (InputError, StoreError, RenderError, OSError) as error:  # a bad checkpoint never ends it
                    log(f"report: error: {' '.join(str(error).split())} (still watching)")
                watcher.built(path)
                builds += 1
                if max_builds is not None and builds >= max_builds:
                    return builds
            if timeout is not None and time.monotonic() - started > timeout:
                return builds
            time.sleep(interval)
    except KeyboardInterrupt:
        log("report: watch stopped")
        return builds
