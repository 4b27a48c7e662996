"""Coreset selection: the Random, Herding, K-Center and Forgetting rows of the distillation tables.

Each selector returns indices into the training set, ``ipc`` per class, in class order. Herding and
K-Center work on penultimate features of a network trained on the full training set; Forgetting on
the per-example forgetting counts recorded while training it (REFERENCE §5).
"""

from __future__ import annotations

import torch
from torch import Tensor

CORESET_METHODS = ("random", "herding", "k-center", "forgetting")
DISPLAY_NAMES = {"random": "Random", "herding": "Herding", "k-center": "K-Center", "forgetting": "Forgetting"}


def _check(labels: Tensor, ipc: int) -> list[Tensor]:
    """Per-class index lists, after checking every class has at least ``ipc`` examples."""
    if ipc < 1:
        raise ValueError(f"ipc must be ≥ 1, got {ipc}")
    classes = [torch.nonzero(labels == c).flatten() for c in range(int(labels.max()) + 1)]
    smallest = min(len(c) for c in classes)
    if ipc > smallest:
        raise ValueError(f"ipc={ipc} is larger than the smallest class ({smallest} examples)")
    return classes


def select_random(labels: Tensor, ipc: int, generator: torch.Generator) -> Tensor:
    """``ipc`` examples per class drawn uniformly without replacement."""
    return torch.cat([idx[torch.randperm(len(idx), generator=generator)[:ipc].to(idx.device)] for idx in _check(labels, ipc)])


def herding_order(features: Tensor, k: int) -> Tensor:
    """Greedy herding (Welling 2009): each step adds the example that brings the running mean of the
    selection closest to the class mean, i.e. argmin ||(t+1)·μ − Σ_selected − x||."""
    mu = features.mean(0)
    chosen: list[int] = []
    running = torch.zeros_like(mu)
    available = torch.ones(len(features), dtype=torch.bool, device=features.device)
    for t in range(k):
        dist = ((t + 1) * mu - running - features).norm(dim=1)
        dist[~available] = float("inf")
        i = int(dist.argmin())
        chosen.append(i)
        running += features[i]
        available[i] = False
    return torch.tensor(chosen, dtype=torch.long, device=features.device)


def select_herding(features: Tensor, labels: Tensor, ipc: int) -> Tensor:
    """Herding per class on ``features`` (one row per training example)."""
    return torch.cat([idx[herding_order(features[idx], ipc)] for idx in _check(labels, ipc)])


def kcenter_order(features: Tensor, k: int) -> Tensor:
    """Farthest-first traversal (greedy K-Center), started from the example nearest the class mean."""
    first = int((features - features.mean(0)).norm(dim=1).argmin())
    chosen = [first]
    nearest = (features - features[first]).norm(dim=1)
    for _ in range(k - 1):
        i = int(nearest.argmax())
        chosen.append(i)
        nearest = torch.minimum(nearest, (features - features[i]).norm(dim=1))
    return torch.tensor(chosen, dtype=torch.long, device=features.device)


def select_kcenter(features: Tensor, labels: Tensor, ipc: int) -> Tensor:
    """K-Center per class on ``features``."""
    return torch.cat([idx[kcenter_order(features[idx], ipc)] for idx in _check(labels, ipc)])


class ForgettingTracker:
    """Counts forgetting events (correct → incorrect between two presentations) per training example.

    Examples never classified correctly during training get an infinite count: they are the most
    forgettable (Toneva et al. 2019).
    """

    def __init__(self, n: int, device: torch.device | str = "cpu"):
        self.previous = torch.zeros(n, dtype=torch.bool, device=device)
        self.forgotten = torch.zeros(n, dtype=torch.long, device=device)
        self.learned = torch.zeros(n, dtype=torch.bool, device=device)

    def update(self, indices: Tensor, logits: Tensor, labels: Tensor) -> None:
        """Record one minibatch's predictions (usable as ``train_classifier``'s ``on_batch`` hook)."""
        correct = logits.argmax(1) == labels
        self.forgotten[indices] += (self.previous[indices] & ~correct).long()
        self.previous[indices] = correct
        self.learned[indices] |= correct

    def counts(self) -> Tensor:
        counts = self.forgotten.double()
        counts[~self.learned] = float("inf")
        return counts


def select_forgetting(counts: Tensor, labels: Tensor, ipc: int, generator: torch.Generator) -> Tensor:
    """The ``ipc`` most forgotten examples per class; ties broken at random (seeded)."""
    picks = []
    for idx in _check(labels, ipc):
        shuffled = idx[torch.randperm(len(idx), generator=generator).to(idx.device)]
        order = torch.argsort(counts[shuffled], descending=True, stable=True)
        picks.append(shuffled[order[:ipc]])
    return torch.cat(picks)
