"""The hostile-input suite: every case runs the command line on a copy of a finished build folder and
states its outcome. To add a case, append a ``Case`` to ``CASES``: a function that makes its inputs in
a scratch folder and returns the command-line arguments, the expected outcome, and what the user must
be told.

Outcomes:
- ``refused``: exit 2, exactly one line on stderr, ``report: error: …`` matching ``says``; the previous
  report, its store pointer and its render record are byte for byte as they were.
- ``accepted``: exit 0; the new report names the store that current-store.txt names.
- ``warned``: accepted, and ``says`` appears on stderr or in the report.
- ``stopped``: as refused, but found only once the analysis had started (damage past an image's header,
  found by decoding it in a DataLoader worker): the announcement of the analysis may precede the line.
Every case also checks that nothing outside the build folder was created or deleted: the sentinels
planted inside the build folder (hidden files and folders named like temporaries), a scratch HOME,
a scratch TMPDIR and the inputs (the working folder) are compared before and after, and no traceback
is printed.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
import os
import pickle
import shutil
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from clirunner import run_process
from conftest import ROOT

SENTINELS = (".ssh/id_ed25519", ".notes.tmp", ".old.stale-1", "stores/.keep/x", "stores/.x.tmp",
             "assets/.cache/y")
STATE = ("report.html", "report.pdf", "current-store.txt", "render.json", "notes.json")
MARKER_FILE = "payload-ran"  # created by every payload below, if it ever runs


@dataclasses.dataclass(frozen=True)
class Case:
    id: str
    kind: str                                  # checkpoint | data | options | state
    make: Callable[[Path, Path], list[str]]    # (scratch folder, default checkpoint) -> arguments
    expect: str                                # refused | accepted | warned
    says: str = ""                             # substring of the error line, or of the warning
    command: tuple[str, ...] = ()              # default: build
    before: Callable[[Path], None] | None = None  # damages the build folder before the run
    sections: str = "assignment"               # what a build analyses (the whole-split pass takes longer)
    env: tuple[tuple[str, str], ...] = ()      # environment variables of the run
    fresh: bool = False                        # in a fresh interpreter (default: forked, tests/clirunner.py)


# --- inputs ------------------------------------------------------------------------------------------

class Payload:
    """Unpickling this runs code: it must never happen."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def checkpoint_with(scratch: Path, default: Path, **meta) -> list[str]:
    """The default checkpoint with metadata fields replaced."""
    import torch

    loaded = torch.load(default, weights_only=True)
    for key, value in meta.items():
        if "." in key:
            outer, inner = key.split(".", 1)
            loaded[outer] = {**loaded.get(outer, {}), inner: value}
        else:
            loaded[key] = value
    path = scratch / "meta.pt"
    torch.save(loaded, path)
    return ["--checkpoint", str(path)]


def pickled_payload(scratch: Path, legacy: bool, nested: bool) -> list[str]:
    import torch

    payload = Payload(scratch / MARKER_FILE)
    obj = {"state_dict": {"a": [{"b": payload}]}} if nested else payload
    path = scratch / "evil.pt"
    torch.save(obj, path, _use_new_zipfile_serialization=not legacy)
    return ["--checkpoint", str(path)]


def raw_pickle_payload(scratch: Path) -> list[str]:
    return ["--checkpoint", str(write(scratch / "raw.pkl.pt", pickle.dumps(Payload(scratch / MARKER_FILE))))]


def lying_safetensors(scratch: Path) -> list[str]:
    header = json.dumps({"w": {"dtype": "F32", "shape": [1000, 1000], "data_offsets": [0, 4000000]}}).encode()
    return ["--checkpoint", str(write(scratch / "lie.safetensors", len(header).to_bytes(8, "little") + header + b"\0" * 16))]


def huge_safetensors_header(scratch: Path) -> list[str]:
    return ["--checkpoint", str(write(scratch / "huge.safetensors", (2**62).to_bytes(8, "little") + b"{}"))]


def other_architecture(scratch: Path) -> list[str]:
    import torch

    path = scratch / "other.pt"
    torch.save({"fc.weight": torch.zeros(3, 4)}, path)
    return ["--checkpoint", str(path)]


