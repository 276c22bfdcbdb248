"""The build folder: only folders this tool made (or empty ones) are used, only what it made is deleted,
outputs of one build are replaced together, and damaged state files never block a run."""

import hashlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from conftest import ROOT, run_cli, run_main

from analysis.errors import InputError
from analysis.store.writer import TMP_PREFIX, file_mode, stage_file, write_atomic
from report import buildfolder
from report.buildfolder import JOURNAL, MARKER, clean, clean_leftovers, prepare, publish, recover


def tree(folder: Path) -> dict[str, bytes | None]:
    """Every entry below ``folder`` (hidden ones too), with file contents."""
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None)
            for p in sorted(folder.rglob("*"))}


def plant_sentinels(folder: Path) -> dict[str, bytes | None]:
    """Hidden files and folders a user might keep, named like the temporary files of older versions."""
    for sub in ("", "stores", "assets"):
        base = folder / sub
        base.mkdir(parents=True, exist_ok=True)
        (base / ".ssh").mkdir(exist_ok=True)
        (base / ".ssh" / "id_ed25519").write_text("secret")
        (base / ".notes.tmp").write_text("mine")
        (base / ".old.stale-1").write_text("mine too")
    return tree(folder)


# --- which folders may be a build folder ------------------------------------------------------------

def test_a_folder_with_foreign_files_is_refused_and_left_as_it_was(tmp_path):
    victim = tmp_path / "home-like"
    before = plant_sentinels(victim)
    result = run_main("render", "--out", str(victim))
    assert result.returncode == 2
    assert result.stderr.strip() == (f"report: error: --out {victim} already holds files this tool did not make "
                                     "(.notes.tmp, .old.stale-1, .ssh, assets, stores): give a new or empty folder, "
                                     "or a build folder made by this tool")
    assert tree(victim) == before


def test_out_dot_in_a_clone_is_refused_and_deletes_nothing(tmp_path):
    clone = tmp_path / "clone"
    for name in (".git", ".github", ".ci"):
        (clone / name).mkdir(parents=True)
        (clone / name / "keep").write_text(name)
    (clone / ".gitignore").write_text("/build/\n")
    before = tree(clone)
    result = run_main("--out", ".", "--sections", "parameters", cwd=clone, env={"PYTHONPATH": str(ROOT)})
    assert result.returncode == 2 and "already holds files this tool did not make" in result.stderr
    assert tree(clone) == before


@pytest.mark.parametrize("where, problem", [("/", "is the root of the file system"), ("HOME", "is your home folder")])
def test_the_root_and_the_home_folder_are_refused(tmp_path, where, problem):
    home = tmp_path / "home"
    home.mkdir()
    out = str(home) if where == "HOME" else where
    result = run_main("render", "--out", out, env={"HOME": str(home)})
    assert result.returncode == 2 and problem in result.stderr
    assert list(home.iterdir()) == []  # not even a lock file


