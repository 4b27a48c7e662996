"""Dataset pruning's selection step for n examples: last-layer influence, then simulated annealing.

Random penultimate features (``prune_features`` wide, 10 classes) and softmax outputs stand in for a
trained network's; the influence matrix S (n × 10·(d+1)) is solved with the default Cholesky solver
and the cardinality-guaranteed formulation prunes half of every class within ``anneal_iterations``
proposals, as the DP pages do.
"""

from __future__ import annotations

import time

import torch

from bench.hardware import synchronize
from bench.sizes import Size
from reprolib.pruning.annealing import AnnealConfig, cardinality_pruning
from reprolib.pruning.influence import InfluenceConfig, parameter_influence

WEIGHT_DECAY = 5e-4  # the DP protocol's training weight decay, which also damps the Hessian

NUM_CLASSES = 10


def run(size: Size, device: torch.device, info: dict) -> dict:
    generator = torch.Generator().manual_seed(0)
    n, d = size.prune_n, size.prune_features
    features = torch.randn(n, d, generator=generator).to(device)
    logits = features @ torch.randn(d, NUM_CLASSES, generator=generator).to(device) / d**0.5
    probs, labels = logits.softmax(1), torch.arange(n, device=device) % NUM_CLASSES

    synchronize(device)
    began = time.perf_counter()
    influence = parameter_influence(features, probs, labels, InfluenceConfig(), weight_decay=WEIGHT_DECAY)
    synchronize(device)
    influence_s = time.perf_counter() - began

    counts = {c: int((labels == c).sum()) // 2 for c in range(NUM_CLASSES)}
    began = time.perf_counter()
    result = cardinality_pruning(influence.S, counts, AnnealConfig(iterations=size.anneal_iterations), groups=labels)
    synchronize(device)
    anneal_s = time.perf_counter() - began
    return {"shape": {"n": n, "features": d, "classes": NUM_CLASSES, "influence_dim": influence.S.shape[1],
                      "solver": influence.solver, "pruned": len(result.pruned), "proposals": result.proposals},
            "influence_s": influence_s, "anneal_s": anneal_s, "total_s": influence_s + anneal_s,
            "proposals_per_s": result.proposals / anneal_s, "checks": []}
