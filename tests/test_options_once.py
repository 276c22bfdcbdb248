"""Options declared once (report.options): the command line's parser is built from the declarations, the API
takes the same objects with keyword arguments as sugar, each value is checked once, the environment is read and
checked once per command; one workspace object runs the commands, and it alone makes a build's options and its
Report. None of these tests builds a report: the work itself is replaced by a recorder."""

from __future__ import annotations

import argparse
import ast
import contextlib
import dataclasses
import io

import pytest
from conftest import ROOT, run_cli

import report
from analysis.errors import InputError
from report import api, cli, options, pipeline
from report.options import AnalysisOptions, OutputOptions, RuntimeOptions, SeriesOptions, WatchOptions
from report.workspace import Workspace


class Recorded(Exception):
    """Raised by a recorder in place of the work: the options reached it."""


@pytest.fixture
def recorded_builds(monkeypatch):
    """pipeline.build replaced by a recorder of the BuildOptions it is given."""
    seen = []

    def record(build_options, log=None, pdf_job=None, html_first=False):
        seen.append(build_options)
        raise Recorded()

    monkeypatch.setattr(pipeline, "build", record)
    return seen


def subcommands() -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in cli.parser()._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


def cli_refusal(argv: list[str]) -> str:
    """The command line's one error line for ``argv`` (parsed in this process)."""
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), pytest.raises(SystemExit) as exited:
        cli.parse(argv)
    assert exited.value.code == 2
    (line,) = stderr.getvalue().splitlines()
    return line


# ------------------------------------------------------------------------------------- declared once, for argparse

def test_the_parser_is_made_from_the_declarations_only():
    """Every option of every command is its declaration: flag, help, default, metavar, choices; cli.py declares
    none itself (it used to add each option by hand, and the API, ANALYSIS_OPTIONS and CHECKS repeated them)."""
    assert "add_argument(" not in (ROOT / "report" / "cli.py").read_text()
    for command, parser in subcommands().items():
        shown = {}
        for entry in options.COMMANDS[command]:
            if isinstance(entry, options.Option):
                shown[entry.name] = (entry, None, entry.help)
            elif entry.shown:
                defaults = {f.name: f.default for f in dataclasses.fields(entry.group)}
                for name in entry.names:
                    shown[name] = (entry.group.declared()[name], defaults[name], dict(entry.help).get(name))
        actions = [a for a in parser._actions if a.dest != "help"]
        assert [a.dest for a in actions] == list(shown), command  # the declared options, in the declared order
        for action in actions:
            declared, default, help = shown[action.dest]
            flags = list(declared.flags) if declared.flags[0].startswith("-") else []
            assert action.option_strings == flags and action.help == (help or declared.help), (command, action.dest)
            assert action.metavar == declared.metavar and action.choices == declared.choices
            if not declared.flag_only and default is not None:
                assert action.default == default, (command, action.dest)


def test_a_changed_declaration_changes_the_command_line(monkeypatch):
    """One place to change an option: its help and default in report.options reach the parser."""
    declared = dict(AnalysisOptions.declared())
    declared["seed"] = dataclasses.replace(declared["seed"], help="a new help text")
    monkeypatch.setattr(AnalysisOptions, "declared", classmethod(lambda cls: declared))
    build = subcommands()["build"]
    assert "a new help text" in build.format_help()


def test_the_api_takes_every_option_the_command_line_has():
    """The keywords of each API function are the command's declared options (plus the API's own)."""
    for command, parser in subcommands().items():
        flags = {a.dest for a in parser._actions if a.option_strings and a.dest != "help"}
        flags -= {"checkpoint", "save"}  # the functions' own first arguments
        assert flags <= set(options.keywords(command)), command


# ------------------------------------------------------------------------------------------ checked once, as values

