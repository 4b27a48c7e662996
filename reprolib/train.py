"""Training a classifier on tensors resident on the device, and measuring its accuracy.

One loop serves every place that trains a network on data: teachers, full-data baselines, the model
that coreset selection reads features from, dataset pruning, and the evaluation of distilled sets.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reprolib.runtime import progress

BatchHook = Callable[[Tensor, Tensor, Tensor], None]
"""Called after each step with (indices into the training set, logits, labels)."""


@dataclass(frozen=True)
class TrainConfig:
    """An SGD schedule. ``schedule``: 'step' (lr ×0.1 at ``epochs // 2``), 'cosine' or 'constant'."""

    epochs: int
    lr: float = 0.01
    batch_size: int = 256
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "step"

    def __post_init__(self) -> None:
        if self.epochs < 0 or self.batch_size <= 0 or self.lr <= 0:
            raise ValueError(f"epochs must be ≥ 0 and batch_size, lr > 0; got {self}")
        if self.schedule not in ("step", "cosine", "constant"):
            raise ValueError(f"schedule must be 'step', 'cosine' or 'constant', not {self.schedule!r}")

    def lr_at(self, epoch: int) -> float:
        if self.schedule == "step":
            return self.lr * (0.1 if epoch >= self.epochs // 2 and self.epochs > 1 else 1.0)
        if self.schedule == "cosine":
            return 0.5 * self.lr * (1 + math.cos(math.pi * epoch / max(self.epochs, 1)))
        return self.lr

    def as_dict(self) -> dict:
        return asdict(self)


def train_classifier(
    net: nn.Module,
    x: Tensor,
    y: Tensor,
    config: TrainConfig,
    *,
    generator: torch.Generator,
    augment: Callable[[Tensor, torch.Generator], Tensor] | None = None,
    on_batch: BatchHook | None = None,
    desc: str = "train",
) -> nn.Module:
    """Train ``net`` in place with SGD on ``(x, y)`` (already on the net's device); returns ``net``.

    Minibatch order and augmentation are drawn from ``generator`` (a CPU generator), so a seed gives
    the same run on any device.
    """
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"training data must be non-empty with one label per image; got {len(x)} images, {len(y)} labels")
    optimizer = torch.optim.SGD(
        net.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
    )
    net.train()
    for epoch in progress(range(config.epochs), desc=desc):
        for group in optimizer.param_groups:
            group["lr"] = config.lr_at(epoch)
        order = torch.randperm(len(x), generator=generator).to(x.device)
        for start in range(0, len(x), config.batch_size):
            idx = order[start : start + config.batch_size]
            xb, yb = x[idx], y[idx]
            if augment is not None:
                xb = augment(xb, generator)
            logits = net(xb)
            loss = F.cross_entropy(logits, yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if on_batch is not None:
                on_batch(idx, logits.detach(), yb)
    net.eval()
    return net


@torch.no_grad()
def predict(net: nn.Module, x: Tensor, batch_size: int = 1024) -> Tensor:
    """Logits of ``net`` (in eval mode) over ``x``, batched."""
    was_training = net.training
    net.eval()
    out = torch.cat([net(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])
    net.train(was_training)
    return out


@torch.no_grad()
def embed(net: nn.Module, x: Tensor, batch_size: int = 1024) -> Tensor:
    """Penultimate features (``net.embed``) over ``x``, batched, in eval mode."""
    was_training = net.training
    net.eval()
    out = torch.cat([net.embed(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])
    net.train(was_training)
    return out


def accuracy(net: nn.Module, x: Tensor, y: Tensor, batch_size: int = 1024) -> float:
    """Top-1 accuracy in percent."""
    return (predict(net, x, batch_size).argmax(1) == y).float().mean().item() * 100.0
