"""The work behind the commands that are more than one build: re-rendering, a history, a comparison.

Called by ``report.workspace.Workspace`` (which the API and the command line call), inside the build folder's
lock."""

from __future__ import annotations

from pathlib import Path

from analysis.errors import InputError
from report import pipeline
from report.buildfolder import publish


def render_last(out: Path, sections, formats, single_file: bool, force: bool, quiet: bool, log) -> pipeline.Outcome:
    """Re-render the last analysed store of ``out`` (no analysis, no torch)."""
    from report.render.sections import lacking

    store = pipeline.current_store(out)
    missing = lacking(sections, store)  # a part of the analysis these sections show, which the store lacks
    if missing is not None:
        raise InputError(f"the last analysis in {out} has no {missing.called}: run "
                         f"`python -m report --sections {','.join(sections)}` to analyse them first")
    record = pipeline.render_record(out, log)  # read once: the recorded checkpoint name and fingerprint
    name = pipeline.recorded_checkpoint_name(out, store, record)
    plan = pipeline.RenderPlan(out=out, store=store, formats=formats, sections=sections, single_file=single_file,
                               force=force, checkpoint_name=name)
    outputs, rendered = pipeline.render(plan, show_progress=not quiet, log=log, record=record)
    return pipeline.Outcome(outputs, store, Path(name) if name else None, rendered=rendered)


def publish_history(out: Path, series: list[tuple[str, Path]], order: str, formats) -> dict:
    """The history of (checkpoint, store) pairs: its store under ``out/series``, ``history.html``/``.pdf``, their
    notes and the tidy table ``history.csv`` (and ``.parquet``), replaced together."""
    from analysis.history import build as build_history
    from report.render.comparison import render_history
    from report.render.history import rows
    from report.exports import history_files
    from report.render.tables import history_table

    series_dir = build_history(rows(series), out / "series", order)
    documents = render_history(out, series_dir, formats)
    table = history_table(series_dir)
    documents.update(history_files(table, out))
    publish(out, documents, remove=not_written(out, "history", formats))
    return {"outputs": [out / f"history.{kind}" for kind in formats], "table": out / "history.csv",
            "rows": len(table.rows), "checkpoints": len(series), "series": series_dir}


def compare_pair(a: Path, b: Path, options_a: pipeline.BuildOptions, options_b: pipeline.BuildOptions,
                 formats) -> list[Path]:
    """Checkpoints ``a`` and ``b`` side by side: ``compare.html``/``.pdf`` (each analysed unless a store serves).
    ``options_b`` differ from ``options_a`` at most by the model: both sides are analysed on the same data, so
    their per-image results pair up (refused otherwise); parameter drift and kernels only for one architecture."""
    from analysis.compare import build as build_compare
    from report.figures import ensure_figures
    from report.render.comparison import render_compare
    from report.render.load import checkpoint_sha256, load_findings
    from report.render.views.compare_models import same_architecture

    out = options_a.out
    store_a, _ = pipeline.ensure_store(options_a, a)
    store_b, _ = pipeline.ensure_store(options_b, b)
    refuse_other_test_images(a, b, store_a, store_b)
    same = same_architecture(load_findings(store_a, verified=True), load_findings(store_b, verified=True))
    compare_dir = build_compare(a, b, store_a, store_b, out / "compares",
                                checkpoint_sha256(store_a, verified=True), checkpoint_sha256(store_b, verified=True),
                                (side_results(store_a), side_results(store_b)), same_architecture=same)
    if same:  # each store's own kernels, shown when the shared ones are not
        ensure_figures(store_a, ("kernels",)), ensure_figures(store_b, ("kernels",))
    documents = render_compare(out, store_a, store_b, compare_dir, formats)
    publish(out, documents, remove=not_written(out, "compare", formats))
    return [out / f"compare.{kind}" for kind in formats]


def refuse_other_test_images(a: Path, b: Path, store_a: Path, store_b: Path) -> None:
    """A paired comparison needs both stores' results on the same test images in the same order: the data identity
    each store's manifest records (its data files' hashes, how they were split and sized) must be one."""
    from analysis.config import sha256_of_json
    from report.render.load import split_identity

    data_a, data_b = split_identity(store_a, verified=True), split_identity(store_b, verified=True)
    if data_a != data_b:
        raise InputError(f"{a.name} and {b.name} were analysed on different test images (data identity "
                         f"{sha256_of_json(data_a)[:12]} against {sha256_of_json(data_b)[:12]}), so their results "
                         "cannot be paired image by image: analyse both on the same --data")


def side_results(store: Path):
    """What the comparison's statistics need from one analysis store (``analysis.compare.SideResults``), read
    through the report's reader; the store was just validated."""
    from analysis.compare import SideResults
    from report.render.load import load_findings, split_identity

    findings = load_findings(store, verified=True)
    evaluation, embeddings = findings.evaluation, findings.embeddings
    return SideResults(split=split_identity(store, verified=True), correct=evaluation.correct, n=evaluation.n_test,
                       labels=list(evaluation.labels), predicted=list(evaluation.predicted),
                       sample_vectors=[sample.vector for sample in embeddings.samples] if embeddings else [])


def not_written(out: Path, stem: str, formats) -> list[Path]:
    """The documents of an earlier history or comparison in the formats this one does not write: always
    rendered anew, so another format's file is another run's, removed in the same publish step."""
    return [Path(out) / f"{stem}.{kind}" for kind in pipeline.DOCUMENT_FORMATS if kind not in formats]
