"""What must run for a report: reuse what is up to date, import torch only when analysis must run."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import itertools
import json
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from analysis.config import AnalysisConfig, TrainConfig
from analysis.data.files import shown_name
from analysis.models.sources import DEFAULT_SOURCE
from analysis.keys import analysis_inputs, default_checkpoint_key, store_key, with_config
from analysis.store.writer import dumps, sha256_file, write_atomic
from report.buildfolder import CURRENT_STORE, current_store, exclusive, publish  # noqa: F401  re-exported
from report.figures import ensure_figures
from report.render import TEMPLATE_DIR
from analysis.errors import StoreError
from report.render.load import check_analysis_manifest, manifest_bytes, read_manifest, verify
from report.render.sections import ALL, PART_NAMES, figure_groups

PACKAGE_DIR = Path(__file__).resolve().parent
RENDER_RECORD = "render.json"


@dataclasses.dataclass(frozen=True)
class BuildOptions:
    out: Path = Path("build")
    checkpoint: Path | None = None
    data: str | None = None
    config: AnalysisConfig = AnalysisConfig()
    train: TrainConfig = TrainConfig()
    formats: tuple[str, ...] = ("html", "pdf")
    force: bool = False
    quiet: bool = False
    sections: tuple[str, ...] = ALL
    single_file: bool = False   # images and stylesheet inside report.html
    device: str | None = None   # where the analysis runs (cuda:1); None: the config's kind of device
    workers: int | None = None  # DataLoader processes decoding images; None: analysis.batches.default_workers
    dask: str | None = None     # a Dask scheduler to run the whole-split pass on, as shards
    module: object | None = None  # a model in memory (report.api): analysed from a copy instead of built
    model_file: Path | None = None  # its code's file, part of the store key

    # The two ways a build's options are made (report.workspace and the workers of report.series use these, and
    # nothing else makes BuildOptions): from the declared option groups (report.options), or for a store only.
    @classmethod
    def for_report(cls, checkpoint: Path | None, config: AnalysisConfig, analysis, output, runtime,
                   module: object | None = None, model_file: Path | None = None) -> "BuildOptions":
        """A report's build: ``analysis``, ``output`` and ``runtime`` are report.options' groups, ``config`` the
        analysis's record made from them."""
        return cls(out=output.out, checkpoint=checkpoint, data=analysis.data, config=config, train=analysis.train,
                   formats=output.formats, force=output.force, quiet=output.quiet, sections=output.sections,
                   single_file=output.single_file, device=analysis.device, workers=runtime.workers,
                   dask=runtime.dask, module=module, model_file=model_file)

    @classmethod
    def for_store(cls, out: Path, data: str | None, config: AnalysisConfig, quiet: bool = True) -> "BuildOptions":
        """An analysis into a store, with no report rendered from it (``batch``, ``history``, ``compare``)."""
        return cls(out=out, data=data, config=config, quiet=quiet)


@dataclasses.dataclass(frozen=True)
class StorePlan:
    """Which store serves a checkpoint with these options, and whether it must be analysed first."""

    checkpoint: Path | None
    store: Path
    inputs: dict | None = None   # what the analysis hashes; None: the store is valid and is reused

    @property
    def analyse(self) -> bool:
        return self.inputs is not None


@dataclasses.dataclass(frozen=True)
class RenderPlan:
    """What one rendering reads and writes. ``verified``: this run has checked or written the store, so
    its files need not be hashed again; ``checkpoint_name``: the file name shown (stores are keyed on the
    checkpoint's bytes and do not keep it)."""

    out: Path
    store: Path
    formats: tuple[str, ...] = ("html", "pdf")
    sections: tuple[str, ...] = ALL
    single_file: bool = False
    checkpoint_name: str | None = None
    force: bool = False
    verified: bool = False


@dataclasses.dataclass(frozen=True)
class BuildPlan:
    """One build, decided before any work: the store (analysed or reused) and the rendering of it."""

    store: StorePlan
    render: RenderPlan
    trained: bool   # the default checkpoint was trained while planning (its bytes name the store)


