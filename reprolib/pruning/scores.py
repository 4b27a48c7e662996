"""The seven pruning rules of the DP paper's Fig. 1, as kept-index selections at a pruning ratio.

Score-based rules keep the highest-scoring examples: GraNd (last-layer gradient norm
``||p − y||·||[h, 1]||``) and EL2N (``||p − y||₂``), both averaged over networks trained a few epochs
from several seeds (Paul et al. 2021); Influence-score (``||S_i||``, each example alone); Forgetting
(most-forgotten kept, Toneva et al. 2019, via :mod:`reprolib.coreset`). Random and Herding come from
:mod:`reprolib.coreset`. Ours keeps the complement of the cardinality-guaranteed annealing solution.
Every rule is class-balanced: each class keeps the same fraction of its examples.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from reprolib.coreset import select_forgetting, select_herding, select_random

PRUNING_METHODS = ("random", "herding", "forgetting", "grand", "el2n", "influence", "ours")
DISPLAY_NAMES = {"random": "Random", "herding": "Herding", "forgetting": "Forgetting", "grand": "GraNd",
                 "el2n": "EL2N", "influence": "Influence-score", "ours": "Ours"}


def el2n(probs: Tensor, labels: Tensor) -> Tensor:
    """``||softmax − onehot||₂`` per example."""
    error = probs.double().clone()
    error[torch.arange(len(error), device=error.device), labels] -= 1.0
    return error.norm(dim=1)


def grand_last_layer(probs: Tensor, labels: Tensor, features: Tensor) -> Tensor:
    """Norm of the last layer's (weights and bias) cross-entropy gradient: ``||p − y||·||[h, 1]||``."""
    return el2n(probs, labels) * (features.double().pow(2).sum(1) + 1).sqrt()


def keep_counts(labels: Tensor, ratio: float, num_classes: int) -> list[int]:
    """Examples kept per class when a fraction ``ratio`` of each class is pruned (at least one kept)."""
    if not 0 <= ratio < 1:
        raise ValueError(f"pruning ratio must be in [0, 1); got {ratio}")
    sizes = torch.bincount(labels.cpu(), minlength=num_classes).tolist()
    return [max(1, size - round(ratio * size)) if size else 0 for size in sizes]


def per_class(labels: Tensor, counts: list[int], choose: Callable[[Tensor, int], Tensor]) -> Tensor:
    """Sorted kept indices: ``choose(class indices, k)`` returns positions within the class."""
    kept = []
    for c, k in enumerate(counts):
        members = torch.nonzero(labels == c).flatten()
        if k:
            kept.append(members[choose(members, k)])
    return torch.cat(kept).sort().values


def keep_highest(scores: Tensor, labels: Tensor, counts: list[int], generator: torch.Generator) -> Tensor:
    """The ``counts[c]`` highest-scoring examples of each class; ties broken at random (seeded)."""
    def choose(members: Tensor, k: int) -> Tensor:
        shuffled = torch.randperm(len(members), generator=generator).to(members.device)
        order = torch.argsort(scores[members[shuffled]], descending=True, stable=True)
        return shuffled[order[:k]]

    return per_class(labels, counts, choose)


def keep_random(labels: Tensor, counts: list[int], generator: torch.Generator) -> Tensor:
    return per_class(labels, counts, lambda m, k: select_random(torch.zeros_like(m), k, generator))


def keep_herding(features: Tensor, labels: Tensor, counts: list[int]) -> Tensor:
    return per_class(labels, counts, lambda m, k: select_herding(features[m], torch.zeros_like(m), k))


def keep_forgetting(forgetting: Tensor, labels: Tensor, counts: list[int], generator: torch.Generator) -> Tensor:
    return per_class(labels, counts, lambda m, k: select_forgetting(forgetting[m], torch.zeros_like(m), k, generator))