@pytest.mark.parametrize("command, keyword, value, words", [
    ("build", "seed", -1, ["--seed", "-1"]),
    ("build", "seed", True, ["--seed", "True"]),
    ("build", "per_class", 0, ["--per-class", "0"]),
    ("build", "std", [0.5, 0], ["--std", "0.5,0"]),
    ("build", "mean", float("inf"), ["--mean", "inf"]),
    ("build", "class_names", ["a", "a"], ["--class-names", "a,a"]),
    ("build", "input_size", 5000, ["--input-size", "5000"]),
    ("build", "device", "gpu", ["--device", "gpu"]),
    ("build", "formats", "docx", ["--format", "docx"]),
    ("build", "sections", "kernel", ["--sections", "kernel"]),
    ("build", "wait", -1, ["--wait", "-1"]),
    ("build", "workers", -1, ["--workers", "-1"]),
    ("build", "fail_on", "info", ["--fail-on", "info"]),
    ("watch", "settle", -1, ["--settle", "-1"]),
    ("watch", "interval", 0, ["--interval", "0"]),
    ("watch", "serve", 70000, ["--serve", "70000"]),
    ("watch", "max_builds", 0, ["--max-builds", "0"]),
    ("batch", "workers", 0, ["--workers", "0"]),
    ("clean", "wait", -1, ["--wait", "-1"]),
])
def test_a_python_value_is_refused_with_the_command_lines_line(command, keyword, value, words):
    """The same reader checks the command line's word and the Python value: the same reason, naming the flag."""
    first = {"build": [], "watch": ["dir"], "batch": ["dir"], "clean": []}[command]
    line = cli_refusal([command, *first, *words])
    group = options.keywords(command)[keyword]
    with pytest.raises(InputError) as raised:
        group(**{keyword: value})
    assert line == f"report: error: {raised.value} (see `{cli.program_name()} {command} --help`)"


def test_clean_checks_its_wait_as_the_command_line_does(tmp_path):
    """report.clean(wait=-1) used to pass the value on unchecked."""
    with pytest.raises(InputError, match="argument --wait: must be a finite number of seconds, at least 0, got -1"):
        report.clean(tmp_path / "out", wait=-1)


def test_each_value_is_checked_once_at_either_door(tmp_path, monkeypatch, recorded_builds):
    """The command line read --seed with the seed's reader; the API used to read it again from its text (and
    report.build checked every option a second time). Now the reader runs once per value, at either door."""
    checked = []
    reader = AnalysisOptions.declared()["seed"].reader
    original = type(reader).check
    monkeypatch.setattr(type(reader), "check", lambda self, value, shown: checked.append(value) or original(
        self, value, shown))
    monkeypatch.setattr(cli, "failed", lambda error: 1)  # the recorder's exception: no line needed here

    assert cli.main(["--seed", "7", "--out", str(tmp_path / "cli"), "--format", "html", "--quiet"]) == 1
    assert checked.count(7) == 1 and recorded_builds[-1].config.seed == 7
    with pytest.raises(Recorded):
        report.build(seed=8, out=tmp_path / "api", formats="html")
    assert checked.count(8) == 1 and recorded_builds[-1].config.seed == 8


def test_keyword_arguments_are_sugar_for_the_option_objects(tmp_path, recorded_builds):
    given = AnalysisOptions(seed=3, classes=[3, 8])
    output = OutputOptions(out=tmp_path / "out", formats="html", sections="assignment")
    with pytest.raises(Recorded):
        report.build(analysis=given, output=output)
    with pytest.raises(Recorded):
        report.build(seed=3, classes=["3", "8"], out=tmp_path / "out", formats="html", sections="assignment")
    with pytest.raises(Recorded):
        report.build(analysis=AnalysisOptions(seed=1, classes=[3, 8]), seed=3, output=output)  # keywords amend
    first, second, third = recorded_builds
    assert first == second == third and first.config.seed == 3 and first.formats == ("html",)
    assert first.config.classes == ("3", "8") and not first.config.whole_split
    with pytest.raises(TypeError, match=r"build\(\) got an unexpected keyword argument 'colour'"):
        report.build(colour="red")
    with pytest.raises(TypeError, match="analysis must be AnalysisOptions"):
        report.build(analysis=OutputOptions())


def test_the_analysis_record_comes_from_the_declarations(monkeypatch):
    """AnalysisConfig (saved in the manifest, hashed into the store key) is made from the options and the
    sections: its fields and values are the declared ones, the parts are the section registry's."""
    from analysis.config import AnalysisConfig
    from report.render.sections import analysis_parts

    monkeypatch.delenv("REPORT_THREADS", raising=False)  # `make test` sets it: the default is under test here
    made = AnalysisOptions(seed=5, device="cpu", model="torchvision:resnet18").config(("parameters", "provenance"))
    assert dataclasses.asdict(made) == {**dataclasses.asdict(AnalysisConfig()), "seed": 5,
                                        "model": "torchvision:resnet18", **analysis_parts(("parameters",))}
    assert AnalysisOptions().config(report.render.sections.ALL) == AnalysisConfig()  # the defaults are the record's
    assert pipeline.PARTS == tuple(analysis_parts(()))


