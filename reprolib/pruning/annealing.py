"""Choosing the pruned set by simulated annealing over the parameter influences S (DP paper Eq. 3, 4).

* cardinality-guaranteed (Eq. 4): minimise ``||Σ_{i∈P} S_i||₂`` with ``|P| = m`` — swap moves
  (one pruned example for one kept one; within a class when ``groups`` are given, so per-class
  counts stay fixed);
* generalisation-guaranteed (Eq. 3): maximise ``|P|`` subject to ``||Σ_{i∈P} S_i||₂ ≤ ε``, i.e. the
  largest ``m`` whose minimum ``f(m) = min_{|P|=m} ||Σ_P S||`` is ≤ ε. ``f`` need not grow with ``m``
  (``f(n) = ||Σ_all S||``, and ``f(m) ≈ f(n − m)`` when ``Σ_all S ≈ 0``), so no bisection: the sizes
  are scanned from the top down, each warm-started from the solution one size up (drop the member
  whose removal leaves the smallest sum, then anneal swaps), and the first feasible size is the answer.
  Sizes that the bound ``f(m) ≥ ||Σ_all S|| − (sum of the n − m largest ||S_i||)`` rules out get no
  annealing. Degenerate case: ``||Σ_all S|| ≤ ε`` makes pruning everything feasible (``m = n``);
  the result says so (``degenerate``). An influence that sums to zero (the centred one, or any exact
  one at a converged layer) is always degenerate over the whole range, and nearly so above ``n/2``
  (``f(m) = f(n − m)``): the first-order estimate is meant for small pruned sets, so callers can cap
  the size (``max_pruned``). Annealing by add/remove moves from the empty set stalls: the
  first example already uses up most of ε, while the best set of a given size can have a tiny sum.

Every run returns the best state it visited, not the last one.

The running sum ``Σ_{i∈P} S_i`` is kept in float64, so a move is evaluated and applied in O(dim):
``||s − S_i + S_j||² = ||s||² + ||S_i||² + ||S_j||² − 2sᵀS_i + 2sᵀS_j − 2S_iᵀS_j``. Proposals are
evaluated in vectorised batches against the current state and consumed in order until one is
accepted (the rest of the batch is dropped), which is exactly sequential Metropolis annealing.
The temperature falls geometrically from ``t_start`` × (mean |ΔE| of a calibration batch) to
``t_end`` times that, over the iteration or time budget, whichever ends first.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import Tensor

FORMULATIONS = ("cardinality", "generalization")


@dataclass(frozen=True)
class AnnealConfig:
    """Budget (proposals and/or seconds), temperature schedule and seed.

    ``iterations`` is the proposal budget of one Eq. 4 solve; Eq. 3 spreads it over the sizes it
    anneals. The paper gives no budget ("a given time budget", Sec. 6.1); the presets state theirs."""

    iterations: int = 100_000
    time_budget_s: float = 0.0  # 0: no time limit
    t_start: float = 3.0
    t_end: float = 1e-2
    max_batch: int = 512
    seed: int = 0

    def validate(self) -> None:
        if self.iterations < 1 or self.max_batch < 1:
            raise ValueError(f"annealing iterations and max_batch must be ≥ 1; got {self.iterations}, {self.max_batch}")
        if self.time_budget_s < 0:
            raise ValueError(f"annealing time_budget_s must be ≥ 0 (0 = no limit); got {self.time_budget_s}")
        if not 0 < self.t_end <= self.t_start:
            raise ValueError(f"annealing temperatures need 0 < t_end ≤ t_start; got {self.t_end}, {self.t_start}")


@dataclass
class AnnealResult:
    """The pruned indices and the final objective/constraint, recomputed from scratch."""

    pruned: Tensor
    formulation: str
    norm: float  # ||Σ_{i∈pruned} S_i||₂ recomputed from S
    incremental_norm: float  # the same value as carried by the incremental updates
    epsilon: float | None
    proposals: int
    accepted: int
    seconds: float
    degenerate: bool = False  # Eq. 3 only: ||Σ_all S|| ≤ ε, so every example can be pruned
    sizes_annealed: int = 0  # Eq. 3 only: how many sizes the top-down scan annealed

    def as_dict(self) -> dict:
        return {"formulation": self.formulation, "size": len(self.pruned), "norm": self.norm,
                "incremental_norm": self.incremental_norm, "epsilon": self.epsilon,
                "proposals": self.proposals, "accepted": self.accepted, "seconds": self.seconds,
                "degenerate": self.degenerate, "sizes_annealed": self.sizes_annealed}


class Membership:
    """Which examples are pruned, by group, with O(1) uniform draws and swaps.

    The examples of group g occupy slots ``start[g] : start[g] + size[g]``; the first ``count[g]`` of
    them are the pruned ones.
    """

    def __init__(self, groups: np.ndarray, initial: np.ndarray):
        self.groups = groups
        num_groups = int(groups.max()) + 1
        self.size = np.bincount(groups, minlength=num_groups)
        self.start = np.concatenate([[0], np.cumsum(self.size)[:-1]])
        self.count = np.bincount(groups[initial], minlength=num_groups) if initial.any() else np.zeros(num_groups, dtype=np.int64)
        # members first within each group, then the rest; both in index order
        self.slots = np.lexsort((np.arange(len(groups)), ~initial, groups))
        self.pos = np.empty_like(self.slots)
        self.pos[self.slots] = np.arange(len(groups))

    @property
    def total(self) -> int:
        return int(self.count.sum())

    def mask(self) -> np.ndarray:
        return self.pos - self.start[self.groups] < self.count[self.groups]

    def draw_members(self, rng: np.random.Generator, k: int) -> np.ndarray:
        """``k`` pruned examples, uniformly (with replacement); −1 where there is none."""
        total = self.total
        if total == 0:
            return np.full(k, -1)
        r = rng.integers(0, total, k)
        cum = np.cumsum(self.count)
        g = np.searchsorted(cum, r, side="right")
        return self.slots[self.start[g] + r - (cum[g] - self.count[g])]

    def draw_others_like(self, rng: np.random.Generator, members: np.ndarray) -> np.ndarray:
        """For each pruned example, a kept example of its group (−1 where the group has none)."""
        g = self.groups[members]
        free = self.size[g] - self.count[g]
        offset = self.count[g] + np.floor(rng.random(len(members)) * np.maximum(free, 1)).astype(np.int64)
        return np.where(free > 0, self.slots[self.start[g] + np.minimum(offset, self.size[g] - 1)], -1)

    def swap(self, i: int, j: int) -> None:
        """Keep ``i`` (pruned until now) and prune ``j`` (kept until now, same group) instead."""
        pi, pj = self.pos[i], self.pos[j]
        self.slots[pi], self.slots[pj] = j, i
        self.pos[i], self.pos[j] = pj, pi


def squared_norms(S: Tensor) -> np.ndarray:
    """``||S_i||²`` per row, in float64, chunked."""
    return torch.cat([S[k : k + 8192].double().pow(2).sum(1) for k in range(0, len(S), 8192)]).cpu().numpy()


class _Annealer:
    """The shared machinery: running sum, batched move evaluation, Metropolis, budget."""

    def __init__(self, S: Tensor, membership: Membership, config: AnnealConfig, sq: np.ndarray | None = None):
        self.S = S
        self.members = membership
        self.config = config
        self.rng = np.random.default_rng(config.seed)
        self.sq = squared_norms(S) if sq is None else sq
        mask = torch.from_numpy(membership.mask()).to(S.device)
        self.s = S[mask].double().sum(0) if mask.any() else torch.zeros(S.shape[1], dtype=torch.float64, device=S.device)

    def norm(self) -> float:
        return float(self.s.norm())

    def candidate_norms(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """||s − S_i + S_j|| for each proposed swap (i, j), in O(dim) each (−1 entries: any value).

        Evaluated in the storage precision of S (it only steers acceptance); the running sum that the
        result reports is kept in float64 by :meth:`apply`."""
        device = self.S.device
        i_, j_ = np.maximum(i, 0), np.maximum(j, 0)
        Si = self.S.index_select(0, torch.from_numpy(i_).to(device))
        Sj = self.S.index_select(0, torch.from_numpy(j_).to(device))
        s = self.s.to(self.S.dtype)
        dots = torch.stack([Si @ s, Sj @ s, (Si * Sj).sum(1)]).double().cpu().numpy()
        s2 = float(self.s @ self.s)
        new2 = s2 + self.sq[i_] + self.sq[j_] - 2 * dots[0] + 2 * dots[1] - 2 * dots[2]
        return np.sqrt(np.maximum(new2, 0.0))

    def apply(self, i: int, j: int) -> None:
        self.s += self.S[j].double() - self.S[i].double()
        self.members.swap(i, j)

    def run(self, propose, energy_change, target: float = -1.0) -> tuple[int, int, float]:
        """Anneal; ``propose(k) -> (i, j)``, ``energy_change(i, j, norms) -> ΔE`` (inf = invalid move);
        stop early once the norm is ≤ ``target``."""
        cfg = self.config
        i, j = propose(256)
        delta = energy_change(i, j, self.candidate_norms(i, j))
        finite = np.abs(delta[np.isfinite(delta)])
        scale = float(finite.mean()) if len(finite) and finite.mean() > 0 else 1.0
        t0, t1 = cfg.t_start * scale, cfg.t_end * scale
        began = time.perf_counter()
        proposals = accepted = 0
        batch = 8
        best = self.norm()
        since_best: list[tuple[int, int]] = []  # accepted swaps after the best state, undone at the end
        while proposals < cfg.iterations:
            elapsed = time.perf_counter() - began
            if cfg.time_budget_s and elapsed >= cfg.time_budget_s:
                break
            progress = max(proposals / cfg.iterations, elapsed / cfg.time_budget_s if cfg.time_budget_s else 0.0)
            temperature = t0 * (t1 / t0) ** progress
            k = min(batch, cfg.iterations - proposals)
            i, j = propose(k)
            delta = energy_change(i, j, self.candidate_norms(i, j))
            with np.errstate(over="ignore"):
                accept = (delta <= 0) | (self.rng.random(k) < np.exp(-np.maximum(delta, 0) / temperature))
            accept &= np.isfinite(delta)
            hits = np.flatnonzero(accept)
            if len(hits) == 0:
                proposals += k
                batch = min(cfg.max_batch, batch * 2)
                continue
            first = int(hits[0])
            proposals += first + 1
            self.apply(int(i[first]), int(j[first]))
            accepted += 1
            since_best.append((int(i[first]), int(j[first])))
            if self.norm() < best:
                best, since_best = self.norm(), []
                if best <= target:
                    break
            batch = max(8, min(cfg.max_batch, int(4 * (first + 1))))
        for i_, j_ in reversed(since_best):  # back to the best state seen
            self.apply(j_, i_)
        return proposals, accepted, time.perf_counter() - began

    def result(self, formulation: str, epsilon: float | None, stats: tuple[int, int, float]) -> AnnealResult:
        pruned = torch.from_numpy(np.flatnonzero(self.members.mask()))
        exact = float(self.S[pruned.to(self.S.device)].double().sum(0).norm()) if len(pruned) else 0.0
        return AnnealResult(pruned, formulation, exact, self.norm(), epsilon, *stats)


def _groups(n: int, groups: Tensor | None) -> np.ndarray:
    if groups is None:
        return np.zeros(n, dtype=np.int64)
    g = groups.cpu().numpy().astype(np.int64)
    if len(g) != n or g.min() < 0:
        raise ValueError(f"groups must give one non-negative group id per example; got {len(g)} for {n} examples")
    return g


def _swap_annealing(S: Tensor, initial: np.ndarray, groups: np.ndarray, config: AnnealConfig,
                    sq: np.ndarray | None = None, target: float = -1.0) -> AnnealResult:
    """Eq. 4 from the pruned set ``initial``: swaps keep each group's count; the best set seen (the
    first with norm ≤ ``target``, when one is given)."""
    annealer = _Annealer(S, Membership(groups, initial), config, sq)

    def propose(k: int):
        i = annealer.members.draw_members(annealer.rng, k)
        j = annealer.members.draw_others_like(annealer.rng, np.maximum(i, 0))
        bad = (i < 0) | (j < 0)
        return np.where(bad, -1, i), np.where(bad, -1, j)

    def energy_change(i, j, norms):
        return np.where((i < 0) | (j < 0), np.inf, norms - annealer.norm())

    sizes, counts = np.bincount(groups), annealer.members.count
    movable = bool(((counts > 0) & (counts < sizes[: len(counts)])).any())
    stats = annealer.run(propose, energy_change, target) if movable else (0, 0, 0.0)
    return annealer.result("cardinality", None, stats)


def cardinality_pruning(S: Tensor, prune_counts: dict[int, int] | int, config: AnnealConfig = AnnealConfig(),
                        groups: Tensor | None = None) -> AnnealResult:
    """Eq. 4: the ``m`` examples (``prune_counts[g]`` of group g) whose summed influence has least norm."""
    config.validate()
    g = _groups(len(S), groups)
    counts = {0: prune_counts} if isinstance(prune_counts, int) else dict(prune_counts)
    sizes = np.bincount(g)
    for group, m in counts.items():
        if not 0 <= m <= (sizes[group] if group < len(sizes) else 0):
            raise ValueError(f"cannot prune {m} examples from group {group} of {sizes[group] if group < len(sizes) else 0}")
    rng = np.random.default_rng(config.seed)
    initial = np.zeros(len(S), dtype=bool)
    for group, m in counts.items():
        initial[rng.choice(np.flatnonzero(g == group), m, replace=False)] = True
    return _swap_annealing(S, initial, g, config)


def _drop_greedily(S: Tensor, sq: np.ndarray, mask: np.ndarray, total: Tensor) -> int:
    """The pruned example whose removal leaves the smallest ||Σ_P S||."""
    members = np.flatnonzero(mask)
    dots = torch.cat([S[torch.from_numpy(members[k : k + 8192]).to(S.device)].double() @ total
                      for k in range(0, len(members), 8192)]).cpu().numpy()
    return int(members[np.argmin(sq[members] - 2 * dots)])


def generalization_pruning(S: Tensor, epsilon: float, config: AnnealConfig = AnnealConfig(),
                           max_pruned: int | None = None) -> AnnealResult:
    """Eq. 3: the largest pruned set whose summed influence has norm ≤ ``epsilon`` (see the module
    docstring for the top-down scan), of at most ``max_pruned`` examples (None: the whole range). The
    constraint holds exactly: feasibility is judged on the sum recomputed from scratch.
    ``config.iterations`` is shared by the sizes that are annealed."""
    config.validate()
    if not epsilon > 0:
        raise ValueError(f"epsilon must be > 0; got {epsilon}")
    n = len(S)
    top = n if max_pruned is None else max_pruned
    if not 0 <= top <= n:
        raise ValueError(f"max_pruned must be between 0 and {n}; got {max_pruned}")
    total = torch.cat([S[k : k + 8192].double().sum(0, keepdim=True) for k in range(0, n, 8192)]).sum(0)
    if top == n and float(total.norm()) <= epsilon:
        return AnnealResult(torch.arange(n), "generalization", float(total.norm()), float(total.norm()), epsilon,
                            0, 0, 0.0, degenerate=True)
    sq = squared_norms(S)
    largest = np.concatenate([[0.0], np.cumsum(np.sort(np.sqrt(sq))[::-1])])  # largest[k]: the k largest norms
    lower = {m: float(total.norm()) - largest[n - m] for m in range(1, n)}  # f(m) ≥ lower[m]
    candidates = [m for m in range(min(top, n - 1), 0, -1) if lower[m] <= epsilon]
    if not candidates:
        return AnnealResult(torch.zeros(0, dtype=torch.long), "generalization", 0.0, 0.0, epsilon, 0, 0, 0.0)
    per_size = replace(config, iterations=max(1, config.iterations // len(candidates)),
                       time_budget_s=config.time_budget_s / len(candidates))
    single = np.zeros(n, dtype=np.int64)
    mask = np.ones(n, dtype=bool)
    proposals = accepted = annealed = 0
    seconds = 0.0
    for m in range(n - 1, 0, -1):
        drop = _drop_greedily(S, sq, mask, total)
        mask[drop] = False
        total = total - S[drop].double()
        if m > top or lower[m] > epsilon:
            continue
        found = _swap_annealing(S, mask, single, replace(per_size, seed=config.seed + annealed), sq, target=epsilon)
        annealed += 1
        proposals, accepted, seconds = proposals + found.proposals, accepted + found.accepted, seconds + found.seconds
        if found.norm <= epsilon:
            return replace(found, formulation="generalization", epsilon=epsilon, proposals=proposals, accepted=accepted,
                           seconds=seconds, sizes_annealed=annealed)
        mask = np.zeros(n, dtype=bool)
        mask[found.pruned.numpy()] = True
        total = S[found.pruned.to(S.device)].double().sum(0)
    return AnnealResult(torch.zeros(0, dtype=torch.long), "generalization", 0.0, 0.0, epsilon, proposals, accepted,
                        seconds, sizes_annealed=annealed)