@dataclasses.dataclass
class Outcome:
    outputs: list[Path]
    store: Path | None = None
    checkpoint: Path | None = None
    trained: bool = False
    analysed: bool = False
    rendered: bool = False
    seconds: float = 0.0


def logger(options: BuildOptions, log=None):
    """Where a build's progress lines go: ``log`` when given, else stderr unless quiet (stdout carries only
    each command's one-line result)."""
    if log is not None:
        return log
    return (lambda message: None) if options.quiet else (lambda message: print(message, file=sys.stderr, flush=True))


def check_device(options: BuildOptions) -> None:
    """A device asked for but absent is one line (imports torch: only where work is about to start)."""
    if options.config.device != "cpu":
        from analysis.devices import torch_device

        torch_device(options.device or options.config.device)


def default_checkpoint(options: BuildOptions, log=None) -> tuple[Path, bool]:
    """The default checkpoint for these data and settings, trained now if absent or damaged (its sha256
    is kept beside it when it is trained, so checking it needs no torch)."""
    key = default_checkpoint_key(options.data, options.train, options.config)
    path = options.out / "checkpoints" / f"default-{key}.pt"
    digest = path.with_name(path.name + ".sha256")
    if path.is_file() and digest.is_file() and digest.read_text(errors="replace").strip() == sha256_file(path):
        return path, False
    say = logger(options, log)
    if path.exists():
        say(f"report: {path} is damaged or of an earlier version; training it again")
    from analysis.run import train_default

    check_device(options)  # before minutes of training for an analysis that could not run

    record = train_default(options.data, options.train, options.config, path, options.out / "cache",
                           show_progress=not options.quiet,
                           announce=lambda: say(f"report: no checkpoint given; training the default "
                                                f"model into {path}"))
    write_atomic(digest, f"{sha256_file(path)}\n".encode())
    say(f"report: trained {record['config']['epochs']} epochs in {record['seconds']:.1f} s, "
                 f"test accuracy {record['test_accuracy']:.2%}")
    return path, True


def store_is_valid(store_dir: Path) -> bool:
    try:
        manifest = read_manifest(store_dir)
        check_analysis_manifest(store_dir, manifest)
        verify(store_dir, manifest)
        return True
    except StoreError:
        return False


def ensure_store(options: BuildOptions, checkpoint: Path | None) -> tuple[Path, bool]:
    """A valid store for these inputs, analysed now if there is none; whether it was."""
    plan = plan_store(options, checkpoint)
    return (analyse(options, plan) if plan.analyse else plan.store), plan.analyse


def plan_store(options: BuildOptions, checkpoint: Path | None) -> StorePlan:
    """The store for these inputs, with the inputs to analyse when it is missing or invalid. A store with
    the whole-split analysis also serves a run that does not need it."""
    inputs = analysis_inputs(checkpoint, options.data, options.config, options.model_file)
    store_dir = options.out / "stores" / store_key(inputs)
    if options.force:
        return StorePlan(checkpoint, store_dir, inputs)
    if store_is_valid(store_dir):
        return StorePlan(checkpoint, store_dir)
    for fuller_config in fuller_configs(options.config):
        fuller_dir = options.out / "stores" / store_key(with_config(inputs, fuller_config))
        if store_is_valid(fuller_dir):
            return StorePlan(checkpoint, fuller_dir)
    return StorePlan(checkpoint, store_dir, inputs)


PARTS = PART_NAMES  # the parts of an analysis that --sections can leave out (the section registry's)


def fuller_configs(config) -> list:
    """The same analysis with more of its parts, fullest first: a store of any of them serves this run."""
    missing = [part for part in PARTS if not getattr(config, part)]
    combos = [dict(zip(missing, flags)) for flags in itertools.product((True, False), repeat=len(missing))]
    return [dataclasses.replace(config, **combo) for combo in combos if any(combo.values())]


