"""``python -m report ARGS`` in a fresh process that starts with its heavy libraries already imported.

Most of what a test's command costs is importing torch, torchvision, scipy and scikit-learn (about 5 s of a
2-core machine's time per command; the analysis itself of a small model takes 1–2 s). So commands run in a
fork of a *zygote*: one process per test session that imports those libraries once, then forks one child per
command. Each child is a process of its own, made as ``subprocess.run`` would make it: the command's argv,
environment (C level too), working folder, umask, stdin, stdout and stderr (pipes read to their end, decoded
as ``text=True`` decodes), ``sys.path`` as ``python -m`` builds it (the working folder, then ``PYTHONPATH``),
run as ``python -m report`` runs it (``runpy``), its exit status (a signal gives a negative return code).
Ending, it does what an interpreter's exit shows outside (threads joined, atexit handlers run, streams
flushed; an uncaught exception's traceback and exit code 1) without tearing the libraries down. The zygote
imports nothing of this repository (a test may run another copy of it), nor matplotlib (whose import reads
``HOME`` and ``MPLCONFIGDIR``); tqdm, which torch imports and which reads ``TQDM_*`` when imported, is imported
anew by each child under its own environment.

What differs from a fresh interpreter, and so goes to a real one: an environment that sets Python's own
start-up variables (``PYTHONIOENCODING``, ``PYTHONHASHSEED``, ...) or ``HOME`` or ``TMPDIR`` (what the zygote's
imports wrote there, they wrote when it started), a ``PYTHONPATH`` that holds a module the
zygote has imported (a fake ``torch`` that proves a command never imports it), any call with ``fresh=True``
(two runs compared for determinism: the zygote's children share its string-hash seed; a command whose exit
path with and without torch is under test), and every call when ``TESTS_FRESH_PROCESSES=1`` (the whole suite
on real interpreters, to check that this shortcut hides nothing). Signal, ``Popen`` and process-tree tests
start their processes themselves.
"""

from __future__ import annotations

import atexit
import json
import locale
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

# What a command's process imports that is costly and reads nothing of the environment these tests set.
PRELOAD = ("torch", "torchvision.models", "scipy.stats", "scipy.optimize", "sklearn.metrics", "openTSNE",
           "pyarrow.parquet", "safetensors.torch", "threadpoolctl", "PIL.Image")
# Imported along with them, but read the environment when imported (tqdm: TQDM_* settings): dropped from the
# child's modules once its environment is set, so that the command imports them anew under it.
REIMPORT = ("tqdm",)
PRELOADED_NAMES = {"torch", "torchvision", "scipy", "sklearn", "openTSNE", "pyarrow", "safetensors",
                   "threadpoolctl", "PIL", "numpy"}
FRESH_SWITCH = "TESTS_FRESH_PROCESSES"


def needs_fresh_interpreter(env: dict[str, str], extra_env: dict[str, str]) -> bool:
    """Whether a fork of the zygote would not be the process a fresh ``python -m report`` makes."""
    if os.environ.get(FRESH_SWITCH) == "1":
        return True
    if any(key.startswith("PYTHON") and key != "PYTHONPATH" for key in extra_env):
        return True
    if {"HOME", "TMPDIR"} & set(extra_env):  # a test watching what a process writes there: torch, imported,
        return True                          # makes $TMPDIR/torchinductor_<user> (the tool moves TMPDIR first)
    for entry in filter(None, env.get("PYTHONPATH", "").split(os.pathsep)):
        folder = Path(entry)
        if any((folder / name).exists() or (folder / f"{name}.py").exists() for name in PRELOADED_NAMES):
            return True
    return False


def run_process(args: list[str], env: dict[str, str], cwd: Path, extra_env: dict[str, str] | None = None,
                fresh: bool = False, timeout: float = 600) -> subprocess.CompletedProcess:
    """``subprocess.run([python, "-m", "report", *args], env=env, cwd=cwd, capture_output=True, text=True)``:
    in a fork of the zygote, or in a fresh interpreter where a fork would differ (``extra_env``: the variables
    the test itself sets, among ``env``)."""
    if fresh or needs_fresh_interpreter(env, extra_env or {}):
        return subprocess.run([sys.executable, "-m", "report", *args], cwd=cwd, env=env, capture_output=True,
                              text=True, timeout=timeout)
    return run_forked(list(args), env, Path(cwd), timeout)


