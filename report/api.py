"""The Python API: everything ``python -m report`` does, as functions with typed keyword arguments.

The command line is a thin layer over these functions: it parses its options and calls them, so the same
inputs give the same store, byte for byte, whichever door they came through. Every option is checked as
the command line checks it, before anything is read or written, and every error a user can act on raises
one of this project's types (``report.errors``) carrying the very line the command line prints::

    >>> import report
    >>> result = report.build(checkpoint="build/checkpoints/model.pt", sections="assignment",
    ...                       formats="html")                                        # doctest: +SKIP
    >>> result.summary.parameters, round(result.summary.accuracy, 3)                # doctest: +SKIP
    (232650, 0.981)
    >>> report.build(seed=-1)
    Traceback (most recent call last):
    ...
    analysis.errors.InputError: argument --seed: must be between 0 and 4294967295, got -1

``build`` also takes a model in memory (``model=net``): its weights are saved as a checkpoint in the build
folder (``checkpoints/module-<hash>.pt``) and the model is analysed from a copy, never changed itself.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from analysis.config import AnalysisConfig, TrainConfig
from analysis.store.schema import METRIC_IDS, PRIMARY_METRIC
from report.errors import FailOnError, InputError, RenderError, ReportError, StoreError
from report.options import check_option, path, positive, words

__all__ = ["Report", "ReportError", "InputError", "StoreError", "RenderError", "FailOnError",
           "build", "render", "train", "history", "compare", "batch", "watch", "clean"]

PathLike = str | Path


@dataclasses.dataclass
class Report:
    """What a build made: where the files are, and the numbers in them (loaded from the store when first
    asked for, without torch)."""

    out: Path                      # the build folder
    store: Path                    # the artifact store the report was rendered from
    outputs: dict[str, Path]       # "html" / "pdf" -> the document
    checkpoint: Path | None        # the checkpoint analysed (None: random weights)
    trained: bool = False          # the default checkpoint was trained by this call
    analysed: bool = False         # the analysis ran (False: a valid store was reused)
    rendered: bool = False         # the documents were written (False: already up to date)
    seconds: float = 0.0

    @functools.cached_property
    def findings(self):
        """Every stored number, typed (``report.render.findings.Findings``)."""
        from analysis.data.files import shown_name
        from report.render.load import load_findings

        return load_findings(self.store, verified=True,
                             checkpoint_name=shown_name(self.checkpoint.name) if self.checkpoint else None)

    @functools.cached_property
    def notes(self) -> list:
        """The interpretation sentences, each with its rule, branch and evidence (``Note``)."""
        from report.render.interpret import run_rules

        return run_rules(self.findings)

    @functools.cached_property
    def alerts(self) -> list:
        """Problems a reader must see first, each with its level (``Alert``: error, warning or info)."""
        from report.render.alerts import alerts

        return alerts(self.findings)

    @functools.cached_property
    def summary(self):
        """The headline numbers (``report.render.summary.Summary``): accuracy, parameters, MACs, separation."""
        from report.render.summary import summarise

        return summarise(self.findings)

    @property
    def tables(self) -> dict[str, Path]:
        """Each table of the report as CSV, by table id (see ``tables/index.csv``)."""
        from report.render.tables import TABLES_DIR

        folder = self.out / TABLES_DIR
        return {p.stem: p for p in sorted(folder.glob("*.csv")) if p.stem != "index"}

    @property
    def summary_markdown(self) -> Path:
        return self.out / "summary.md"


# ---------------------------------------------------------------------------------------------------- options

def analysis_config(*, model=None, model_kwargs=None, classes=None, per_class=None, image_index=None,
                    image_class=None, embedding_layer=None, layers=None, max_channels=None, input_size=None,
                    mean=None, std=None, class_names=None, metric=PRIMARY_METRIC, seed=0, device="auto",
                    batch_size=AnalysisConfig.batch_size, sections=None) -> AnalysisConfig:
    """The analysis options, each checked as the command line checks it (one line, naming the option)."""
    from analysis import devices
    from analysis.models.sources import parse_kwargs
    from report.render.sections import ALL, needs_document, needs_whole_split

    classes, layers = words("classes", classes), words("layers", layers)
    per_class, image_index = check_option("per_class", per_class), check_option("image_index", image_index)
    max_channels, input_size = check_option("max_channels", max_channels), check_option("input_size", input_size)
    mean, std, class_names = check_option("mean", mean), check_option("std", std), check_option("class_names", class_names)
    seed, batch_size = check_option("seed", seed), check_option("batch_size", batch_size)
    device = check_option("device", device)
    sections = check_option("sections", sections) or ALL
    if metric not in METRIC_IDS:
        raise InputError(f"argument --metric: invalid choice: {metric!r} (choose from {', '.join(METRIC_IDS)})")
    if image_class is not None:
        image_class = str(image_class)
    if classes and len(set(classes)) != len(classes):
        raise InputError(f"--classes {' '.join(classes)} repeats a class: give each class once")
    if classes and len(classes) * (per_class or 2) < 2:
        raise InputError("distances need at least two samples: give two --classes or --per-class 2 or more")
    if layers and len(set(layers)) != len(layers):
        raise InputError(f"--layers {' '.join(layers)} repeats a layer: give each layer once")
    if embedding_layer is not None and not str(embedding_layer).strip():
        raise InputError("--embedding-layer is empty: give a module name, or leave the option out for the default")
    if isinstance(model_kwargs, Mapping):
        try:
            model_kwargs = json.dumps(dict(model_kwargs), sort_keys=True)
        except (TypeError, ValueError) as error:
            raise InputError(f"--model-kwargs must be JSON: {error}") from None
    if model_kwargs is not None and not model:
        raise InputError("--model-kwargs needs --model: name the model they are for, e.g. "
                         "--model torchvision:resnet18 --model-kwargs '{\"num_classes\": 3}'")
    parse_kwargs(model_kwargs)  # fail early on bad JSON
    if model is not None and not isinstance(model, str):
        raise InputError(f"argument --model: expected a source such as torchvision:resnet18 or an nn.Module, "
                         f"got {type(model).__name__}")
    return AnalysisConfig(
        model=model, model_kwargs=model_kwargs, classes=classes, per_class=per_class,
        image_class=image_class, image_index=image_index, embedding_layer=embedding_layer,
        layers=layers, max_channels=max_channels, input_size=input_size, mean=mean, std=std,
        class_names=class_names, seed=seed, metric=metric, whole_split=needs_whole_split(sections),
        maps=needs_document(sections, "activations.json"), samples=needs_document(sections, "embeddings.json"),
        device=devices.kind(device), batch_size=batch_size)


def _data(data) -> str | None:
    if data is None:
        return None
    if not isinstance(data, (str, Path)) or not str(data):
        raise InputError(f"argument --data: expected a path, got {data!r}")
    return str(data)


def _outputs(out, formats, sections, wait) -> tuple[Path, tuple[str, ...], tuple[str, ...], float]:
    from report.render.sections import ALL

    out = path("out", out) or Path("build")
    return (out, check_option("formats", formats) or ("html", "pdf"), check_option("sections", sections) or ALL,
            check_option("wait", wait))


# The keyword arguments that make the AnalysisConfig (the command line's analysis options).
ANALYSIS_OPTIONS = frozenset({"model", "model_kwargs", "classes", "per_class", "image_index", "image_class",
                              "embedding_layer", "layers", "max_channels", "input_size", "mean", "std",
                              "class_names", "metric", "seed", "device", "batch_size"})


# ------------------------------------------------------------------------------------------------- commands

def build(checkpoint: PathLike | None = None, *, model=None, model_kwargs: str | Mapping | None = None,
          data: PathLike | None = None, out: PathLike = "build", classes: Sequence[str | int] | None = None,
          per_class: int | None = None, image_index: int | None = None, image_class: str | int | None = None,
          embedding_layer: str | None = None, layers: Sequence[str] | None = None, max_channels: int | None = None,
          input_size: int | None = None, mean: float | Sequence[float] | None = None,
          std: float | Sequence[float] | None = None, class_names: Sequence[str] | None = None,
          metric: str = PRIMARY_METRIC, seed: int = 0, epochs: int = TrainConfig.epochs, device: str = "auto",
          batch_size: int = AnalysisConfig.batch_size, workers: int | None = None, dask: str | None = None,
          sections: str | Sequence[str] = "all", formats: str | Sequence[str] = ("html", "pdf"),
          single_file: bool = False, force: bool = False, quiet: bool = True, wait: float = 600,
          position: Mapping[str, int] | None = None, fail_on: str | None = None, log=None) -> Report:
    """Analyse (when no valid store exists for these inputs) and render the report; returns the ``Report``.

    ``checkpoint``: a state_dict file (default: train the assignment CNN into the build folder). ``model``: a
    source (``assignment``, ``torchvision:NAME``, ``package.module:Class``) or an ``nn.Module`` in memory,
    analysed from a copy with its weights saved as ``out/checkpoints/module-<hash>.pt`` (``position``:
    ``{"epoch": 3}`` and the like, kept in that checkpoint). The other options are the command line's
    (``python -m report build --help``), with Python values: ``classes=[3, 8]``, ``mean=0.5``,
    ``sections="assignment"`` or ``["kernels", "activations"]``, ``formats="html"``. ``quiet=False`` prints
    progress on stderr. ``fail_on``: "warning" or "error" raises ``FailOnError`` (the report is written) when
    an alert of that level or above is found. ``log``: where progress lines go (default: stderr unless quiet).
    """
    from report import pipeline

    started = time.perf_counter()
    in_memory = model is not None and not isinstance(model, str)
    source, model_file = model, None
    if in_memory:  # torch is loaded for a model in memory only
        from analysis.models.memory import module_source

        source, model_file = module_source(model)
    if in_memory and source == "assignment":  # the course CNN: keyed as the command line keys it, without --model
        source = None
    if in_memory and checkpoint is not None:
        raise InputError("give either a checkpoint or a model in memory (its weights are the checkpoint), not both")
    config = analysis_config(model=source, model_kwargs=model_kwargs, classes=classes, per_class=per_class,
                             image_index=image_index, image_class=image_class, embedding_layer=embedding_layer,
                             layers=layers, max_channels=max_channels, input_size=input_size, mean=mean, std=std,
                             class_names=class_names, metric=metric, seed=seed, device=device,
                             batch_size=batch_size, sections=sections)
    out, formats, sections, wait = _outputs(out, formats, sections, wait)
    checkpoint, data = path("checkpoint", checkpoint), _data(data)
    epochs, workers = check_option("epochs", epochs), check_option("workers", workers)
    fail_on = check_option("fail_on", fail_on)
    position = _position(position) if in_memory else None
    options = pipeline.BuildOptions(out=out, checkpoint=checkpoint, data=data, config=config,
                                    train=TrainConfig(epochs=epochs), formats=formats, force=force, quiet=quiet,
                                    sections=sections, single_file=single_file, device=device, workers=workers,
                                    dask=dask, module=model if in_memory else None, model_file=model_file)
    log = log or _stderr(quiet)

    def work() -> Report:
        nonlocal options
        if in_memory:
            from analysis.models.memory import save_module

            options = dataclasses.replace(options, checkpoint=save_module(model, out / "checkpoints", position))
        outcome = pipeline.build(options, log=log)
        return Report(out=out, store=outcome.store, outputs={f: out / f"report.{f}" for f in formats},
                      checkpoint=outcome.checkpoint, trained=outcome.trained, analysed=outcome.analysed,
                      rendered=outcome.rendered, seconds=time.perf_counter() - started)

    result = locked(out, wait, log, work, refuse_inside=data)
    append_step_summary(result, log or _stderr(quiet))
    check_fail_on(result, fail_on)
    return result


def append_step_summary(result: Report, log=print) -> None:
    """In a GitHub Actions job ($GITHUB_STEP_SUMMARY set), append summary.md to the job's summary page. The
    report is written by then: a page that cannot be written is a warning, never an error about the report."""
    from report.render import environment

    target = environment.step_summary()
    if target is None or not result.summary_markdown.is_file():
        return
    if target.resolve().is_relative_to(result.summary_markdown.parent.resolve()):
        log(f"report: warning: GITHUB_STEP_SUMMARY={target} lies inside the build folder: the summary was not "
            "appended to it (the tool's outputs are its own)")
        return
    try:
        with open(target, "a", encoding="utf-8") as page:
            page.write(result.summary_markdown.read_text(encoding="utf-8") + "\n")
    except OSError as error:
        log(f"report: warning: the summary was not appended to GITHUB_STEP_SUMMARY={target} "
            f"({error.strerror or error}); the report is written")


def _position(position) -> dict[str, int] | None:
    from analysis.models.checkpoint_meta import POSITION_KEYS

    if position is None:
        return None
    if not isinstance(position, Mapping) or not all(
            k in POSITION_KEYS and isinstance(v, int) and not isinstance(v, bool) and v >= 0
            for k, v in position.items()):
        raise InputError(f"position must map some of {', '.join(POSITION_KEYS)} to whole numbers ≥ 0, "
                         f"got {position!r}")
    return dict(position)


def check_fail_on(result: Report, fail_on: str | None) -> None:
    """Raise FailOnError when the report holds an alert at ``fail_on``'s level or above."""
    if fail_on is None:
        return
    from report.render.alerts import at_least

    found = at_least(result.alerts, fail_on)
    if found:
        raise FailOnError(f"--fail-on {fail_on}: the report holds {len(found)} alert(s) at that level or above: "
                          f"{found[0].level}: {found[0].text}", result)