def analyse(options: BuildOptions, plan: StorePlan, log=None) -> Path:
    """Run the analysis the plan calls for (torch is imported here, and only here)."""
    checkpoint = plan.checkpoint
    what = checkpoint.name if checkpoint else f"{options.config.model} with random weights"
    say = logger(options, log)
    from analysis.stats import ahead  # torch-free: its helper imports the statistics while torch is imported here

    with ahead.started(wanted=not options.config.whole_split):  # the whole-split statistics import them here anyway
        from analysis.run import analyse as run_analysis

        return run_analysis(checkpoint, options.data, options.config, options.out / "stores", options.out / "cache",
                            plan.inputs, show_progress=not options.quiet,
                            announce=lambda: say(f"report: analysing {what} into {plan.store}"),
                            device=options.device, workers=options.workers, dask=options.dask,
                            module=options.module)


def render_code() -> list[Path]:
    """The files a rendering depends on besides the store: the templates and stylesheet, and the code of
    this package, the render stage (report/render/) included."""
    return sorted(path for path in [*TEMPLATE_DIR.iterdir(), *PACKAGE_DIR.rglob("*.py")] if path.is_file())


def render_fingerprint(store_dir: Path, formats: tuple[str, ...], sections: tuple[str, ...],
                       single_file: bool = False, checkpoint_name: str | None = None) -> str:
    """Hash of everything the rendered files depend on: the store, templates, CSS, this package, and the
    checkpoint's file name (presentation only: the store is keyed on the checkpoint's bytes)."""
    digest = hashlib.sha256(manifest_bytes(store_dir))
    for path in render_code():  # named by the path inside the repository: several files are __init__.py
        digest.update(path.relative_to(PACKAGE_DIR.parent).as_posix().encode() + b"\0" + path.read_bytes())
    digest.update(json.dumps([str(store_dir), list(formats), list(sections), single_file,
                              checkpoint_name]).encode())
    return digest.hexdigest()


def render_record(out: Path, log=None) -> dict:
    """What the last rendering recorded (render.json); a damaged record counts as none."""
    path = Path(out) / RENDER_RECORD
    if not path.is_file():
        return {}
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        record = None
    if not isinstance(record, dict):
        if log:
            log(f"report: {path} is damaged; rendering again")
        return {}
    return record


def recorded_checkpoint_name(out: Path, store_dir: Path, record: dict | None = None) -> str | None:
    """The checkpoint name kept with this store's last rendering in ``out`` (``render`` re-renders without
    the checkpoint at hand)."""
    record = render_record(out) if record is None else record
    recorded = record.get("checkpoint") if record.get("store") == str(store_dir) else None
    return recorded if isinstance(recorded, str) else None


def up_to_date(plan: RenderPlan, record: dict, fingerprint: str) -> bool:
    targets = [plan.out / f"report.{fmt}" for fmt in plan.formats]
    pointer = plan.out / CURRENT_STORE
    return (not plan.force and all(t.is_file() for t in targets) and record.get("fingerprint") == fingerprint
            and pointer.is_file() and pointer.read_text(errors="replace").strip() == plan.store.name)


