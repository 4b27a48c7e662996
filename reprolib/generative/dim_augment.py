"""DiM's augmentation: every group of the strategy applied in turn (DiM's ``DiffAug``).

DSA (:mod:`reprolib.augment`) applies *one* group drawn per call; DiM's ``DiffAug`` with strategy
``color_crop_cutout`` applies colour (brightness, saturation, contrast), then a crop, then cutout, every
time. The ranges are DSA's (DiM's code is a copy of them), so each group here is a one-group
:class:`~reprolib.augment.DSA`. DiM uses it two ways:

* per sample (``batch=False`` in DiM) — training the pool models and the evaluation networks
  (strategy ``color_crop``: DiM drops cutout there);
* one draw for a whole batch (``batch=True``) — the matching stage's ``--match-aug``, applied to the real
  and the generated batch together (:meth:`ChainedAugment.siamese`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from reprolib.augment import DSA


class ChainedAugment:
    """All groups of ``strategy`` (``'_'``-separated DSA groups) in order; ``''``/``'none'``: identity."""

    def __init__(self, strategy: str) -> None:
        groups = [] if strategy in ("", "none") else strategy.split("_")
        self.strategy = strategy
        self.steps = tuple(DSA(group) for group in groups)  # DSA validates the group names

    def __repr__(self) -> str:
        return f"ChainedAugment({self.strategy!r})"

    def __call__(self, x: Tensor, generator: torch.Generator) -> Tensor:
        """Parameters drawn per sample."""
        for step in self.steps:
            x = step(x, generator)
        return x

    def siamese(self, *batches: Tensor, generator: torch.Generator) -> tuple[Tensor, ...]:
        """One parameter draw per group, shared by every image of every batch."""
        for step in self.steps:
            batches = step.siamese(*batches, generator=generator)
        return batches
