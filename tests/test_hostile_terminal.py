"""Hostile cases of what reaches a terminal (issue 29): every result is one line whatever the paths hold, in
any encoding, and clean keeps a user's files named like the tool's."""

from __future__ import annotations

import os

from conftest import run_cli


def test_a_newline_in_the_out_path_keeps_each_result_one_line(default_checkpoint, tmp_path):
    out = tmp_path / "two\nlines \x1b[31mred"
    result = run_cli("--checkpoint", str(default_checkpoint), "--out", str(out), "--sections", "parameters",
                     "--format", "html")
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 1 and "two\\nlines \\x1b[31mred" in result.stdout
    assert "\x1b" not in result.stdout + result.stderr
    assert all(line.startswith("report: ") for line in result.stderr.splitlines())
    cleaned = run_cli("clean", "--out", str(out), env={"PYTHONIOENCODING": "ascii"})
    assert cleaned.returncode == 0 and len(cleaned.stdout.splitlines()) == 1 and not out.exists()


def test_clean_keeps_files_named_almost_like_the_tools(default_checkpoint, tmp_path):
    out = tmp_path / "build"
    assert run_cli("--checkpoint", str(default_checkpoint), "--out", str(out), "--sections", "parameters",
                   "--format", "html").returncode == 0
    mine = {"checkpoints/module-best.pt": b"a", "training/epoch-final.pt": b"b", "cache/parquet/my-notes.txt": b"c",
            f"checkpoints/module-{'0' * 16}.pt": b"d",  # the tool's pattern, but not the bytes its name records
            "stores/0123456789abcdef/manifest.json": b'{"schema_version": 4, "files": {}, "key": "x"}'}
    for name, data in mine.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(data)
    result = run_cli("clean", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert {name: (out / name).read_bytes() for name in mine} == mine
    assert not (out / "report.html").exists() and "kept what this tool did not write" in result.stdout
    assert sorted(os.listdir(out / "stores")) == ["0123456789abcdef"]


def test_a_result_line_that_cannot_be_written_is_no_error(default_checkpoint, tmp_path):
    """stdout into /dev/full or a closed pipe: the report is written; no line may say otherwise."""
    import subprocess
    import sys

    from conftest import ROOT

    out = tmp_path / "build"
    arguments = [sys.executable, "-m", "report", "--checkpoint", str(default_checkpoint), "--out", str(out),
                 "--sections", "parameters", "--format", "html"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    with open("/dev/full", "w") as full:
        result = subprocess.run(arguments, stdout=full, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    assert result.returncode == 0 and "error" not in result.stderr, result.stderr
    closed = subprocess.Popen([*arguments[:3], "render", "--out", str(out), "--format", "html", "--force"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    closed.stdout.close()  # the reader went away (`| head -0`)
    assert closed.wait(120) == 0 and "error" not in closed.stderr.read()


def test_bad_settings_of_the_tools_libraries_are_one_line(default_checkpoint, tmp_path):
    bad = {"TQDM_MININTERVAL": "abc"}
    result = run_cli("--checkpoint", str(default_checkpoint), "--out", str(tmp_path / "a"), "--sections", "parameters",
                     "--format", "html", env=bad)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "TQDM_MININTERVAL" in result.stderr
    result = run_cli("--checkpoint", str(default_checkpoint), "--out", str(tmp_path / "b"), "--sections", "parameters",
                     "--format", "html", env={"GITHUB_STEP_SUMMARY": str(tmp_path)})
    assert result.returncode == 2 and "GITHUB_STEP_SUMMARY" in result.stderr and not (tmp_path / "b").exists()
    # a backend matplotlib does not know is never used: figures are drawn on the Agg canvas
    result = run_cli("--checkpoint", str(default_checkpoint), "--out", str(tmp_path / "c"),
                     "--sections", "kernels,separation", "--format", "html", env={"MPLBACKEND": "nonexistent"})
    assert result.returncode == 0, result.stderr


def test_names_that_are_not_utf8_are_shown_or_refused(default_checkpoint, tmp_path):
    """A checkpoint named with bytes that are no UTF-8 is analysed and shown with \\xNN escapes; an --out folder
    whose path is no UTF-8 is refused in one line (no page or PDF could name its files)."""
    import shutil

    odd = os.fsdecode(b"ck\xff\xfe.pt")
    shutil.copy(default_checkpoint, tmp_path / odd)
    result = run_cli("--checkpoint", str(tmp_path / odd), "--out", str(tmp_path / "a"), "--sections", "parameters",
                     "--format", "html")
    assert result.returncode == 0, result.stderr
    assert "ck\\xff\\xfe.pt" in (tmp_path / "a" / "report.html").read_text()
    result = run_cli("--checkpoint", str(default_checkpoint), "--out", str(tmp_path / os.fsdecode(b"r\xffpdf")),
                     "--sections", "parameters", "--format", "pdf")
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "not valid UTF-8" in result.stderr


def test_a_step_summary_that_is_a_pipe_or_inside_the_build_folder_is_never_written(default_checkpoint, tmp_path):
    fifo = tmp_path / "summary-pipe"
    os.mkfifo(fifo)
    result = run_cli("--checkpoint", str(default_checkpoint), "--out", str(tmp_path / "a"), "--sections", "parameters",
                     "--format", "html", env={"GITHUB_STEP_SUMMARY": str(fifo)})
    assert result.returncode == 2 and "GITHUB_STEP_SUMMARY" in result.stderr  # it waited for a reader for ever
    out = tmp_path / "b"
    out.mkdir()
    result = run_cli("--checkpoint", str(default_checkpoint), "--out", str(out), "--sections", "parameters",
                     "--format", "html", env={"GITHUB_STEP_SUMMARY": str(out / "report.html")})
    assert result.returncode == 0 and "lies inside the build folder" in result.stderr
    assert (out / "report.html").read_text().rstrip().endswith("</html>")