# ------------------------------------------------------------------------------------------- the client

_zygote: dict[str, object] = {}
forked_cpu = 0.0  # CPU seconds of the forked commands so far (tests/cputime.py counts them with the test's own)
_lock = threading.Lock()


def start_zygote() -> str:
    """The zygote's socket path; the zygote started (in the background) if it is not running."""
    with _lock:
        if "path" in _zygote and _zygote["process"].poll() is None:
            return _zygote["path"]
        folder = tempfile.mkdtemp(prefix="report-tests-zygote-")
        path = os.path.join(folder, "socket")
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        log = open(os.path.join(folder, "zygote.log"), "wb")
        process = subprocess.Popen([sys.executable, "-c", ZYGOTE, path, os.pathsep.join(PRELOAD),
                                    os.pathsep.join(REIMPORT)], cwd=folder,
                                   env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        _zygote.update(path=path, process=process, folder=folder)
        atexit.register(_stop_zygote)
        return path


def _stop_zygote() -> None:
    import shutil

    process = _zygote.get("process")
    if process is not None and process.poll() is None:
        process.terminate()
        process.wait(10)
    if "folder" in _zygote:
        shutil.rmtree(_zygote["folder"], ignore_errors=True)


def _connect(path: str, timeout: float = 120) -> socket.socket:
    import time

    deadline = time.monotonic() + timeout
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(path)
            return sock
        except (FileNotFoundError, ConnectionRefusedError):
            sock.close()
            if _zygote["process"].poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the test zygote did not start: see {_zygote['folder']}/zygote.log")
            time.sleep(0.02)


def _read_line(sock: socket.socket) -> dict:
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(4096)
        if not chunk:
            raise RuntimeError(f"the test zygote went away: see {_zygote['folder']}/zygote.log")
        data += chunk
    return json.loads(data)


def _decode(data: bytes) -> str:
    """As ``subprocess.run(..., text=True)`` decodes (locale encoding, universal newlines)."""
    text = data.decode(locale.getpreferredencoding(False))
    return text.replace("\r\n", "\n").replace("\r", "\n")


def run_forked(args: list[str], env: dict[str, str], cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    """``python -m report *args`` in a fork of the zygote; what ``subprocess.run(capture_output=True,
    text=True, timeout=timeout)`` returns."""
    sock = _connect(start_zygote())
    out_read, out_write = os.pipe()
    err_read, err_write = os.pipe()
    request = json.dumps({"args": args, "env": env, "cwd": str(cwd), "umask": _umask()}).encode()
    try:
        socket.send_fds(sock, [struct.pack("!I", len(request)) + request], [0, out_write, err_write])
    finally:
        os.close(out_write)
        os.close(err_write)
    chunks: dict[int, list[bytes]] = {out_read: [], err_read: []}

    def drain(fd: int) -> None:
        with os.fdopen(fd, "rb", buffering=0) as pipe:
            while chunk := pipe.read(65536):
                chunks[fd].append(chunk)

    readers = [threading.Thread(target=drain, args=(fd,), daemon=True) for fd in (out_read, err_read)]
    for reader in readers:
        reader.start()
    with sock:
        pid = _read_line(sock)["pid"]
        sock.settimeout(timeout)
        try:
            ended = _read_line(sock)
            status = ended["status"]
        except TimeoutError:
            os.kill(pid, 9)
            for reader in readers:
                reader.join(10)
            raise subprocess.TimeoutExpired([sys.executable, "-m", "report", *args], timeout,
                                            b"".join(chunks[out_read]), b"".join(chunks[err_read])) from None
    for reader in readers:
        reader.join()
    global forked_cpu  # noqa: PLW0603  a counter for tests/cputime.py
    forked_cpu += ended["cpu"]
    return subprocess.CompletedProcess([sys.executable, "-m", "report", *args], os.waitstatus_to_exitcode(status),
                                       _decode(b"".join(chunks[out_read])), _decode(b"".join(chunks[err_read])))


class ForkedProcess:
    """``subprocess.Popen([python, "-m", "report", *args], ...)`` forked from the zygote, for tests that drive a
    command while it runs (signals, kills, a watch): ``pid``, ``poll``, ``wait``, ``communicate``,
    ``send_signal``, ``terminate``, ``kill``, ``returncode``; ``stdout``/``stderr`` as ``subprocess.PIPE`` (text
    streams), ``subprocess.DEVNULL`` or None (this process's own); ``start_new_session`` and the signals a
    ``preexec_fn`` would give their default disposition (``default_signals``: names such as "SIGHUP")."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path, stdout=None, stderr=None,
                 start_new_session: bool = False, default_signals: tuple[str, ...] = ()):
        self.args = [sys.executable, "-m", "report", *args]
        self.returncode: int | None = None
        self._sock = _connect(start_zygote())
        ends = {}
        passed = [os.dup(0)]  # stdin inherited, as Popen leaves it
        for number, how in ((1, stdout), (2, stderr)):
            if how == subprocess.PIPE:
                ends[number], write = os.pipe()
                passed.append(write)
            elif how == subprocess.DEVNULL:
                passed.append(os.open(os.devnull, os.O_WRONLY))
            else:
                passed.append(os.dup(number))
        request = json.dumps({"args": list(args), "env": env, "cwd": str(cwd), "umask": _umask(),
                              "new_session": start_new_session, "default_signals": list(default_signals)}).encode()
        try:
            socket.send_fds(self._sock, [struct.pack("!I", len(request)) + request], passed)
        finally:
            for fd in passed:
                os.close(fd)
        encoding = locale.getpreferredencoding(False)
        self.stdout = open(ends[1], encoding=encoding) if 1 in ends else None
        self.stderr = open(ends[2], encoding=encoding) if 2 in ends else None
        self.pid = _read_line(self._sock)["pid"]
        self._ended = threading.Event()
        threading.Thread(target=self._wait_for_status, daemon=True).start()

    def _wait_for_status(self) -> None:
        global forked_cpu  # noqa: PLW0603  a counter for tests/cputime.py
        try:
            ended = _read_line(self._sock)
            forked_cpu += ended["cpu"]
            self.returncode = os.waitstatus_to_exitcode(ended["status"])
        finally:
            self._sock.close()
            self._ended.set()

    def poll(self) -> int | None:
        return self.returncode if self._ended.is_set() else None

    def wait(self, timeout: float | None = None) -> int:
        if not self._ended.wait(timeout):
            raise subprocess.TimeoutExpired(self.args, timeout)
        return self.returncode

    def communicate(self, timeout: float | None = None) -> tuple[str | None, str | None]:
        read: dict[str, str] = {}
        readers = [threading.Thread(target=lambda n=name, s=stream: read.__setitem__(n, s.read()), daemon=True)
                   for name, stream in (("stdout", self.stdout), ("stderr", self.stderr)) if stream is not None]
        for reader in readers:
            reader.start()
        for reader in readers:
            reader.join(timeout)
        self.wait(timeout)
        for stream in (self.stdout, self.stderr):
            if stream is not None:
                stream.close()
        return read.get("stdout"), read.get("stderr")

    def send_signal(self, sig: int) -> None:
        if not self._ended.is_set():
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(15)

    def kill(self) -> None:
        self.send_signal(9)


def popen(args: list[str], env: dict[str, str], cwd: Path, extra_env: dict[str, str] | None = None,
          fresh: bool = False, stdout=None, stderr=None, start_new_session: bool = False,
          default_signals: tuple[str, ...] = ()):
    """``subprocess.Popen([python, "-m", "report", *args], ...)``: a ForkedProcess, or a real Popen where a fork
    would differ (see run_process)."""
    if fresh or needs_fresh_interpreter(env, extra_env or {}):
        def preexec() -> None:
            import signal

            for name in default_signals:
                signum = getattr(signal, name)
                signal.signal(signum, signal.SIG_DFL)

        return subprocess.Popen([sys.executable, "-m", "report", *args], cwd=cwd, env=env, stdout=stdout,
                                stderr=stderr, text=True, start_new_session=start_new_session,
                                preexec_fn=preexec if default_signals else None)
    return ForkedProcess(args, env, Path(cwd), stdout, stderr, start_new_session, default_signals)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# ------------------------------------------------------------------------------------------- the zygote

ZYGOTE = r'''
import importlib, json, os, select, signal, socket, struct, sys

path, preload, reimport = sys.argv[1], sys.argv[2].split(os.pathsep), tuple(sys.argv[3].split(os.pathsep))
parent = os.getppid()
listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
listener.bind(path + ".tmp")
listener.listen(64)
for name in preload:
    importlib.import_module(name)
base_path = [p for p in sys.path[1:]]
os.rename(path + ".tmp", path)  # clients connect once the imports are done


def receive(conn):
    head, fds, _, _ = socket.recv_fds(conn, 4, 3)
    size = struct.unpack("!I", head)[0]
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            os._exit(1)
        data += chunk
    return json.loads(data), fds


def become_the_command(request, fds, conn):
    """In the forked child: the process ``python -m report ARGS`` would be, then run it."""
    import runpy, tempfile

    conn.close()
    listener.close()
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    if request.get("new_session"):  # Popen(start_new_session=True)
        os.setsid()
    for name in request.get("default_signals", ()):  # a preexec_fn giving signals their default disposition
        signum = getattr(signal, name)
        signal.signal(signum, signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL)
    os.chdir(request["cwd"])
    os.umask(request["umask"])
    os.environ.clear()
    os.environ.update(request["env"])
    tempfile.tempdir = None
    for name in [m for m in sys.modules if m.split(".")[0] in reimport]:
        del sys.modules[name]
    extra = [p for p in request["env"].get("PYTHONPATH", "").split(os.pathsep) if p]
    sys.path[:] = [os.getcwd(), *[os.path.abspath(p) for p in extra], *base_path]
    sys.argv[:] = ["-m", *request["args"]]
    try:
        runpy._run_module_as_main("report", alter_argv=True)
        code = 0
    except SystemExit as stop:
        code = exit_code(stop.code)
    except BaseException as error:
        sys.excepthook(type(error), error, error.__traceback__)
        code = -signal.SIGINT if isinstance(error, KeyboardInterrupt) else 1
    leave(code)


def exit_code(value):
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    print(value, file=sys.stderr)
    return 1


def leave(code):
    """What the interpreter does on exit that a process's outside can see (threads joined, atexit handlers,
    the standard streams flushed), without tearing the preloaded libraries down (a second or more, and
    nothing anyone sees). A process that ends by SIGINT ends as Python ends it: killed by the signal."""
    import atexit, signal, threading

    threading._shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            code = code or 120
    if code == -signal.SIGINT:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    os._exit(code & 0xFF)


def monitor(conn):
    """In a forked child of the zygote: fork the command, tell the client its pid, then its exit status."""
    listener.close()
    request, fds = receive(conn)
    pid = os.fork()
    if pid == 0:
        return request, fds
    for fd in fds:
        os.close(fd)
    conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
    _, status, usage = os.wait4(pid, 0)
    try:
        cpu = usage.ru_utime + usage.ru_stime
        conn.sendall(json.dumps({"status": status, "cpu": cpu}).encode() + b"\n")
    except OSError:
        pass
    os._exit(0)


def serve():
    while True:
        ready, _, _ = select.select([listener], [], [], 1.0)
        while True:  # reap the monitors that ended
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    break
            except ChildProcessError:
                break
        if os.getppid() != parent:  # the test session ended without stopping us
            os._exit(0)
        if not ready:
            continue
        conn, _ = listener.accept()
        if os.fork() == 0:
            return conn, monitor(conn)
        conn.close()


conn, (request, fds) = serve()
become_the_command(request, fds, conn)
'''