def test_report_threads_reaches_the_analysis_and_the_training_and_keys_only_what_it_changes(monkeypatch):
    """REPORT_THREADS changes the last bits of the numbers: a config on another number of threads records it and
    has a key of its own; on the default number the record is that of stores made before the number could be
    chosen (no ``threads`` in it)."""
    from analysis.config import ANALYSIS_THREADS, TrainConfig, sha256_of_json

    monkeypatch.delenv("REPORT_THREADS", raising=False)
    default = AnalysisOptions().config(report.render.sections.ALL)
    assert default.threads == ANALYSIS_THREADS == AnalysisOptions().train.threads == TrainConfig().threads
    assert "threads" not in default.to_dict()
    assert default.fingerprint() == sha256_of_json({k: v for k, v in dataclasses.asdict(default).items()
                                                    if k != "threads"})
    monkeypatch.setenv("REPORT_THREADS", "1")
    one = AnalysisOptions().config(report.render.sections.ALL)
    assert one.threads == 1 and one.to_dict() == {**default.to_dict(), "threads": 1}
    assert one.fingerprint() != default.fingerprint() and AnalysisOptions().train.threads == 1
    assert AnalysisOptions().train.to_dict() != TrainConfig().to_dict()  # another default checkpoint, too
    for bad in ("0", "two", "1025", "\u00b2", "-1"):
        monkeypatch.setenv("REPORT_THREADS", bad)
        with pytest.raises(InputError, match=r"REPORT_THREADS=.* is not a number of threads: give a whole number "
                                             r"from 1 to 1024"):
            AnalysisOptions().config(report.render.sections.ALL)


# --------------------------------------------------------------------------------------------- the environment

def test_a_bad_environment_variable_fails_the_api_early_with_the_command_lines_line(tmp_path, monkeypatch,
                                                                                    recorded_builds):
    monkeypatch.setenv("REPORT_PDF_MEMORY", "abc")
    with pytest.raises(InputError) as raised:
        report.build(out=tmp_path / "api", formats="pdf")
    assert recorded_builds == [] and not (tmp_path / "api").exists()  # nothing started, nothing made
    result = run_cli("--out", str(tmp_path / "cli"), "--format", "pdf", env={"REPORT_PDF_MEMORY": "abc"})
    assert result.returncode == 2 and result.stderr == f"report: error: {raised.value}\n"
    assert "REPORT_PDF_MEMORY='abc' is not a memory size" in str(raised.value)


def test_the_environment_is_read_once_per_command(tmp_path, monkeypatch):
    """The command's parts (the page's date, the PDF worker's cap, the step summary) see the one reading made
    before any work: REPORT_PDF_MEMORY used to be read and checked again wherever it was used."""
    from report.render import environment

    reads = []
    original = environment._pdf_memory
    monkeypatch.setattr(environment, "_pdf_memory", lambda: reads.append(1) or original())
    monkeypatch.setenv("REPORT_PDF_MEMORY", str(1 << 30))

    def a_build_that_asks(build_options, log=None, pdf_job=None, html_first=False):
        assert environment.pdf_memory() == 1 << 30 and environment.source_date_epoch() is not None
        raise Recorded()

    monkeypatch.setattr(pipeline, "build", a_build_that_asks)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1764000000")
    with pytest.raises(Recorded):
        report.build(out=tmp_path / "out", formats="html")
    assert len(reads) == 1


# ---------------------------------------------------------------------------------------------- the workspace

