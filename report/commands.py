"""The work behind each ``python -m report`` command other than build, render and train."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from analysis.config import AnalysisConfig, TrainConfig
from analysis.errors import InputError
from report import pipeline
from report.buildfolder import publish


def build_options(args: argparse.Namespace, config: AnalysisConfig,
                  checkpoint: Path | None = None) -> pipeline.BuildOptions:
    """The options of one build, from the command line (build, watch, compare)."""
    return pipeline.BuildOptions(out=args.out, checkpoint=checkpoint, data=args.data, config=config,
                                 train=TrainConfig(epochs=args.epochs), formats=args.format, force=args.force,
                                 quiet=args.quiet, sections=getattr(args, "sections", pipeline.ALL),
                                 single_file=args.single_file, device=args.device,
                                 workers=getattr(args, "workers", None) if args.command in ("build", "watch") else None,
                                 dask=getattr(args, "dask", None) if args.command == "build" else None)


def render(args: argparse.Namespace, log) -> int:
    """Re-render the last analysed store of ``args.out`` (no analysis, no torch)."""
    from analysis.store.schema import SAMPLED
    from report.render.load import has_document, has_whole_split
    from report.render.sections import ALL, needs_document, needs_whole_split

    started = time.perf_counter()
    store = pipeline.current_store(args.out)
    if args.sections != ALL and needs_whole_split(args.sections) and not has_whole_split(store):
        raise InputError(f"the last analysis in {args.out} has no whole-split results: run "
                         f"`python -m report --sections {','.join(args.sections)}` to analyse them first")
    lacking = [d for d in SAMPLED if args.sections != ALL and needs_document(args.sections, d)
               and not has_document(store, d)]
    if lacking:
        raise InputError(f"the last analysis in {args.out} has no {lacking[0].removesuffix('.json')}: run "
                         f"`python -m report --sections {','.join(args.sections)}` to analyse them first")
    record = pipeline.render_record(args.out, log)  # read once: the recorded checkpoint name and fingerprint
    plan = pipeline.RenderPlan(out=args.out, store=store, formats=args.format, sections=args.sections,
                               single_file=args.single_file, force=args.force,
                               checkpoint_name=pipeline.recorded_checkpoint_name(args.out, store, record))
    outputs, rendered = pipeline.render(plan, show_progress=not args.quiet, log=log, record=record)
    if not args.quiet:
        state = "rendered" if rendered else "up to date"
        print(f"report: {state}: {' and '.join(map(str, outputs))} ({time.perf_counter() - started:.1f} s)")
    return 0


def watch(args: argparse.Namespace, config: AnalysisConfig) -> int:
    from report.watch import serve
    from report.watch import watch as run_watch

    log = (lambda message: None) if args.quiet else (lambda message: print(message, file=sys.stderr, flush=True))
    server = serve(args.out, args.serve) if args.serve else None
    if server:
        args.out.mkdir(parents=True, exist_ok=True)
        log(f"report: serving {args.out} at http://127.0.0.1:{server.server_address[1]}/report.html")

    def build_one(checkpoint: Path) -> None:
        outcome = pipeline.build(build_options(args, config, checkpoint))
        if not args.quiet:  # a result: stdout, while the watch's own messages go to stderr
            print(f"report: {checkpoint.name}: {' and '.join(map(str, outcome.outputs))} ({outcome.seconds:.1f} s)",
                  flush=True)

    try:
        run_watch(args.folder, build_one, settle=args.settle, interval=args.interval,
                  max_builds=args.max_builds, timeout=args.timeout, log=log)
    finally:
        if server:
            server.shutdown()
    return 0


def batch(args: argparse.Namespace, config: AnalysisConfig) -> int:
    from report.series import checkpoints_in, run_batch

    started = time.perf_counter()
    checkpoints = checkpoints_in(args.folder)
    results = run_batch(checkpoints, args.data, config, args.out, args.workers, args.dask)
    if not args.quiet:
        for row in results:
            print(f"report: {Path(row['checkpoint']).name}: {'analysed' if row['analysed'] else 'cached'} "
                  f"-> {row['store']}")
        print(f"report: {len(results)} checkpoints in {time.perf_counter() - started:.1f} s")
    return 0


def history(args: argparse.Namespace, config: AnalysisConfig) -> int:
    from analysis.history import build as build_history
    from report.render.comparison import render_history
    from report.render.history import rows
    from report.series import checkpoints_in, run_batch

    started = time.perf_counter()
    results = run_batch(checkpoints_in(args.folder), args.data, config, args.out, args.workers, args.dask)
    series_dir = build_history(rows([(r["checkpoint"], Path(r["store"])) for r in results]),
                               args.out / "series", args.order)
    documents = render_history(args.out, series_dir, args.format)
    outputs = publish_documents(args.out, "history", documents, args.format)
    if not args.quiet:
        print(f"report: history of {len(results)} checkpoints: {' and '.join(map(str, outputs))} "
              f"({time.perf_counter() - started:.1f} s)")
    return 0


def compare(args: argparse.Namespace, config: AnalysisConfig) -> int:
    from report.render.comparison import render_compare

    started = time.perf_counter()
    a, b = args.checkpoints
    store_a, _ = pipeline.ensure_store(build_options(args, config), a)
    store_b, _ = pipeline.ensure_store(build_options(args, config), b)
    from analysis.compare import build as build_compare
    from report.render.load import checkpoint_sha256, model_identity

    model_a, model_b = model_identity(store_a), model_identity(store_b)
    if model_a != model_b:  # parameter drift between two architectures is noise
        raise InputError(f"compare needs two checkpoints of one model: {a.name} is {model_a[0]}, "
                         f"{b.name} is {model_b[0]}; compare checkpoints of the same architecture")

    compare_dir = build_compare(a, b, store_a, store_b, args.out / "compares",
                                checkpoint_sha256(store_a, verified=True), checkpoint_sha256(store_b, verified=True))
    documents = render_compare(args.out, store_a, store_b, compare_dir, args.format)
    outputs = publish_documents(args.out, "compare", documents, args.format)
    if not args.quiet:
        print(f"report: compared {a.name} and {b.name}: {' and '.join(map(str, outputs))} "
              f"({time.perf_counter() - started:.1f} s)")
    return 0


def publish_documents(out: Path, stem: str, documents: dict[Path, bytes], formats) -> list[Path]:
    """Rendered documents and their notes, replaced together; the documents' paths."""
    publish(out, documents)
    return [out / f"{stem}.{kind}" for kind in formats]
