"""The orchestrator's commands as methods of one object: a build folder and how this tool writes into it.

``Workspace(output)`` (``output``: ``report.options.OutputOptions``, or just the folder) holds the build folder,
its lock and where progress goes; its methods are the commands: ``build``, ``render``, ``train``, ``batch``,
``history``, ``compare``, ``watch`` and ``clean``. ``report.api``'s functions (and so the command line) are thin
wrappers over them, and ``watch``, ``batch``, ``history`` and the training hooks (``report.training``) use them
directly. This is the one place that makes a build's options (``pipeline.BuildOptions.for_report``) and its
``Report`` (``Report.of``), and where the environment is read for a command (``report.render.environment``)::

    >>> from report.options import AnalysisOptions, OutputOptions
    >>> workspace = Workspace(OutputOptions(out="build", sections="assignment", formats="html"))
    >>> result = workspace.build(analysis=AnalysisOptions(seed=1))                # doctest: +SKIP

Every command takes option groups that were checked when they were made; it reads only its own inputs (a
checkpoint, a folder) and runs inside the build folder's lock, where errors a user can act on come out as one
line (``report.lines``)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from analysis.errors import FailOnError, InputError, StoreError
from report import commands, pipeline
from report.lines import in_one_line
from report.options import (CHECKPOINT, PAIR, SAVE, SERIES, WATCHED, AnalysisOptions, OutputOptions, RuntimeOptions,
                            SeriesOptions, WatchOptions)
from report.render import environment
from report.results import Report

PathLike = str | Path


class Workspace:
    """A build folder and the commands that work in it (see the module's text)."""

    def __init__(self, output: OutputOptions | PathLike | None = None, log: Callable[[str], None] | None = None):
        self.output = output if isinstance(output, OutputOptions) else OutputOptions(out=output)
        self.log = log or stderr_log(self.output.quiet)

    @property
    def out(self) -> Path:
        return self.output.out

    # ---------------------------------------------------------------------------------------------- commands

    def build(self, checkpoint: PathLike | None = None, analysis: AnalysisOptions | None = None,
              runtime: RuntimeOptions | None = None, *, module=None, model_file: Path | None = None,
              position: Mapping[str, int] | None = None) -> Report:
        """Analyse (when no valid store serves these inputs) and render the report. ``module``: a model in
        memory (its source is ``analysis.model``), saved with ``position`` as a checkpoint in the build folder."""
        started = time.perf_counter()
        analysis, runtime = analysis or AnalysisOptions(), runtime or RuntimeOptions()
        checkpoint, analysis = named_by_folder(CHECKPOINT.read(checkpoint), analysis)
        position = checked_position(position) if module is not None else None
        if analysis.strip_prefix and checkpoint is None and module is None:  # refused before any training
            raise InputError(f"--strip-prefix {analysis.strip_prefix} needs --checkpoint: give the checkpoint "
                             "whose keys have it")
        config = analysis.config(self.output.sections)

        def work() -> Report:
            saved = checkpoint
            if module is not None:
                from analysis.models.memory import save_module

                saved = save_module(module, self.out / "checkpoints", position)
            options = pipeline.BuildOptions.for_report(saved, config, analysis, self.output, runtime, module,
                                                       model_file)
            return Report.of(self.out, self.output.formats, pipeline.build(options, log=self.log),
                             time.perf_counter() - started)

        with self.command():
            result = self.locked(work, refuse_inside=analysis.data)
            append_step_summary(result, self.log)
        check_fail_on(result, self.output.fail_on)
        return result

    def render(self) -> Report:
        """Re-render the last analysed store (no analysis, no torch)."""
        output = self.output
        if not self.out.exists():  # nothing to render: do not create the folder
            raise StoreError(f"no analysis in {self.out} yet: run `python -m report` (or `make report`) first")
        started = time.perf_counter()

        def work() -> Report:
            outcome = commands.render_last(self.out, output.sections, output.formats, output.single_file,
                                           output.force, output.quiet, self.log)
            return Report.of(self.out, output.formats, outcome, time.perf_counter() - started)

        with self.command():
            return self.locked(work)

    def train(self, save: PathLike, analysis: AnalysisOptions | None = None) -> dict:
        """Train the assignment CNN on ``analysis.data`` for ``analysis.epochs`` and save it as ``save``; its
        training record. The data cache is the build folder's, when it is this tool's."""
        from analysis.config import AnalysisConfig
        from analysis.run import train_default
        from report.buildfolder import is_marked, temporary_files_inside

        analysis = analysis or AnalysisOptions()
        save = SAVE.read(save)
        if save.is_dir():
            raise InputError(f"--save {save} is a folder: give the checkpoint's file name, e.g. {save / 'model.pt'}")
        cache = self.out / "cache" if is_marked(self.out) else None  # never write into a foreign build folder
        save.parent.mkdir(parents=True, exist_ok=True)
        with temporary_files_inside(save.parent, matplotlib_cache=False):  # beside the checkpoint, then gone
            return in_one_line(lambda: train_default(analysis.data, analysis.train, AnalysisConfig(), save, cache,
                                                     show_progress=not self.output.quiet))

    def batch(self, folder: PathLike, analysis: AnalysisOptions | None = None,
              series: SeriesOptions | None = None) -> list[dict]:
        """Analyse every checkpoint in ``folder`` (cached stores are reused); one row per checkpoint:
        ``{"checkpoint", "store", "analysed"}``."""
        analysis, series = analysis or AnalysisOptions(), series or SeriesOptions()
        folder = checkpoint_folder(folder)
        with self.command():
            return self.locked(lambda: self.analyse_all(folder, analysis, series), refuse_inside=analysis.data)

    def history(self, folder: PathLike, analysis: AnalysisOptions | None = None,
                series: SeriesOptions | None = None) -> dict:
        """How accuracy and separation evolve over the checkpoints in ``folder``: ``history.html``/``.pdf`` and
        the tidy table ``history.csv``. Returns ``{"outputs", "table", "rows", "checkpoints", "series"}``."""
        analysis, series = analysis or AnalysisOptions(), series or SeriesOptions()
        folder = checkpoint_folder(folder)

        def work() -> dict:
            rows = self.analyse_all(folder, analysis, series)
            return self.publish_history([(row["checkpoint"], Path(row["store"])) for row in rows], series.order)

        with self.command():
            return self.locked(work, refuse_inside=analysis.data)

    def history_of(self, built: list[tuple[str, Path]], order: str = "step") -> dict:
        """The history of checkpoints whose stores are built (the training hooks' running history)."""
        with self.command():
            return self.locked(lambda: self.publish_history(built, order))

    def compare(self, a: PathLike, b: PathLike, analysis: AnalysisOptions | None = None,
                pair=None) -> list[Path]:
        """One report with checkpoints ``a`` and ``b`` side by side (``compare.html``/``.pdf``); their paths.
        ``pair`` (``report.options.PairOptions``): B's model where it is another than A's; either way both are
        analysed on ``analysis.data``, so that they are judged on the same test images."""
        from report.options import PairOptions

        analysis, pair = analysis or AnalysisOptions(), pair or PairOptions()
        a, b = PAIR.read(a), PAIR.read(b)
        options_a, options_b = (pipeline.BuildOptions.for_store(self.out, side.data, side.config(self.output.sections),
                                                                quiet=self.output.quiet)
                                for side in (analysis, pair.b_of(analysis)))
        with self.command():
            return self.locked(lambda: commands.compare_pair(a, b, options_a, options_b, self.output.formats),
                               refuse_inside=analysis.data)

    def watch(self, folder: PathLike, analysis: AnalysisOptions | None = None, runtime: RuntimeOptions | None = None,
              watching: WatchOptions | None = None, on_build: Callable[[Report], None] | None = None) -> int:
        """Rebuild the report for each new or changed checkpoint in ``folder`` (report.watching), warm: torch and one
        PDF worker stay loaded between builds, and the HTML is published before the PDF is laid out.
        ``on_build(report)`` after each build; returns the number of builds."""
        from report.watching import serving, watch as watch_folder

        analysis, runtime = analysis or AnalysisOptions(), runtime or RuntimeOptions()
        watching = watching or WatchOptions()
        folder = WATCHED.read(folder)
        config = analysis.config(self.output.sections)

        def work() -> int:
            with serving(self.out, watching.serve, self.log), self.pdf_worker() as pdf_job:
                def build_one(checkpoint: Path) -> None:
                    options = pipeline.BuildOptions.for_report(checkpoint, config, analysis, self.output, runtime)
                    outcome = pipeline.build(options, log=self.log, pdf_job=pdf_job, html_first=True)
                    if on_build is not None:
                        on_build(Report.of(self.out, self.output.formats, outcome, outcome.seconds))

                return watch_folder(folder, build_one, settle=watching.settle, interval=watching.interval,
                                    max_builds=watching.max_builds, timeout=watching.timeout, log=self.log)

        with self.command():
            return self.locked(work, refuse_inside=analysis.data)

    def clean(self) -> tuple[list[str], list[str]]:
        """Remove what this tool wrote in the build folder; (removed, kept) entry names. Waits up to the output's
        ``wait`` seconds for a run that is using the folder."""
        from report.buildfolder import clean as clean_folder

        return in_one_line(lambda: clean_folder(self.out, self.output.wait, self.log))

    # ------------------------------------------------------------------------------------------- machinery

    def analyse_all(self, folder: Path, analysis: AnalysisOptions, series: SeriesOptions) -> list[dict]:
        from report.series import checkpoints_in, run_batch

        return run_batch(checkpoints_in(folder), analysis.data, analysis.config(self.output.sections), self.out,
                         series.workers, series.dask)

    def publish_history(self, built: list[tuple[str, Path]], order: str) -> dict:
        return commands.publish_history(self.out, built, order, self.output.formats)

    def pdf_worker(self):
        """One PDF worker kept for all the builds of a watch (nothing when no PDF is made)."""
        if "pdf" not in self.output.formats:
            return contextlib.nullcontext()
        from report.render.documents import PdfServer

        return PdfServer(self.out)

    @contextlib.contextmanager
    def command(self):
        """One command: the environment read and checked once, before any work (a bad variable is one line), and
        that reading is the one every part of the command sees."""
        with environment.using(environment.current()):
            yield

    def locked(self, work: Callable, refuse_inside: str | None = None):
        """``work()`` holding the build folder's lock; a refused run leaves no build folder of its own behind.
        Errors a user can act on come out as one line."""
        from report.buildfolder import exclusive, remove_if_unused

        refuse_out_inside_data(self.out, refuse_inside)
        fresh = not self.out.exists()
        try:
            with exclusive(self.out, self.output.wait, self.log):
                return in_one_line(work)
        except (InputError, StoreError):
            if fresh:
                remove_if_unused(self.out)
            raise


def stderr_log(quiet: bool) -> Callable[[str], None]:
    """Progress lines on stderr (stdout carries only each command's one-line result), or nowhere when quiet."""
    import sys

    return (lambda message: None) if quiet else (lambda message: print(message, file=sys.stderr, flush=True))


def checkpoint_folder(folder: PathLike | None) -> Path:
    folder = SERIES.read(folder)
    if folder is None:
        raise InputError("give the folder of checkpoints")
    return folder


def checked_position(position) -> dict[str, int] | None:
    """Where training was when a model in memory was saved (``{"epoch": 3}``), kept in its checkpoint."""
    from analysis.models.checkpoint_meta import POSITION_KEYS

    if position is None:
        return None
    if not isinstance(position, Mapping) or not all(
            k in POSITION_KEYS and isinstance(v, int) and not isinstance(v, bool) and v >= 0
            for k, v in position.items()):
        raise InputError(f"position must map some of {', '.join(POSITION_KEYS)} to whole numbers ≥ 0, "
                         f"got {position!r}")
    return dict(position)


def refuse_out_inside_data(out: Path, data: str | None) -> None:
    """A build folder inside an image folder would be read as a class of the data by the next run."""
    if data and data != "embedded" and Path(data).is_dir():
        if out.resolve().is_relative_to(Path(data).resolve()):
            raise InputError(f"--out {out} lies inside the data folder {data}: its files would be read as data; "
                             "give a build folder outside it")


def append_step_summary(result: Report, log=print) -> None:
    """In a GitHub Actions job ($GITHUB_STEP_SUMMARY set), append summary.md to the job's summary page. The
    report is written by then: a page that cannot be written is a warning, never an error about the report."""
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


def check_fail_on(result: Report, fail_on: str | None) -> None:
    """Raise FailOnError when the report holds an alert at ``fail_on``'s level or above."""
    if fail_on is None:
        return
    from report.render.alerts import at_least

    found = at_least(result.alerts, fail_on)
    if found:
        raise FailOnError(f"--fail-on {fail_on}: the report holds {len(found)} alert(s) at that level or above: "
                          f"{found[0].level}: {found[0].text}", result)


def named_by_folder(checkpoint: Path | None, analysis: AnalysisOptions) -> tuple[Path | None, AnalysisOptions]:
    """A Hugging Face ``save_pretrained`` folder (or the weights file inside one) as the checkpoint: its weights
    file is the checkpoint and, unless --model is given, its configuration names the model
    (``huggingface:Architecture`` with the recipe ``{"config", "preprocessor"}``), so no --model is needed."""
    if checkpoint is None:
        return None, analysis
    from analysis.models.source_kinds.huggingface import folder_recipe

    found = folder_recipe(Path(checkpoint))
    if found is None:
        return checkpoint, analysis
    weights, source, recipe = found
    return weights, analysis if analysis.model else analysis.replace(model=source, model_kwargs=recipe)
