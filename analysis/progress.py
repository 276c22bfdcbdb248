"""Progress bars for the analysis passes: shown on a terminal, silent with --quiet or when output is
piped (tqdm's ``disable=None``). Whether to show them is passed down by the caller (``show``, from the
``show_progress`` of ``analysis.run.analyse`` and ``analysis.train.train``): no switch of the process's."""

from __future__ import annotations

from tqdm import tqdm


def batches(total: int, size: int, what: str, show: bool = True):
    """Start offsets 0, size, 2·size, … below ``total``, with a bar counting images (none unless ``show``;
    with ``show``, only on a terminal)."""
    bar = tqdm(total=total, desc=what, unit="image", leave=False, disable=None if show else True)
    try:
        for start in range(0, total, size):
            yield start
            bar.update(min(size, total - start))
    finally:
        bar.close()
