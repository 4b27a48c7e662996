"""The seven pruning rules of the DP paper's Fig. 1, as kept-index selections at a pruning ratio.

Score-based rules keep the highest-scoring examples: GraNd as Paul et al. (2021) define it (the norm
of the loss gradient over all weights, at initialisation, averaged over seeds) or DeepCore's variant
(the last layer's gradient norm ``||p − y||·||[h, 1]||`` after a few epochs); EL2N (``||p − y||₂``
after a few epochs, averaged over seeds; Paul et al.: epoch 20, 10 seeds); Influence-score
(``||S_i||``, each example alone); Forgetting (most-forgotten kept, Toneva et al. 2019, via
:mod:`reprolib.coreset`). Random and Herding come from :mod:`reprolib.coreset`. Ours keeps the
complement of the cardinality-guaranteed annealing solution.

Class balance (each class keeps the same fraction) is a per-rule option of the protocol: the DP paper
states no class constraint for Ours or for the score-based baselines, whose papers rank globally;
Herding selects around each class centre, so it is per class by construction.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from reprolib.coreset import select_forgetting, select_herding, select_random

PRUNING_METHODS = ("random", "herding", "forgetting", "grand", "grand_last_layer", "el2n", "influence", "ours")
DISPLAY_NAMES = {"random": "Random", "herding": "Herding", "forgetting": "Forgetting", "grand": "GraNd",
                 "grand_last_layer": "GraNd (last layer)", "el2n": "EL2N", "influence": "Influence-score", "ours": "Ours"}
CLASS_BALANCED_DEFAULT = ("herding",)  # the rules the DP paper's description makes per class


def el2n(probs: Tensor, labels: Tensor) -> Tensor:
    """``||softmax − onehot||₂`` per example."""
    error = probs.double().clone()
    error[torch.arange(len(error), device=error.device), labels] -= 1.0
    return error.norm(dim=1)


def grand_last_layer(probs: Tensor, labels: Tensor, features: Tensor) -> Tensor:
    """Norm of the last layer's (weights and bias) cross-entropy gradient: ``||p − y||·||[h, 1]||``."""
    return el2n(probs, labels) * (features.double().pow(2).sum(1) + 1).sqrt()


def grand_all_weights(net: torch.nn.Module, x: Tensor, y: Tensor, chunk: int = 128) -> Tensor:
    """Paul et al.'s GraNd: ``||∇_θ CE(f_θ(x_i), y_i)||₂`` over every weight of ``net`` (eval mode, so
    normalisation statistics do not mix examples), per example, by vectorised per-sample gradients."""
    from torch.func import functional_call, grad, vmap

    params = {k: v.detach() for k, v in net.named_parameters()}
    buffers = {k: v.detach() for k, v in net.named_buffers()}
    was_training = net.training
    net.eval()

    def loss(p, xi, yi):
        return F.cross_entropy(functional_call(net, (p, buffers), (xi[None],)), yi[None])

    per_sample = vmap(grad(loss), in_dims=(None, 0, 0))
    norms = []
    for start in range(0, len(x), chunk):
        grads = per_sample(params, x[start : start + chunk], y[start : start + chunk])
        norms.append(torch.sqrt(sum(g.double().flatten(1).pow(2).sum(1) for g in grads.values())))
    net.train(was_training)
    return torch.cat(norms)


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
