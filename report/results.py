"""What a build made: ``Report``, the result of ``report.build``, ``report.rerender`` and each build of ``watch``."""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path


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
