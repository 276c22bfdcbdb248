"""Every interpretation sentence of five reports, to read them and to see what a change rewrote.

    .venv/bin/python bench/sentences.py WORKDIR LABEL > sentences-LABEL.txt

Builds in WORKDIR/LABEL: the default report; a 1-epoch checkpoint; resnet18 with random weights on a 3-class
image folder (10 test images per class); a user LeNet that applies F.relu and torch.flatten as functions
(random weights); and the compare report of the 1-epoch and the 10-epoch checkpoints. The data, the LeNet
module and the checkpoints are made once in WORKDIR and shared by every LABEL. Prints each report's notes
as "[scenario] rule/branch: text", in report order; diff two LABELs to list the sentences that changed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from equivalence import image_folder  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
LENET = '''import torch
from torch import nn
from torch.nn import functional as F


class LeNet(nn.Module):
    """LeNet-5 as many course notebooks write it: activations and flattening as functions."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))
'''


def report(*args: str, cwd: Path = ROOT) -> None:
    env = {**os.environ, "SOURCE_DATE_EPOCH": "0", "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-m", "report", *args, "--quiet"], cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, env=env)


def notes(build: Path, name: str) -> list[str]:
    path = build / name
    if not path.exists():
        return []
    return [f"{n['rule']}/{n['branch']}: {n['text']}" for n in json.loads(path.read_text())["notes"]]


def compare_sentences(build: Path) -> list[str]:
    """The compare page keeps no notes file: its sentences are the page's notes (data-rule paragraphs)."""
    import html
    import re

    page = (build / "compare.html").read_text()
    return [f"{rule}: {html.unescape(re.sub(r'<[^>]+>', '', text)).strip()}"
            for rule, text in re.findall(r'<p class="note" data-rule="([^"]+)">(.*?)</p>', page, re.S)]


def main(work: Path, label: str) -> None:
    work.mkdir(parents=True, exist_ok=True)
    if not (work / "shapes").exists():
        image_folder(work / "shapes", per_split=10)
    (work / "lenet.py").write_text(LENET)
    for epochs in (1, 10):
        if not (work / f"e{epochs}.pt").exists():
            report("train", "--epochs", str(epochs), "--save", str(work / f"e{epochs}.pt"))
    out = work / label
    report("--out", str(out / "default"), "--format", "html")
    report("--checkpoint", str(work / "e1.pt"), "--out", str(out / "epoch1"), "--format", "html")
    report("--model", "torchvision:resnet18", "--model-kwargs", '{"num_classes": 3}', "--data", str(work / "shapes"),
           "--out", str(out / "resnet18"), "--format", "html")
    report("--model", "lenet:LeNet", "--out", str(out / "lenet"), "--format", "html", cwd=work)
    report("compare", str(work / "e1.pt"), str(work / "e10.pt"), "--out", str(out / "compare"), "--format", "html")
    for scenario in ("default", "epoch1", "resnet18", "lenet"):
        for line in notes(out / scenario, "notes.json"):
            print(f"[{scenario}] {line}")
    for line in compare_sentences(out / "compare"):
        print(f"[compare] {line}")


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve(), sys.argv[2])
