"""Random crop (zero padding) and horizontal flip: the paper's training augmentation (REFERENCE §7).

``CropFlip(padding, flip)(x, generator)`` has the ``augment(x, generator)`` signature that
:func:`reprolib.train.train_classifier` takes; offsets and flips are drawn per image from the CPU
generator, so a seed gives the same batches on any device.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass(frozen=True)
class CropFlip:
    """Pad by ``padding`` pixels, cut a random window of the original size, mirror with probability ½."""

    padding: int = 4
    flip: bool = True

    def __post_init__(self) -> None:
        if self.padding < 0:
            raise ValueError(f"crop padding must be ≥ 0; got {self.padding}")

    def __call__(self, x: Tensor, generator: torch.Generator) -> Tensor:
        b, _, h, w = x.shape
        p = self.padding
        dy = torch.randint(0, 2 * p + 1, (b,), generator=generator).to(x.device)
        dx = torch.randint(0, 2 * p + 1, (b,), generator=generator).to(x.device)
        mirror = (torch.rand(b, generator=generator) < 0.5).to(x.device) if self.flip else torch.zeros(b, dtype=torch.bool, device=x.device)
        padded = F.pad(x, (p, p, p, p)) if p else x
        cols = torch.arange(w, device=x.device)
        cols = torch.where(mirror[:, None], w - 1 - cols, cols) + dx[:, None]  # (b, w)
        rows = torch.arange(h, device=x.device)[None, :] + dy[:, None]  # (b, h)
        batch = torch.arange(b, device=x.device)[:, None, None]
        return padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2).contiguous()