def test_only_the_workspace_makes_build_options_and_reports():
    """BuildOptions used to be made in four modules (api, commands, series, watch) and Report in three places."""
    makers = {}
    for path in sorted((ROOT / "report").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                if name in ("BuildOptions", "Report", "for_report", "for_store", "of"):
                    makers.setdefault(name, set()).add(path.stem)
    assert "BuildOptions" not in makers and "Report" not in makers  # only their own constructors make them
    assert makers["for_report"] == {"workspace"} and makers["for_store"] <= {"workspace", "series"}


@pytest.mark.parametrize("command, call", [
    ("watch", lambda folder, out: report.watch(folder, out=out, settle=1, max_builds=1, seed=2)),
    ("batch", lambda folder, out: report.batch(folder, out=out, workers=1, seed=2)),
    ("history", lambda folder, out: report.history(folder, out=out, order="step", seed=2)),
    ("compare", lambda folder, out: report.compare(folder / "a.pt", folder / "b.pt", out=out, seed=2)),
])
def test_the_api_runs_each_command_through_the_workspace(tmp_path, monkeypatch, command, call):
    calls = []
    monkeypatch.setattr(Workspace, command, lambda self, *args: calls.append((self, args)) or "done")
    assert call(tmp_path / "runs", tmp_path / "out") == "done"
    ((workspace, args),) = calls
    assert workspace.out == tmp_path / "out"
    analysis = next(a for a in args if isinstance(a, AnalysisOptions))
    assert analysis.seed == 2
    if command in ("batch", "history"):
        assert isinstance(args[-1], SeriesOptions)
    if command == "watch":
        assert isinstance(args[1], AnalysisOptions) and isinstance(args[2], RuntimeOptions)
        assert isinstance(args[3], WatchOptions) and args[3].max_builds == 1


def test_a_watch_builds_through_the_workspace_with_its_options(tmp_path, monkeypatch, recorded_builds):
    """The watch's builds are the workspace's: the same BuildOptions a build of that checkpoint gets."""
    import report.watching as watching

    def one_checkpoint(folder, build_one, **ignored):
        with pytest.raises(Recorded):
            build_one(tmp_path / "runs" / "epoch1.pt")
        return 1

    monkeypatch.setattr(watching, "watch", one_checkpoint)
    (tmp_path / "runs").mkdir()
    assert report.watch(tmp_path / "runs", out=tmp_path / "out", formats="html", seed=4, workers=0) == 1
    with pytest.raises(Recorded):
        report.build(tmp_path / "runs" / "epoch1.pt", out=tmp_path / "out", formats="html", seed=4, workers=0)
    watched, built = recorded_builds
    assert watched == built and watched.config.seed == 4 and watched.workers == 0


def test_the_training_hooks_build_through_the_workspace(tmp_path, monkeypatch):
    """The Reporter's report process (run here in this process) builds each checkpoint and the running history
    with the workspace, from the options the Reporter checked when it was made."""
    from report import training

    calls = []

    class Built:
        store, outputs = tmp_path / "stores" / "s", {"html": tmp_path / "out" / "report.html"}

        class summary:
            as_dict = staticmethod(lambda: {"accuracy": 0.5})

    def build(self, checkpoint, analysis, runtime):
        calls.append(("build", self.out, checkpoint, analysis.model, analysis.model_kwargs, analysis.seed,
                      self.output.formats))
        return Built()

    def history_of(self, built, order):
        calls.append(("history", built, order))
        return {"outputs": [self.out / "history.html"], "table": self.out / "history.csv"}

    monkeypatch.setattr(Workspace, "build", build)
    monkeypatch.setattr(Workspace, "history_of", history_of)
    reporter = training.Reporter(out=tmp_path / "out", seed=3, formats="html", model_kwargs={"width": 2})

    class Connection:
        def __init__(self, requests):
            self.requests, self.answers = list(requests), []

        def recv(self):
            return self.requests.pop(0)

        def send(self, answer):
            self.answers.append(answer)

    connection = Connection([{"checkpoint": "e1.pt", "source": "nets:Net", "kwargs": {"width": 2}}, training.STOP])
    training._serve(connection, reporter.options, history=True)
    (answer,) = connection.answers
    assert answer["ok"] and answer["summary"] == {"accuracy": 0.5}, answer
    assert calls == [("build", tmp_path / "out", "e1.pt", "nets:Net", '{"width": 2}', 3, ("html",)),
                     ("history", [("e1.pt", Built.store)], "step")]


def test_report_watch_stays_the_api_function_after_any_command():
    """The watch machinery was the module report.watch: once any command had imported it (batch did, through
    report.series), ``report.watch`` was that module and ``report.watch(folder)`` a TypeError."""
    import report.series  # noqa: F401  (what report.batch loads)
    import report.workspace  # noqa: F401

    assert report.watch is api.watch and callable(report.watch)


def test_no_import_cycle_among_the_orchestrators_modules():
    """report.api, report.series and report.watch (now report.watching) imported each other; the workspace sits
    above them all."""
    import grimp

    graph = grimp.build_graph("report", "analysis")
    orchestrator = sorted(m for m in graph.modules if m.count(".") == 1 and m.startswith("report.")
                          and not m.startswith("report.render"))
    cycles = [(a, b) for a in orchestrator for b in orchestrator
              if a < b and graph.chain_exists(a, b) and graph.chain_exists(b, a)]
    assert cycles == []
    assert not graph.chain_exists("report.watching", "report.workspace")
    assert not graph.chain_exists("report.series", "report.api")
