"""Parameter influence of the last linear layer, in closed form (DP paper Eq. 2; REFERENCE §7).

For a softmax classifier ``logits = W h + b`` on penultimate features ``h`` (the bias is handled by
appending a constant 1 to ``h``), with probabilities ``p`` and one-hot labels ``y``:

* per-sample gradient ``g_i = (p_i − y_i) ⊗ h_i`` (class-major: entry ``c·(d+1) + j``);
* Hessian ``H = (1/n) Σ_i (diag p_i − p_i p_iᵀ) ⊗ h_i h_iᵀ + λ I``. Without damping it is singular
  (softmax is invariant to adding one vector to every class row), so ``λ > 0`` is required;
* the paper's ``S_i = −(1/n) I_param(z_i) = (1/n) H⁻¹ g_i`` ≈ θ̂₋ᵢ − θ̂, the parameter change caused by
  removing example ``i``.

**Weight decay.** The networks are trained with weight decay λ, i.e. they minimise
``(1/n) Σ_i ℓ_i(θ)`` with ``ℓ_i = CE_i + (λ/2)‖θ‖²``; retraining on the kept examples (Definition 1:
``argmin (1/(n−m)) Σ_kept ℓ_i``) keeps the regulariser. The Newton step of that retraining gives
``θ̂₋ᵢ − θ̂ ≈ (1/(n−1)) H⁻¹ (g_i + λθ̂)`` with ``H`` the Hessian of the regularised objective, whose
damping is λ itself. Without the ``λθ̂`` term every S_i misses the shift ``(1/n) H⁻¹ λθ̂`` and
``Σ_all S_i = −H⁻¹λθ̂ ≠ 0`` at the optimum, which biases Eq. 4 more the more is pruned; with
it, ``Σ_all S_i = (n/(n−1)) H⁻¹ ∇J(θ̂)`` vanishes at a converged θ̂, so its norm measures how far the
last layer is from its optimum. A trained network's last layer is rarely at that optimum; then the
*centred* gradient ``g_i − ḡ`` (equal to ``g_i + λθ̂`` at the optimum) gives the change relative to
retraining on all the data, whose shared drift toward the optimum cancels. ``term="cross_entropy"``
gives ``(1/n) H⁻¹ g_i`` (Eq. 2 read with the unregularised loss; this library's S before the weight-decay term was added).

Two solvers, chosen by ``solver``: ``"cholesky"`` materialises H (dimension C·(d+1)) and solves in
float64; ``"cg"`` never forms H and runs conjugate gradients with Hessian-vector products computed
from the features, for layers whose Hessian does not fit in memory (CIFAR-100, Tiny ImageNet). Both
work on chunks of examples, so nothing of size n × n (or n × D beyond the result) is ever built.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

SOLVERS = ("cholesky", "cg")
TERMS = ("weight_decay", "centred", "cross_entropy")


@dataclass(frozen=True)
class InfluenceConfig:
    """How to compute S: whether each example's loss carries the weight-decay term, the Hessian damping
    (None: the training's weight decay, the regulariser's own curvature), the solver, chunk size and CG
    stopping rule.

    ``term``: what each example's gradient carries — ``"weight_decay"``: ``g_i + λθ̂`` (retraining with
    weight decay, Definition 1); ``"centred"``: ``g_i − mean_j g_j``, the same at a converged last layer
    and, away from it, the change relative to retraining on all the data (the drift both retrainings
    share cancels, so Σ_all S = 0); ``"cross_entropy"``: ``g_i`` with the 1/n of Eq. 2 (the library's S before the weight-decay term)."""

    term: str = "centred"
    damping: float | None = None
    solver: str = "cholesky"
    chunk: int = 4096
    cg_tol: float = 1e-8
    cg_max_iter: int = 500

    def damping_for(self, weight_decay: float) -> float:
        """The Hessian damping: as set, else the weight decay (the softmax Hessian needs one of them > 0)."""
        damping = self.damping if self.damping is not None else weight_decay
        if not damping > 0:
            raise ValueError("the softmax Hessian is singular without damping: train with weight decay > 0 "
                             "or set influence.damping > 0")
        return damping

    def validate(self) -> None:
        if self.damping is not None and self.damping <= 0:
            raise ValueError(f"influence damping must be > 0 or null (= the training's weight decay); got {self.damping}")
        if self.term not in TERMS:
            raise ValueError(f"unknown influence term {self.term!r}; choose one of {', '.join(TERMS)}")
        if self.solver not in SOLVERS:
            raise ValueError(f"unknown influence solver {self.solver!r}; choose one of {', '.join(SOLVERS)}")
        if self.chunk < 1 or self.cg_max_iter < 1 or self.cg_tol <= 0:
            raise ValueError("influence chunk and cg_max_iter must be ≥ 1 and cg_tol > 0")


def with_bias(features: Tensor) -> Tensor:
    """Features in float64 with a trailing 1 for the bias: (n, d+1)."""
    h = features.double()
    return torch.cat([h, torch.ones(len(h), 1, dtype=h.dtype, device=h.device)], dim=1)


def probabilities(probs: Tensor) -> Tensor:
    """Softmax outputs in float64, renormalised so each row sums to 1 at that precision (float32 rows
    summing to 1 ± 1e-7 would otherwise leave tiny negative eigenvalues in the Hessian)."""
    p = probs.double()
    return p / p.sum(1, keepdim=True)


def residuals(probs: Tensor, labels: Tensor) -> Tensor:
    """``p − y`` (n, C) in float64: the gradient of cross-entropy w.r.t. the logits."""
    r = probabilities(probs).clone()
    r[torch.arange(len(r), device=r.device), labels] -= 1.0
    return r


def per_sample_gradients(h: Tensor, r: Tensor) -> Tensor:
    """``g_i = r_i ⊗ h_i`` for each row: (n, C·(d+1)), class-major (the layout of ``[W | b]`` flattened)."""
    return (r[:, :, None] * h[:, None, :]).flatten(1)


def hessian(h: Tensor, probs: Tensor, damping: float, chunk: int = 4096) -> Tensor:
    """The damped last-layer Hessian (D × D, float64), D = C·(d+1); only the blocks a ≤ b are computed."""
    n, k = h.shape
    p = probabilities(probs)
    num_classes = p.shape[1]
    H = torch.zeros(num_classes, k, num_classes, k, dtype=torch.float64, device=h.device)
    for start in range(0, n, chunk):
        hc, pc = h[start : start + chunk], p[start : start + chunk]
        for a in range(num_classes):
            for b in range(a, num_classes):
                w = (pc[:, a] if a == b else 0.0) - pc[:, a] * pc[:, b]
                H[a, :, b, :] += hc.T @ (w[:, None] * hc)
    for a in range(num_classes):
        for b in range(a):
            H[a, :, b, :] = H[b, :, a, :].T
    H = H.reshape(num_classes * k, num_classes * k) / n
    H.diagonal().add_(damping)
    return H


def hessian_vector_products(h: Tensor, probs: Tensor, damping: float, V: Tensor, chunk: int = 4096) -> Tensor:
    """``H @ V`` for V of shape (D, m) without forming H: O(n·D·m) time, O(chunk·C·m) extra memory."""
    n, k = h.shape
    p = probabilities(probs)
    num_classes = p.shape[1]
    Vr = V.reshape(num_classes, k, -1)  # (C, d+1, m)
    out = torch.zeros_like(Vr)
    for start in range(0, n, chunk):
        hc, pc = h[start : start + chunk], p[start : start + chunk]
        t = torch.einsum("nj,cjm->nmc", hc, Vr)  # (W h_i) for every column
        u = pc[:, None, :] * (t - (t * pc[:, None, :]).sum(-1, keepdim=True))  # (diag p − p pᵀ) t
        out += torch.einsum("nmc,nj->cjm", u, hc)
    return out.reshape(V.shape) / n + damping * V


def conjugate_gradients(apply, B: Tensor, tol: float, max_iter: int) -> tuple[Tensor, int, float]:
    """Solve ``A X = B`` column by column (each column its own step sizes) for symmetric positive
    definite A given as ``apply``; returns X, the iterations used and the largest relative residual."""
    X = torch.zeros_like(B)
    R = B.clone()
    P = R.clone()
    rs = (R * R).sum(0)
    scale = B.norm(dim=0).clamp_min(torch.finfo(B.dtype).tiny)
    for iteration in range(1, max_iter + 1):
        AP = apply(P)
        alpha = rs / (P * AP).sum(0).clamp_min(torch.finfo(B.dtype).tiny)
        X += alpha * P
        R -= alpha * AP
        rs_new = (R * R).sum(0)
        worst = float((rs_new.sqrt() / scale).max())
        if worst < tol:
            return X, iteration, worst
        P = R + (rs_new / rs.clamp_min(torch.finfo(B.dtype).tiny)) * P
        rs = rs_new
    return X, max_iter, worst


@dataclass
class Influence:
    """``S`` (n × D, float32 storage), how it was solved, ``Σ_all S_i`` (float64) and the Newton step
    ``H⁻¹(ḡ + λθ̂)`` that would take the last layer to its regularised optimum (None without θ̂)."""

    S: Tensor
    solver: str
    term: str
    damping: float
    weight_decay: float
    total: Tensor
    newton_step: Tensor | None = None
    cg_iterations: int = 0
    cg_residual: float = 0.0

    def summary(self) -> dict:
        """What a record reports: ‖Σ_all S‖ against the typical single-example ‖S_i‖, and how far the
        last layer is from its optimum (‖H⁻¹∇J(θ̂)‖; 0 at convergence, where the three terms agree)."""
        mean = float(self.S.double().norm(dim=1).mean())
        total = float(self.total.norm())
        return {"term": self.term, "sum_norm": total, "mean_norm": mean, "sum_over_mean": total / max(mean, 1e-300),
                "newton_step_norm": None if self.newton_step is None else float(self.newton_step.norm()),
                "damping": self.damping, "weight_decay": self.weight_decay}


def parameter_influence(features: Tensor, probs: Tensor, labels: Tensor, config: InfluenceConfig = InfluenceConfig(),
                        weights: Tensor | None = None, weight_decay: float = 0.0) -> Influence:
    """``S_i`` for every training example (rows of the result).

    ``weights``: the last layer ``[W | b]`` (C × (d+1)) that produced ``probs``; ``weight_decay``: the λ
    it was trained with. ``S_i = (1/(n−1)) H⁻¹ (g_i + λθ̂)`` (term "weight_decay"), ``(1/(n−1)) H⁻¹
    (g_i − ḡ)`` ("centred") or ``(1/n) H⁻¹ g_i`` ("cross_entropy"); H is damped by ``config.damping``
    or, when unset, by λ.
    """
    config.validate()
    if not (len(features) == len(probs) == len(labels)) or len(features) < 2:
        raise ValueError(f"features, probs and labels need one row per example (at least 2); got {len(features)}, {len(probs)}, {len(labels)}")
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be ≥ 0; got {weight_decay}")
    h, r = with_bias(features), residuals(probs, labels)
    n, dim = len(h), r.shape[1] * h.shape[1]
    damping = config.damping_for(weight_decay)
    if weights is not None and tuple(weights.shape) != (r.shape[1], h.shape[1]):
        raise ValueError(f"weights must be the last layer's [W | b] of shape {(r.shape[1], h.shape[1])}; got {tuple(weights.shape)}")
    if config.term == "weight_decay" and weight_decay > 0 and weights is None:
        raise ValueError("the weight-decay term needs the last layer's [W | b] (weights=...)")
    decay = weight_decay * weights.double().to(h.device).reshape(dim) if weights is not None else torch.zeros(dim, dtype=torch.float64, device=h.device)
    mean_gradient = sum(per_sample_gradients(h[k : k + config.chunk], r[k : k + config.chunk]).sum(0)
                        for k in range(0, n, config.chunk)) / n
    shift = {"weight_decay": decay, "centred": -mean_gradient, "cross_entropy": torch.zeros_like(decay)}[config.term]
    scale = 1.0 / n if config.term == "cross_entropy" else 1.0 / (n - 1)

    iterations, residual = 0, 0.0
    if config.solver == "cholesky":
        L = torch.linalg.cholesky(hessian(h, probs, damping, config.chunk))

        def solve(G: Tensor) -> Tensor:
            return torch.cholesky_solve(G.T, L).T
    else:
        def apply(V: Tensor) -> Tensor:
            return hessian_vector_products(h, probs, damping, V, config.chunk)

        def solve(G: Tensor) -> Tensor:
            nonlocal iterations, residual
            X, used, worst = conjugate_gradients(apply, G.T.contiguous(), config.cg_tol, config.cg_max_iter)
            iterations, residual = max(iterations, used), max(residual, worst)
            return X.T

    S = torch.empty(n, dim, dtype=torch.float32, device=h.device)
    total = torch.zeros(dim, dtype=torch.float64, device=h.device)
    for start in range(0, n, config.chunk):
        G = per_sample_gradients(h[start : start + config.chunk], r[start : start + config.chunk]) + shift
        block = solve(G) * scale
        S[start : start + len(block)] = block.float()
        total += block.sum(0)
    newton = solve((mean_gradient + decay)[None])[0] if weights is not None else None
    return Influence(S, config.solver, config.term, damping, weight_decay, total, newton, iterations, residual)