def test_a_file_as_out_is_refused(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("keep")
    result = run_main("render", "--out", str(path))
    assert result.returncode == 2 and "is a file, not a folder" in result.stderr
    assert path.read_text() == "keep"


def test_new_and_empty_folders_are_marked_and_earlier_build_folders_adopted(tmp_path):
    for folder in (tmp_path / "new" / "deeper", tmp_path / "empty"):
        if folder.name == "empty":
            folder.mkdir()
        prepare(folder)
        assert (folder / MARKER).is_file()
        assert (folder / "CACHEDIR.TAG").read_text().startswith("Signature: 8a477f597d28d172789f06886806bc55")
    earlier = tmp_path / "earlier"
    store = earlier / "stores" / "0123456789abcdef"
    store.mkdir(parents=True)
    (store / "manifest.json").write_text(json.dumps({"schema_version": 3, "files": {}}))
    (earlier / "current-store.txt").write_text("0123456789abcdef\n")
    (earlier / "report.html").write_text("<p>")
    prepare(earlier)
    assert (earlier / MARKER).is_file()


@pytest.mark.parametrize("names", [("cache",), (".lock",), ("stores", "report.html"), ("render.json",)])
def test_a_folder_that_only_looks_like_a_build_folder_is_refused(tmp_path, names):
    """Names prove nothing: a user's shop/stores/list.csv and shop/report.html are not this tool's."""
    folder = tmp_path / "shop"
    for name in names:
        if "." in name:
            write_atomic(folder / name, b"mine")
        else:
            write_atomic(folder / name / "list.csv", b"mine")
    (folder / "current-store.txt").write_text("stores\n") if "stores" in names else None
    before = tree(folder)
    with pytest.raises(InputError, match="did not make"):
        prepare(folder)
    assert tree(folder) == before


# --- only what the tool made is deleted ---------------------------------------------------------------

def test_clean_up_after_killed_runs_removes_only_names_with_the_tools_prefix(tmp_path):
    out = prepare(tmp_path / "out")
    before = plant_sentinels(out)
    ours = [out / f"{TMP_PREFIX}report.html.abc.tmp", out / "stores" / f"{TMP_PREFIX}0123.xyz",
            out / "stores" / ".report-stale.0123.77"]
    ours[0].write_text("half")
    for folder in ours[1:]:
        (folder / "images").mkdir(parents=True)
        (folder / "images" / "a.png").write_bytes(b"png")
    removed = clean_leftovers(out)
    assert sorted(removed) == sorted(ours)
    assert tree(out) == before


def test_clean_removes_only_what_the_tool_wrote(tmp_path):
    out = prepare(tmp_path / "out")
    store = out / "stores" / "0123456789abcdef"
    store.mkdir(parents=True)
    (store / "manifest.json").write_text(json.dumps({"schema_version": 3, "files": {}, "key": store.name}))
    (out / "report.html").write_text(TOOLS_HTML)
    (out / "checkpoints").mkdir()
    default = out / "checkpoints" / "default-0123456789abcdef.pt"
    default.write_bytes(b"w")
    (out / "checkpoints" / "default-0123456789abcdef.pt.sha256").write_text(hashlib.sha256(b"w").hexdigest() + "\n")
    module = out / "checkpoints" / f"module-{hashlib.sha256(b'm').hexdigest()[:16]}.pt"
    module.write_bytes(b"m")
    epoch = out / "training" / f"epoch-0003-{hashlib.sha256(b'e').hexdigest()[:16]}.pt"
    write_atomic(epoch, b"e")
    table = out / "cache" / "parquet" / f"table-{'a' * 32}.parquet"
    write_atomic(table, b"PAR1")
    # A user's files, some named like the tool's but not by its exact pattern, or not holding the bytes
    # their name records: every one stays.
    mine = {"my-notes.md": "keep", "stores/my-notes.txt": "keep", "checkpoints/epoch9.pt": "keep",
            "series/thesis.tex": "keep", "assets/logo.png": "keep", "checkpoints/module-best.pt": "keep",
            "training/epoch-final.pt": "keep", "cache/parquet/my-notes.txt": "keep",
            "checkpoints/default-0123.pt": "keep", "checkpoints/module-0123456789abcdef.pt": "keep",
            "training/epoch-0001-0123456789abcdef.pt": "keep", "cache/parquet/table-1.parquet": "keep",
            "stores/fedcba9876543210/manifest.json": json.dumps({"schema_version": 3, "files": {}, "key": "other"})}
    for name, text in mine.items():
        write_atomic(out / name, text.encode())
    removed, kept = clean(out)
    assert "report.html" in removed and "stores/0123456789abcdef" in removed
    assert {"checkpoints/default-0123456789abcdef.pt", "checkpoints/default-0123456789abcdef.pt.sha256",
            f"checkpoints/{module.name}", f"training/{epoch.name}", f"cache/parquet/{table.name}"} <= set(removed)
    assert sorted(kept) == sorted(["stores/fedcba9876543210" if n.startswith("stores/fedc") else n for n in mine])
    assert {name: (out / name).read_text() for name in mine} == mine
    for name in mine:
        (out / name).unlink()
    (out / "stores" / "fedcba9876543210").rmdir()
    clean(out)
    assert not out.exists()  # this tool created it and only its own files were left: removed with them


TOOLS_HTML = '<!DOCTYPE html><meta name="author" content="report — CNN analysis"><p>'  # as page.html.j2 starts


def _store(out, key="0123456789abcdef", extra=None):
    store = out / "stores" / key
    write_atomic(store / "images" / "a.png", b"png")
    files = {"images/a.png": hashlib.sha256(b"png").hexdigest()}
    (store / "manifest.json").write_text(json.dumps({"schema_version": 4, "files": files, "key": key}))
    for name, data in (extra or {}).items():
        write_atomic(store / name, data)
    return store


LOOK_ALIKES = {  # a user's entries that only look like the tool's: each must survive `clean`
    "notes in a store": lambda out: _store(out, extra={"mynotes.txt": b"mine"}),
    "a folder in a store": lambda out: _store(out, extra={"mine/a.txt": b"mine"}),
    "CACHEDIR.TAG a folder": lambda out: ((out / "CACHEDIR.TAG").unlink(), write_atomic(out / "CACHEDIR.TAG" / "u.txt", b"u")),
    "journal a folder": lambda out: write_atomic(out / ".report-journal.json" / "u.txt", b"u"),
    "cache/matplotlib a file": lambda out: write_atomic(out / "cache" / "matplotlib", b"mine"),
    "cache/parquet a file": lambda out: write_atomic(out / "cache" / "parquet", b"mine"),
    "a cached table that is no Parquet": lambda out: write_atomic(out / "cache" / "parquet" / f"table-{'0' * 32}.parquet", b"mine"),
    "a user's notes saved as report.pdf": lambda out: write_atomic(out / "report.pdf", b"my notes"),
    "a user's table saved as history.csv": lambda out: write_atomic(out / "history.csv", b"a,b\n1,2\n"),
    "a user's page saved as history.html": lambda out: write_atomic(out / "history.html", b"<p>mine</p>"),
    "a store named like a key whose manifest names another": lambda out: _store(out).joinpath("manifest.json").write_text(
        json.dumps({"schema_version": 4, "files": {}, "key": "fedcba9876543210"})),
}


@pytest.mark.parametrize("case", LOOK_ALIKES, ids=list(LOOK_ALIKES))
def test_clean_keeps_what_only_looks_like_the_tools(tmp_path, case):
    out = prepare(tmp_path / "out")
    LOOK_ALIKES[case](out)
    before = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()
              and p.name not in (".report-build", "CACHEDIR.TAG", ".lock")}
    removed, kept = clean(out)
    assert kept, removed
    after = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert {k: v for k, v in before.items() if k in after} == before, f"removed: {removed}"


