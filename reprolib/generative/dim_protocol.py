"""DiM's way of scoring a generator (its ``validate``), used for GDD-SKD's Table 1.

A freshly initialised network is trained on images the generator makes *at every step*: each step
draws ``batch`` random labels (uniform, with replacement) and new latents, generates, augments per
sample (``augment``, DiM: colour then crop) and takes one SGD step at a constant lr (DiM 0.01, momentum
0.9, weight decay 5e-4). An epoch is ``num_classes · IPC // batch + 1`` steps (DiM: ``10 · ipc //
batch_size + 1``), so IPC only sets the number of steps. Every ``test_every`` epochs (DiM 200) the
network is tested; DiM reports the **best** of these test checks — a choice made on the test set, which
inflates the number — so :class:`DiMResult` keeps both that and the accuracy after the last epoch.

The same scoring, with one network at DiM's default IPC 50, selects the generator checkpoint in DiM's
training (:class:`reprolib.generative.training.Selection`).
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from reprolib import precision
from reprolib.data import Dataset
from reprolib.evaluation import EvalProtocol, EvalResult
from reprolib.generative.dim_augment import ChainedAugment
from reprolib.generative.gan import Generator, latent_codes
from reprolib.nets import build_network
from reprolib.runtime import make_generator, progress
from reprolib.train import accuracy


@dataclass(frozen=True)
class DiMEval:
    """What DiM's protocol adds to the evaluation networks' settings (``EvalProtocol``: network, number
    of networks, epochs, lr, momentum, weight decay, batch size)."""

    test_every: int = 200  # epochs between test checks (DiM's --test-interval)
    augment: str = "color_crop"  # DiM's aug_rand: --aug-type color_crop_cutout minus cutout

    def validate(self) -> None:
        if self.test_every < 1:
            raise ValueError(f"dim_eval.test_every must be ≥ 1, got {self.test_every}")
        ChainedAugment(self.augment)

    def as_dict(self) -> dict:
        return asdict(self)


def batches_per_epoch(ipc: int, batch_size: int, num_classes: int = 10) -> int:
    """DiM's ``10 · ipc // batch_size + 1`` with the number of classes for 10."""
    if ipc < 1 or batch_size < 1:
        raise ValueError(f"ipc and batch_size must be ≥ 1, got {ipc}, {batch_size}")
    return num_classes * ipc // batch_size + 1


@dataclass(frozen=True)
class DiMResult:
    """Per network: the best test check (DiM's number) and the accuracy after the last epoch."""

    best: tuple[float, ...]
    last: tuple[float, ...]
    lr: float

    def reading(self, which: str) -> EvalResult:
        """``'best_check'`` or ``'last_epoch'`` as an :class:`EvalResult`."""
        return EvalResult(self.best if which == "best_check" else self.last, self.lr)

    @property
    def score(self) -> float:
        """The mean best check: what DiM's checkpoint selection compares."""
        return statistics.fmean(self.best)


def evaluate_dim(generator: Generator, data: Dataset, protocol: EvalProtocol, dim: DiMEval, ipc: int,
                 seed: int = 0) -> DiMResult:
    """Score ``generator`` by DiM's protocol; network ``k`` is initialised and drawn from seed ``seed + k``."""
    if dim.test_every > protocol.epochs:
        raise ValueError(f"dim_eval.test_every={dim.test_every} exceeds the {protocol.epochs} evaluation epochs: "
                         "no test check would run")
    device = data.test_x.device
    steps = batches_per_epoch(ipc, protocol.batch_size, data.num_classes)
    augment = ChainedAugment(dim.augment)
    was_training = generator.training
    generator.eval()
    best, last = [], []
    numerics = precision.current()  # the student's steps run in it (bf16 + compile on the fast path)
    for k in range(protocol.num_eval):
        torch.manual_seed(seed + k)
        net = build_network(protocol.arch, data.channels, data.num_classes, data.image_size, **protocol.arch_options).to(device)
        forward = numerics.compiled(net)
        optimizer = torch.optim.SGD(net.parameters(), lr=protocol.lr, momentum=protocol.momentum,
                                    weight_decay=protocol.weight_decay)
        random = make_generator(seed + k)
        checks = []
        net.train()
        for epoch in progress(range(protocol.epochs), desc=f"DiM eval {k + 1}/{protocol.num_eval}"):
            for _ in range(steps):
                labels = torch.randint(data.num_classes, (protocol.batch_size,), generator=random).to(device)
                with torch.no_grad():
                    images = generator(latent_codes(labels, data.num_classes, generator.latent_dim, random))
                with numerics.autocast(device):
                    logits = forward(augment(images, random))
                loss = F.cross_entropy(precision.widen(logits), labels)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            if (epoch + 1) % dim.test_every == 0:
                checks.append(accuracy(net, data.test_x, data.test_y))
        best.append(max(checks))
        last.append(checks[-1] if protocol.epochs % dim.test_every == 0 else accuracy(net, data.test_x, data.test_y))
    generator.train(was_training)
    return DiMResult(tuple(best), tuple(last), protocol.lr)