def render(out: PathLike = "build", *, sections: str | Sequence[str] = "all",
           formats: str | Sequence[str] = ("html", "pdf"), single_file: bool = False, force: bool = False,
           quiet: bool = True, wait: float = 600, log=None) -> Report:
    """Re-render the last analysed store of ``out`` (no analysis, no torch)."""
    from report import commands

    out, formats, sections, wait = _outputs(out, formats, sections, wait)
    if not out.exists():  # nothing to render: do not create the folder
        raise StoreError(f"no analysis in {out} yet: run `python -m report` (or `make report`) first")
    log = log or _stderr(quiet)
    started = time.perf_counter()

    def work() -> Report:
        store, checkpoint_name, rendered = commands.render_last(out, sections, formats, single_file, force, quiet, log)
        return Report(out=out, store=store, outputs={f: out / f"report.{f}" for f in formats},
                      checkpoint=Path(checkpoint_name) if checkpoint_name else None, rendered=rendered,
                      seconds=time.perf_counter() - started)

    return locked(out, wait, log, work)


def train(save: PathLike, *, data: PathLike | None = None, epochs: int = TrainConfig.epochs,
          quiet: bool = True) -> dict:
    """Train the assignment CNN and save it as ``save``; returns its training record."""
    from analysis.run import train_default
    from report.buildfolder import is_marked, temporary_files_inside

    save, data, epochs = path("save", save), _data(data), check_option("epochs", epochs)
    if save.is_dir():
        raise InputError(f"--save {save} is a folder: give the checkpoint's file name, e.g. {save / 'model.pt'}")
    cache = Path("build") / "cache" if is_marked(Path("build")) else None  # never write into a foreign build/
    save.parent.mkdir(parents=True, exist_ok=True)
    with temporary_files_inside(save.parent, matplotlib_cache=False):  # beside the checkpoint, then gone
        return _one_line_errors(lambda: train_default(data, TrainConfig(epochs=epochs), AnalysisConfig(), save,
                                                      cache, show_progress=not quiet))


