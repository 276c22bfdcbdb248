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
    ``data``: a path (``--data``), or data in memory: ``(images, labels)`` (the test split), ``{"train": (x, y),
    "test": (x, y)}``, a map-style ``Dataset`` of ``(image, label)`` or a ``DataLoader``; images N×C×H×W or N×H×W,
    uint8 or floats in [0, 1], labels integers (``analysis.inmemory`` says more). They are written once as
    ``out/cache/data-<hash>.npz`` and read as that file: the same images give the same store as that file would.
    """
    module, model_file = None, None
    if model is not None and not isinstance(model, str):  # a model in memory: torch is loaded for it only
        from analysis.models.memory import module_source

        module, (model, recipe, model_file) = model, module_source(model)
        if model == "assignment":  # the course CNN: keyed as the command line keys it, without --model
            model = None
        if recipe and options.get("model_kwargs") is None:  # a library's model: the arguments that build it
            options["model_kwargs"] = recipe
        if checkpoint is not None:
            raise InputError("give either a checkpoint or a model in memory (its weights are the checkpoint), "
                             "not both")
    if model is not None or module is not None:
        options["model"] = model
    data = options.pop("data") if in_memory(options.get("data")) else None
    made = groups("build", options, {"analysis": analysis, "runtime": runtime, "output": output})
    workspace = Workspace(made["output"], log)
    fresh = not workspace.out.exists()
    if data is not None:  # the other options are checked first: a bad one writes nothing
        trains = checkpoint is None and module is None and made["analysis"].model in (None, "assignment")
        made["analysis"] = made["analysis"].replace(
            data=data_in_build_folder(data, made["output"], workspace.log, needs_train=trains))
    try:
        return workspace.build(checkpoint, made["analysis"], made["runtime"], module=module, model_file=model_file,
                               position=position)
    except (InputError, StoreError):
        if fresh and data is not None:  # the folder made for the data file: gone again, as after any refused run
            from report.buildfolder import remove_if_unused

            remove_if_unused(workspace.out)
        raise


def in_memory(data) -> bool:
    """``data`` given as objects (arrays, tensors, a Dataset, a DataLoader) rather than a path."""
    return data is not None and not isinstance(data, (str, Path))


def data_in_build_folder(data, output: OutputOptions, log: Log = None, needs_train: bool = False) -> str:
    """Data given in memory (``analysis.inmemory``: the forms accepted), checked and written once into the build
    folder's cache as ``data-<sha256[:16]>.npz`` (the .npz format's layout): its path, which is then the data
    option, so the store key, the manifest and the report treat it as a file given with ``--data``. The same
    images and labels give the same file, so the same store. torch is not loaded for it. ``needs_train``: the
    default checkpoint will be trained on the data's train split, so they must have one."""
    from analysis.inmemory import data_file
    from report.buildfolder import exclusive

    made = data_file(data)  # refused in one line before anything is written
    if needs_train and not made.train_images:
        raise InputError("the data in memory have no train split, and without a checkpoint or a model the assignment "
                         "CNN is trained on it: give {'train': (images, labels), 'test': (images, labels)}, a "
                         "checkpoint, or model=")
    with exclusive(output.out, output.wait, log or (lambda line: None)):  # a marked build folder, its lock held
        return str(made.write(Path(output.out).resolve() / "cache"))


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
            output: OutputOptions | None = None, pair=None, log: Log = None, **options) -> list[Path]:
    """One report with checkpoints ``a`` and ``b`` side by side (``compare.html``/``.pdf``); their paths. A and B
    may be different models analysed on the same data: ``model``/``model_kwargs`` are A's, ``model_b``/
    ``model_kwargs_b`` B's (default: A's), e.g. ``compare("r18.pt", "mnv3.pt", model="torchvision:resnet18",
    model_b="torchvision:mobilenet_v3_small")``; or ``pair=report.options.PairOptions(...)``."""
    made = groups("compare", options, {"analysis": analysis, "output": output, "pair": pair})
    return Workspace(made["output"], log).compare(a, b, made["analysis"], made["pair"])


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