def render(plan: RenderPlan, pdf_job=None, show_progress: bool = False, log=None,
           record: dict | None = None, html_first: bool = False) -> tuple[list[Path], bool]:
    """Write report.html / report.pdf from the plan's store unless they are already up to date (``pdf_job``:
    a PDF worker started earlier, see render.documents.PdfJob and PdfServer; ``record``: render.json when the
    caller has read it already). The documents, their notes, tables and summary, render.json and
    current-store.txt are replaced together (buildfolder.publish). ``html_first`` (``watch``): the HTML and all
    but the PDF are published as soon as they are made, the PDF once it is laid out."""
    out, store_dir = Path(plan.out), Path(plan.store)
    # the images of the sections shown, drawn from the store's arrays when missing or drawn by other code (no torch)
    ensure_figures(store_dir, figure_groups(plan.sections), log)
    targets = [out / f"report.{fmt}" for fmt in plan.formats]
    record = render_record(out, log) if record is None else record
    fingerprint = render_fingerprint(store_dir, plan.formats, plan.sections, plan.single_file, plan.checkpoint_name)
    if up_to_date(plan, record, fingerprint):
        return targets, False
    from tqdm import tqdm

    from report.render.documents import PdfJob, render_documents

    previous = previous_store(out, store_dir, record)
    stale, kept = other_documents(plan, record)
    wants_pdf = "pdf" in plan.formats
    with PdfJob.ahead(out, pdf_job is None and wants_pdf) as own_job, \
            tqdm(total=3, desc="rendering", unit="step", leave=False, disable=None if show_progress else True) as bar:
        pages = page_files(plan, out, store_dir, previous)
        bar.update()
        bar.set_postfix_str(" and ".join(plan.formats))
        bar.update()
        first = ("html",) if html_first and wants_pdf else plan.formats
        documents = render_documents(out, "report", "report.html.j2", pages.context, first, pdf_job or own_job,
                                     plan.single_file) if "html" in first or "pdf" in first else {}
        documents.update(pages.files)
        record_of = {"fingerprint": fingerprint, "store": str(store_dir), "checkpoint": plan.checkpoint_name,
                     "previous": previous, "documents": {**kept, **{f: document_identity(plan) for f in plan.formats}}}
        documents[out / CURRENT_STORE] = f"{store_dir.name}\n".encode()
        if first != plan.formats:  # the HTML now, under a record that says the PDF is still to come
            documents[out / RENDER_RECORD] = dumps({**record_of, "fingerprint": None})
            publish(out, documents, remove=stale)
            documents = render_documents(out, "report", "report.html.j2", pages.context, ("pdf",),
                                         pdf_job or own_job, plan.single_file)
        documents.update(pages.tables.result())  # the tables folder comes whole, with the last documents
        bar.update()
    documents[out / RENDER_RECORD] = dumps(record_of)
    publish(out, documents, remove=[*stale, *tables_not_written(out, documents)])
    return targets, True


DOCUMENT_FORMATS = ("html", "pdf")


def tables_not_written(out: Path, documents: dict[Path, bytes]) -> list[Path]:
    """Tables of an earlier report that this one does not have (a section left out, another model): left in
    tables/ they would pass for this report's."""
    from report.render.tables import TABLE_FILES

    folder = Path(out) / "tables"
    return [folder / name for name in TABLE_FILES if (folder / name).is_file() and folder / name not in documents]


def document_identity(plan: RenderPlan) -> dict:
    """What a report document shows: the store, the sections and the checkpoint's name."""
    return {"store": str(plan.store), "sections": list(plan.sections), "checkpoint": plan.checkpoint_name}


def other_documents(plan: RenderPlan, record: dict) -> tuple[list[Path], dict]:
    """The documents of the formats this rendering does not write: (stale ones, to remove in the same publish
    step, {format: identity} of those that still show what this rendering shows). ``--format html`` after a
    build of another checkpoint must not leave that build's report.pdf beside the new report.html."""
    recorded = record.get("documents") if isinstance(record.get("documents"), dict) else {}
    stale, kept = [], {}
    for kind in DOCUMENT_FORMATS:
        path = Path(plan.out) / f"report.{kind}"
        if kind in plan.formats or not path.is_file():
            continue
        if recorded.get(kind) == document_identity(plan):
            kept[kind] = recorded[kind]
        else:
            stale.append(path)
    return stale, kept


@dataclasses.dataclass(frozen=True)
class Pages:
    """What one rendering writes besides the documents: their context, the files that go with them, and the
    tables folder's files (CSV, Parquet, index), which a thread makes while the documents are laid out: Parquet
    needs pyarrow, whose import the wait for the PDF worker hides."""

    context: object
    files: dict[Path, bytes]
    tables: Future


