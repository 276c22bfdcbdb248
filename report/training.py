"""Reports that follow a training run: a plain-loop helper (``Reporter``) and, on it, the Lightning callback
(``report.lightning.ReportCallback``).

Every ``every`` epochs the model's weights are saved as a checkpoint (``<out>/training/epoch-NNNN-<hash>.pt``,
with the epoch and step) and handed to one report process that runs beside the training: it builds the
report of that checkpoint and the running history of all those built so far (``history.html``,
``history.csv``). Training never waits for it: at most one report is built at a time, and when training
saves a newer checkpoint before the last report is done, the waiting one is skipped for the newest. A
report that fails is one line in the log; training goes on. The report process stays for the whole run
(torch is loaded once) and is started with ``spawn``, never by forking the training process.

    from report.training import Reporter

    with Reporter(out="build", every=1, data="~/mnist", sections="assignment") as reporter:
        for epoch in range(10):
            train_one_epoch(model)
            reporter.epoch_end(model, epoch)

The report process builds the model again from a recorded recipe: a timm or transformers model gives its own
(``timm:NAME`` with its ``num_classes``, ``huggingface:Architecture`` with its configuration:
analysis.models.memory.module_source); any other is built from its class, which must then be importable: defined
in a module, or in the training script behind ``if __name__ == "__main__":`` (the report process runs the script
again to find it); not in a notebook cell. Its constructor arguments are ``model_kwargs`` (JSON-able), or none.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from analysis.errors import InputError

CHECKPOINTS = "training"   # the folder inside the build folder where the checkpoints are saved
STOP = None                # what the report process reads as "no more work"


@dataclasses.dataclass
class Result:
    """One checkpoint handed to the report process, and what became of it."""

    checkpoint: Path
    epoch: int
    step: int | None
    status: str = "waiting"          # waiting, building, done, failed, skipped
    seconds: float | None = None
    error: str | None = None         # the one line of a failed report
    summary: dict | None = None      # report.render.summary.Summary.as_dict() of a done report
    outputs: list[str] = dataclasses.field(default_factory=list)


class Reporter:
    """Build a report every ``every`` epochs without stopping training (see the module's text).

    ``out``: the build folder; ``model``/``model_kwargs``: the source of the model's class and its constructor
    arguments, when they cannot be found from the model itself (``package.module:Class``); ``history``: also
    build the running history; ``log``: where its one-line messages go (default: stderr); ``options``: the
    options of ``report.build`` (``data``, ``sections``, ``formats``, ``classes``, ...), checked now. ``data``: a
    path or data in memory (as ``report.build`` takes them), written once into the build folder now; without it,
    only the assignment CNN is reported on (the embedded digits): another model is refused once it is known."""

    def __init__(self, out: str | Path = "build", every: int = 1, *, model: str | None = None,
                 model_kwargs: Mapping | None = None, history: bool = True, log: Callable[[str], None] | None = None,
                 **options):
        from report.options import EVERY, groups

        self.out = Path(out)
        self.every = EVERY.read(every)
        self.source, self.kwargs = model, dict(model_kwargs or {})
        self.history = history
        self.log = log or (lambda line: print(line, file=sys.stderr, flush=True))
        unknown = set(options) - REPORTER_OPTIONS
        if unknown:
            raise InputError(f"Reporter does not take {', '.join(sorted(unknown))}: give the options of "
                             "report.build (data, sections, formats, classes, ...)")
        from report.api import data_in_build_folder, in_memory

        data = options.pop("data") if in_memory(options.get("data")) else None
        # checked now, in one line; the model is named once the first checkpoint is saved
        self.options = groups("build", {**options, "out": out, "quiet": True, "model": model or "assignment",
                                        "model_kwargs": json.dumps(self.kwargs) if self.kwargs else None}, {})
        if data is not None:  # materialised once, here in the training process: the report process gets its path
            self.options["analysis"] = self.options["analysis"].replace(
                data=data_in_build_folder(data, self.options["output"]))
        self._told_digits = False
        self.refuse_without_data(model)
        self.results: list[Result] = []
        self._pending: Result | None = None
        self._lock = threading.Condition()
        self._closing = False
        self._process = None
        self._connection = None
        self._thread: threading.Thread | None = None
        _prepare(self.out)

    # -------------------------------------------------------------------------------- the training side

    def epoch_end(self, model, epoch: int, step: int | None = None) -> Path | None:
        """Call after each epoch (``epoch`` counted from 0): every ``every`` epochs the model's weights are saved
        and its report is queued; returns the checkpoint saved, or None."""
        if (epoch + 1) % self.every:
            return None
        return self.submit(model, epoch, step)

    def submit(self, model, epoch: int, step: int | None = None) -> Path:
        """Save ``model``'s weights now and queue its report (replacing one still waiting)."""
        from analysis.models.memory import save_module

        position = {"epoch": int(epoch), **({"global_step": int(step)} if step is not None else {})}
        if self.source is None:
            self.source, found = source_of(model)
            self.kwargs = self.kwargs or found
        self.refuse_without_data(self.source)
        path = save_module(model, self.out / CHECKPOINTS, position, prefix=f"epoch-{epoch + 1:04d}-")
        result = Result(path, epoch, step)
        with self._lock:
            if self._closing:
                raise RuntimeError("this Reporter is closed")
            if self._pending is not None:
                self._pending.status = "skipped"
                self.log(f"report: skipped the report of epoch {self._pending.epoch + 1}: training saved a newer "
                         "checkpoint before the previous report was done")
            self._pending = result
            self.results.append(result)
            self._lock.notify_all()
        self._start()
        return path

    def refuse_without_data(self, model) -> None:
        """Without data only the assignment CNN has data to be evaluated on (the embedded MNIST digits, said in one
        line): any other model is refused as soon as it is known. ``model``: a source, an ``nn.Module`` (the
        Lightning callback's, at setup), or None while unknown (then the first checkpoint names it)."""
        if model is None or self.options["analysis"].data is not None:
            return
        from analysis.models.sources import DEFAULT_SOURCE

        if isinstance(model, str):
            source = model
        else:
            from analysis.models.build import source_of_class

            source = source_of_class(type(model))
        if source != DEFAULT_SOURCE:
            raise InputError(f"no data for the model {source}: give data=... : the data the model is evaluated on (a "
                             "path, (images, labels), a Dataset, a DataLoader; \"embedded\": the MNIST digits)")
        if not self._told_digits:
            self._told_digits = True
            self.log("report: no data given: the assignment CNN is evaluated on the embedded MNIST digits")

    def close(self, wait: bool = True, timeout: float | None = None) -> None:
        """Stop: with ``wait``, after the report being built and the one waiting are done (at most ``timeout``
        seconds); without, at once (a report being built is abandoned; the build folder keeps its last one)."""
        with self._lock:
            self._closing = True
            if not wait and self._pending is not None:
                self._pending.status = "skipped"
                self._pending = None
            self._lock.notify_all()
        if self._thread is not None:
            self._thread.join(timeout if wait else 0)
        if self._thread is not None and self._thread.is_alive() or not wait:
            self._stop_process(kill=True)
        else:
            self._stop_process(kill=False)

    def __enter__(self) -> "Reporter":
        return self

    def __exit__(self, *exc) -> None:
        self.close(wait=exc[0] is None)

    @property
    def built(self) -> list[Result]:
        return [r for r in self.results if r.status == "done"]

    # ------------------------------------------------------------------------------ the reporting side

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="report-builder", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        """The builder thread: hands each waiting checkpoint to the report process, one at a time."""
        while True:
            with self._lock:
                while self._pending is None and not self._closing:
                    self._lock.wait()
                if self._pending is None:
                    return
                result, self._pending = self._pending, None
                result.status = "building"
            self._build(result)

    def _build(self, result: Result) -> None:
        started = time.perf_counter()
        try:
            answer = self._ask({"checkpoint": str(result.checkpoint), "source": self.source, "kwargs": self.kwargs})
        except (OSError, EOFError) as error:  # the report process died (killed, out of memory): a fresh one next
            self._stop_process(kill=True)
            answer = {"ok": False, "error": f"the report process stopped ({type(error).__name__})"}
        result.seconds = time.perf_counter() - started
        if answer.get("ok"):
            result.status, result.summary, result.outputs = "done", answer["summary"], answer["outputs"]
            self.log(f"report: epoch {result.epoch + 1}: {' and '.join(answer['outputs'])} ({result.seconds:.1f} s)")
        else:
            result.status, result.error = "failed", answer.get("error", "unknown")
            self.log(f"report: error: the report of epoch {result.epoch + 1} failed: {result.error} (training goes on)")

    def _ask(self, request: dict) -> dict:
        if self._process is None or not self._process.is_alive():
            context = multiprocessing.get_context("spawn")
            self._connection, theirs = context.Pipe()
            self._process = context.Process(target=serve, args=(theirs, self.options, self.history, os.getpid()),
                                            name="report-process", daemon=True)
            self._process.start()
            theirs.close()
        self._connection.send(request)
        while not self._connection.poll(0.2):
            if not self._process.is_alive():
                raise EOFError("the report process ended")
        return self._connection.recv()

    def _stop_process(self, kill: bool) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if not kill and process.is_alive():
            try:
                self._connection.send(STOP)
            except OSError:
                pass
            process.join(30)
        if process.is_alive():
            process.terminate()
            process.join(5)
        if process.is_alive():
            process.kill()
            process.join()
        self._connection.close()


def _reporter_options() -> frozenset[str]:
    """The options of report.build a Reporter takes: all but those it sets itself (the build folder, the model,
    quiet) and those a report of a saved epoch has no use for (no default checkpoint is trained, every epoch's
    report is new, the report process is this machine's)."""
    from report.options import keywords

    return frozenset(keywords("build")) - {"out", "quiet", "model", "model_kwargs", "epochs", "force", "fail_on",
                                           "dask"}


REPORTER_OPTIONS = _reporter_options()


def source_of(model) -> tuple[str, dict]:
    """The recipe that builds the model again in the report process (analysis.models.memory.module_source): a
    library's (timm, transformers) with its arguments, or its class, checked to be importable by another process."""
    from analysis.models.memory import module_source
    from analysis.models.sources import is_builtin

    source, kwargs, _file = module_source(model)
    if is_builtin(source):
        return source, kwargs
    cls = type(model)
    module = sys.modules.get(cls.__module__)
    if cls.__module__ == "__main__" and not getattr(module, "__file__", None):
        raise InputError(f"the model's class {cls.__qualname__} is defined in a notebook or an interactive session, "
                         "so the report process cannot build it: define it in a module file (nets.py) and import "
                         "it, or give model='package.module:Class'")
    if "<locals>" in cls.__qualname__:
        raise InputError(f"the model's class {cls.__qualname__} is defined inside a function, so the report process "
                         "cannot build it: define it at the top level of a module")
    return source, kwargs


def _prepare(out: Path) -> None:
    """Mark the build folder now (briefly holding its lock): checkpoints are saved into it from the start."""
    from report.buildfolder import exclusive

    with exclusive(out, 600, lambda line: None):
        pass


def serve(connection, options: dict, history: bool, parent: int | None = None) -> None:
    """The report process: build each checkpoint asked for and the history of those built; answer each request
    with ``{"ok": True, "summary", "outputs"}`` or ``{"ok": False, "error": one line}``. It ends with the
    training process ``parent`` (a killed training run leaves no report process publishing on its own).
    ``options``: the option groups of report.build (report.options), checked when the Reporter was made."""
    from analysis.spawning import helper_started, stoppable

    if parent is not None:
        helper_started(parent)
        return stoppable(_serve, connection, options, history)
    return _serve(connection, options, history)


def _serve(connection, options: dict, history: bool) -> None:
    import os

    from analysis.errors import ReportError
    from report.lines import one_line
    from report.workspace import Workspace

    os.environ.setdefault("MPLBACKEND", "Agg")
    workspace = Workspace(options["output"], lambda line: None)
    built: list[tuple[str, Path]] = []
    while True:
        try:
            request = connection.recv()
        except EOFError:
            return
        if request is STOP:
            return
        try:
            analysis = options["analysis"].replace(model=request["source"], model_kwargs=request["kwargs"] or None)
            result = workspace.build(request["checkpoint"], analysis, options["runtime"])
            built.append((request["checkpoint"], result.store))
            outputs = [str(p) for p in result.outputs.values()]
            if history:
                made = workspace.history_of(built, "step")
                outputs += [str(p) for p in made["outputs"]] + [str(made["table"])]
            answer = {"ok": True, "summary": result.summary.as_dict(), "outputs": outputs}
        except ReportError as error:
            answer = {"ok": False, "error": one_line(error)}
        except Exception as error:  # noqa: BLE001 - a fault of this tool: one line, and training goes on
            answer = {"ok": False, "error": f"internal error ({type(error).__name__}: {one_line(error)[:300]})"}
        connection.send(answer)