def test_clean_removes_a_whole_store_of_the_tool_and_matplotlibs_font_list(tmp_path):
    out = prepare(tmp_path / "out")
    _store(out)
    write_atomic(out / "cache" / "matplotlib" / "fontlist-v3.11.0.json", b"{}")
    write_atomic(out / "cache" / "parquet" / f"table-{'0' * 32}.parquet", b"PAR1 rows PAR1")
    removed, kept = clean(out)
    assert kept == [] and not out.exists(), removed


def test_cache_folders_that_are_links_are_refused(tmp_path):
    """A linked cache/parquet would have the tool write and prune files outside the build folder."""
    out = prepare(tmp_path / "out")
    elsewhere = tmp_path / "elsewhere"
    write_atomic(elsewhere / "table-precious.parquet", b"p")
    (out / "cache").mkdir()
    (out / "cache" / "parquet").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(InputError, match="parquet is a symbolic link"):
        prepare(out)
    assert (elsewhere / "table-precious.parquet").read_bytes() == b"p"


def test_pruning_the_table_cache_removes_only_its_own_names(tmp_path):
    from report.exports import prune_cache

    folder = tmp_path / "cache" / "parquet"
    ours, used = folder / f"table-{'a' * 32}.parquet", folder / f"table-{'b' * 32}.parquet"
    for path in (ours, used, folder / "table-mine.parquet", folder / "notes.txt"):
        write_atomic(path, b"PAR1")
    prune_cache(tmp_path, {used})
    assert sorted(p.name for p in folder.iterdir()) == sorted([used.name, "table-mine.parquet", "notes.txt"])


def test_clean_waits_for_a_run_holding_the_lock(tmp_path):
    """A clean started during a build waits for it (it removed the store under a running build before)."""
    out = prepare(tmp_path / "out")
    (out / "report.html").write_text(TOOLS_HTML)
    with buildfolder.exclusive(out, wait=0, log=lambda m: None):
        with pytest.raises(InputError, match="still holds"):
            clean(out, wait=0.2, log=lambda m: None)
        assert (out / "report.html").is_file()
    removed, kept = clean(out, wait=0, log=lambda m: None)
    assert "report.html" in removed and not out.exists()


