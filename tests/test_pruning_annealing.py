"""Simulated annealing: incremental sums stay exact, both formulations respect their constraints,
and the optimisation beats random subsets on its own objective."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reprolib.pruning.annealing import AnnealConfig, Membership, cardinality_pruning, generalization_pruning


def _influences(n=400, dim=30, seed=0):
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed))


def test_membership_swaps_stay_within_groups_and_keep_counts():
    rng = np.random.default_rng(0)
    groups = rng.integers(0, 3, 50)
    initial = rng.random(50) < 0.4
    m = Membership(groups, initial)
    assert (m.mask() == initial).all()
    mask = initial.copy()
    for _ in range(300):
        i = int(m.draw_members(rng, 1)[0])
        j = int(m.draw_others_like(rng, np.array([i]))[0])
        assert mask[i] and (j < 0 or (not mask[j] and groups[j] == groups[i]))
        if j >= 0:
            m.swap(i, j)
            mask[i], mask[j] = False, True
        assert (m.mask() == mask).all()
    assert (np.bincount(groups[initial], minlength=3) == np.bincount(groups[mask], minlength=3)).all()


def test_cardinality_objective_is_incremental_and_exact_after_many_moves():
    S = _influences()
    result = cardinality_pruning(S, {0: 60, 1: 40}, AnnealConfig(iterations=10_000, seed=1), groups=torch.arange(400) % 2)
    assert result.accepted > 200
    assert result.incremental_norm == pytest.approx(result.norm, rel=1e-9)
    labels = (torch.arange(400) % 2)[result.pruned]
    assert (labels == 0).sum() == 60 and (labels == 1).sum() == 40  # cardinality per group, exactly
    assert len(set(result.pruned.tolist())) == 100
    random_norms = [S[torch.randperm(400, generator=torch.Generator().manual_seed(s))[:100]].double().sum(0).norm() for s in range(20)]
    assert result.norm < 0.2 * float(torch.stack(random_norms).min())


def test_generalization_pruning_respects_epsilon_and_prunes_more_than_random():
    S = _influences()
    epsilon = float(S.double().norm(dim=1).median())  # one typical example's influence
    result = generalization_pruning(S, epsilon, AnnealConfig(iterations=20_000, seed=2))
    exact = float(S[result.pruned].double().sum(0).norm())
    assert exact <= epsilon and result.norm == pytest.approx(exact)
    # a random order stays within ε for only a handful of examples; annealing finds far more
    order = torch.randperm(400, generator=torch.Generator().manual_seed(0))
    prefix = S[order].double().cumsum(0).norm(dim=1)
    random_size = int((prefix <= epsilon).long().cumprod(0).sum())
    assert len(result.pruned) > 5 * max(random_size, 1)


def test_annealing_is_deterministic_for_a_seed_and_validates_input():
    S = _influences(n=100)
    a = cardinality_pruning(S, 30, AnnealConfig(iterations=2000, seed=3))
    b = cardinality_pruning(S, 30, AnnealConfig(iterations=2000, seed=3))
    assert torch.equal(a.pruned, b.pruned)
    with pytest.raises(ValueError, match="cannot prune"):
        cardinality_pruning(S, 101)
    with pytest.raises(ValueError, match="epsilon"):
        generalization_pruning(S, 0.0)
    with pytest.raises(ValueError, match="t_end"):
        AnnealConfig(t_start=1.0, t_end=2.0).validate()


def _brute_force_minima(S: torch.Tensor) -> np.ndarray:
    """f(m) = min_{|P|=m} ||Σ_P S|| for every m, over all 2^n subsets."""
    n = len(S)
    subsets = (np.arange(2**n)[:, None] >> np.arange(n)) & 1
    norms = np.linalg.norm(subsets @ S.double().numpy(), axis=1)
    sizes = subsets.sum(1)
    return np.array([norms[sizes == m].min() for m in range(n + 1)])


def test_cardinality_annealing_finds_the_brute_force_optimum_at_every_size():
    S = _influences(n=14, dim=4, seed=7)
    best = _brute_force_minima(S)
    for m in range(1, 14):
        found = cardinality_pruning(S, m, AnnealConfig(iterations=8000, seed=m))
        assert found.norm == pytest.approx(best[m], rel=1e-6), m


def test_annealing_returns_the_best_state_it_visited():
    """At a temperature that never cools the walk keeps moving; the result is still the optimum it met."""
    S = _influences(n=14, dim=4, seed=8)
    best = _brute_force_minima(S)
    hot = AnnealConfig(iterations=3000, t_start=1.0, t_end=1.0, seed=0)
    for m in (4, 7, 10):
        found = cardinality_pruning(S, m, hot)
        assert found.norm == pytest.approx(best[m], rel=1e-6), m
        assert found.incremental_norm == pytest.approx(found.norm, rel=1e-9)


def _non_monotone_problems():
    """Small problems with Σ_all S near 0, where f(m) dips again at large m, and an ε whose largest
    feasible size lies above an infeasible one."""
    problems = []
    for seed in range(40):
        S = _influences(n=14, dim=3, seed=100 + seed)
        S = S - 0.97 * S.mean(0)  # Σ_all S small but non-zero
        f = _brute_force_minima(S)
        for epsilon in np.quantile(f[1:-1], [0.2, 0.4]):
            feasible = np.flatnonzero(f <= epsilon)
            if f[-1] > epsilon and (f[: feasible.max()] > epsilon).any():
                problems.append((S, float(epsilon), int(feasible.max())))
        if len(problems) >= 3:
            break
    return problems


def test_generalization_pruning_finds_the_largest_feasible_size_when_f_is_not_monotone():
    problems = _non_monotone_problems()
    assert len(problems) >= 3
    for S, epsilon, largest in problems:
        found = generalization_pruning(S, epsilon, AnnealConfig(iterations=13 * 8000, seed=0))  # 8,000 per size
        assert found.norm <= epsilon and not found.degenerate
        assert len(found.pruned) == largest, (epsilon, largest)


def test_generalization_pruning_names_the_degenerate_case():
    S = _influences(n=50, dim=5)
    S = S - S.mean(0)  # Σ_all S = 0: pruning everything meets any ε
    found = generalization_pruning(S, 1e-3, AnnealConfig(iterations=1000))
    assert found.degenerate and len(found.pruned) == 50 and found.as_dict()["degenerate"]