def nan_weights(scratch: Path, default: Path) -> list[str]:
    import torch

    loaded = torch.load(default, weights_only=True)
    loaded["state_dict"]["fc2.weight"][0, 0] = float("nan")
    path = scratch / "nan.pt"
    torch.save(loaded, path)
    return ["--checkpoint", str(path)]


def module_in_working_folder(scratch: Path, default: Path) -> list[str]:
    """A checkpoint naming a module that sits in the working folder: importing it would run it."""
    write(scratch / "evilmod.py", f"open({str(scratch / MARKER_FILE)!r}, 'w').close()\nclass Net: pass\n")
    return checkpoint_with(scratch, default, **{"model_config": {"source": "evilmod:Net", "kwargs": {}}})


def huge_model_arguments(scratch: Path) -> list[str]:
    import torch

    path = scratch / "huge.pt"
    torch.save({"state_dict": {"x": torch.zeros(1)},
                "model_config": {"source": "torchvision:resnet18", "kwargs": {"num_classes": 10**9}}}, path)
    return ["--checkpoint", str(path)]


def key_with_escape_sequence(scratch: Path) -> list[str]:
    import torch

    path = scratch / "escape.pt"
    torch.save({"state_dict": {"a\x1b[31mred" + "x" * 100_000: torch.zeros(1)}}, path)
    return ["--checkpoint", str(path)]


def symlink_loop(scratch: Path) -> list[str]:
    (scratch / "loop.pt").symlink_to(scratch / "loop.pt")
    return ["--checkpoint", str(scratch / "loop.pt")]


def idx_folder(scratch: Path, test_images: np.ndarray | None = None, test_labels: np.ndarray | None = None,
               gzip_images: bytes | None = None) -> Path:
    from analysis.data.datasets import write_idx

    folder = scratch / "mnist"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    write_idx(folder / "train-images-idx3-ubyte", rng.integers(0, 255, (20, 28, 28)))
    write_idx(folder / "train-labels-idx1-ubyte", np.arange(20) % 10)
    labels = np.arange(20) % 10 if test_labels is None else test_labels
    images = rng.integers(0, 255, (len(labels), 28, 28)) if test_images is None else test_images
    write_idx(folder / "t10k-labels-idx1-ubyte", labels)
    if gzip_images is not None:
        write(folder / "t10k-images-idx3-ubyte.gz", gzip_images)
    else:
        write_idx(folder / "t10k-images-idx3-ubyte", images)
    return folder


def idx_bomb(scratch: Path) -> list[str]:
    """A valid header for 20 images, then 512 MiB of zeros: about 0.5 MB compressed."""
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=9) as handle:
        handle.write(bytes([0, 0, 8, 3]) + (20).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2)
        block = bytes(1 << 20)
        for _ in range(512):
            handle.write(block)
    return ["--data", str(idx_folder(scratch, gzip_images=buffer.getvalue()))]


def idx_lying_header(scratch: Path) -> list[str]:
    folder = idx_folder(scratch)
    write(folder / "t10k-images-idx3-ubyte", bytes([0, 0, 8, 3]) + (2**31).to_bytes(4, "big") * 3)
    return ["--data", str(folder)]


def idx_truncated(scratch: Path) -> list[str]:
    folder = idx_folder(scratch)
    path = folder / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    return ["--data", str(folder)]


def image_folder(scratch: Path, classes=("circle", "square"), per_class: int = 5, size: int = 28) -> Path:
    from PIL import Image

    root = scratch / "images"
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for name in classes:
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return root


def image_folder_args(root: Path) -> list[str]:
    return ["--data", str(root), "--model", "torchvision:resnet18", "--model-kwargs", '{"num_classes": 2}',
            "--per-class", "2", "--input-size", "32"]


def image_bomb(scratch: Path) -> list[str]:
    from PIL import Image

    root = image_folder(scratch)
    Image.new("1", (12000, 12000)).save(root / "test" / "circle" / "big.png")  # 144 M pixels, a few KB
    return image_folder_args(root)


def image_that_is_text(scratch: Path) -> list[str]:
    root = image_folder(scratch)
    write(root / "test" / "square" / "notes.png", "this is not an image")
    return image_folder_args(root)


def image_truncated(scratch: Path) -> list[str]:
    """Its header is intact, so only decoding finds the damage: in a DataLoader worker, mid-pass."""
    root = image_folder(scratch)
    path = root / "test" / "square" / "3.png"
    path.write_bytes(path.read_bytes()[:-200])
    return [*image_folder_args(root), "--workers", "2"]