def page_files(plan: RenderPlan, out: Path, store_dir: Path, previous: str | None) -> Pages:
    """The context of the report, and its notes, tables (CSV, Parquet) and Markdown summary."""
    from report.exports import table_files
    from report.render.alerts import alerts
    from report.render.context import build_context, key_findings
    from report.render.sections import run_rules
    from report.render.load import load_findings
    from report.render.summary import markdown
    from report.render.tables import report_tables

    findings = load_findings(store_dir, plan.verified, plan.checkpoint_name)
    notes = run_rules(findings)
    context = build_context(findings, notes, out, "assets/report.css", plan.sections)
    shown = {s.id for s in context.sections}
    found = alerts(findings)
    files = {out / "notes.json": dumps({"notes": [dataclasses.asdict(n) for n in notes]})}
    files[out / "summary.md"] = markdown(findings, notes, found, key_findings([n for n in notes if n.section in shown]),
                                         previous_summary(out, previous)).encode()
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="report-tables")
    tables = pool.submit(table_files, report_tables(findings, tuple(shown)), out, store_dir.name)
    pool.shutdown(wait=False)  # the thread ends with its one task
    return Pages(context, files, tables)


def previous_store(out: Path, store_dir: Path, record: dict) -> str | None:
    """The store of the report this rendering replaces (kept across re-renderings of the same store), for the
    summary's comparison with the previous checkpoint."""
    pointer = Path(out) / CURRENT_STORE
    current = pointer.read_text(errors="replace").strip() if pointer.is_file() else None
    if current and current != store_dir.name:
        return current
    kept = record.get("previous") if record.get("store") == str(store_dir) else None
    return kept if isinstance(kept, str) else None


def previous_summary(out: Path, name: str | None):
    """The headline numbers of a store named by ``previous_store``; None when it is gone or not valid."""
    if not name or Path(name).name != name:
        return None
    from report.render.load import load_findings
    from report.render.summary import summarise

    try:
        return summarise(load_findings(Path(out) / "stores" / name))
    except StoreError:
        return None


def plan_build(options: BuildOptions, log=None) -> BuildPlan:
    """Decide the whole build: which checkpoint (training the default one when none is given: the store is
    named by its bytes), which store and whether it must be analysed, and what is rendered from it."""
    trained = False
    checkpoint = options.checkpoint
    if checkpoint is None and options.config.model in (None, DEFAULT_SOURCE):
        checkpoint, trained = default_checkpoint(options, log)
    checkpoint = Path(checkpoint) if checkpoint else None
    store = plan_store(options, checkpoint)
    rendering = RenderPlan(out=options.out, store=store.store, formats=options.formats, sections=options.sections,
                           single_file=options.single_file, checkpoint_name=shown_name(checkpoint.name) if checkpoint else None,
                           force=options.force or store.analyse, verified=True)
    return BuildPlan(store, rendering, trained)


def build(options: BuildOptions, log=None, pdf_job=None, html_first: bool = False) -> Outcome:
    """One build: train the default checkpoint if needed, analyse if no valid store serves, render if the
    documents are not up to date. ``pdf_job``: a PDF worker kept between builds and ``html_first``: the HTML
    published before the PDF is laid out (both for ``watch``)."""
    started = time.perf_counter()
    options.out.mkdir(parents=True, exist_ok=True)
    plan = plan_build(options, log)
    say = logger(options, log)
    ahead = contextlib.nullcontext(pdf_job)
    if pdf_job is None and plan.store.analyse and "pdf" in options.formats:
        from report.render.documents import PdfJob  # Jinja2 and WeasyPrint are imported only when work is due

        ahead = PdfJob.ahead(options.out)  # its start-up overlaps the analysis
    with ahead as job:
        if plan.store.analyse:
            analyse(options, plan.store, log)
        outputs, rendered = render(plan.render, job, show_progress=not options.quiet,
                                   log=None if options.quiet and log is None else say, html_first=html_first)
    return Outcome(outputs, plan.store.store, plan.store.checkpoint, plan.trained, plan.store.analyse, rendered,
                   time.perf_counter() - started)
