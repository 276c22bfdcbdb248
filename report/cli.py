"""``python -m report``: build the report (analysis when needed, then rendering), re-render, or train."""

from __future__ import annotations

import argparse
import errno
import os
import signal
import sys
import time
from pathlib import Path

from analysis.errors import ReportError
from analysis.stopping import received, signal_of, stop_on_signals
from report import options
from report.render.garbage import few_collections

COMMANDS = tuple(options.COMMANDS)

DESCRIPTION = """\
Generate an HTML and PDF report that explains a CNN image classifier: parameters per
layer, a shape trace, kernels, activation maps, embeddings and their distances, with
interpretation text computed from the numbers.

commands:
  build    (default) analyse the checkpoint if needed, then render the report
  render   re-render the last analysed store, without torch
  train    train the assignment's CNN and save a checkpoint
  watch    rebuild whenever a checkpoint in a folder is new or changed
  batch    analyse every checkpoint in a folder, in parallel
  history  how accuracy and separation evolve over the checkpoints in a folder
  compare  two checkpoints side by side
  clean    remove what this tool wrote in the build folder (nothing else)

examples:
  python -m report                                   # trains a default checkpoint if needed
  python -m report --checkpoint model.pt --data ~/mnist --classes 3 8 --per-class 5
  python -m report --model torchvision:resnet18 --data ~/flowers --input-size 64
  python -m report --model mynets:LeNet --model-kwargs '{"width": 2}' --checkpoint lenet.pt
  python -m report --checkpoint model.pt --sections assignment   # the course report's sections, ~2.3 s
  python -m report render --format html
  python -m report render --single-file --format html            # one self-contained report.html
  python -m report train --epochs 9 --save runs/epoch9.pt
  python -m report compare runs/epoch9.pt build/checkpoints/default-*.pt
  python -m report watch runs/ --serve 8000
"""


class OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line naming the option and where the full help is, not the whole usage."""

    def error(self, message: str):
        self.exit(2, f"report: error: {message} (see `{self.prog} --help`)\n")


def program_name() -> str:
    """How the user called us: ``python -m report``, or the console script's name (``cnn-report``)."""
    called = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    return "python -m report" if called in ("", "__main__.py", "-c") or called.endswith(".py") else called


COMMAND_HELP = {
    "build": "analyse if needed, then render (default)",
    "render": "re-render the last analysed store (no torch)",
    "train": "train the assignment CNN and save a checkpoint",
    "watch": "rebuild whenever a checkpoint in DIR is new or changed",
    "batch": "analyse every checkpoint in DIR, in parallel",
    "history": "how accuracy and separation evolve over the checkpoints in DIR",
    "compare": "one report with two checkpoints side by side",
    "clean": "remove what this tool wrote in the build folder, nothing else",
}


def parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser (``only``: with the options of that command alone, the one being parsed)."""
    main = OneLineParser(prog=program_name(), description=DESCRIPTION,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = main.add_subparsers(dest="command", metavar="{" + ",".join(COMMANDS) + "}",
                                   parser_class=OneLineParser)
    options.add_commands(commands, COMMAND_HELP, only)  # each command's options, as report.options declares them
    return main


def parse(argv: list[str]) -> argparse.Namespace:
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help")):
        argv = ["build", *argv]
    return parser(only=argv[0]).parse_args(argv)  # argparse reads the rest with that command's parser alone


def run(args: argparse.Namespace) -> int:
    """One command, through report.api (the command line adds only its printed lines)."""
    from report import api

    log = progress_log(args)
    command, groups = args.command, options.from_arguments(args)  # the option groups the parser read
    if command == "train":
        record = api.train(args.save, **groups)
        epochs = record["config"]["epochs"]
        print(terminal_line(f"report: saved {args.save} ({epochs} epoch{'s' if epochs != 1 else ''}, "
                            f"{record['seconds']:.1f} s, test accuracy {record['test_accuracy']:.2%})"))
        return 0
    if command == "clean":
        removed, kept = api.clean(log=log, **groups)
        say(args, f"report: removed {', '.join(removed) or 'nothing'} from {args.out}"
                  + (f"; kept what this tool did not write: {', '.join(kept)}" if kept else ""))
        return 0
    if command == "render":
        result = api.render(log=log, **groups)
        say(args, f"report: {'rendered' if result.rendered else 'up to date'}: "
                  f"{' and '.join(map(str, result.outputs.values()))} ({result.seconds:.1f} s)")
        return 0
    if command == "build":
        try:
            result = api.build(args.checkpoint, log=log, **groups)
        except api.FailOnError as error:
            print_build(args, error.report)
            raise
        print_build(args, result)
        return 0
    if command == "watch":
        def built(result) -> None:  # a result: stdout, while the watch's own messages go to stderr
            say(args, f"report: {result.checkpoint.name}: {' and '.join(map(str, result.outputs.values()))} "
                      f"({result.seconds:.1f} s)")
        api.watch(args.folder, on_build=built, log=log, **groups)
        return 0
    if command == "batch":
        started = time.perf_counter()
        rows = api.batch(args.folder, log=log, **groups)
        for row in rows:
            say(args, f"report: {Path(row['checkpoint']).name}: {'analysed' if row['analysed'] else 'cached'} "
                      f"-> {row['store']}")
        say(args, f"report: {len(rows)} checkpoints in {time.perf_counter() - started:.1f} s")
        return 0
    if command == "history":
        started = time.perf_counter()
        made = api.history(args.folder, log=log, **groups)
        say(args, f"report: history of {made['checkpoints']} checkpoints: "
                  f"{' and '.join(map(str, made['outputs']))} ({time.perf_counter() - started:.1f} s)")
        return 0
    if command == "compare":
        started = time.perf_counter()
        a, b = args.checkpoints
        outputs = api.compare(a, b, log=log, **groups)
        say(args, f"report: compared {a.name} and {b.name}: {' and '.join(map(str, outputs))} "
                  f"({time.perf_counter() - started:.1f} s)")
        return 0
    raise AssertionError(f"unknown command {command}")


def print_build(args: argparse.Namespace, result) -> None:
    steps = [name for name, done in (("trained", result.trained), ("analysed", result.analysed),
                                     ("rendered", result.rendered)) if done] or ["up to date"]
    say(args, f"report: {', '.join(steps)}: {' and '.join(map(str, result.outputs.values()))} "
              f"({result.seconds:.1f} s)")


def say(args: argparse.Namespace, line: str) -> None:
    """A command's result: one line on stdout, unless --quiet."""
    if not args.quiet:
        try:
            print(terminal_line(line), flush=True)
        except OSError:  # stdout closed or full (a pipe into `head`, /dev/full): the work is done all the same
            stdout_gone()


def stdout_gone() -> None:
    """Send what is left for stdout nowhere, so that neither a later line nor the exit's flush fails (and
    no error claims the report was not written when it was)."""
    try:
        sys.stdout.flush()
    except OSError:
        pass
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def progress_log(args: argparse.Namespace):
    if args.quiet:
        return lambda message: None
    return lambda message: print(terminal_line(message), file=sys.stderr, flush=True)


def terminal_line(line: str) -> str:
    """Paths and names in a line may hold line breaks or escape sequences (an --out folder named with a
    newline): escaped, so that each result stays one line and nothing reaches the terminal as a command."""
    from analysis.data.paths import printable

    return printable(line)


def any_encoding() -> None:
    """stdout and stderr that cannot encode a character (LANG=C, PYTHONIOENCODING=ascii, a pipe into a
    Latin-1 tool) show it as an escape instead of failing after the work was done."""
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            try:
                stream.reconfigure(errors="backslashreplace")
            except (ValueError, OSError):  # closed, or not a text stream of io's
                pass


# errno values a user can act on, and what to tell them
ACTIONABLE = {
    errno.ENOSPC: "the disk is full: free some space or choose another --out",
    errno.EDQUOT: "the disk quota is used up: free some space or choose another --out",
    errno.EFBIG: "the file grew beyond the size limit of this shell (ulimit -f): raise it or choose another --out",
    errno.EACCES: "permission denied: choose files and an --out folder you may read and write",
    errno.EPERM: "operation not permitted: choose files and an --out folder you may read and write",
    errno.EROFS: "the file system is read-only: choose another --out",
    errno.ENOTDIR: "a part of the path is a file, not a folder: check the path",
    errno.EISDIR: "a folder stands where a file was expected: check the path",
    errno.ENAMETOOLONG: "the file name is too long: choose a shorter path",
    errno.ELOOP: "the path is a loop of symbolic links: check the path",
    errno.EEXIST: "something this tool did not make is in the way: move it away",
}


