"""What an experiment needs from its surroundings: the device, the artifact store and a log."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from reprolib.runtime import progress_enabled, resolve_device
from reprolib.store import ArtifactStore


def _default_log(message: str) -> None:
    if progress_enabled():
        print(message, flush=True)


@dataclass
class RunContext:
    device: torch.device = field(default_factory=resolve_device)
    store: ArtifactStore = field(default_factory=ArtifactStore.default)
    log: Callable[[str], None] = _default_log
