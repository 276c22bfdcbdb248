"""Room on Python's stack for models whose modules nest deeply.

Every level of nesting costs Python frames wherever the model is walked recursively: about 4 when PyTorch runs
it, 5 with the capture's hooks, 6 when it is deep-copied. A model nested a few hundred levels deep, which
PyTorch itself runs within the default recursion limit, would then fail inside the analysis with a
RecursionError that says nothing about the model. ``room_for(model)`` raises the limit by what the model's
depth needs while the block runs (and puts it back after, also on an exception); a model nested deeper than
``MAX_NESTING`` levels is refused in one line naming its depth."""

from __future__ import annotations

import contextlib
import sys

from torch import nn

from analysis.errors import InputError

MAX_NESTING = 1000     # levels of submodules analysed; deeper models are refused
FRAMES_PER_LEVEL = 8   # Python frames one level may take in the analysis (measured: 6 for a deep copy)


def nesting_depth(model: nn.Module) -> int:
    """Levels of submodules below ``model`` (0: no submodules), walked without recursion."""
    deepest, stack, seen = 0, [(model, 0)], set()
    while stack:
        module, depth = stack.pop()
        if id(module) in seen:  # a module registered twice, or a cycle of registrations
            continue
        seen.add(id(module))
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in module._modules.values() if child is not None)
    return deepest


def check_nesting(model: nn.Module) -> int:
    """The model's nesting depth; InputError beyond MAX_NESTING."""
    depth = nesting_depth(model)
    if depth > MAX_NESTING:
        raise InputError(f"the model nests its modules {depth:,} levels deep, more than the {MAX_NESTING:,} this "
                         "tool analyses: flatten the nesting (e.g. one nn.Sequential of the layers)")
    return depth


@contextlib.contextmanager
def room_for(model: nn.Module):
    """Inside the block, a recursion limit that leaves the usual room above what ``model``'s nesting needs."""
    before = sys.getrecursionlimit()
    needed = before + FRAMES_PER_LEVEL * check_nesting(model)
    if needed > before:
        sys.setrecursionlimit(needed)
    try:
        yield
    finally:
        if sys.getrecursionlimit() == needed:  # put back only what this block changed
            sys.setrecursionlimit(before)