def image_classes_with_html(scratch: Path) -> list[str]:
    return image_folder_args(image_folder(scratch, classes=("<b>bold", "a&b")))


def symlinked_class_folder(scratch: Path) -> list[str]:
    root = image_folder(scratch)
    shutil.move(root / "test" / "square", scratch / "elsewhere")
    (root / "test" / "square").symlink_to(scratch / "elsewhere", target_is_directory=True)
    return image_folder_args(root)


# --- damage done to the build folder -----------------------------------------------------------------

def damage(name: str, content: str) -> Callable[[Path], None]:
    def apply(out: Path) -> None:
        (out / name).write_text(content)
    return apply


def lock_folder(out: Path) -> None:
    (out / ".lock").unlink(missing_ok=True)
    (out / ".lock").mkdir()


def edit_manifest(change: Callable[[dict], None]) -> Callable[[Path], None]:
    """A manifest edited where its hashes cannot see: the store must be analysed again."""
    def apply(out: Path) -> None:
        manifest = out / "stores" / (out / "current-store.txt").read_text().strip() / "manifest.json"
        document = json.loads(manifest.read_text())
        change(document)
        manifest.write_text(json.dumps(document))
    return apply


def edit_store(out: Path) -> None:
    store = out / "stores" / (out / "current-store.txt").read_text().strip()
    path = store / "model.json"
    path.write_text(path.read_text().replace('"class"', '"klass"', 1))


def damage_cache(out: Path) -> None:
    (cache,) = (out / "cache").glob("*.npz")
    cache.write_bytes(b"garbage")


def cp(scratch: Path, default: Path) -> list[str]:
    return ["--checkpoint", str(default)]


