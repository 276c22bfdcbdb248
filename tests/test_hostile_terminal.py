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