def test_a_run_waiting_while_clean_removes_the_folder_starts_over(tmp_path):
    """The lock file clean removed is no lock: a run that waited on it makes the folder again and locks the new
    file (else a third run could take that one and two runs would write at once)."""
    from filelock import FileLock, Timeout

    out = prepare(tmp_path / "out")
    seen = []

    def build():
        with buildfolder.exclusive(out, wait=10, log=lambda m: None):
            try:
                FileLock(str(out / ".lock")).acquire(timeout=0)
                seen.append("the lock at .lock was free: the run held a removed file")
            except Timeout:
                seen.append((out / ".report-build").is_file())

    waiting = threading.Thread(target=build)
    with buildfolder._locked(out, 0):
        waiting.start()
        time.sleep(0.5)  # the thread now waits on the lock file
        for name in (".report-build", "CACHEDIR.TAG", ".lock"):
            (out / name).unlink()
        out.rmdir()
    waiting.join(20)
    assert seen == [True]


def test_clean_leaves_a_folder_it_adopted(tmp_path):
    (tmp_path / "mine").mkdir()
    out = prepare(tmp_path / "mine")
    (out / "report.html").write_text(TOOLS_HTML)
    clean(out)
    assert out.is_dir() and list(out.iterdir()) == []  # it existed before the tool used it


def test_symlinked_tool_folders_are_refused(tmp_path):
    out = prepare(tmp_path / "out")
    website = tmp_path / "website" / "css"
    website.mkdir(parents=True)
    (website / "report.css").write_text("the site's own")
    (out / "assets").symlink_to(website, target_is_directory=True)
    with pytest.raises(InputError, match="assets is a symbolic link"):
        prepare(out)
    assert (website / "report.css").read_text() == "the site's own"


def test_a_refused_run_leaves_no_new_build_folder(tmp_path):
    out = tmp_path / "new"
    result = run_main("--checkpoint", str(tmp_path / "nowhere.pt"), "--out", str(out))
    assert result.returncode == 2 and not out.exists()


def test_out_inside_the_data_folder_is_refused(tmp_path):
    data = tmp_path / "images"
    (data / "circle").mkdir(parents=True)
    result = run_main("--data", str(data), "--out", str(data / "build"), "--model", "torchvision:resnet18")
    assert result.returncode == 2 and "lies inside the data folder" in result.stderr
    assert not (data / "build").exists()


def test_clean_refuses_a_folder_it_did_not_mark(tmp_path):
    (tmp_path / "report.html").write_text("<p>")
    result = run_main("clean", "--out", str(tmp_path))
    assert result.returncode == 2 and "not a build folder made by this tool" in result.stderr
    assert (tmp_path / "report.html").is_file()


# --- one build's outputs are replaced together ---------------------------------------------------------

def test_a_failure_while_writing_leaves_every_previous_output(tmp_path, monkeypatch):
    out = prepare(tmp_path / "out")
    publish(out, {out / "a.txt": b"a1", out / "b.txt": b"b1"})
    calls = []

    def fail_on_second(path, data):
        calls.append(path)
        if len(calls) == 2:
            raise OSError(27, "File too large")
        return stage_file(path, data)

    monkeypatch.setattr(buildfolder, "stage_file", fail_on_second)
    with pytest.raises(OSError):
        publish(out, {out / "a.txt": b"a2", out / "b.txt": b"b2"})
    assert (out / "a.txt").read_bytes() == b"a1" and (out / "b.txt").read_bytes() == b"b1"
    assert [p.name for p in out.iterdir() if p.name.startswith(".report")] == [MARKER]


