"""Progress bars for the analysis passes: shown on a terminal, silent with --quiet or when output is
piped (tqdm's ``disable=None``). One switch for the whole run, set by ``analysis.run.analyse``."""

from __future__ import annotations

from tqdm import tqdm

_enabled = True


def enable(on: bool) -> None:
    global _enabled
    _enabled = on


def batches(total: int, size: int, what: str):
    """Start offsets 0, size, 2·size, … below ``total``, with a bar counting images."""
    bar = tqdm(total=total, desc=what, unit="image", leave=False, disable=None if _enabled else True)
    try:
        for start in range(0, total, size):
            yield start
            bar.update(min(size, total - start))
    finally:
        bar.close()
