"""Last-layer influence: Hessian SPD with damping, CG = Cholesky, and agreement with exact
leave-one-out retraining of multinomial logistic regression on the embedded digits."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from reprolib.data import load_dataset
from reprolib.pruning.influence import (
    InfluenceConfig,
    hessian,
    hessian_vector_products,
    parameter_influence,
    per_sample_gradients,
    residuals,
    with_bias,
)

DAMPING = 1e-2


def _random_problem(n=120, d=5, classes=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    features = torch.randn(n, d, generator=g)
    probs = torch.softmax(torch.randn(n, classes, generator=g), dim=1)
    labels = torch.randint(0, classes, (n,), generator=g)
    return features, probs, labels


def _fit(h, y, n, weights0=None, mask=None):
    """Exact minimiser of (1/n) Σ_{kept} CE + (λ/2)||W||² by Newton's method run to convergence
    (the objective is strictly convex; the Hessian used here is checked against autograd above)."""
    mask = torch.ones(len(y), dtype=torch.bool) if mask is None else mask
    classes = int(y.max()) + 1
    W = torch.zeros(classes, h.shape[1], dtype=torch.float64) if weights0 is None else weights0.clone()
    hk, yk = h[mask], y[mask]
    for _ in range(30):
        p = torch.softmax(hk @ W.T, dim=1)
        grad = per_sample_gradients(hk, residuals(p, yk)).sum(0) / n + DAMPING * W.reshape(-1)
        H = hessian(hk, p, 0.0) * (len(hk) / n) + DAMPING * torch.eye(grad.numel(), dtype=torch.float64)
        step = torch.linalg.solve(H, grad)
        W = W - step.reshape(W.shape)
        if grad.norm() < 1e-12:
            break
    return W


def test_hessian_is_symmetric_positive_definite_with_damping_and_singular_without():
    features, probs, labels = _random_problem()
    h = with_bias(features)
    H = hessian(h, probs, DAMPING, chunk=37)
    assert torch.allclose(H, H.T, atol=1e-12)
    eig = torch.linalg.eigvalsh(H)
    assert eig.min() > DAMPING - 1e-9
    undamped = torch.linalg.eigvalsh(hessian(h, probs, 1e-300))
    assert undamped.min().abs() < 1e-10  # softmax's shift invariance: damping is needed
    V = torch.randn(H.shape[0], 3, dtype=torch.float64)
    assert torch.allclose(hessian_vector_products(h, probs, DAMPING, V, chunk=50), H @ V, atol=1e-10)


def test_hessian_matches_autograd():
    features, probs, labels = _random_problem(n=40, d=3, classes=3)
    h = with_bias(features)
    W0 = torch.randn(3, h.shape[1], dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    p = torch.softmax(h @ W0.T, dim=1)
    loss = lambda w: F.cross_entropy(h @ w.reshape(3, -1).T, labels, reduction="mean")  # noqa: E731
    exact = torch.autograd.functional.hessian(loss, W0.reshape(-1))
    assert torch.allclose(hessian(h, p, DAMPING), exact + DAMPING * torch.eye(len(exact), dtype=torch.float64), atol=1e-10)


def test_per_sample_gradient_matches_autograd():
    features, probs, labels = _random_problem(n=6, d=3, classes=4)
    h = with_bias(features)
    W = torch.randn(4, 4, dtype=torch.float64, requires_grad=True)
    p = torch.softmax(h @ W.T, dim=1).detach()
    G = per_sample_gradients(h, residuals(p, labels))
    for i in range(6):
        (grad,) = torch.autograd.grad(F.cross_entropy((h[i : i + 1] @ W.T), labels[i : i + 1]), W)
        assert torch.allclose(G[i], grad.reshape(-1), atol=1e-12)


def test_conjugate_gradients_equals_cholesky():
    features, probs, labels = _random_problem(n=90, d=6, classes=4)
    direct = parameter_influence(features, probs, labels, InfluenceConfig(damping=DAMPING, chunk=32))
    iterative = parameter_influence(features, probs, labels, InfluenceConfig(damping=DAMPING, solver="cg", chunk=32, cg_tol=1e-10))
    assert iterative.cg_residual < 1e-10
    assert torch.allclose(iterative.S, direct.S, rtol=1e-4, atol=1e-7 * direct.S.abs().max().item())


@pytest.mark.parametrize("config", [InfluenceConfig(damping=0), InfluenceConfig(solver="lissa"), InfluenceConfig(chunk=0)])
def test_bad_influence_config_is_rejected(config):
    with pytest.raises(ValueError):
        config.validate()


def test_influence_predicts_leave_one_out_retraining_on_digits():
    data = load_dataset("digits")
    n = 300
    h = with_bias(data.train_x[:n].flatten(1))
    y = data.train_y[:n]
    W = _fit(h, y, n)
    probs = torch.softmax(h @ W.T, dim=1)
    S = parameter_influence(h[:, :-1], probs, y, InfluenceConfig(damping=DAMPING)).S.double()
    removed = torch.randperm(n, generator=torch.Generator().manual_seed(0))[:12]
    predicted, actual = [], []
    for i in removed.tolist():
        mask = torch.ones(n, dtype=torch.bool)
        mask[i] = False
        actual.append((_fit(h, y, n, W, mask) - W).reshape(-1))
        predicted.append(S[i])
    predicted, actual = torch.cat(predicted), torch.cat(actual)
    correlation = torch.corrcoef(torch.stack([predicted, actual]))[0, 1].item()
    print(f"influence vs leave-one-out: Pearson r = {correlation:.5f} over {len(removed)} removals")
    assert correlation > 0.99