CASES = [
    # checkpoints
    Case("text file", "checkpoint", lambda s, d: ["--checkpoint", str(write(s / "notes.pt", "hello world\n"))],
         "refused", "is not a readable torch checkpoint"),
    Case("empty file", "checkpoint", lambda s, d: ["--checkpoint", str(write(s / "empty.pt", b""))],
         "refused", "is empty"),
    Case("folder", "checkpoint", lambda s, d: ["--checkpoint", str(s)], "refused", "is a folder"),
    Case("symlink loop", "checkpoint", lambda s, d: symlink_loop(s), "refused", "loop"),
    Case("missing file", "checkpoint", lambda s, d: ["--checkpoint", str(s / "nowhere.pt")],
         "refused", "does not exist"),
    Case("zip pickle with payload", "checkpoint", lambda s, d: pickled_payload(s, legacy=False, nested=False),
         "refused", "refused by the safe loader"),
    Case("bare pickle with payload", "checkpoint", lambda s, d: raw_pickle_payload(s), "refused", "checkpoint"),
    Case("safetensors header lies about sizes", "checkpoint", lambda s, d: lying_safetensors(s),
         "refused", "safetensors"),
    Case("model source importing this", "checkpoint",
         lambda s, d: checkpoint_with(s, d, model_config={"source": "this:Foo", "kwargs": {}}),
         "refused", "--model this:Foo"),
    Case("model source in the working folder", "checkpoint", module_in_working_folder, "refused",
         "--model evilmod:Net"),
    Case("model_config.source a number", "checkpoint",
         lambda s, d: checkpoint_with(s, d, model_config={"source": 5, "kwargs": {}}), "refused",
         "model_config.source"),
    Case("training record of another shape", "checkpoint", lambda s, d: checkpoint_with(s, d, training={"foo": 1}),
         "warned", "training"),
    Case("another architecture", "checkpoint", lambda s, d: other_architecture(s), "refused",
         "is for another architecture"),
    Case("model arguments making 2 TB of weights", "checkpoint", lambda s, d: huge_model_arguments(s), "refused",
         "GiB of parameters"),
    Case("state_dict key with an escape sequence, 100,000 characters", "checkpoint",
         lambda s, d: key_with_escape_sequence(s), "refused", "a\\x1b[31mred"),
    Case("NaN weights", "checkpoint", nan_weights, "warned", "NaN or infinite values in fc2.weight"),
    Case("the same checkpoint under another name", "checkpoint",
         lambda s, d: ["--checkpoint", str(shutil.copy(d, s / "renamed.pt"))], "accepted", "renamed.pt"),
    # data
    Case("IDX gzip bomb", "data", lambda s, d: idx_bomb(s), "refused", "t10k-images-idx3-ubyte.gz"),
    Case("IDX header promising 2**93 bytes", "data", lambda s, d: idx_lying_header(s), "refused",
         "t10k-images-idx3-ubyte"),
    Case("IDX truncated", "data", lambda s, d: idx_truncated(s), "refused", "truncated"),
    Case("IDX label outside the classes", "data",
         lambda s, d: ["--data", str(idx_folder(s, test_labels=np.array([0, 1, 200] * 4)))], "refused", "200"),
    Case("IDX labels beyond the model's outputs", "data",
         lambda s, d: [*cp(s, d), "--data", str(idx_folder(s, test_labels=np.arange(24) % 12)), "--class-names",
                       ",".join("abcdefghijkl")], "refused", "the model gives 10 class scores"),
    Case("IDX empty test split", "data",
         lambda s, d: ["--data", str(idx_folder(s, test_images=np.zeros((0, 28, 28)), test_labels=np.zeros(0)))],
         "refused", "no images"),
    Case("data folder missing", "data", lambda s, d: ["--data", str(s / "nowhere")], "refused", "does not exist"),
    Case("data a file", "data", lambda s, d: ["--data", str(write(s / "digits.csv", "1,2\n"))], "refused",
         "is a file, not a folder"),
    Case("image of 144 M pixels", "data", lambda s, d: image_bomb(s), "refused", "pixels"),
    Case("text file named .png", "data", lambda s, d: image_that_is_text(s), "refused", "notes.png"),
    Case("PNG truncated after its header", "data", lambda s, d: image_truncated(s), "stopped",
         "3.png (image file is truncated): remove or replace it"),
    Case("class names holding HTML", "data", lambda s, d: image_classes_with_html(s), "accepted"),
    Case("class folder that is a symlink", "data", lambda s, d: symlinked_class_folder(s), "accepted"),
    # options
    Case("--seed -1", "options", lambda s, d: ["--seed", "-1"], "refused", "argument --seed"),
    Case("--std 0", "options", lambda s, d: ["--std", "0"], "refused", "argument --std"),
    Case("--std nan", "options", lambda s, d: ["--std", "nan"], "refused", "argument --std"),
    Case("--mean inf", "options", lambda s, d: ["--mean", "inf"], "refused", "argument --mean"),
    Case("--model-kwargs without --model", "options", lambda s, d: ["--model-kwargs", '{"a": 1}'], "refused",
         "--model-kwargs needs --model"),
    Case("--model-kwargs not JSON", "options", lambda s, d: ["--model", "assignment", "--model-kwargs", "{"],
         "refused", "not valid JSON"),
    Case("--per-class 0", "options", lambda s, d: ["--per-class", "0"], "refused", "argument --per-class"),
    Case("--image-index beyond the split", "options", lambda s, d: [*cp(s, d), "--image-index", "99999"],
         "refused", "outside the test split"),
    Case("--classes repeated", "options", lambda s, d: ["--classes", "6", "6"], "refused", "repeats a class"),
    Case("--classes unknown", "options", lambda s, d: [*cp(s, d), "--classes", "6", "seven"], "refused",
         "unknown class 'seven'"),
    Case("--layers unknown", "options", lambda s, d: [*cp(s, d), "--layers", "fc9"], "refused",
         "unknown layer 'fc9'"),
    Case("--embedding-layer unknown", "options", lambda s, d: [*cp(s, d), "--embedding-layer", "fc9"], "refused",
         "fc9"),
    Case("--format docx", "options", lambda s, d: ["--format", "docx"], "refused", "argument --format"),
    Case("--sections unknown", "options", lambda s, d: ["--sections", "everything"], "refused",
         "argument --sections"),
    Case("--input-size 100000", "options", lambda s, d: ["--input-size", "100000"], "refused",
         "argument --input-size"),
    Case("--layers not giving maps", "options", lambda s, d: [*cp(s, d), "--layers", "fc1"], "refused",
         "not image maps"),
    Case("--layers repeated", "options", lambda s, d: ["--layers", "conv1", "conv1"], "refused", "repeats a layer"),
    Case("--attribution-layers activations without the activation section", "options",
         lambda s, d: ["--attribution-layers", "activations"], "refused", "add activations to --sections",
         sections="accuracy,attribution"),
    Case("--embedding-layer empty", "options", lambda s, d: ["--embedding-layer", ""], "refused",
         "--embedding-layer is empty"),
    Case("--class-names 5,000 characters", "options", lambda s, d: ["--class-names", "a" * 5000], "refused",
         "argument --class-names"),
    Case("SOURCE_DATE_EPOCH not a time", "options", lambda s, d: [], "refused", "SOURCE_DATE_EPOCH",
         env=(("SOURCE_DATE_EPOCH", "99999999999999999999"),)),
    Case("REPORT_PDF_MEMORY not a size", "options", lambda s, d: [], "refused", "REPORT_PDF_MEMORY",
         env=(("REPORT_PDF_MEMORY", "abc"),)),
    Case("SOURCE_DATE_EPOCH a superscript digit", "options", lambda s, d: [], "refused", "SOURCE_DATE_EPOCH",
         env=(("SOURCE_DATE_EPOCH", "\u00b2"),)),
    Case("REPORT_PDF_MEMORY a superscript digit", "options", lambda s, d: [], "refused", "REPORT_PDF_MEMORY",
         env=(("REPORT_PDF_MEMORY", "\u00b2"),)),
    Case("REPORT_PDF_MEMORY beyond what setrlimit takes", "options", lambda s, d: [], "refused", "REPORT_PDF_MEMORY",
         env=(("REPORT_PDF_MEMORY", "9" * 30),)),
    Case("REPORT_PDF_MEMORY with an Arabic-Indic digit", "options", lambda s, d: [], "refused", "REPORT_PDF_MEMORY",
         env=(("REPORT_PDF_MEMORY", "\u0663" * 10),)),
    Case("REPORT_THREADS zero", "options", lambda s, d: [], "refused", "REPORT_THREADS",
         env=(("REPORT_THREADS", "0"),)),
    Case("REPORT_THREADS not a number", "options", lambda s, d: [], "refused", "REPORT_THREADS",
         env=(("REPORT_THREADS", "all"),)),
    Case("stdout and stderr in ASCII, a checkpoint named in Greek", "options",
         lambda s, d: ["--checkpoint", str(shutil.copy(d, s / "\u03bc\u03bf\u03bd\u03c4\u03ad\u03bb\u03bf.pt"))],
         "accepted", env=(("PYTHONIOENCODING", "ascii"),)),
    Case("--wait -1", "options", lambda s, d: ["--wait", "-1"], "refused", "argument --wait"),
    Case("--class-names with an empty name", "options", lambda s, d: ["--class-names", "a,,b"], "refused",
         "argument --class-names"),
    Case("unknown option", "options", lambda s, d: ["--colour", "red"], "refused", "unrecognized arguments"),
    Case("--model module missing", "options", lambda s, d: ["--model", "nosuchmodule:Net"], "refused",
         "cannot be imported"),
    Case("--model torchvision name unknown", "options", lambda s, d: ["--model", "torchvision:resnet9000"],
         "refused", "resnet9000"),
    # state of the build folder
    Case("render.json garbage", "state", cp, "warned", "render.json is damaged", before=damage("render.json", "garbage{")),
    Case("render.json a list", "state", cp, "warned", "render.json is damaged", before=damage("render.json", "[]")),
    Case("current-store.txt points outside", "state", lambda s, d: [], "refused", "current-store.txt is damaged",
         command=("render",), before=damage("current-store.txt", "../../../etc\n")),
    Case("current-store.txt empty", "state", lambda s, d: [], "refused", "current-store.txt is damaged",
         command=("render",), before=damage("current-store.txt", "")),
    Case(".lock a folder", "state", cp, "refused", "is not the lock file", before=lock_folder),
    Case("journal damaged", "state", cp, "warned", "report-journal.json is damaged",
         before=damage(".report-journal.json", "{")),
    Case("store edited by hand", "state", cp, "accepted", before=edit_store),
    Case("digits cache damaged", "state", cp, "accepted", before=damage_cache),
    Case("manifest without data_description", "state", cp, "accepted",
         before=edit_manifest(lambda m: m.pop("data_description"))),
    Case("manifest files a list", "state", cp, "accepted", before=edit_manifest(lambda m: m.update(files=[]))),
    Case("manifest listing ../../etc/passwd", "state", cp, "accepted",
         before=edit_manifest(lambda m: m["files"].update({"../../../../etc/passwd": "00"}))),
    # in a fresh interpreter: what torch and the other libraries write when imported counts too
    Case("whole-split sections write nothing under HOME", "state", cp, "accepted", sections="all", fresh=True),
    Case("report.html and current-store.txt deleted", "state", cp, "accepted",
         before=lambda out: [(out / n).unlink() for n in ("report.html", "current-store.txt")]),
]


