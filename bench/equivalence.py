"""Digest of what a refactoring must keep: store documents, images and notes of three reports.

    .venv/bin/python bench/equivalence.py WORKDIR LABEL > digest-LABEL.json

Builds, in WORKDIR/LABEL, the default report (training the default checkpoint), a resnet18 report on a small
generated image folder, and a compare report of two short training runs; then prints the sha256 of
every store file, of each notes.json and of the compare page's sentences. The generated data and the two
compared checkpoints are made once in WORKDIR and shared by every LABEL (a checkpoint records its training
time, so retraining would change its bytes). What changes by design is masked: the manifest's
``code_version`` and store key (any edit of the analysis code changes them) and the training time of the
default checkpoint (retrained when the training code changes). Everything else must match byte for byte.
Run it at two commits with the same WORKDIR and diff the outputs.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def image_folder(root: Path, per_split: int = 6) -> Path:
    """Small RGB images of three drawable classes: the generator the tests use."""
    sys.path.insert(0, str(ROOT / "tests"))
    from synthetic import make_image_folder

    return make_image_folder(root, per_split=per_split)


def report(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "report", *args, "--quiet"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL, env={**os.environ, "SOURCE_DATE_EPOCH": "0"})  # no dates in pages


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def without_code(manifest: dict, retrained: bool, drawn: dict | None = None) -> dict:
    """The manifest minus what names the code version (it changes with every edit, by design); for a
    ``retrained`` default checkpoint also minus its sha256 and evaluation.json's (both hold the training
    time; evaluation.json is digested apart without it). Since issue 31 a store holds the arrays its figures are
    drawn from (``arrays/``) and its images are in its figures folder (``drawn``: that folder's manifest files):
    the files listed are the store's without its arrays, and the images wherever they are, as before."""
    inputs = {k: v for k, v in manifest.get("inputs", {}).items() if k != "code_version"}
    files = {k: v for k, v in manifest.get("files", {}).items() if not k.startswith("arrays/")} | (drawn or {})
    if retrained:
        inputs["checkpoint"] = {k: v for k, v in inputs["checkpoint"].items() if k != "sha256"}
        files.pop("evaluation.json", None)
    return {**{k: v for k, v in manifest.items() if k not in ("inputs", "key", "files")}, "inputs": inputs,
            "files": files}


def without_time(document: dict) -> dict:
    """evaluation.json without the training time (it differs between two otherwise identical trainings)."""
    if isinstance(document.get("training"), dict):
        document["training"] = {k: v for k, v in document["training"].items() if k != "seconds"}
    return document


def notes_without_time(text: str) -> str:
    text = re.sub(r'"seconds": [0-9.]+', '"seconds": T', text)
    return re.sub(r"images in [0-9.,]+ s ", "images in T s ", text)


def digest_folder(build: Path, retrained: bool = False) -> dict:
    result = {}
    for store in sorted((build / "stores").glob("*/")):
        figures = build / "figures" / store.name  # the store's images, drawn from its arrays (issue 31)
        drawn = json.loads((figures / "manifest.json").read_text())["files"] if figures.is_dir() else {}
        named = {p.relative_to(store).as_posix(): p for p in store.rglob("*") if p.is_file()}
        named = {name: path for name, path in named.items() if not name.startswith("arrays/")}
        named |= {p.relative_to(figures).as_posix(): p for p in figures.rglob("*") if p.is_file()
                  and p.name != "manifest.json"} if drawn else {}
        files = {}
        for name, path in sorted(named.items()):
            if name == "manifest.json":
                files[name] = sha(json.dumps(without_code(json.loads(path.read_text()), retrained, drawn),
                                             sort_keys=True).encode())
            elif name == "evaluation.json":
                files[name] = sha(json.dumps(without_time(json.loads(path.read_text())), sort_keys=True).encode())
            else:
                files[name] = sha(path.read_bytes())
        result[f"store {files['manifest.json']}"] = files
    for compare in sorted((build / "compares").glob("*/")):
        document = json.loads((compare / "compare.json").read_text())
        for side in ("a", "b"):
            document[side].pop("store")  # a store's name includes the code version
        result["compare.json"] = sha(json.dumps(document, sort_keys=True).encode())
        result["drift.png"] = sha((compare / "images" / "drift.png").read_bytes())
    if (build / "notes.json").exists():
        result["notes.json"] = sha(notes_without_time((build / "notes.json").read_text()).encode())
    if (build / "compare.html").exists():  # its sentences; store names (16 hex digits) masked
        text = re.sub(r"[0-9a-f]{16}", "KEY", (build / "compare.html").read_text())
        text = re.sub(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\dZ| UTC)", "DATE", text)  # runs without SOURCE_DATE_EPOCH
        result["compare.html"] = sha(text.encode())
    return result


def main(work: Path, label: str) -> None:
    work.mkdir(parents=True, exist_ok=True)
    images = work / "shapes"
    if not images.exists():
        image_folder(images)
    for epochs in (1, 2):
        if not (work / f"e{epochs}.pt").exists():
            report("train", "--epochs", str(epochs), "--save", str(work / f"e{epochs}.pt"))
    out = work / label
    report("--out", str(out / "default"))
    report("--model", "torchvision:resnet18", "--model-kwargs", '{"num_classes": 3}', "--data", str(images),
           "--out", str(out / "resnet18"))
    report("compare", str(work / "e1.pt"), str(work / "e2.pt"), "--out", str(out / "compare"))
    digest = {name: digest_folder(out / name, retrained=name == "default") for name in ("default", "resnet18", "compare")}
    json.dump(digest, sys.stdout, indent=1, sort_keys=True)
    print()


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve(), sys.argv[2])
