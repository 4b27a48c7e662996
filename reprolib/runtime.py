"""Where and how computation runs: device choice, seeding, progress bars."""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Iterable

import numpy as np
import torch
from tqdm import tqdm


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``auto`` (or None) means CUDA when present, else CPU; anything else is passed to torch."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} was asked for but CUDA is not available; use device='cpu' or 'auto'")
    return resolved


def device_description(device: torch.device) -> str:
    """A human label for run records, e.g. 'cuda: NVIDIA H100 80GB HBM3' or 'cpu: 2 threads'."""
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    return f"cpu: {torch.get_num_threads()} threads"


def seed_all(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def make_generator(seed: int) -> torch.Generator:
    """A CPU generator: random draws made with it are the same whatever device computes."""
    return torch.Generator().manual_seed(seed)


def progress_enabled() -> bool:
    """``$REPROLIB_PROGRESS`` (1/0) decides; by default bars show in terminals, not in kernels.

    Papermill and nbval run notebooks in a kernel, where a bar would become a volatile output.
    """
    setting = os.environ.get("REPROLIB_PROGRESS")
    if setting is not None:
        return setting.strip().lower() not in ("0", "false", "no", "")
    return "ipykernel" not in sys.modules and sys.stderr.isatty()


def progress(iterable: Iterable | None = None, **kwargs) -> tqdm:
    """A tqdm bar that respects :func:`progress_enabled`."""
    kwargs.setdefault("disable", not progress_enabled())
    kwargs.setdefault("dynamic_ncols", True)
    kwargs.setdefault("leave", False)
    return tqdm(iterable, **kwargs)