# --- the harness -------------------------------------------------------------------------------------

def snapshot(folder: Path) -> dict[str, bytes | None]:
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() and not p.is_symlink() else None)
            for p in sorted(folder.rglob("*"))}


# `baseline`, the finished build every case copies (assignment sections, HTML and PDF, with a user's hidden
# files planted in it), is a session fixture of conftest.py: the signal tests start from it too.


def store_in_html(out: Path) -> str:
    pointer = (out / "current-store.txt").read_text().strip()
    assert pointer in (out / "report.html").read_text(), "the report does not name the current store"
    return pointer


@pytest.mark.parametrize("case", CASES, ids=[f"{c.kind}: {c.id}" for c in CASES])
def test_hostile_case(case, baseline, default_checkpoint, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(baseline, out, symlinks=True)
    scratch, home, tmp = (tmp_path / name for name in ("inputs", "home", "tmp"))
    for folder in (scratch, home, tmp):
        folder.mkdir()
    arguments = case.make(scratch, default_checkpoint)
    if case.before:
        case.before(out)
    state = {name: (out / name).read_bytes() for name in STATE if (out / name).is_file()}
    outside = {name: snapshot(folder) for name, folder in (("home", home), ("tmp", tmp), ("inputs", scratch))}
    command = [*case.command] if case.command else []
    extra = [] if case.command else ["--sections", case.sections, "--format", "html"]
    env = {**os.environ, "HOME": str(home), "TMPDIR": str(tmp), "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg",
           **dict(case.env)}
    env.pop("MPLCONFIGDIR", None)  # matplotlib must not write under HOME without being told where
    # the working folder holds the case's inputs, so a module named by a checkpoint is importable from it;
    # `python -m report` in a process of its own (forked with torch imported, tests/clirunner.py)
    result = run_process([*command, *arguments, *extra, "--out", str(out)], env, scratch, dict(case.env),
                         fresh=case.fresh)
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert not [c for c in result.stderr if ord(c) < 32 and c not in "\n"], "control characters reach the terminal"
    assert not (scratch / MARKER_FILE).exists(), "a payload ran"
    assert "Beautiful is better than ugly" not in output, "a module named by the checkpoint was imported"
    for name in SENTINELS:
        assert (out / name).read_text() == f"user data {name}", f"{name} was touched"
    assert {name: snapshot(folder) for name, folder in (("home", home), ("tmp", tmp), ("inputs", scratch))} \
        == outside, "something outside the build folder was created or deleted"
    if case.expect in ("refused", "stopped"):
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2, output
        if case.expect == "stopped":  # what only decoding finds stops the pass it was found in
            assert lines[:-1] and all(line.startswith("report: analysing ") for line in lines[:-1]), output
            lines = lines[-1:]
        assert len(lines) == 1 and lines[0].startswith("report: error: "), output
        assert case.says in lines[0], output
        assert {name: (out / name).read_bytes() for name in state} == state, "the previous report changed"
        from analysis.store.writer import TMP_PREFIX

        assert not list(out.glob(f"stores/{TMP_PREFIX}*")), "an aborted store was left behind"
        return
    assert result.returncode == 0, output
    store_in_html(out)
    if case.expect == "warned":
        assert case.says in result.stderr or case.says in (out / "report.html").read_text(), output
    elif case.says:
        assert case.says in (out / "report.html").read_text()


def test_every_kind_of_input_has_cases_of_every_expected_outcome():
    kinds = {c.kind for c in CASES}
    assert kinds == {"checkpoint", "data", "options", "state"}
    assert {c.expect for c in CASES} == {"refused", "stopped", "accepted", "warned"}
    assert len({c.id for c in CASES}) == len(CASES)
