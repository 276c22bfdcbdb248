"""Deterministic training of the default checkpoint (fixed seed, fixed threads), with the process's
settings as they were once it returns (analysis.scoped)."""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from analysis.config import TrainConfig
from analysis.data.datasets import DataSplits
from analysis.models.assignment import AssignmentCNN
from analysis.models.inference import accuracy, predict_logits, to_input
from analysis.scoped import process_state, seed_torch
from analysis.store.writer import write_atomic


def train(splits: DataSplits, config: TrainConfig, mean: tuple[float, ...], std: tuple[float, ...],
          show_progress: bool = True) -> tuple[nn.Module, dict]:
    """Train the assignment CNN; return it with a record of the run (epochs, seconds, accuracy). The seed,
    thread count and deterministic mode it sets are undone when it returns or raises."""
    with process_state():
        seed_torch(config.seed)
        torch.set_num_threads(config.threads)
        torch.use_deterministic_algorithms(True)
        return _train(splits, config, mean, std, show_progress)


def _train(splits: DataSplits, config: TrainConfig, mean: tuple[float, ...], std: tuple[float, ...],
           show_progress: bool) -> tuple[nn.Module, dict]:
    model = AssignmentCNN()
    optimiser = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    steps_per_epoch = -(-len(splits.train) // config.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=config.learning_rate, total_steps=max(1, config.epochs * steps_per_epoch))
    loss_fn = nn.CrossEntropyLoss()
    x_train = to_input(splits.train.images, mean, std)
    y_train = torch.from_numpy(splits.train.labels)
    x_test = to_input(splits.test.images, mean, std)
    order_rng = torch.Generator().manual_seed(config.seed)
    history = []
    started = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        model.train()
        order = torch.randperm(len(x_train), generator=order_rng)
        batches = range(0, len(order), config.batch_size)
        bar = tqdm(batches, desc=f"training epoch {epoch}/{config.epochs}", unit="batch",
                   leave=False, disable=None if show_progress else True)
        total_loss = 0.0
        for start in bar:
            idx = order[start:start + config.batch_size]
            optimiser.zero_grad()
            loss = loss_fn(model(x_train[idx]), y_train[idx])
            loss.backward()
            optimiser.step()
            schedule.step()
            total_loss += float(loss.detach()) * len(idx)
        test_accuracy = accuracy(predict_logits(model, x_test, show_progress=show_progress), splits.test.labels)
        history.append({"epoch": epoch, "train_loss": total_loss / len(order), "test_accuracy": test_accuracy})
        if show_progress:
            tqdm.write(f"epoch {epoch}/{config.epochs}: loss {total_loss / len(order):.4f}, "
                       f"test accuracy {test_accuracy:.2%}", file=sys.stderr)  # progress: stderr
    seconds = time.perf_counter() - started
    record = {"config": config.to_dict(), "seconds": seconds, "history": history,
              "test_accuracy": history[-1]["test_accuracy"] if history else None,
              "n_train": len(splits.train), "n_test": len(splits.test)}
    return model, record


def save_checkpoint(model: nn.Module, record: dict, path: Path, model_config: dict, data_config: dict) -> None:
    """The state_dict with the training record and the configs needed to analyse it again
    (plain types only, so it loads with weights_only=True)."""
    buffer = io.BytesIO()
    torch.save({"state_dict": model.state_dict(), "training": record, "model_config": model_config,
                "data_config": data_config}, buffer)
    write_atomic(Path(path), buffer.getvalue())

