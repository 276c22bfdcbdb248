"""``python -m report``: the command line, and the orchestrator that drives both stages.

Stage 1 is ``analysis/`` (torch), run only when a store for the current inputs is missing or invalid;
stage 2 is ``report.render`` (read a store, interpret its numbers, render HTML and PDF), which never
imports torch (declared in .importlinter, checked by tests/test_architecture.py).

The Python API (``report.api``) is reachable from here without loading it until used::

    import report
    result = report.build(checkpoint="model.pt", sections="assignment")

``report.rerender`` is ``report.api.render`` (``report.render`` is the render stage's package). The options
are objects too (report.options), and the commands methods of one ``Workspace`` (report.workspace)::

    options = report.AnalysisOptions(classes=[3, 8], seed=1)
    result = report.build(checkpoint="model.pt", analysis=options, formats="html")

No module of this package is named like a command (the watch machinery is ``report.watching``): importing one
would replace the command's name here with the module.
"""

import importlib.util
import sys
from pathlib import Path


def _refuse_a_shadowed_analysis() -> None:
    """The tool is two top-level packages, ``report`` and ``analysis``: a folder of the user's with its own
    ``analysis`` package (or ``analysis.py``) before ours on sys.path, the working folder first of all, would
    be imported in place of ours and fail later as ``No module named 'analysis.config'``. Say so at once.

    Loading ours under the same name instead would hide the user's package from the user's own code (one name,
    one module in sys.modules), so this refuses rather than choosing for them."""
    ours = Path(__file__).resolve().parent.parent / "analysis"
    found = sys.modules.get("analysis")
    spec = found.__spec__ if found is not None else importlib.util.find_spec("analysis")  # imports nothing
    if spec is None:
        return
    packages = list(spec.submodule_search_locations or ())
    where = packages[0] if packages else spec.origin  # a package's folder, or a module's file
    if where and Path(where).resolve() != ours:
        kind = "folder" if packages else "file"
        problem = (f"the {kind} {where} shadows this tool's analysis package ({ours}): rename it or run from "
                   "another folder")
        if _run_as_the_command():
            sys.stderr.write(f"report: error: {problem}\n")
            raise SystemExit(2)
        raise ImportError(problem)


def _run_as_the_command() -> bool:
    """``python -m report`` is importing this package to find its __main__ (runpy sets argv[0] to "-m" while it
    locates the module): there, a bad folder is the command line's one line and exit code 2, not a traceback."""
    given = sys.orig_argv[1:]
    return sys.argv[:1] == ["-m"] and "-m" in given and given[given.index("-m") + 1:][:1] == ["report"]


_refuse_a_shadowed_analysis()

_API = ("build", "rerender", "train", "watch", "batch", "history", "compare", "clean", "Report", "Workspace",
        "AnalysisOptions", "OutputOptions", "RuntimeOptions", "WatchOptions", "SeriesOptions")
_ERRORS = ("ReportError", "InputError", "StoreError", "RenderError", "FailOnError")


def __getattr__(name: str):
    """``report.build`` and the others load report.api on first use: the render stage, which imports this
    package, stays free of it."""
    if name in _API:
        from report import api

        return api.render if name == "rerender" else getattr(api, name)
    if name in _ERRORS:
        from analysis import errors

        return getattr(errors, name)
    raise AttributeError(f"module 'report' has no attribute {name!r}")


__all__ = [*_API, *_ERRORS]
