"""Distribution matching, DM (Zhao & Bilen, WACV 2023).

Each iteration draws a freshly initialised network and never trains it. For every class, the real
batch and the class's synthetic images receive one shared (siamese) DSA draw; the loss is
``Σ_c ||mean(embed(real_c)) − mean(embed(syn_c))||²`` with ``embed`` the network without its last
layer, and one SGD step (momentum 0.5) updates the synthetic images.

All classes go through the network in one forward pass (the original does this for BatchNorm
networks; for instance-norm networks it equals the per-class passes). Draws of iteration ``k`` come
from seeds derived from ``(seed, k)``, so a checkpointed run resumes bit-identically on the CPU.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from reprolib import precision
from reprolib.augment import DEFAULT_STRATEGY, DSA
from reprolib.data import Dataset
from reprolib.distillation.gradient_matching import (
    DistillOutcome,
    iteration_seed,
    random_network,
    real_batch,
    run_image_optimisation,
)
from reprolib.distillation.synthetic import INITS
from reprolib.nets import NETWORK_NAMES
from reprolib.runtime import make_generator
from reprolib.store import Checkpoint


@dataclass(frozen=True)
class DistributionMatchingConfig:
    """Hyper-parameters of DM; defaults are the original code's (see the ``paper`` preset for sources)."""

    iterations: int = 20000
    lr_img: float = 1.0
    momentum_img: float = 0.5
    batch_real: int = 256
    init: str = "real"
    augment: str = DEFAULT_STRATEGY
    arch: str = "convnet"
    arch_options: dict = field(default_factory=dict)

    def validate(self, ipcs=()) -> None:
        if self.iterations < 1 or self.batch_real < 1:
            raise ValueError(f"iterations and batch_real must be ≥ 1; got {self}")
        if self.lr_img <= 0 or not 0 <= self.momentum_img < 1:
            raise ValueError(f"lr_img must be > 0 and momentum_img in [0, 1); got {self}")
        if self.init not in INITS:
            raise ValueError(f"unknown synthetic init {self.init!r}; choose one of {', '.join(INITS)}")
        if self.arch.lower() not in NETWORK_NAMES:
            raise ValueError(f"unknown distillation network {self.arch!r}; choose one of {', '.join(NETWORK_NAMES)}")
        DSA(self.augment)  # raises on an unknown strategy


def mean_embedding_loss(real: list[Tensor], syn: list[Tensor], embed) -> Tensor:
    """``Σ_c ||mean(embed(real[c])) − mean(embed(syn[c]))||²``, real features without gradient; reduced-
    precision features (bf16 autocast) are widened to float32 first."""
    with torch.no_grad():
        real_features = precision.widen(embed(torch.cat(real))).split([len(r) for r in real])
    syn_features = precision.widen(embed(torch.cat(syn))).split([len(s) for s in syn])
    return sum(((r.mean(0) - s.mean(0)) ** 2).sum() for r, s in zip(real_features, syn_features))


def distribution_matching(
    data: Dataset,
    ipc: int,
    config: DistributionMatchingConfig,
    *,
    seed: int = 0,
    checkpoint: Checkpoint | None = None,
    checkpoint_every: int = 0,
) -> DistillOutcome:
    """Learn ``ipc`` images per class by DM; see the module docstring."""
    config.validate()
    siamese = DSA(config.augment)
    device = data.train_x.device

    def step(images: Tensor, labels: Tensor, it: int, optimizer: torch.optim.Optimizer) -> None:
        generator = make_generator(iteration_seed(seed, it))
        net = random_network(config, data, iteration_seed(seed, it), device).requires_grad_(False)
        real, syn = [], []
        for c in range(data.num_classes):
            pair = siamese.siamese(real_batch(data, c, config.batch_real, generator), images[c * ipc : (c + 1) * ipc],
                                   generator=generator)
            real.append(pair[0])
            syn.append(pair[1])
        numerics = precision.current()  # the embeddings run in it; the loss and the image update in float32
        with numerics.autocast(device):
            loss = mean_embedding_loss(real, syn, numerics.compiled(net.embed))
        optimizer.zero_grad(set_to_none=True)
        images.grad = torch.autograd.grad(loss, images)[0]
        optimizer.step()

    return run_image_optimisation(data, ipc, config, seed, step, checkpoint=checkpoint,
                                  checkpoint_every=checkpoint_every, desc=f"DM IPC {ipc}")