def _series_arguments(folder, data, out, formats, sections, wait, analysis: dict):
    folder = path("folder", folder)
    if folder is None:
        raise InputError("give the folder of checkpoints")
    config = analysis_config(**analysis)
    out, formats, sections, wait = _outputs(out, formats, sections, wait)
    return folder, _data(data), config, out, formats, wait


def batch(folder: PathLike, *, data: PathLike | None = None, out: PathLike = "build", workers: int = 2,
          dask: str | None = None, quiet: bool = True, wait: float = 600, log=None, **analysis) -> list[dict]:
    """Analyse every checkpoint in ``folder`` (cached stores are reused); one row per checkpoint:
    ``{"checkpoint", "store", "analysed"}``. ``analysis``: the analysis options of ``build``."""
    from report.series import checkpoints_in, run_batch

    folder, data, config, out, _formats, wait = _series_arguments(folder, data, out, None, None, wait, analysis)
    workers = check_option("workers", workers, positive)  # processes: at least 1 here
    return locked(out, wait, log or _stderr(quiet),
                  lambda: run_batch(checkpoints_in(folder), data, config, out, workers, dask), refuse_inside=data)


def history(folder: PathLike, *, data: PathLike | None = None, out: PathLike = "build", workers: int = 2,
            dask: str | None = None, order: str = "name", formats: str | Sequence[str] = ("html", "pdf"),
            quiet: bool = True, wait: float = 600, log=None, **analysis) -> dict:
    """How accuracy and separation evolve over the checkpoints in ``folder``: ``history.html``/``.pdf`` and the
    tidy table ``history.csv`` (one row per checkpoint and metric). Returns ``{"outputs", "table", "rows"}``."""
    from report import commands
    from report.series import checkpoints_in, run_batch

    folder, data, config, out, formats, wait = _series_arguments(folder, data, out, formats, None, wait, analysis)
    workers = check_option("workers", workers, positive)
    if order not in ("name", "step"):
        raise InputError(f"argument --order: invalid choice: {order!r} (choose from name, step)")

    def work():
        results = run_batch(checkpoints_in(folder), data, config, out, workers, dask)
        return commands.publish_history(out, [(r["checkpoint"], Path(r["store"])) for r in results], order, formats)

    return locked(out, wait, log or _stderr(quiet), work, refuse_inside=data)