def test_files_that_already_hold_their_bytes_are_left_as_they_are(tmp_path):
    out = prepare(tmp_path / "out")
    publish(out, {out / "a.txt": b"a1", out / "b.txt": b"b1"})
    inode = (out / "a.txt").stat().st_ino
    assert publish(out, {out / "a.txt": b"a1", out / "b.txt": b"b2"}) == [out / "b.txt"]
    assert (out / "a.txt").stat().st_ino == inode and (out / "b.txt").read_bytes() == b"b2"
    assert publish(out, {out / "a.txt": b"a1"}) == [] and not (out / JOURNAL).exists()
    (out / "c.txt").write_bytes(b"c1")
    (out / "link.txt").symlink_to(out / "c.txt")  # the same bytes behind a link: the link is replaced
    os.mkfifo(out / "pipe.txt")  # never read (it would block): replaced
    assert publish(out, {out / "link.txt": b"c1", out / "pipe.txt": b"p"}) == [out / "link.txt", out / "pipe.txt"]
    assert not (out / "link.txt").is_symlink() and (out / "pipe.txt").read_bytes() == b"p"
    assert publish(out, {out / "a.txt": b"a1x"}) == [out / "a.txt"] and (out / "a.txt").read_bytes() == b"a1x"
    os.chmod(out / "a.txt", 0o600)  # the same bytes with other permissions than a new file's: replaced
    assert publish(out, {out / "a.txt": b"a1x"}) == [out / "a.txt"]
    assert stat.S_IMODE((out / "a.txt").stat().st_mode) == file_mode()


def test_the_mode_of_a_new_file_follows_the_umask_set_now():
    old = os.umask(0o027)
    try:
        assert file_mode() == 0o640
    finally:
        os.umask(old)


def test_a_journal_left_by_a_killed_run_is_completed_by_the_next(tmp_path):
    out = prepare(tmp_path / "out")
    publish(out, {out / "a.txt": b"a1", out / "b.txt": b"b1"})
    staged = [stage_file(out / "a.txt", b"a2"), stage_file(out / "b.txt", b"b2")]
    write_atomic(out / JOURNAL, json.dumps({"renames": [[p.name, n] for p, n in zip(staged, ("a.txt", "b.txt"))]})
                 .encode())
    os.replace(staged[0], out / "a.txt")  # killed after the first rename
    assert recover(out, log=lambda m: None)
    assert (out / "a.txt").read_bytes() == b"a2" and (out / "b.txt").read_bytes() == b"b2"
    assert not (out / JOURNAL).exists()


@pytest.mark.parametrize("journal", ["garbage{", "[]", '{"renames": [["../../etc/passwd", "x"]]}',
                                     '{"renames": [[".report-tmp.a", "../outside"]]}'])
def test_a_damaged_or_hostile_journal_moves_nothing(tmp_path, journal):
    out = prepare(tmp_path / "out")
    (tmp_path / "outside").write_text("keep")
    (out / ".report-tmp.a").write_text("x")
    (out / JOURNAL).write_text(journal)
    messages = []
    assert recover(out, log=messages.append)
    assert "is damaged; ignored" in messages[0]
    assert (tmp_path / "outside").read_text() == "keep" and not (out / JOURNAL).exists()


def store_named_in(out: Path) -> tuple[str, str]:
    """The store key the HTML and the PDF of a build folder cite in their provenance."""
    from pypdf import PdfReader

    stores = [p.name for p in (out / "stores").iterdir() if not p.name.startswith(".")]
    html = (out / "report.html").read_text()
    pdf = " ".join(page.extract_text() for page in PdfReader(out / "report.pdf").pages)
    in_html = [s for s in stores if s in html]
    in_pdf = [s for s in stores if s in pdf.replace("\n", "")]
    assert len(in_html) == 1 and len(in_pdf) == 1, (in_html, in_pdf)
    return in_html[0], in_pdf[0]


KILL_AFTER_FIRST_RENAME = textwrap.dedent("""
    import os, signal, sys
    real = os.replace
    def replace(src, dst, *a, **k):
        real(src, dst, *a, **k)
        if str(dst).endswith("report.html"):
            os.kill(os.getpid(), signal.SIGKILL)
    os.replace = replace
    from report.cli import main
    sys.exit(main(sys.argv[1:]))
""")


