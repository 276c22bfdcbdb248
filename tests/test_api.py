"""The Python API (report.api): the same store as the command line, a model in memory, the same one-line
errors, typed results that equal the store's numbers."""

import json
from pathlib import Path

import pytest
import torch
from conftest import ROOT, run_cli, run_main

import report
from analysis.models.assignment import AssignmentCNN
from report import api
from analysis.errors import FailOnError, InputError, ReportError, StoreError
from report.pipeline import current_store

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def store_files(store: Path) -> dict[str, bytes]:
    return {p.relative_to(store).as_posix(): p.read_bytes() for p in sorted(store.rglob("*")) if p.is_file()}


def cli_line(result) -> str:
    """The message of the command line's one error line."""
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("report: error: ")
    return line.removeprefix("report: error: ")


@pytest.mark.slow  # two analyses
def test_the_api_on_a_checkpoint_gives_the_command_lines_store(default_checkpoint, assignment_build, tmp_path):
    cli = assignment_build  # `--checkpoint <it> --sections assignment`, run on the command line
    assert (cli / "report.html").is_file()
    result = report.build(default_checkpoint, sections="assignment", formats="html", out=tmp_path / "api")
    assert result.analysed and result.rendered and result.outputs == {"html": tmp_path / "api" / "report.html"}
    assert result.store.name == current_store(cli).name  # the same key...
    assert store_files(result.store) == store_files(current_store(cli))  # ...and the same bytes
    again = report.build(default_checkpoint, sections="assignment", formats="html", out=tmp_path / "api")
    assert not again.analysed and not again.rendered and again.store == result.store
    # typed numbers a script can assert on, equal to the store's
    evaluation = json.loads((result.store / "evaluation.json").read_text())
    assert result.summary.parameters == 232_650 and result.summary.accuracy == evaluation["accuracy"]
    assert result.summary.correct == evaluation["correct"] and result.summary.n_test == 1000
    assert result.findings.parameters.total == 232_650 and result.summary.separation_ratio is None
    assert {n.rule for n in result.notes} >= {"params.total", "accuracy.overall"} and result.alerts == []


@pytest.mark.slow  # two analyses
def test_a_model_in_memory_gives_the_documents_of_its_checkpoint_and_is_left_as_it_was(default_checkpoint,
                                                                                     tmp_path):
    net = AssignmentCNN()
    net.load_state_dict(torch.load(default_checkpoint, weights_only=True)["state_dict"])
    net.train()  # as in the middle of training: the analysis must work on a copy in eval mode
    before = {k: v.clone() for k, v in net.state_dict().items()}
    plain = tmp_path / "plain.pt"
    torch.save(net.state_dict(), plain)
    cli = run_cli("--checkpoint", str(plain), "--sections", "assignment", "--format", "html",
                  "--out", str(tmp_path / "cli"), "--quiet")
    assert cli.returncode == 0, cli.stderr
    result = report.build(model=net, sections="assignment", formats="html", out=tmp_path / "api")
    saved = result.checkpoint
    assert saved.parent == tmp_path / "api" / "checkpoints" and saved.name.startswith("module-")
    assert torch.load(saved, weights_only=True)["state_dict"].keys() == before.keys()
    ours, theirs = store_files(result.store), store_files(current_store(tmp_path / "cli"))
    assert ours.keys() == theirs.keys()
    differing = {name for name in ours if ours[name] != theirs[name]}
    assert differing == {"manifest.json"}, differing  # it names another checkpoint file; every number is the same
    assert net.training and not net._forward_hooks and all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    # the saved weights are a checkpoint the command line reads: the same store again
    cli_again = run_cli("--checkpoint", str(saved), "--sections", "assignment", "--format", "html",
                        "--out", str(tmp_path / "api"), "--quiet")
    assert cli_again.returncode == 0 and current_store(tmp_path / "api") == result.store


def test_saving_a_model_in_memory_twice_gives_one_file(tmp_path):
    from analysis.models.memory import save_module

    torch.manual_seed(0)
    net = AssignmentCNN()
    first, second = save_module(net, tmp_path), save_module(net, tmp_path)
    assert first == second and len(list(tmp_path.iterdir())) == 1
    with torch.no_grad():
        net.fc3.bias += 1
    assert save_module(net, tmp_path) != first
    stamped = save_module(net, tmp_path, {"epoch": 3})
    assert torch.load(stamped, weights_only=True)["epoch"] == 3