def compare(a: PathLike, b: PathLike, *, data: PathLike | None = None, out: PathLike = "build",
            formats: str | Sequence[str] = ("html", "pdf"), quiet: bool = True, wait: float = 600, log=None,
            **analysis) -> list[Path]:
    """One report with checkpoints ``a`` and ``b`` side by side (``compare.html``/``.pdf``); their paths."""
    from report import commands

    a, b = path("checkpoints", a), path("checkpoints", b)
    config = analysis_config(**analysis)
    out, formats, _sections, wait = _outputs(out, formats, None, wait)
    data = _data(data)
    return locked(out, wait, log or _stderr(quiet), lambda: commands.compare_pair(a, b, data, config, out, formats, quiet),
                  refuse_inside=data)


def watch(folder: PathLike, *, out: PathLike = "build", settle: float = 2.0, interval: float = 0.5,
          serve: int | None = None, max_builds: int | None = None, timeout: float | None = None,
          on_build: Callable[[Report], None] | None = None, data: PathLike | None = None,
          epochs: int = TrainConfig.epochs, workers: int | None = None, sections: str | Sequence[str] = "all",
          formats: str | Sequence[str] = ("html", "pdf"), single_file: bool = False, force: bool = False,
          quiet: bool = True, wait: float = 600, log=None, **analysis) -> int:
    """Rebuild the report for each new or changed checkpoint in ``folder`` until ``max_builds`` builds,
    or ``timeout`` seconds; torch and one PDF worker stay loaded between builds, and the HTML is published
    before the PDF is laid out. A bad checkpoint is reported in one line and the watch goes on.
    ``on_build(report)`` is called after each build. ``analysis``: the analysis options of ``build``.
    Returns the number of builds. SIGINT and SIGTERM end it by raising ``analysis.stopping.Stopped`` (a
    KeyboardInterrupt) once the build under way has cleaned up."""
    from report.watch import run_watch

    folder = path("folder", folder)
    settle, interval = check_option("settle", settle), check_option("interval", interval)
    serve, max_builds = check_option("serve", serve), check_option("max_builds", max_builds)
    timeout, epochs, workers = check_option("timeout", timeout), check_option("epochs", epochs), \
        check_option("workers", workers)
    config = analysis_config(**analysis, sections=sections)
    out, formats, sections, wait = _outputs(out, formats, sections, wait)
    data = _data(data)
    log = log or _stderr(quiet)
    return locked(out, wait, log, lambda: run_watch(
        folder, out, config, data, formats, sections, settle=settle, interval=interval, serve=serve,
        max_builds=max_builds, timeout=timeout, on_build=on_build, quiet=quiet, log=log, epochs=epochs,
        workers=workers, single_file=single_file, force=force, device=check_option("device", analysis.get("device",
                                                                                                    "auto"))),
        refuse_inside=data)