def test_html_and_pdf_always_name_the_same_store_even_after_a_kill_between_renames(default_checkpoint,
                                                                                   assignment_build, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(assignment_build, out)  # `--checkpoint <default> --sections assignment`, finished
    common = ["--out", str(out), "--sections", "assignment"]
    assert (out / "report.pdf").is_file()
    first = store_named_in(out)
    assert first[0] == first[1]
    other = tmp_path / "other.pt"  # a second checkpoint: other bytes, so another store
    other.write_bytes(default_checkpoint.read_bytes())
    with open(other, "ab") as handle:
        handle.write(b"\0" * 16)  # zip archives tolerate trailing bytes: same weights, new sha256
    env = {**os.environ, "MPLBACKEND": "Agg", "SOURCE_DATE_EPOCH": "1764000000"}
    killed = subprocess.run([sys.executable, "-c", KILL_AFTER_FIRST_RENAME, "--checkpoint", str(other), *common],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert killed.returncode == -signal.SIGKILL
    assert (out / JOURNAL).is_file()  # the HTML is new, the PDF old: until the next run starts
    result = run_cli("render", "--out", str(out), "--sections", "assignment", "--format", "html")
    assert result.returncode == 0, result.stderr
    assert "completed the outputs of a run that was stopped" in result.stderr
    html_store, pdf_store = store_named_in(out)
    assert html_store == pdf_store != first[0]
    assert (out / "current-store.txt").read_text().strip() == html_store


def test_a_write_failure_keeps_the_previous_pair_and_says_why(default_checkpoint, assignment_build, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(assignment_build, out)  # `--checkpoint <default> --sections assignment`, finished
    common = ["--out", str(out), "--sections", "assignment"]
    assert (out / "report.pdf").is_file()
    before = {name: (out / name).read_bytes() for name in ("report.html", "report.pdf", "current-store.txt")}
    script = f"ulimit -f 100; exec {sys.executable} -m report --checkpoint {default_checkpoint} --force " + \
        " ".join(common)
    result = subprocess.run(["bash", "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "MPLBACKEND": "Agg"})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "report: error: the file grew beyond the size limit of this shell (ulimit -f): raise it or choose "
        "another --out (the previous report is unchanged)")
    assert {name: (out / name).read_bytes() for name in before} == before


# --- damaged state files --------------------------------------------------------------------------------

@pytest.mark.parametrize("content", ["garbage{", "[]", '"a string"'])
def test_a_damaged_render_record_is_treated_as_absent(synthetic_store, tmp_path, content):
    out = synthetic_store.parent.parent
    (out / "current-store.txt").write_text(synthetic_store.name + "\n")
    prepare(out)
    (out / "render.json").write_text(content)
    result = run_main("render", "--out", str(out), "--format", "html")
    assert result.returncode == 0, result.stderr
    assert "render.json is damaged; rendering again" in result.stderr
    assert json.loads((out / "render.json").read_text())["store"] == str(synthetic_store)


@pytest.mark.parametrize("pointer", ["../../../etc\n", "0123456789abcdef\n", "", "\x00\xff"])
def test_a_damaged_store_pointer_is_one_line(synthetic_store, pointer):
    out = synthetic_store.parent.parent
    (out / "current-store.txt").write_text(synthetic_store.name + "\n")
    prepare(out)
    (out / "current-store.txt").write_text(pointer, errors="surrogateescape")
    result = run_main("render", "--out", str(out), "--format", "html")
    assert result.returncode == 2
    assert result.stderr.strip().endswith("current-store.txt is damaged (it does not name a store in "
                                          f"{out / 'stores'}): run `python -m report` (or `make report`) to analyse again")


def test_a_lock_that_is_a_folder_is_one_line(tmp_path):
    out = prepare(tmp_path / "out")
    (out / ".lock").mkdir()
    result = run_main("render", "--out", str(out))
    assert result.returncode == 2
    assert result.stderr.strip() == (f"report: error: {out / '.lock'} is not the lock file this tool writes (it is "
                                     "a folder or a link): remove it once no report run is using this folder")


# --- files are created with the user's umask; temporary files stay inside the build folder ----------

@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077])
def test_files_follow_the_umask(synthetic_store, mask):
    out = synthetic_store.parent.parent
    (out / "current-store.txt").write_text(synthetic_store.name + "\n")
    prepare(out)
    old = os.umask(mask)  # the command's process runs with this umask (and its PDF worker inherits it)
    try:  # one section: every kind of file is written (HTML, PDF, records, the stylesheet), quick to lay out
        result = run_main("render", "--out", str(out), "--sections", "parameters")
    finally:
        os.umask(old)
    assert result.returncode == 0, result.stderr
    for name in ("report.html", "report.pdf", "render.json", "notes.json", "current-store.txt", "assets/report.css"):
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o666 & ~mask, name


def test_a_cancelled_pdf_worker_ends_by_sigterm_and_leaves_no_temporary_files(tmp_path, monkeypatch):
    import time

    from report.render.documents import PdfJob

    system_tmp = tmp_path / "system-tmp"
    system_tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(system_tmp))
    out = prepare(tmp_path / "out")
    for delay in (0.05, 0.3, 0.8):
        job = PdfJob(out)
        assert job.scratch.parent == out and job.scratch.name.startswith(TMP_PREFIX)
        time.sleep(delay)
        job.cancel()
        assert job.process.returncode in (-signal.SIGTERM, 128 + signal.SIGTERM)
        assert not job.scratch.exists()
    assert list(system_tmp.iterdir()) == []
    assert not [p for p in out.iterdir() if p.name.startswith(TMP_PREFIX)]


def test_temporary_files_of_a_run_stay_inside_the_build_folder_and_the_setting_is_restored(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setenv("TMPDIR", str(tmp_path / "system"))
    before = tempfile.tempdir
    out = tmp_path / "out"
    with buildfolder.exclusive(out, wait=0, log=lambda m: None):
        inside = Path(tempfile.mkstemp()[1])
        assert inside.parent.parent == out and inside.parent.name.startswith(TMP_PREFIX)
        assert os.environ["TMPDIR"] == str(inside.parent)
    assert not inside.exists() and not inside.parent.exists()
    assert os.environ["TMPDIR"] == str(tmp_path / "system") and tempfile.tempdir == before


def test_a_damaged_default_checkpoint_is_trained_again(tmp_path, monkeypatch):
    from analysis import run
    from report import pipeline

    trained = []

    def fake_training(data, train, config, path, cache, show_progress, announce):
        announce()
        trained.append(path)
        write_atomic(path, b"weights")
        return {"config": {"epochs": 1}, "seconds": 0.0, "test_accuracy": 1.0}

    monkeypatch.setattr(run, "train_default", fake_training)
    options = pipeline.BuildOptions(out=tmp_path, quiet=True)
    path, fresh = pipeline.default_checkpoint(options)
    assert fresh and pipeline.default_checkpoint(options) == (path, False)
    path.write_bytes(b"weig")  # truncated
    assert pipeline.default_checkpoint(options) == (path, True) and len(trained) == 2


# --- the other commands' hostile corners --------------------------------------------------------------

def test_watch_skips_a_link_loop_and_says_when_its_folder_is_gone(tmp_path):
    from report.watching import candidates

    (tmp_path / "loop.pt").symlink_to(tmp_path / "loop.pt")
    (tmp_path / "good.pt").write_bytes(b"x")
    assert list(candidates(tmp_path)) == [tmp_path / "good.pt"]
    with pytest.raises(InputError, match="cannot list the watched folder"):
        candidates(tmp_path / "gone")


def test_serving_on_a_port_in_use_is_one_line():
    from report.watching import serve

    first = serve(Path("."), 0)
    try:
        with pytest.raises(InputError, match=f"--serve {first.server_address[1]}: cannot serve"):
            serve(Path("."), first.server_address[1])
    finally:
        first.shutdown()


def test_a_dask_address_that_does_not_answer_is_one_line():
    from report.series import _on_dask

    with pytest.raises(InputError, match="no Dask scheduler answers there"):
        _on_dask("not an address", [])


@pytest.mark.slow  # trains or builds a whole report
def test_training_leaves_nothing_in_the_system_temporary_folder(tmp_path):
    system_tmp, runs = tmp_path / "system-tmp", tmp_path / "runs"
    system_tmp.mkdir()
    result = run_cli("train", "--epochs", "1", "--save", str(runs / "e1.pt"), "--quiet",
                     env={"TMPDIR": str(system_tmp)})
    assert result.returncode == 0, result.stderr
    assert list(system_tmp.iterdir()) == []  # torch's torchinductor_<user> went to a scratch folder, now gone
    assert sorted(p.name for p in runs.iterdir()) == ["e1.pt"]
