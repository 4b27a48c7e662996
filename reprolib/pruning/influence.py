"""Parameter influence of the last linear layer, in closed form (DP paper Eq. 2; REFERENCE §7).

For a softmax classifier ``logits = W h + b`` on penultimate features ``h`` (the bias is handled by
appending a constant 1 to ``h``), with probabilities ``p`` and one-hot labels ``y``:

* per-sample gradient ``g_i = (p_i − y_i) ⊗ h_i`` (class-major: entry ``c·(d+1) + j``);
* Hessian ``H = (1/n) Σ_i (diag p_i − p_i p_iᵀ) ⊗ h_i h_iᵀ + λ I``. Without damping it is singular
  (softmax is invariant to adding one vector to every class row), so ``λ > 0`` is required;
* the paper's ``S_i = −(1/n) I_param(z_i) = (1/n) H⁻¹ g_i`` ≈ θ̂₋ᵢ − θ̂, the parameter change caused by
  removing example ``i``.

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


@dataclass(frozen=True)
class InfluenceConfig:
    """How to compute S: Hessian damping λ, the solver, chunk size and CG stopping rule."""

    damping: float = 1e-3
    solver: str = "cholesky"
    chunk: int = 4096
    cg_tol: float = 1e-8
    cg_max_iter: int = 500

    def validate(self) -> None:
        if self.damping <= 0:
            raise ValueError(f"influence damping must be > 0 (the softmax Hessian is singular without it); got {self.damping}")
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
    """``S`` (n × D, float32 storage) and how it was solved."""

    S: Tensor
    solver: str
    cg_iterations: int = 0
    cg_residual: float = 0.0


def parameter_influence(features: Tensor, probs: Tensor, labels: Tensor, config: InfluenceConfig = InfluenceConfig()) -> Influence:
    """``S_i = (1/n) H⁻¹ g_i`` for every training example (rows of the result)."""
    config.validate()
    if not (len(features) == len(probs) == len(labels)) or len(features) == 0:
        raise ValueError(f"features, probs and labels need one row per example; got {len(features)}, {len(probs)}, {len(labels)}")
    h, r = with_bias(features), residuals(probs, labels)
    n = len(h)
    S = torch.empty(n, r.shape[1] * h.shape[1], dtype=torch.float32, device=h.device)
    iterations, residual = 0, 0.0
    if config.solver == "cholesky":
        L = torch.linalg.cholesky(hessian(h, probs, config.damping, config.chunk))
        for start in range(0, n, config.chunk):
            G = per_sample_gradients(h[start : start + config.chunk], r[start : start + config.chunk])
            S[start : start + len(G)] = (torch.cholesky_solve(G.T, L).T / n).float()
    else:
        def apply(V: Tensor) -> Tensor:
            return hessian_vector_products(h, probs, config.damping, V, config.chunk)

        for start in range(0, n, config.chunk):
            G = per_sample_gradients(h[start : start + config.chunk], r[start : start + config.chunk])
            X, used, worst = conjugate_gradients(apply, G.T.contiguous(), config.cg_tol, config.cg_max_iter)
            S[start : start + len(G)] = (X.T / n).float()
            iterations, residual = max(iterations, used), max(residual, worst)
    return Influence(S, config.solver, iterations, residual)
