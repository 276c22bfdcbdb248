"""What must run for a report: reuse what is up to date, import torch only when analysis must run."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import shutil
import time
from pathlib import Path

from analysis.config import AnalysisConfig, TrainConfig
from analysis.fingerprint import analysis_inputs, default_checkpoint_key, store_key
from analysis.sources import DEFAULT_SOURCE
from analysis.store import MANIFEST, dumps, write_atomic
from analysis.errors import InputError
from report.errors import StoreError
from report.load import read_manifest, verify

PACKAGE_DIR = Path(__file__).resolve().parent
CURRENT_STORE = "current-store.txt"


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
    threads: int = 2   # torch threads of the analysis


@dataclasses.dataclass
class Outcome:
    outputs: list[Path]
    store_dir: Path
    trained: bool = False
    analysed: bool = False
    rendered: bool = False
    seconds: float = 0.0


def log(options: BuildOptions, message: str) -> None:
    if not options.quiet:
        print(message, flush=True)


def default_checkpoint(options: BuildOptions) -> tuple[Path, bool]:
    """The default checkpoint for these data and settings, trained now if absent."""
    key = default_checkpoint_key(options.data, options.train, options.config)
    path = options.out / "checkpoints" / f"default-{key}.pt"
    if path.is_file():
        return path, False
    log(options, f"report: no checkpoint given; training the default model into {path}")
    from analysis.run import train_default

    record = train_default(options.data, options.train, options.config, path, options.out / "cache",
                           show_progress=not options.quiet)
    log(options, f"report: trained {record['config']['epochs']} epochs in {record['seconds']:.1f} s, "
                 f"test accuracy {record['test_accuracy']:.2%}")
    return path, True


def store_is_valid(store_dir: Path) -> bool:
    try:
        verify(store_dir, read_manifest(store_dir))
        return True
    except StoreError:
        return False


def ensure_store(options: BuildOptions, checkpoint: Path | None) -> tuple[Path, bool]:
    inputs = analysis_inputs(checkpoint, options.data, options.config)
    store_dir = options.out / "stores" / store_key(inputs)
    if not options.force and store_is_valid(store_dir):
        return store_dir, False
    what = checkpoint.name if checkpoint else f"{options.config.model} with random weights"
    log(options, f"report: analysing {what} into {store_dir}")
    from analysis.run import analyse

    return analyse(checkpoint, options.data, options.config, options.out / "stores", options.out / "cache",
                   options.threads, inputs), True


def render_fingerprint(store_dir: Path, formats: tuple[str, ...]) -> str:
    """Hash of everything the rendered files depend on: the store, templates, CSS and this package."""
    digest = hashlib.sha256((store_dir / MANIFEST).read_bytes())
    from report.render import TEMPLATE_DIR

    for path in sorted([*TEMPLATE_DIR.iterdir(), *PACKAGE_DIR.rglob("*.py")]):
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    digest.update(json.dumps([str(store_dir), list(formats)]).encode())
    return digest.hexdigest()


def render(out: Path, store_dir: Path, formats: tuple[str, ...], force: bool = False) -> tuple[list[Path], bool]:
    """Write report.html / report.pdf from the store unless they are already up to date."""
    out = Path(out)
    targets = [out / f"report.{fmt}" for fmt in formats]
    fingerprint = render_fingerprint(store_dir, formats)
    record_path = out / "render.json"
    if not force and all(t.is_file() for t in targets) and record_path.is_file():
        if json.loads(record_path.read_text()).get("fingerprint") == fingerprint:
            return targets, False
    from report.context import build_context
    from report.interpret import run_rules
    from report.load import load_findings
    from report.render import write_documents

    findings = load_findings(store_dir)
    notes = run_rules(findings)
    write_documents(out, "report", "report.html.j2", build_context(findings, notes, out, "assets/report.css"),
                    formats)
    write_atomic(out / "notes.json", dumps({"notes": [dataclasses.asdict(n) for n in notes]}))
    write_atomic(record_path, dumps({"fingerprint": fingerprint, "store": str(store_dir)}))
    return targets, True


def build(options: BuildOptions) -> Outcome:
    started = time.perf_counter()
    options.out.mkdir(parents=True, exist_ok=True)
    trained = False
    checkpoint = options.checkpoint
    if checkpoint is None and options.config.model in (None, DEFAULT_SOURCE):
        checkpoint, trained = default_checkpoint(options)
    store_dir, analysed = ensure_store(options, Path(checkpoint) if checkpoint else None)
    write_atomic(options.out / CURRENT_STORE, f"{store_dir.name}\n".encode())
    outputs, rendered = render(options.out, store_dir, options.formats, options.force or analysed)
    return Outcome(outputs, store_dir, trained, analysed, rendered, time.perf_counter() - started)


@contextlib.contextmanager
def exclusive(out: Path, wait: float, log=print):
    """One run at a time per build folder; the holder also clears what killed runs left half-written."""
    from filelock import FileLock, Timeout

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(out / ".lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        log(f"report: another run is using {out}; waiting up to {wait:.0f} s")
        try:
            lock.acquire(timeout=wait)
        except Timeout:
            raise InputError(f"another report run still holds {out}/.lock after {wait:.0f} s: let it finish, "
                             "or give this run another --out") from None
    try:
        remove_leftovers(out)
        yield
    finally:
        lock.release()


def remove_leftovers(out: Path) -> None:
    """Temporary files and folders of runs that were killed (all named with a leading dot)."""
    for folder in (out, out / "stores", out / "series", out / "compares", out / "assets", out / "checkpoints"):
        if not folder.is_dir():
            continue
        for leftover in folder.glob(".*"):
            if leftover.name == ".lock":
                continue
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
            elif leftover.name.endswith(".tmp") or ".stale-" in leftover.name:
                leftover.unlink(missing_ok=True)


def current_store(out: Path) -> Path:
    pointer = Path(out) / CURRENT_STORE
    if not pointer.is_file():
        raise StoreError(f"no analysis in {out} yet: run `make report` first")
    return Path(out) / "stores" / pointer.read_text().strip()

