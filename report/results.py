"""What a build made: ``Report``, the result of ``report.build``, ``report.rerender`` and each build of ``watch``."""

from __future__ import annotations

import dataclasses
import functools
import html
from pathlib import Path
from urllib.parse import quote


@dataclasses.dataclass
class Report:
    """What a build made: where the files are, and the numbers in them (loaded from the store when first
    asked for, without torch).

    In a notebook it shows itself as a small block: the headline numbers, the alerts and links to the documents.
    ``table(name)`` reads one table of the report (a name of ``tables``) as a pandas DataFrame, and ``frames``
    all of them; pandas (the ``notebook`` extra) is imported only then."""

    out: Path                      # the build folder
    store: Path                    # the artifact store the report was rendered from
    outputs: dict[str, Path]       # "html" / "pdf" -> the document
    checkpoint: Path | None        # the checkpoint analysed (None: random weights)
    trained: bool = False          # the default checkpoint was trained by this call
    analysed: bool = False         # the analysis ran (False: a valid store was reused)
    rendered: bool = False         # the documents were written (False: already up to date)
    seconds: float = 0.0

    @classmethod
    def of(cls, out: Path, formats: tuple[str, ...], outcome, seconds: float) -> "Report":
        """The report of a build or a rendering (``report.pipeline.Outcome``) into ``out`` in ``formats``."""
        return cls(out=out, store=outcome.store, outputs={kind: out / f"report.{kind}" for kind in formats},
                   checkpoint=outcome.checkpoint, trained=outcome.trained, analysed=outcome.analysed,
                   rendered=outcome.rendered, seconds=seconds)

    @functools.cached_property
    def findings(self):
        """Every stored number, typed (``report.render.findings.Findings``)."""
        from analysis.data.paths import shown_name
        from report.render.load import load_findings

        return load_findings(self.store, verified=True,
                             checkpoint_name=shown_name(self.checkpoint.name) if self.checkpoint else None)

    @functools.cached_property
    def notes(self) -> list:
        """The interpretation sentences, each with its rule, branch and evidence (``Note``)."""
        from report.render.sections import run_rules

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

    def table(self, name: str):
        """The report's table ``name`` (a key of ``tables``) as a ``pandas.DataFrame``: read from its Parquet
        file, typed as stored (a class named "6" stays text), or from its CSV when there is no Parquet file."""
        from analysis.errors import InputError

        pandas = _pandas()
        csv = self.tables.get(name)
        if csv is None:
            known = ", ".join(self.tables) or "none: build the report first"
            raise InputError(f"no table {name!r} in {self.out}: the tables are {known}")
        parquet = csv.with_suffix(".parquet")
        return pandas.read_parquet(parquet) if parquet.is_file() else pandas.read_csv(csv)

    @property
    def frames(self) -> dict:
        """Every table of the report as a ``pandas.DataFrame``, by table id (read when asked for)."""
        return {name: self.table(name) for name in self.tables}

    def _repr_html_(self) -> str:
        """Jupyter's view of a build: the headline numbers, the alerts and links to the documents, all escaped
        (class and file names come from the data)."""
        from analysis.errors import ReportError

        parts = [f"<div class=\"cnn-report\"><strong>Report</strong> of {_text(self._checkpoint_label())}"]
        try:
            parts += [_numbers(self.summary), _alert_list(self.alerts)]
        except (ReportError, OSError) as problem:  # a display must not fail: the store may be cleaned since
            parts.append(f"<p>Numbers unavailable: {_text(problem)}</p>")
        links = [f"<a href=\"{_text(_href(path))}\" target=\"_blank\">{_text(kind.upper())}</a>"
                 for kind, path in self.outputs.items()]
        if links:
            parts.append(f"<p>Documents: {' · '.join(links)}</p>")
        return "\n".join(parts) + "\n</div>"

    def _checkpoint_label(self) -> str:
        return self.checkpoint.name if self.checkpoint else "random weights"


def _pandas():
    """pandas, which only ``table`` and ``frames`` need: an optional extra, never loaded by a build."""
    try:
        import pandas
    except ImportError:
        from analysis.errors import InputError

        raise InputError("pandas is not installed: pip install 'cnn-report[notebook]' (or pip install pandas)"
                         ) from None
    return pandas


def _text(value) -> str:
    return html.escape(str(value), quote=True)


def _href(path: Path) -> str:
    """A link a notebook can follow: relative paths stay relative to its folder, absolute ones become file URIs."""
    return path.as_uri() if path.is_absolute() else quote(path.as_posix())


def _numbers(summary) -> str:
    from report.render import fmt

    counts = f"{fmt.integer(summary.correct)} of {fmt.integer(summary.n_test)}"
    accuracy = (f"{fmt.percent_ci(summary.accuracy, *summary.accuracy_interval)}, {counts}"
                if summary.accuracy_interval else f"{fmt.percent(summary.accuracy)} ({counts})")
    rows = [("Model", summary.model), ("Test accuracy", accuracy),
            ("Parameters", f"{fmt.integer(summary.parameters)} ({fmt.integer(summary.trainable)} trainable)"),
            ("Multiply-accumulates per image", fmt.count(summary.macs) + ("" if summary.macs_complete
                                                                           else " (at least)"))]
    if summary.euclidean_ratio is not None:
        rows.append(("Separation (inter/intra, Euclidean)", fmt.ratio(summary.euclidean_ratio)))
    elif summary.separation_ratio is not None:
        rows.append((f"Separation (inter/intra, {summary.metric})", fmt.ratio(summary.separation_ratio)))
    if summary.two_sample_ratio is not None:
        rows.append(("Two-sample separation (MSE)", fmt.ratio(summary.two_sample_ratio)))
    cells = "".join(f"<tr><th style=\"text-align:left\">{_text(name)}</th><td>{_text(value)}</td></tr>"
                    for name, value in rows)
    return f"<table>{cells}</table>"


def _alert_list(found: list) -> str:
    if not found:
        return "<p>No alerts.</p>"
    items = "".join(f"<li><strong>{_text(a.level)}</strong>: {_text(a.text)}</li>" for a in found)
    return f"<ul>{items}</ul>"
