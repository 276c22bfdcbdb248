"""The scenario zoo: small, seeded data sets, checkpoints and model modules on which the report is known to
go wrong in ways the MNIST default never shows (issue 30). Each generator writes everything into the folder
it is given and returns a ``Scenario``: the command-line arguments that build its report (run with the
scenario's folder as the working folder, so that ``--model zoo_nets:...`` imports from it), and for the
1-epoch scenario the compare and history commands too.

    from scenarios import SCENARIOS, make
    scenario = make("colours-imbalanced", folder)
    run_cli(*scenario.build, "--out", str(out), cwd=scenario.cwd)

Every generator builds in a few seconds on two busy cores (the one-epoch scenario trains the assignment CNN
for three epochs in all, about 10-20 s), is deterministic for its seed, and checks the property that makes
it a scenario (blue never predicted, 100 % on the tiny split, ...) so a test never runs on a case that lost
its point. Torch's global state (RNG, threads) is restored when a generator returns.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import sys
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
MODULE = "zoo_nets"  # the model module written into every scenario folder that needs one

NETS = '''"""Models of the scenario zoo (tests/scenarios.py), imported by the report as zoo_nets:ClassName."""
import torch
from torch import nn
from torch.nn import functional as F


class SmallCNN(nn.Module):
    """Two convolutions, global average pooling and two fully connected layers."""

    def __init__(self, num_classes: int = 3, in_channels: int = 3, width: int = 8):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(width, 2 * width, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(2 * width, 16)
        self.relu3 = nn.ReLU()
        self.head = nn.Linear(16, num_classes)

    def forward(self, x):
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.flatten(self.pool2(self.relu2(self.conv2(x))))
        return self.head(self.relu3(self.fc1(x)))


class Attention(nn.Module):
    """timm's ViT attention: one qkv projection, heads split by reshape and permute, fused attention."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        x = F.scaled_dot_product_attention(q, k, v)
        x = x.transpose(1, 2).reshape(B, N, C)
        return self.proj(x)


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim: int, num_heads: int, mlp_ratio: int = 2):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, dim * mlp_ratio)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class TinyViT(nn.Module):
    """A timm-style vision transformer, tiny: patch embedding by a strided convolution, a class token and
    position embeddings as parameters, pre-norm blocks, the head reading the class token (x[:, 0])."""

    def __init__(self, num_classes: int = 4, img_size: int = 32, patch_size: int = 8, dim: int = 32,
                 depth: int = 2, num_heads: int = 4, in_chans: int = 3):
        super().__init__()
        self.patch_embed = nn.Conv2d(in_chans, dim, patch_size, stride=patch_size)
        num_patches = (img_size // patch_size) ** 2
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, num_patches + 1, dim) * 0.02)
        self.blocks = nn.Sequential(*[Block(dim, num_heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x):
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1)
        x = self.blocks(x + self.pos_embed)
        x = self.norm(x)
        return self.head(x[:, 0])
'''

CIFAR100_NAMES = (
    "apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus butterfly camel can "
    "castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile cup dinosaur dolphin "
    "elephant flatfish forest fox girl hamster house kangaroo keyboard lamp lawn_mower leopard lion lizard lobster "
    "man maple_tree motorcycle mountain mouse mushroom oak_tree orange orchid otter palm_tree pear pickup_truck "
    "pine_tree plain plate poppy porcupine possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk "
    "skyscraper snail snake spider squirrel streetcar sunflower sweet_pepper table tank telephone television tiger "
    "tractor train trout tulip turtle wardrobe whale willow_tree wolf woman worm").split()

COLOURS = ("red", "green", "blue")
COLOUR_RGB = {"red": (200, 45, 45), "green": (45, 200, 45), "blue": (45, 45, 200)}


@dataclasses.dataclass(frozen=True)
class Scenario:
    """What a generator made: run ``build`` (and ``compare``/``history`` where set) with ``cwd`` as the
    working folder and an ``--out`` of your own. ``facts`` are properties the generator checked (accuracy,
    counts), for tests that need to know what the report should say."""

    name: str
    cwd: Path
    build: list[str]
    compare: list[str] | None = None
    history: list[str] | None = None
    facts: dict = dataclasses.field(default_factory=dict)


# --- helpers -------------------------------------------------------------------------------------------

class _TorchState:
    """Restores torch's global RNG and thread count: the generators run inside the test process."""

    def __enter__(self):
        import torch

        self.threads = torch.get_num_threads()
        self.rng = torch.random.get_rng_state()
        torch.set_num_threads(2)
        return torch

    def __exit__(self, *exc):
        import torch

        torch.set_num_threads(self.threads)
        torch.random.set_rng_state(self.rng)
        return False


def write_nets(folder: Path):
    """zoo_nets.py in ``folder``, and the module as loaded from there (under a name of its own, so two
    folders never share a cached module)."""
    path = folder / f"{MODULE}.py"
    path.write_text(NETS)
    spec = importlib.util.spec_from_file_location(f"_zoo_nets_{abs(hash(str(folder)))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_npz(path: Path, x_train, y_train, x_test, y_test) -> Path:
    np.savez(path, x_train=np.asarray(x_train, np.uint8), y_train=np.asarray(y_train, np.int64),
             x_test=np.asarray(x_test, np.uint8), y_test=np.asarray(y_test, np.int64))
    return path


def to_tensor(images: np.ndarray, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)):
    """(N, H, W, C) uint8 as the report feeds RGB arrays: [0, 1], normalised with ImageNet's statistics
    (the tool's default for RGB), channels first."""
    import torch

    x = torch.from_numpy(images.astype(np.float32) / 255.0).permute(0, 3, 1, 2)
    return (x - torch.tensor(mean).view(1, -1, 1, 1)) / torch.tensor(std).view(1, -1, 1, 1)


def fit(model, x, y, epochs: int, lr: float = 1e-2, batch: int = 64, seed: int = 0) -> None:
    import torch

    generator = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    y = torch.as_tensor(y, dtype=torch.long)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), batch):
            idx = order[start:start + batch]
            optimiser.zero_grad()
            loss_fn(model(x[idx]), y[idx]).backward()
            optimiser.step()
    model.eval()


def predictions(model, x) -> np.ndarray:
    import torch

    with torch.no_grad():
        return model(x).argmax(1).numpy()


def save(path: Path, model, source: str, kwargs: dict, **extra) -> Path:
    import torch

    torch.save({"state_dict": model.state_dict(), "model_config": {"source": source, "kwargs": kwargs},
                **extra}, path)
    return path


def names_arg(names) -> list[str]:
    return ["--class-names", ",".join(names)]


def model_args(cls: str, kwargs: dict) -> list[str]:
    return ["--model", f"{MODULE}:{cls}", "--model-kwargs", json.dumps(kwargs, sort_keys=True)]


# --- (0) the default report ----------------------------------------------------------------------------

def default(folder: Path) -> Scenario:
    """`make report`: the default checkpoint trained on the embedded digits (the tool trains it)."""
    folder.mkdir(parents=True, exist_ok=True)
    return Scenario("default", folder, [])


# --- (1) colours, imbalanced, one class never predicted -------------------------------------------------

def colour_images(rng, looks: list[str], size: int = 16) -> np.ndarray:
    """One flat colour per image (as ``looks`` says) with pixel noise and a random brightness."""
    base = np.array([COLOUR_RGB[look] for look in looks], np.float32)[:, None, None, :]
    brightness = rng.uniform(0.8, 1.2, (len(looks), 1, 1, 1))
    noise = rng.normal(0, 25, (len(looks), size, size, 3))
    return np.clip(base * brightness + noise, 0, 255).astype(np.uint8)


def colours_data(seed: int = 0):
    """Train: 400 red, 100 green and no blue (a class the network never learns). Test: 300/30/10, where 15
    of the red images and 1 green image look like the other colour (label noise the network cannot fix), so
    a network that has learned red and green gets (285 + 29) / 340 = 92.4 %, the majority class 88.2 %."""
    rng = np.random.default_rng(seed)
    train_looks = ["red"] * 400 + ["green"] * 100
    y_train = [0] * 400 + [1] * 100
    test_looks = ["red"] * 285 + ["green"] * 15 + ["green"] * 29 + ["red"] * 1 + ["blue"] * 10
    y_test = [0] * 300 + [1] * 30 + [2] * 10
    return (colour_images(rng, train_looks), np.array(y_train), colour_images(rng, test_looks), np.array(y_test))


def colours_checkpoint(folder: Path) -> tuple[Path, dict]:
    """The trained SmallCNN for the colour data (folder/colours.pt) and what it gets right."""
    kwargs = {"num_classes": 3, "in_channels": 3}
    nets = write_nets(folder)
    x_train, y_train, x_test, y_test = colours_data()
    with _TorchState() as torch:
        torch.manual_seed(0)
        model = nets.SmallCNN(**kwargs)
        fit(model, to_tensor(x_train), y_train, epochs=4)
        predicted = predictions(model, to_tensor(x_test))
        checkpoint = save(folder / "colours.pt", model, f"{MODULE}:SmallCNN", kwargs)
    facts = {"accuracy": float((predicted == y_test).mean()), "predicted": predicted.tolist(),
             "labels": y_test.tolist()}
    if (predicted == 2).any() or not 0.88 < facts["accuracy"] < 0.96:
        raise RuntimeError(f"colours scenario lost its point: accuracy {facts['accuracy']:.3f}, "
                           f"blue predicted {(predicted == 2).sum()} times")
    return checkpoint, facts


def colours_imbalanced(folder: Path) -> Scenario:
    folder.mkdir(parents=True, exist_ok=True)
    checkpoint, facts = colours_checkpoint(folder)
    data = write_npz(folder / "colours.npz", *colours_data())
    args = ["--checkpoint", str(checkpoint), "--data", str(data), *names_arg(COLOURS),
            *model_args("SmallCNN", {"num_classes": 3, "in_channels": 3})]
    return Scenario("colours-imbalanced", folder, args, facts=facts)


# --- (2) the same checkpoint, labels in another order --------------------------------------------------

PERMUTATION = (1, 2, 0)  # data label of the images the network learned as red, green, blue


def permuted(folder: Path) -> Scenario:
    """The colours checkpoint on its data with every label moved (red images labelled 1, green 2, blue 0);
    the class names follow the images, so the network's output 0 ("red" to it) is now called blue."""
    folder.mkdir(parents=True, exist_ok=True)
    checkpoint, facts = colours_checkpoint(folder)
    x_train, y_train, x_test, y_test = colours_data()
    move = np.array(PERMUTATION)
    data = write_npz(folder / "permuted.npz", x_train, move[y_train], x_test, move[y_test])
    names = [COLOURS[PERMUTATION.index(label)] for label in range(3)]  # blue, red, green
    accuracy = float((np.array(facts["predicted"]) == move[y_test]).mean())
    args = ["--checkpoint", str(checkpoint), "--data", str(data), *names_arg(names),
            *model_args("SmallCNN", {"num_classes": 3, "in_channels": 3})]
    return Scenario("permuted", folder, args,
                    facts={"accuracy": accuracy, "permutation": list(PERMUTATION), "class_names": names})


# --- (3) a tiny ViT with random weights ----------------------------------------------------------------

def tiny_vit(folder: Path) -> Scenario:
    """TinyViT (image 32, patch 8, dim 32, 4 heads, 2 blocks) with the tool's seeded random weights on 4
    classes of 32×32 RGB noise with a class-dependent tint (10 test images each)."""
    folder.mkdir(parents=True, exist_ok=True)
    nets = write_nets(folder)
    rng = np.random.default_rng(3)
    classes = 4

    def images(per_class):
        tint = rng.uniform(40, 215, (classes, 1, 1, 3))
        x = np.concatenate([np.clip(tint[c] + rng.normal(0, 40, (per_class, 32, 32, 3)), 0, 255)
                            for c in range(classes)])
        return x.astype(np.uint8), np.repeat(np.arange(classes), per_class)

    data = write_npz(folder / "vit.npz", *images(5), *images(10))
    kwargs = {"num_classes": classes}
    with _TorchState():
        nets.TinyViT(**kwargs)(to_tensor(images(1)[0]))  # the module runs as written
    return Scenario("tiny-vit", folder, ["--data", str(data), *names_arg(["cat", "dog", "fox", "owl"]),
                                         *model_args("TinyViT", kwargs)])


# --- (4) a hundred classes, five test images each, random weights --------------------------------------

def hundred_classes(folder: Path) -> Scenario:
    """SmallCNN for 100 classes with the tool's random weights (seed 0) on 32×32 RGB images of nearly the same
    grey (one train image and five test images per class), class names as CIFAR-100's (apple, aquarium_fish,
    baby, ... plate ...). Images this alike give nearly the same features, so the random network's predictions
    collapse onto one class (341 of 500 here), as issue 30 found on real data."""
    folder.mkdir(parents=True, exist_ok=True)
    nets = write_nets(folder)
    rng = np.random.default_rng(4)
    classes = 100
    tint = rng.uniform(110, 140, (classes, 1, 1, 3))

    def images(per_class):
        x = np.concatenate([np.clip(tint[c] + rng.normal(0, 10, (per_class, 32, 32, 3)), 0, 255)
                            for c in range(classes)])
        return x.astype(np.uint8), np.repeat(np.arange(classes), per_class)

    train, test = images(1), images(5)
    data = write_npz(folder / "hundred.npz", *train, *test)
    kwargs = {"num_classes": classes, "in_channels": 3}
    with _TorchState() as torch:
        torch.manual_seed(0)  # the weights the tool makes with --seed 0 (analysis.scoped.seed_torch)
        counts = np.bincount(predictions(nets.SmallCNN(**kwargs).eval(), to_tensor(test[0])), minlength=classes)
    if counts.max() < len(test[1]) / 2:
        raise RuntimeError(f"hundred-classes scenario lost its point: the most-predicted class takes "
                           f"{counts.max()} of {len(test[1])}")
    return Scenario("hundred-classes", folder, ["--data", str(data), *names_arg(CIFAR100_NAMES),
                                                *model_args("SmallCNN", kwargs)],
                    facts={"most_predicted": CIFAR100_NAMES[int(counts.argmax())], "count": int(counts.max())})


# --- (5) two separable classes, a 12-image test split --------------------------------------------------

def stripes(rng, horizontal: bool, count: int, size: int = 16) -> np.ndarray:
    phase = rng.integers(0, 4, count)
    line = (np.arange(size)[None, :] + phase[:, None]) % 4 < 2          # (count, size)
    grid = line[:, :, None] if horizontal else line[:, None, :]        # stripes across rows or columns
    grid = np.broadcast_to(grid, (count, size, size))
    x = np.where(grid, 210.0, 40.0)[..., None] + rng.normal(0, 15, (count, size, size, 3))
    return np.clip(x, 0, 255).astype(np.uint8)


def tiny_separable(folder: Path) -> Scenario:
    """Horizontal against vertical stripes: 60 train and 6 test images per class, SmallCNN trained until
    every test image is right (the report should give 100 % an interval: Wilson's lower bound is 75.8 %)."""
    folder.mkdir(parents=True, exist_ok=True)
    nets = write_nets(folder)
    rng = np.random.default_rng(5)
    x_train = np.concatenate([stripes(rng, True, 60), stripes(rng, False, 60)])
    y_train = np.repeat([0, 1], 60)
    x_test = np.concatenate([stripes(rng, True, 6), stripes(rng, False, 6)])
    y_test = np.repeat([0, 1], 6)
    kwargs = {"num_classes": 2, "in_channels": 3}
    with _TorchState() as torch:
        torch.manual_seed(5)
        model = nets.SmallCNN(**kwargs)
        fit(model, to_tensor(x_train), y_train, epochs=15, lr=5e-3, batch=30, seed=5)
        right = float((predictions(model, to_tensor(x_test)) == y_test).mean())
        checkpoint = save(folder / "separable.pt", model, f"{MODULE}:SmallCNN", kwargs)
    if right != 1.0:
        raise RuntimeError(f"tiny-separable scenario lost its point: {right:.3f} of the test split right")
    data = write_npz(folder / "separable.npz", x_train, y_train, x_test, y_test)
    return Scenario("tiny-separable", folder,
                    ["--checkpoint", str(checkpoint), "--data", str(data), *names_arg(["horizontal", "vertical"]),
                     *model_args("SmallCNN", kwargs)], facts={"accuracy": right})


# --- (6) one epoch against two: compare and history ----------------------------------------------------

def train_run(folder: Path, epochs: int, prefix: str, seed: int, cache: Path) -> list[Path]:
    """The assignment CNN trained as the tool trains it (Adam, one-cycle, batch 64) on the embedded digits,
    one checkpoint per epoch (``<prefix>-epoch<N>.pt``) carrying the run's record up to that epoch, its
    position and the configs the default checkpoint carries."""
    import time

    from analysis.config import TrainConfig, default_normalisation
    from analysis.data.datasets import load_embedded
    from analysis.models.assignment import AssignmentCNN
    from analysis.models.inference import to_input

    splits = load_embedded(cache)  # the parsed digits, kept outside the checkpoint folder
    mean, std = default_normalisation(1)
    config = TrainConfig(epochs=epochs, seed=seed)
    paths = []
    with _TorchState() as torch:
        torch.manual_seed(seed)
        model = AssignmentCNN()
        optimiser = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
        steps = -(-len(splits.train) // config.batch_size)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=config.learning_rate,
                                                       total_steps=epochs * steps)
        x_train, y_train = to_input(splits.train.images, mean, std), torch.from_numpy(splits.train.labels)
        x_test = to_input(splits.test.images, mean, std)
        generator = torch.Generator().manual_seed(seed)
        history, started = [], time.perf_counter()
        for epoch in range(1, epochs + 1):
            model.train()
            order, total = torch.randperm(len(x_train), generator=generator), 0.0
            for start in range(0, len(order), config.batch_size):
                idx = order[start:start + config.batch_size]
                optimiser.zero_grad()
                loss = torch.nn.functional.cross_entropy(model(x_train[idx]), y_train[idx])
                loss.backward()
                optimiser.step()
                schedule.step()
                total += float(loss.detach()) * len(idx)
            model.eval()
            accuracy = float((predictions(model, x_test) == splits.test.labels).mean())
            history.append({"epoch": epoch, "train_loss": total / len(order), "test_accuracy": accuracy})
            record = {"config": config.to_dict(), "seconds": time.perf_counter() - started,
                      "history": list(history), "test_accuracy": accuracy,
                      "n_train": len(splits.train), "n_test": len(splits.test)}
            paths.append(save(folder / f"{prefix}-epoch{epoch}.pt", model, "assignment", {}, training=record,
                              data_config={"mean": list(mean), "std": list(std),
                                           "class_names": list(splits.class_names)}, epoch=epoch))
    return paths


def one_epoch(folder: Path) -> Scenario:
    """A 2-epoch run saved after each epoch (runs/two-epoch1.pt, two-epoch2.pt) and a separate 1-epoch run
    (runs/one-epoch1.pt, another seed). Build: the 1-epoch checkpoint. Compare: 1 epoch against 2. History:
    the runs/ folder, where the separate run must not pass for epoch 1 of the 2-epoch run."""
    runs = folder / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    two = train_run(runs, 2, "two", seed=0, cache=folder / "cache")
    (one,) = train_run(runs, 1, "one", seed=1, cache=folder / "cache")
    return Scenario("one-epoch", folder, ["--checkpoint", str(one)],
                    compare=["compare", str(one), str(two[-1])], history=["history", str(runs)])


# --- (7) resnet18, two classes, 30 samples per class ---------------------------------------------------

def resnet_60(folder: Path) -> Scenario:
    """torchvision's resnet18 for 2 classes with random weights on 32×32 RGB images, 40 test images per
    class, --per-class 30: 60 embedded samples (a 60×60 distance matrix, 1,770 pairs)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    tint = np.array([[[[180, 90, 60]]], [[[60, 90, 180]]]], np.float32)

    def images(per_class):
        x = np.concatenate([np.clip(tint[c] + rng.normal(0, 40, (per_class, 32, 32, 3)), 0, 255)
                            for c in range(2)])
        return x.astype(np.uint8), np.repeat([0, 1], per_class)

    data = write_npz(folder / "two.npz", *images(10), *images(40))
    return Scenario("resnet-60", folder, ["--data", str(data), "--model", "torchvision:resnet18",
                                          "--model-kwargs", '{"num_classes": 2}', "--per-class", "30",
                                          *names_arg(["warm", "cool"])])


SCENARIOS: dict[str, Callable[[Path], Scenario]] = {
    "default": default,
    "colours-imbalanced": colours_imbalanced,
    "permuted": permuted,
    "tiny-vit": tiny_vit,
    "hundred-classes": hundred_classes,
    "tiny-separable": tiny_separable,
    "one-epoch": one_epoch,
    "resnet-60": resnet_60,
}


def make(name: str, folder: Path) -> Scenario:
    """Write scenario ``name`` into ``folder`` (created) and return how to build its report."""
    if name not in SCENARIOS:
        raise KeyError(f"no scenario {name!r}: one of {', '.join(SCENARIOS)}")
    folder = Path(folder).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return SCENARIOS[name](folder)


if __name__ == "__main__":  # python tests/scenarios.py FOLDER [NAME ...]: write them and print the commands
    sys.path.insert(0, str(ROOT))
    target = Path(sys.argv[1])
    for name in sys.argv[2:] or SCENARIOS:
        made = make(name, target / name)
        for command in (made.build, made.compare, made.history):
            if command is not None:
                print(f"(cd {made.cwd} && python -m report {' '.join(command)})")