@pytest.mark.parametrize("kwargs, cli, expected", [
    ({"seed": -1}, ["--seed", "-1"], "argument --seed: must be between 0 and 4294967295, got -1"),
    ({"per_class": 0}, ["--per-class", "0"], "argument --per-class: must be at least 1, got 0"),
    ({"std": [0.5, 0]}, ["--std", "0.5,0"], "argument --std: every standard deviation must be above 0, got '0.5,0'"),
    ({"sections": "kernel"}, ["--sections", "kernel"], "argument --sections: unknown section"),
    ({"formats": "docx"}, ["--format", "docx"], "argument --format: formats are html and pdf"),
    ({"device": "gpu"}, ["--device", "gpu"], "argument --device: unknown device 'gpu'"),
    ({"metric": "l1"}, ["--metric", "l1"], "argument --metric: invalid choice: 'l1'"),
    ({"classes": ["6", "6"]}, ["--classes", "6", "6"], "--classes 6 6 repeats a class: give each class once"),
    ({"model_kwargs": {"a": 1}}, ["--model-kwargs", '{"a": 1}'], "--model-kwargs needs --model"),
])
def test_options_are_refused_with_the_command_lines_line_before_anything_is_written(tmp_path, kwargs, cli, expected):
    out = tmp_path / "out"
    with pytest.raises(InputError) as raised:
        report.build(out=out, **kwargs)
    assert str(raised.value).startswith(expected) and "\n" not in str(raised.value)
    assert isinstance(raised.value, ReportError) and raised.value.exit_code == 2
    result = run_main(*cli, "--out", str(out))
    assert result.returncode == 2 and expected in result.stderr
    assert not out.exists()


def test_an_input_error_carries_the_command_lines_line(tmp_path):
    missing = tmp_path / "no such.pt"
    with pytest.raises(InputError) as raised:
        report.build(missing, out=tmp_path / "out", formats="html")
    result = run_main("--checkpoint", str(missing), "--out", str(tmp_path / "out"), "--format", "html")
    assert result.returncode == 2 and str(raised.value) == cli_line(result)
    assert not (tmp_path / "out").exists()
    with pytest.raises(StoreError) as raised:
        report.rerender(tmp_path / "never built")
    result = run_main("render", "--out", str(tmp_path / "never built"))
    assert result.returncode == 2 and str(raised.value) == cli_line(result)


def test_a_model_that_is_not_a_module_is_one_line(tmp_path):
    with pytest.raises(InputError, match="argument --model: expected a source such as torchvision:resnet18 or an "
                                         "nn.Module, got int"):
        report.build(model=3, out=tmp_path / "out")
    with pytest.raises(InputError, match="either a checkpoint or a model in memory"):
        report.build(tmp_path / "x.pt", model=AssignmentCNN(), out=tmp_path / "out")


def test_fail_on_raises_only_at_or_above_its_level(synthetic_store, tmp_path):
    from report.render.alerts import Alert

    result = api.Report(out=tmp_path, store=synthetic_store, outputs={}, checkpoint=None)
    result.alerts = [Alert("warning", "weights.random", "No checkpoint.")]  # what the findings would give
    api.check_fail_on(result, None)
    api.check_fail_on(result, "error")
    with pytest.raises(FailOnError, match="--fail-on warning: the report holds 1 alert") as raised:
        api.check_fail_on(result, "warning")
    assert raised.value.exit_code == 3 and raised.value.report is result
    result.alerts = [Alert("error", "accuracy.chance", "At chance.")]
    with pytest.raises(FailOnError, match="error: At chance."):
        api.check_fail_on(result, "warning")


@pytest.mark.slow  # a whole build through the command line
def test_fail_on_exits_3_after_writing_the_report_and_0_when_clean(tmp_path):
    env = {"PYTHONPATH": str(FIXTURES), "GITHUB_STEP_SUMMARY": str(tmp_path / "step-summary.md")}
    random_weights = ["--model", "user_models:ReusedBlockNet", "--sections", "parameters", "--format", "html"]
    result = run_cli(*random_weights, "--out", str(tmp_path / "out"), "--fail-on", "warning", env=env)
    assert result.returncode == 3, result.stderr
    assert "report: error: --fail-on warning: the report holds 1 alert(s) at that level or above: warning: No " \
           "checkpoint" in result.stderr and (tmp_path / "out" / "report.html").is_file()
    assert "rendered" in result.stdout  # the report was written, and said so
    result = run_cli(*random_weights, "--out", str(tmp_path / "out"), "--fail-on", "error", env=env)
    assert result.returncode == 0, result.stderr
    page = (tmp_path / "step-summary.md").read_text()
    assert page.count("## ReusedBlockNet") == 2 and "**warning**: No checkpoint" in page


def test_the_command_line_calls_the_api_for_every_command():
    """A thin layer: each command's work is one report.api call (so both doors stay the same)."""
    source = (ROOT / "report" / "cli.py").read_text()
    for command in ("train", "clean", "render", "build", "watch", "batch", "history", "compare"):
        assert f"api.{command}(" in source, command
    assert "from report import pipeline" not in source and "from report import commands" not in source
    assert report.rerender is api.render


def test_importing_report_loads_neither_torch_nor_the_api():
    import subprocess
    import sys

    code = "import sys, report; print('torch' in sys.modules, 'report.api' in sys.modules); report.build"
    result = subprocess.run([sys.executable, "-c", code + "; print('report.api' in sys.modules)"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.stdout.split() == ["False", "False", "True"], result.stderr
