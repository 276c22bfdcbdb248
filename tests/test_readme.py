"""The README's Python examples run as written (doctest), in a folder whose build/ holds the default checkpoint."""

import doctest
import re
import shutil

import pytest
from conftest import ROOT


def readme_examples() -> str:
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)
    return "\n".join(block for block in blocks if ">>>" in block)


@pytest.mark.slow  # builds and trains
def test_the_readme_examples_run_as_written(default_build, tmp_path, monkeypatch):
    out, _ = default_build
    shutil.copytree(out / "checkpoints", tmp_path / "build" / "checkpoints")
    shutil.copytree(out / "cache", tmp_path / "build" / "cache", ignore=shutil.ignore_patterns("matplotlib"))
    shutil.copy2(out / ".report-build", tmp_path / "build" / ".report-build")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    examples = readme_examples()
    assert examples.count(">>>") >= 20
    test = doctest.DocTestParser().get_doctest(examples, {}, "README.md", str(ROOT / "README.md"), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    runner.run(test, out=print)
    assert runner.failures == 0 and runner.tries == examples.count(">>>")
    assert (tmp_path / "accuracy.png").is_file() and (tmp_path / "build" / "history.csv").is_file()
