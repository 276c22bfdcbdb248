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