def clean(out: PathLike = "build", wait: float = 600, quiet: bool = False, log=None) -> tuple[list[str], list[str]]:
    """Remove what this tool wrote in the build folder ``out``; (removed, kept) entry names. Waits up to
    ``wait`` seconds for a run that is using the folder."""
    from report.buildfolder import clean as clean_folder

    return _one_line_errors(lambda: clean_folder(path("out", out) or Path("build"), wait, log or _stderr(quiet)))


# ----------------------------------------------------------------------------------------------- machinery

def _stderr(quiet: bool):
    import sys

    return (lambda message: None) if quiet else (lambda message: print(message, file=sys.stderr, flush=True))


def locked(out: Path, wait: float, log, work: Callable, refuse_inside: str | None = None):
    """``work()`` holding the build folder's lock; a refused run leaves no build folder of its own behind.
    Errors a user can act on come out as one line (``one_line``)."""
    from report.buildfolder import exclusive, remove_if_unused
    from report.render import environment

    environment.check()  # as the command line does: a bad variable is one line before any work
    refuse_out_inside_data(out, refuse_inside)
    fresh = not out.exists()
    try:
        with exclusive(out, wait, log):
            return _one_line_errors(work)
    except (InputError, StoreError):
        if fresh:
            remove_if_unused(out)
        raise


def refuse_out_inside_data(out: Path, data: str | None) -> None:
    """A build folder inside an image folder would be read as a class of the data by the next run."""
    if data and data != "embedded" and Path(data).is_dir():
        if out.resolve().is_relative_to(Path(data).resolve()):
            raise InputError(f"--out {out} lies inside the data folder {data}: its files would be read as data; "
                             "give a build folder outside it")


def _one_line_errors(work: Callable):
    """Run ``work()``; a ReportError comes out with its message on one line, printable, at most 2,000
    characters: names from the data can hold line breaks and terminal control sequences."""
    try:
        return work()
    except ReportError as error:
        line = one_line(error)
        if str(error) == line:
            raise
        error.args = (line,)
        raise


MAX_MESSAGE = 2000  # characters of one error line: names from the data can be arbitrarily long


def one_line(error: BaseException) -> str:
    from analysis.data.files import printable

    return printable(" ".join(str(error).split()), MAX_MESSAGE)
