"""Where the analysis runs: ``--device auto|cpu|cuda|cuda:N|mps``.

The choice is resolved twice. Without torch (for the store key, so that a build with nothing to do stays
cheap): ``auto`` is ``cuda`` when torch was built with CUDA and an NVIDIA driver is present, else ``cpu``;
only the kind (cpu, cuda, mps) enters the key, because that is what changes results. With torch, when an
analysis starts: a device asked for but absent is one line naming it and the fix.

On a GPU the analysis turns TF32 off (cuDNN enables it for convolutions by default, which alone changes
outputs by about 1e-3): results then agree with the CPU's to float32 rounding, which is the tolerance the
GPU test states (analysis.devices.AGREEMENT)."""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

from analysis.errors import InputError

PATTERN = re.compile(r"auto|cpu|mps|cuda(:\d+)?")
KINDS = ("cpu", "cuda", "mps")
# GPU against CPU, on the same store: logits and embeddings within this relative tolerance (of each tensor's
# largest magnitude), predictions equal except where the two best logits are closer than it.
AGREEMENT = 1e-4


def check_spec(text: str) -> str:
    if not PATTERN.fullmatch(text):
        raise ValueError(f"unknown device {text!r}: give auto, cpu, cuda, cuda:N or mps")
    return text


def resolve(spec: str) -> str:
    """``auto`` made concrete without importing torch (see the module's text); others as given."""
    check_spec(spec)
    if spec != "auto":
        return spec
    return "cuda" if cuda_present() else "cpu"


def kind(spec: str) -> str:
    """cpu, cuda or mps: the part of the device that enters the store key."""
    return resolve(spec).split(":", 1)[0]


def cuda_present() -> bool:
    """Torch built with CUDA, a driver present, and devices not hidden (without importing torch)."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return False
    version = Path(next(iter(spec.submodule_search_locations))) / "version.py"
    try:
        built_for = re.search(r"^cuda\b[^=]*=\s*(.+)$", version.read_text(), re.MULTILINE)
    except OSError:
        return False
    if not built_for or built_for.group(1).strip() == "None":
        return False
    return Path("/proc/driver/nvidia/version").exists() or any(Path("/dev").glob("nvidia[0-9]*"))


def torch_device(spec: str):
    """The torch.device for ``spec``, checked: asked for and absent is one line."""
    import torch

    concrete = resolve(spec)
    if concrete == "cuda" and spec == "auto" and not torch.cuda.is_available():
        # The store key was made for a GPU (torch-free, from the driver); falling back here would file CPU
        # results under it.
        raise InputError("--device auto found an NVIDIA driver, but torch cannot use CUDA here (a driver older "
                         "than the CUDA torch was built for, or no free device): give --device cpu")
    if concrete.startswith("cuda"):
        if not torch.cuda.is_available():
            built = f"torch {torch.__version__} built for CUDA {torch.version.cuda}" if torch.version.cuda \
                else f"torch {torch.__version__} built without CUDA"
            raise InputError(f"--device {spec} was asked for but no CUDA device is available ({built}): use "
                             "--device cpu, or auto to use a GPU when there is one")
        index = int(concrete.split(":")[1]) if ":" in concrete else 0
        if index >= torch.cuda.device_count():
            raise InputError(f"--device {spec}: there are {torch.cuda.device_count()} CUDA device(s), numbered "
                             f"from 0: give cuda:0 to cuda:{torch.cuda.device_count() - 1}")
        return torch.device("cuda", index)
    if concrete == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise InputError(f"--device {spec} was asked for but Apple's MPS is not available here: use --device "
                             "cpu")
        return torch.device("mps")
    return torch.device("cpu")


def describe(device) -> str:
    """The device for the manifest: ``cpu``, or ``cuda:0 (NVIDIA H200)``."""
    if device.type == "cuda":
        import torch

        return f"{device} ({torch.cuda.get_device_name(device)})"
    return str(device)
