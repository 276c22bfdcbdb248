"""The test split as the model sees it: normalised float batches on the analysis device, read from the
data set batch by batch through a ``torch.utils.data.DataLoader`` (worker processes decode image files
while the model runs), so that memory depends on the batch size, not on the number or size of images.

Every pass over a split (evaluation, embeddings, filter statistics, separation by depth) iterates
``Inputs.batches``; the few single images (activation maps, samples) come from ``Inputs.take``. The
order is the data set's, whatever the number of workers, so results do not depend on it."""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Iterator, Sequence

import numpy as np
import torch

from analysis import progress
from analysis.data.lazy import LazyImages, take
from analysis.errors import InputError
from analysis.spawning import dataloader_worker_started, main_script_left_out

DEFAULT_BATCH = 250


class _Batches(torch.utils.data.Dataset):
    """Batch ``b`` of ``order``: its uint8 images, read at once (one read per batch, in a worker). A refusal
    comes back as a value: DataLoader would wrap the exception in a traceback of the worker."""

    def __init__(self, images, order: np.ndarray, batch_size: int):
        self.images, self.order, self.batch_size = images, order, batch_size

    def __len__(self) -> int:
        return -(-len(self.order) // self.batch_size)

    def __getitem__(self, b: int):
        indices = self.order[b * self.batch_size:(b + 1) * self.batch_size]
        try:
            return np.ascontiguousarray(take(self.images, indices))
        except InputError as error:
            return str(error)


class _WorkersIterator(torch.utils.data.dataloader._MultiProcessingDataLoaderIter):
    """torch's iterator over worker processes, ended cleanly also when it is stopped while they start.

    torch records its workers' status only after the last one started; a stop then (SIGINT or SIGTERM raise
    inside ``Process.start``) left an iterator whose ``__del__`` failed on the missing record, printing "Exception
    ignored ... no attribute '_workers_status'" with a traceback under the command's last line. Here the workers
    that did start are ended at once (they are still importing torch, and torch's own clean-up would wait up to
    5 s for each), and ``__del__`` is left nothing to do."""

    def __init__(self, loader) -> None:
        try:
            super().__init__(loader)
        except BaseException:
            self._end_at_once()
            raise

    def _end_at_once(self) -> None:
        self._shutdown = True  # torch's __del__ then has nothing left to do
        if getattr(self, "_worker_pids_set", False):
            torch.utils.data._utils.signal_handling._remove_worker_pids(id(self))
            self._worker_pids_set = False
        workers = getattr(self, "_workers", [])
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.join(timeout=2)
        for queue in [*getattr(self, "_index_queues", []), getattr(self, "_worker_result_queue", None)]:
            if queue is not None:
                queue.cancel_join_thread()
                queue.close()


class _Loader(torch.utils.data.DataLoader):
    """A DataLoader whose worker iterator is ``_WorkersIterator`` (torch 2.14's private ``_get_iterator``)."""

    def _get_iterator(self):
        if self.num_workers == 0:
            return super()._get_iterator()
        self.check_worker_number_rationality()
        return _WorkersIterator(self)


def _as_is(batch):
    return batch


class _Subset:
    """Reads positions of a subset from the whole (a class, not a closure: it is pickled to the workers)."""

    def __init__(self, images, chosen: np.ndarray):
        self.images, self.chosen = images, chosen

    def __call__(self, wanted: Sequence[int]) -> np.ndarray:
        return take(self.images, self.chosen[np.asarray(wanted, dtype=np.int64)])


@dataclasses.dataclass(frozen=True)
class Inputs:
    """Images (a uint8 (N, C, H, W) array, or LazyImages) with their normalisation and where they run."""

    images: object
    mean: tuple[float, ...]
    std: tuple[float, ...]
    device: torch.device = torch.device("cpu")
    batch_size: int = DEFAULT_BATCH
    workers: int = 0

    def __len__(self) -> int:
        return len(self.images)

    def normalise(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (n, C, H, W) -> float32 in [0, 1], normalised per channel, on the device."""
        x = images.to(self.device, non_blocking=True).float().div_(255.0)
        mean = torch.tensor(self.mean, dtype=torch.float32, device=self.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=torch.float32, device=self.device).view(1, -1, 1, 1)
        return (x - mean) / std

    def take(self, indices: Sequence[int]) -> torch.Tensor:
        """The images at ``indices``, normalised, as one batch."""
        return self.normalise(torch.from_numpy(np.ascontiguousarray(take(self.images, list(indices)))))

    def subset(self, indices: Sequence[int]) -> "Inputs":
        """The images at ``indices``, in that order: an array's are copied out (a subset sent to a Dask worker
        carries only its own images), files stay unread until used."""
        chosen = np.asarray(indices, dtype=np.int64)
        if not isinstance(self.images, LazyImages):
            return dataclasses.replace(self, images=take(self.images, chosen))
        picked = LazyImages(len(chosen), tuple(self.images.shape[1:]), _Subset(self.images, chosen), "a subset")
        return dataclasses.replace(self, images=picked)

    def batches(self, what: str, show_progress: bool = True) -> Iterator[torch.Tensor]:
        """Every image once, in order, ``batch_size`` at a time."""
        order = np.arange(len(self.images))
        dataset = _Batches(self.images, order, self.batch_size)
        workers = self.workers if isinstance(self.images, LazyImages) else 0  # arrays are read in place
        # Workers are fresh interpreters (spawn), never forks of this process: the analysis holds threads
        # (torch's pools, tqdm's monitor), and a fork that copies a lock another thread held can leave a
        # worker and this process waiting on each other for ever (seen in CI). Not a fork server either: its
        # socket lives under TMPDIR, which the run points into the build folder, where a deep path is too long
        # for a Unix socket (seen in CI) and the folder is removed after the run while the server lives on.
        # They send numpy arrays (collate_fn keeps them as they are), which travel through a pipe: a tensor
        # would travel as a shared-memory descriptor through a Unix socket under TMPDIR.
        # Each worker ends when this process is gone (killed, it joins none): else it waits for ever.
        loader = _Loader(
            dataset, batch_size=None, shuffle=False, num_workers=workers, collate_fn=_as_is,
            persistent_workers=False, prefetch_factor=2 if workers else None,
            multiprocessing_context="spawn" if workers else None,
            worker_init_fn=functools.partial(dataloader_worker_started, os.getpid()) if workers else None)
        with main_script_left_out():  # the workers start here, and need nothing of the caller's script
            fetched = iter(loader)
        try:
            for _start, batch in zip(progress.batches(len(order), self.batch_size, what, show_progress), fetched):
                if isinstance(batch, str):
                    raise InputError(batch)
                yield self.normalise(torch.from_numpy(batch))
        finally:
            # Join the workers now, also after a refusal: the iterator is otherwise kept by the error's
            # traceback, and its workers, left to notice the run's end on their own, outlived it and made the
            # resource tracker report their queues' semaphores as leaked on stderr.
            shutdown = getattr(fetched, "_shutdown_workers", None)  # absent without workers
            if shutdown is not None:
                shutdown()
            del fetched


def default_workers(splits, asked: int | None) -> int:
    """DataLoader processes: as asked; by default none for arrays (they are read in place) and, for image
    files, one per core beyond two (the model's threads), at most four: decoding runs beside the model only
    where there are cores to spare (each spawned worker starts a fresh Python with torch: about 2 s a pass)."""
    if asked is not None:
        return asked
    if not isinstance(splits.test.images, LazyImages):
        return 0
    return file_workers()


def file_workers() -> int:
    """The default DataLoader processes for image files on this machine (bench/stream.py measures with it)."""
    return max(0, min(4, (os.cpu_count() or 2) - 2))


def as_inputs(x) -> Inputs:
    """Inputs as given, or an already normalised tensor (tests, and callers that made their own) batched as is."""
    if isinstance(x, Inputs):
        return x
    return _TensorInputs(x)


class _TensorInputs(Inputs):
    """A normalised tensor, batched without reading or normalising anything."""

    def __init__(self, x: torch.Tensor):
        object.__setattr__(self, "tensor", x)
        super().__init__(images=x, mean=(), std=(), device=x.device)

    def take(self, indices: Sequence[int]) -> torch.Tensor:
        return self.tensor[torch.as_tensor(list(indices), dtype=torch.long)]

    def subset(self, indices: Sequence[int]) -> Inputs:
        return _TensorInputs(self.take(indices))

    def batches(self, what: str, show_progress: bool = True) -> Iterator[torch.Tensor]:
        for start in progress.batches(len(self.tensor), self.batch_size, what, show_progress):
            yield self.tensor[start:start + self.batch_size]
