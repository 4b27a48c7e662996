"""Gradient matching: DC (Zhao, Mopuri & Bilen, ICLR 2021) and DSA (Zhao & Bilen, ICML 2021).

Learn a synthetic set whose per-class training gradients match those of real batches. For each of
``iterations`` randomly initialised networks, ``outer_loop`` times: update the synthetic images by
descending the summed per-class matching distance (:func:`match_distance`), then — except after the
last step — train the network ``inner_loop`` epochs on the current synthetic set.

DSA is the same loop with *siamese* augmentation: the real and the synthetic batch of a class get one
shared DSA draw before their gradients are taken, and the network updates on the synthetic set use
per-sample DSA (the original's ``epoch(..., aug=True)``). DC matches plain images and trains the
network without augmentation.

As in the original: networks with BatchNorm get their statistics from 16 real images per class and
frozen before each synthetic update; the image optimiser is SGD with momentum 0.5, the network's plain
SGD (no momentum or weight decay), so a fresh network optimiser per inner phase is equivalent.

Every random draw of iteration ``k`` (network init, real batches, augmentation, minibatch order) comes
from seeds derived from ``(seed, k)``, so a run interrupted after a checkpoint resumes bit-identically
on the CPU.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reprolib.augment import DEFAULT_STRATEGY, DSA
from reprolib.data import Dataset
from reprolib.distillation.synthetic import INITS, init_synthetic
from reprolib.nets import NETWORK_NAMES, build_network
from reprolib.runtime import make_generator, progress
from reprolib.store import Checkpoint
from reprolib.train import TrainConfig, train_classifier

NO_AUGMENT = "none"
BN_IMAGES_PER_CLASS = 16  # real images per class that set frozen BatchNorm statistics (as the original)


def layer_distance(g_syn: Tensor, g_real: Tensor, eps: float = 1e-6) -> Tensor:
    """DC's distance between two gradients of one parameter tensor.

    The gradient is viewed as one row per output channel (conv ``[out, in*k*k]``, linear
    ``[out, in]``, per-element norm ``[C, H*W]``); the distance is ``Σ_rows (1 − cos(row_syn, row_real))``.
    One-dimensional tensors (biases, norm scales) contribute nothing, as in the original. Hence the
    distance is 0 for identical gradients and unchanged when any row of either gradient is scaled by
    a positive factor.
    """
    if g_syn.shape != g_real.shape:
        raise ValueError(f"gradient shapes differ: {tuple(g_syn.shape)} vs {tuple(g_real.shape)}")
    if g_syn.ndim <= 1:
        return g_syn.new_zeros(())
    a, b = g_syn.reshape(g_syn.shape[0], -1), g_real.reshape(g_real.shape[0], -1)
    cosine = (a * b).sum(-1) / (a.norm(dim=-1) * b.norm(dim=-1) + eps)
    return (1 - cosine).sum()


def match_distance(grads_syn: Sequence[Tensor], grads_real: Sequence[Tensor]) -> Tensor:
    """Sum of :func:`layer_distance` over a network's parameter gradients (DC's ``dis_metric='ours'``)."""
    if len(grads_syn) != len(grads_real):
        raise ValueError(f"{len(grads_syn)} synthetic vs {len(grads_real)} real gradient tensors")
    return torch.stack([layer_distance(s, r) for s, r in zip(grads_syn, grads_real)]).sum()


@dataclass(frozen=True)
class GradientMatchingConfig:
    """Hyper-parameters of gradient matching; the defaults are DC's in the original code (see the
    ``paper`` preset for sources), :class:`DSAConfig` changes those that differ for DSA.

    ``loops`` maps IPC → ``[outer_loop, inner_loop]``; ``augment`` is a DSA strategy (``none`` = DC).
    """

    iterations: int = 1000
    loops: dict = field(default_factory=lambda: {1: [1, 1], 10: [10, 50], 50: [50, 10]})
    lr_img: float = 0.1
    lr_net: float = 0.01
    momentum_img: float = 0.5
    batch_real: int = 256
    batch_train: int = 256
    init: str = "noise"
    augment: str = NO_AUGMENT
    arch: str = "convnet"
    arch_options: dict = field(default_factory=dict)

    def loops_for(self, ipc: int) -> tuple[int, int]:
        """(outer_loop, inner_loop) for ``ipc``; ValueError when the config does not give them."""
        found = self.loops.get(ipc, self.loops.get(str(ipc)))
        if found is None:
            raise ValueError(
                f"no outer/inner loop counts for IPC {ipc}: add loops: {{{ipc}: [outer_loop, inner_loop]}} "
                f"(given for IPC {', '.join(map(str, self.loops))})"
            )
        return int(found[0]), int(found[1])

    def validate(self, ipcs: Sequence[int] = ()) -> None:
        for ipc in ipcs:
            outer, inner = self.loops_for(ipc)
            if outer < 1 or inner < 0:
                raise ValueError(f"loops for IPC {ipc} must be outer_loop ≥ 1 and inner_loop ≥ 0, got {[outer, inner]}")
        if self.iterations < 1 or self.batch_real < 1 or self.batch_train < 1:
            raise ValueError(f"iterations, batch_real and batch_train must be ≥ 1; got {self}")
        if self.lr_img <= 0 or self.lr_net <= 0 or not 0 <= self.momentum_img < 1:
            raise ValueError(f"lr_img and lr_net must be > 0 and momentum_img in [0, 1); got {self}")
        if self.init not in INITS:
            raise ValueError(f"unknown synthetic init {self.init!r}; choose one of {', '.join(INITS)}")
        if self.arch.lower() not in NETWORK_NAMES:
            raise ValueError(f"unknown distillation network {self.arch!r}; choose one of {', '.join(NETWORK_NAMES)}")
        DSA(self.augment)  # raises on an unknown strategy


@dataclass(frozen=True)
class DSAConfig(GradientMatchingConfig):
    """DSA's defaults: siamese augmentation with every DSA group, synthetic set initialised from real
    images (the original's README command for DSA)."""

    init: str = "real"
    augment: str = DEFAULT_STRATEGY


@dataclass(frozen=True)
class DistillOutcome:
    """A learned synthetic set and the wall time per outer iteration measured while learning it."""

    images: Tensor
    labels: Tensor
    seconds_per_iteration: float


def iteration_seed(seed: int, iteration: int) -> int:
    """The seed of every draw made in ``iteration`` (network init, batches, augmentation)."""
    return seed * 1_000_003 + iteration


def random_network(config, data: Dataset, seed: int, device: torch.device) -> nn.Module:
    """A freshly initialised distillation network, seeded without touching the global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = build_network(config.arch, data.channels, data.num_classes, data.image_size, **config.arch_options)
    return net.to(device).train()


def real_batch(data: Dataset, c: int, n: int, generator: torch.Generator) -> Tensor:
    """``n`` random real images of class ``c`` (all of them when the class is smaller, as the original)."""
    return data.images_of_class(c, min(n, len(data.class_indices()[c])), generator=generator)


def _freeze_batchnorm(net: nn.Module, data: Dataset, generator: torch.Generator) -> None:
    """Set BatchNorm statistics from a real batch and freeze them (tiny synthetic batches can't give them)."""
    norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    net.train()
    with torch.no_grad():
        net(torch.cat([real_batch(data, c, BN_IMAGES_PER_CLASS, generator) for c in range(data.num_classes)]))
    for m in norms:
        m.eval()


def _resume(images: Tensor, optimizer: torch.optim.Optimizer, checkpoint: Checkpoint | None) -> int:
    """Restore images and optimiser from ``checkpoint``; the iteration to continue from (0 when none)."""
    state = checkpoint.load() if checkpoint is not None else None
    if state is None:
        return 0
    with torch.no_grad():
        images.copy_(state["images"].to(images.device))
    optimizer.load_state_dict(state["optimizer"])
    return int(state["iteration"])


def _save(checkpoint: Checkpoint | None, iteration: int, images: Tensor, optimizer: torch.optim.Optimizer) -> None:
    if checkpoint is not None:
        checkpoint.save({"iteration": iteration, "images": images.detach().cpu(), "optimizer": optimizer.state_dict()})


def run_image_optimisation(
    data: Dataset,
    ipc: int,
    config,
    seed: int,
    step: Callable[[Tensor, Tensor, int, torch.optim.Optimizer], None],
    *,
    checkpoint: Checkpoint | None = None,
    checkpoint_every: int = 0,
    desc: str = "distill",
) -> DistillOutcome:
    """The loop shared by gradient and distribution matching: initialise, resume, call
    ``step(images, labels, iteration, optimizer)`` for every iteration, checkpoint every
    ``checkpoint_every`` iterations (0: never), time it."""
    images, labels = init_synthetic(data, ipc, make_generator(seed), config.init)
    optimizer = torch.optim.SGD([images], lr=config.lr_img, momentum=config.momentum_img)
    start = _resume(images, optimizer, checkpoint)
    began = time.perf_counter()
    for it in progress(range(start, config.iterations), desc=desc, initial=start, total=config.iterations):
        step(images, labels, it, optimizer)
        if checkpoint_every and (it + 1) % checkpoint_every == 0 and it + 1 < config.iterations:
            _save(checkpoint, it + 1, images, optimizer)
    done = config.iterations - start
    seconds = (time.perf_counter() - began) / done if done else float("nan")
    return DistillOutcome(images.detach(), labels, seconds)


def gradient_matching(
    data: Dataset,
    ipc: int,
    config: GradientMatchingConfig,
    *,
    seed: int = 0,
    checkpoint: Checkpoint | None = None,
    checkpoint_every: int = 0,
) -> DistillOutcome:
    """Learn ``ipc`` images per class by DC (``config.augment == 'none'``) or DSA; see the module docstring."""
    config.validate([ipc])
    outer_loop, inner_loop = config.loops_for(ipc)
    siamese = DSA(config.augment) if config.augment != NO_AUGMENT else None
    net_config = TrainConfig(epochs=inner_loop, lr=config.lr_net, batch_size=config.batch_train,
                             momentum=0.0, weight_decay=0.0, schedule="constant")
    device = data.train_x.device

    def step(images: Tensor, labels: Tensor, it: int, optimizer: torch.optim.Optimizer) -> None:
        generator = make_generator(iteration_seed(seed, it))
        net = random_network(config, data, iteration_seed(seed, it), device)
        params = [p for p in net.parameters() if p.requires_grad]
        for ol in range(outer_loop):
            _freeze_batchnorm(net, data, generator)
            loss = images.new_zeros(())
            for c in range(data.num_classes):
                real = real_batch(data, c, config.batch_real, generator)
                syn = images[c * ipc : (c + 1) * ipc]
                if siamese is not None:
                    real, syn = siamese.siamese(real, syn, generator=generator)
                g_real = torch.autograd.grad(F.cross_entropy(net(real), torch.full((len(real),), c, device=device)), params)
                g_real = [g.detach() for g in g_real]
                g_syn = torch.autograd.grad(F.cross_entropy(net(syn), labels[c * ipc : (c + 1) * ipc]), params, create_graph=True)
                loss = loss + match_distance(g_syn, g_real)
            optimizer.zero_grad(set_to_none=True)
            images.grad = torch.autograd.grad(loss, images)[0]
            optimizer.step()
            if ol == outer_loop - 1 or inner_loop == 0:
                continue
            train_classifier(net, images.detach().clone(), labels, net_config, generator=generator,
                             augment=siamese, desc="network on synthetic set")
            net.train()

    method = "DSA" if siamese is not None else "DC"
    return run_image_optimisation(data, ipc, config, seed, step, checkpoint=checkpoint,
                                  checkpoint_every=checkpoint_every, desc=f"{method} IPC {ipc}")
