"""The Python API: everything ``python -m report`` does, as functions with typed keyword arguments.

The command line is a thin layer over these functions, and these are thin wrappers over the commands of
``report.workspace.Workspace``: the same inputs give the same store, byte for byte, whichever door they came
through. The options are report.options' groups (``AnalysisOptions``, ``OutputOptions``, ``RuntimeOptions``,
``WatchOptions``, ``SeriesOptions``): each function takes them as objects (``analysis=``, ``output=``...) and
takes their fields as keyword arguments too, which are read into them (a keyword the command does not take is a
TypeError). Every option is checked as the command line checks it, before anything is read or written, and every
error a user can act on raises one of this project's types (``analysis.errors``) carrying the very line the
command line prints::

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

from collections.abc import Callable, Mapping
from pathlib import Path

from analysis.errors import FailOnError, InputError, RenderError, ReportError, StoreError
from report.lines import one_line  # noqa: F401  (the one line of an error, as the command line prints it)
from report.options import (AnalysisOptions, OutputOptions, RuntimeOptions, SeriesOptions, WatchOptions,
                            groups)
from report.results import Report
from report.workspace import Workspace, check_fail_on  # noqa: F401  (check_fail_on: what --fail-on does)

__all__ = ["Report", "ReportError", "InputError", "StoreError", "RenderError", "FailOnError",
           "AnalysisOptions", "OutputOptions", "RuntimeOptions", "WatchOptions", "SeriesOptions", "Workspace",
           "build", "render", "train", "history", "compare", "batch", "watch", "clean"]

PathLike = str | Path
Log = Callable[[str], None] | None


def build(checkpoint: PathLike | None = None, *, model=None, analysis: AnalysisOptions | None = None,
          runtime: RuntimeOptions | None = None, output: OutputOptions | None = None,
          position: Mapping[str, int] | None = None, log: Log = None, **options) -> Report:
    """Analyse (when no valid store exists for these inputs) and render the report; returns the ``Report``.

    ``checkpoint``: a state_dict file (default: train the assignment CNN into the build folder). ``model``: a
    source (``assignment``, ``torchvision:NAME``, ``package.module:Class``) or an ``nn.Module`` in memory,
    analysed from a copy with its weights saved as ``out/checkpoints/module-<hash>.pt`` (``position``:
    ``{"epoch": 3}`` and the like, kept in that checkpoint). The other options are the command line's
    (``python -m report build --help``), with Python values: ``classes=[3, 8]``, ``mean=0.5``,
    ``sections="assignment"`` or ``["kernels", "activations"]``, ``formats="html"``; or the groups themselves
    (``analysis=AnalysisOptions(...)``), which keyword arguments amend. ``quiet=False`` prints progress on stderr.
    ``fail_on``: "warning" or "error" raises ``FailOnError`` (the report is written) when an alert of that level
    or above is found. ``log``: where progress lines go (default: stderr unless quiet).
    """
    module, model_file = None, None
    if model is not None and not isinstance(model, str):  # a model in memory: torch is loaded for it only
        from analysis.models.memory import module_source

        module, (model, model_file) = model, module_source(model)
        if model == "assignment":  # the course CNN: keyed as the command line keys it, without --model
            model = None
        if checkpoint is not None:
            raise InputError("give either a checkpoint or a model in memory (its weights are the checkpoint), "
                             "not both")
    if model is not None or module is not None:
        options["model"] = model
    made = groups("build", options, {"analysis": analysis, "runtime": runtime, "output": output})
    return Workspace(made["output"], log).build(checkpoint, made["analysis"], made["runtime"], module=module,
                                                model_file=model_file, position=position)


def render(out: PathLike | None = None, *, output: OutputOptions | None = None, log: Log = None,
           **options) -> Report:
    """Re-render the last analysed store of ``out`` (no analysis, no torch); the output options as ``build``'s."""
    if out is not None:
        options["out"] = out
    return Workspace(groups("render", options, {"output": output})["output"], log).render()


def train(save: PathLike, *, analysis: AnalysisOptions | None = None, output: OutputOptions | None = None,
          **options) -> dict:
    """Train the assignment CNN and save it as ``save``; returns its training record (``data``, ``epochs``,
    ``quiet``: the command line's options)."""
    made = groups("train", options, {"analysis": analysis, "output": output})
    return Workspace(made["output"]).train(save, made["analysis"])


def batch(folder: PathLike, *, analysis: AnalysisOptions | None = None, output: OutputOptions | None = None,
          series: SeriesOptions | None = None, log: Log = None, **options) -> list[dict]:
    """Analyse every checkpoint in ``folder`` (cached stores are reused); one row per checkpoint:
    ``{"checkpoint", "store", "analysed"}``. The options: ``build``'s analysis options, ``workers`` (processes,
    at least 1), ``dask``, ``sections`` (which parts to analyse)."""
    made = groups("batch", options, {"analysis": analysis, "output": output, "series": series})
    return Workspace(made["output"], log).batch(folder, made["analysis"], made["series"])


def history(folder: PathLike, *, analysis: AnalysisOptions | None = None, output: OutputOptions | None = None,
            series: SeriesOptions | None = None, log: Log = None, **options) -> dict:
    """How accuracy and separation evolve over the checkpoints in ``folder``: ``history.html``/``.pdf`` and the
    tidy table ``history.csv`` (one row per checkpoint and metric). Returns ``{"outputs", "table", "rows"}``."""
    made = groups("history", options, {"analysis": analysis, "output": output, "series": series})
    return Workspace(made["output"], log).history(folder, made["analysis"], made["series"])


def compare(a: PathLike, b: PathLike, *, analysis: AnalysisOptions | None = None,
            output: OutputOptions | None = None, log: Log = None, **options) -> list[Path]:
    """One report with checkpoints ``a`` and ``b`` side by side (``compare.html``/``.pdf``); their paths."""
    made = groups("compare", options, {"analysis": analysis, "output": output})
    return Workspace(made["output"], log).compare(a, b, made["analysis"])


def watch(folder: PathLike, *, on_build: Callable[[Report], None] | None = None,
          analysis: AnalysisOptions | None = None, runtime: RuntimeOptions | None = None,
          output: OutputOptions | None = None, watching: WatchOptions | None = None, log: Log = None,
          **options) -> int:
    """Rebuild the report for each new or changed checkpoint in ``folder`` until ``max_builds`` builds,
    or ``timeout`` seconds; torch and one PDF worker stay loaded between builds, and the HTML is published
    before the PDF is laid out. A bad checkpoint is reported in one line and the watch goes on.
    ``on_build(report)`` is called after each build. The options: ``build``'s, and ``settle``, ``interval``,
    ``serve``, ``max_builds``, ``timeout``. Returns the number of builds. SIGINT and SIGTERM end it by raising
    ``analysis.stopping.Stopped`` (a KeyboardInterrupt) once the build under way has cleaned up."""
    made = groups("watch", options, {"analysis": analysis, "runtime": runtime, "output": output,
                                     "watching": watching})
    return Workspace(made["output"], log).watch(folder, made["analysis"], made["runtime"], made["watching"],
                                                on_build)


def clean(out: PathLike = "build", wait: float = 600, quiet: bool = False, log: Log = None, *,
          output: OutputOptions | None = None) -> tuple[list[str], list[str]]:
    """Remove what this tool wrote in the build folder ``out``; (removed, kept) entry names. Waits up to
    ``wait`` seconds for a run that is using the folder."""
    if output is None:
        output = groups("clean", {"out": out, "wait": wait, "quiet": quiet}, {})["output"]
    return Workspace(output, log).clean()