def os_error_line(error: OSError) -> tuple[str, int]:
    """One line for a failed file operation, and the exit code: 2 when the user can act on it."""
    where = f"{error.filename}: " if error.filename else ""
    advice = ACTIONABLE.get(error.errno)
    if advice:
        return f"{where}{advice} (the previous report is unchanged)", 2
    return (f"{where}{error.strerror or error} (the previous report is unchanged; if this persists, "
            "report it as a bug)"), 1


def main(argv: list[str] | None = None) -> int:
    from report.render import environment

    any_encoding()
    args = parse(sys.argv[1:] if argv is None else argv)
    with stop_on_signals():  # SIGINT and SIGTERM raise Stopped: the command cleans up as on Ctrl-C, then ends
        try:
            # the environment read and checked once, like the options, before any work: the command uses it
            with environment.using(environment.Environment.read()):
                return run(args)
        except KeyboardInterrupt as interrupt:  # Stopped by SIGINT or SIGTERM (Stopped is a KeyboardInterrupt)
            return stopped(args, signal_of(interrupt))
        except Exception as error:
            if received() is not None:  # a failure the stop caused (a worker it ended, a pipe it closed)
                return stopped(args, received())
            return failed(error)


def failed(error: Exception) -> int:
    """The one line on stderr of a command that failed, and its exit code."""
    if isinstance(error, ReportError):  # bad input (2), a store or rendering that failed (2, 1), --fail-on (3)
        print(f"report: error: {one_line(error)}", file=sys.stderr)
        return error.exit_code
    if isinstance(error, OSError):  # a full disk, a read-only folder: the files already in place are untouched
        line, code = os_error_line(error)
        print(f"report: error: {terminal_line(line)}", file=sys.stderr)
        return code
    # a fault of this tool, not of the input: one line, the traceback on request
    from report.render.environment import debugging

    if debugging():
        raise error
    print(f"report: error: internal error ({type(error).__name__}: {one_line(error)[:300]}); the previous "
          "report is unchanged. Please report this with the command line; REPORT_DEBUG=1 shows the "
          "traceback", file=sys.stderr)
    return 1


def stopped(args: argparse.Namespace, signum: int) -> int:
    """The one line on stderr of a command that SIGINT or SIGTERM ended (its workers ended and its temporaries
    removed before), and its exit code: 128 + the signal's number, as a shell reports a process it ended."""
    kept = {"train": f"{getattr(args, 'save', 'the checkpoint')} is unchanged",
            "watch": "the reports of finished builds stay in place",
            "batch": "the stores analysed before are kept",
            "history": "the previous history is unchanged",
            "compare": "the previous comparison is unchanged",
            "clean": "run clean again to remove the rest"}.get(args.command, "the previous report is unchanged")
    print(terminal_line(f"report: stopped by {signal.Signals(signum).name}; {kept}"), file=sys.stderr, flush=True)
    return 128 + signum


def as_a_command() -> None:
    """``python -m report``: the command in a process of its own (report.render.garbage), then its exit."""
    few_collections()
    leave(main())


def console() -> None:
    """The console script ``cnn-report`` (pyproject.toml): ``python -m report`` under another name."""
    as_a_command()


def leave(code: int) -> None:
    """Exit with ``code``. With torch loaded, the interpreter's teardown is skipped (about 0.4 s of torch's
    modules and threads, with nothing left to save: every output is written and closed, locks are released
    and worker processes joined), but not multiprocessing's exit finalizers: they unlink the named semaphores
    of DataLoader queues, which the resource tracker would otherwise report on stderr as leaked when a run
    ends while an iterator that failed is still referenced (a refused image in a worker)."""
    try:
        sys.stdout.flush()
    except OSError:
        stdout_gone()
    if "torch" not in sys.modules:
        sys.exit(code)
    try:
        sys.stderr.flush()
    except OSError:
        pass
    util = sys.modules.get("multiprocessing.util")
    if util is not None:
        util._run_finalizers(0)  # what its atexit hook runs first; the rest (joining children) is done
    os._exit(code)


def one_line(error: Exception) -> str:
    """Messages may quote names from the data (class or file names, state_dict keys): never let them break
    the line, send terminal control sequences, or fill the screen (report.lines)."""
    from report.lines import one_line as line

    return line(error)
