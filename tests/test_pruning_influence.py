"""Last-layer influence: Hessian SPD with damping, CG = Cholesky, agreement with exact leave-one-out
retraining of multinomial logistic regression on the embedded digits (upweighting definition) and, with
the weight-decay term, with leave-one-out retraining under weight decay (Definition 1)."""

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
    S = parameter_influence(h[:, :-1], probs, y, InfluenceConfig(damping=DAMPING, term="cross_entropy")).S.double()
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


def _blobs(n=200, d=4, classes=3, seed=5):
    """Overlapping Gaussian blobs with label noise: a convex problem no other test uses."""
    g = torch.Generator().manual_seed(seed)
    centres = 1.5 * torch.randn(classes, d, generator=g, dtype=torch.float64)
    y = torch.arange(n) % classes
    x = centres[y] + torch.randn(n, d, generator=g, dtype=torch.float64)
    flip = torch.rand(n, generator=g) < 0.1
    y = torch.where(flip, (y + 1) % classes, y)
    return with_bias(x), y


def _fit_with_weight_decay(h, y, weight_decay, mask=None, W0=None):
    """argmin (1/|kept|) Σ_kept CE + (λ/2)‖[W | b]‖² (Definition 1 with the training's weight decay), by
    Newton's method to convergence."""
    mask = torch.ones(len(y), dtype=torch.bool) if mask is None else mask
    hk, yk = h[mask], y[mask]
    W = torch.zeros(int(y.max()) + 1, h.shape[1], dtype=torch.float64) if W0 is None else W0.clone()
    for _ in range(50):
        p = torch.softmax(hk @ W.T, dim=1)
        grad = per_sample_gradients(hk, residuals(p, yk)).mean(0) + weight_decay * W.reshape(-1)
        if grad.norm() < 1e-13:
            break
        W = W - torch.linalg.solve(hessian(hk, p, weight_decay), grad).reshape(W.shape)
    return W


@pytest.mark.parametrize("term", ["weight_decay", "centred"])
def test_influence_with_weight_decay_term_predicts_retraining_with_weight_decay(term, weight_decay=1e-2):
    """Each S_i against exact leave-one-out retraining with weight decay: direction (cosine ≥ 0.99 for
    every example) and the test-loss change it predicts (correlation ≥ 0.95); Σ_all S vanishes at the
    optimum, where both terms agree. The cross-entropy-only S (the code before issue 15) misses the
    regulariser's shift."""
    h, y = _blobs()
    test_h, test_y = _blobs(n=300, seed=6)
    W = _fit_with_weight_decay(h, y, weight_decay)
    probs = torch.softmax(h @ W.T, dim=1)
    corrected = parameter_influence(h[:, :-1], probs, y, InfluenceConfig(term=term), weights=W, weight_decay=weight_decay)
    old = parameter_influence(h[:, :-1], probs, y, InfluenceConfig(term="cross_entropy", damping=weight_decay))
    assert corrected.damping == weight_decay  # tied to the weight decay when unset

    def test_loss(weights):
        return F.cross_entropy(test_h @ weights.T, test_y).item()

    Wt = W.clone().requires_grad_(True)
    (test_grad,) = torch.autograd.grad(F.cross_entropy(test_h @ Wt.T, test_y), Wt)
    exact_change, exact_loss = [], []
    for i in range(len(y)):
        mask = torch.ones(len(y), dtype=torch.bool)
        mask[i] = False
        Wi = _fit_with_weight_decay(h, y, weight_decay, mask, W)
        exact_change.append((Wi - W).reshape(-1))
        exact_loss.append(test_loss(Wi) - test_loss(W))
    exact_change = torch.stack(exact_change)

    def cosines(S):
        return F.cosine_similarity(S.double(), exact_change, dim=1)

    new_cos, old_cos = cosines(corrected.S), cosines(old.S)
    predicted_loss = corrected.S.double() @ test_grad.reshape(-1)
    r = torch.corrcoef(torch.stack([predicted_loss, torch.tensor(exact_loss, dtype=torch.float64)]))[0, 1].item()
    print(f"λ={weight_decay}: cosine to exact retraining min {new_cos.min():.4f} (CE-only S: {old_cos.min():.3f}); "
          f"test-loss change r = {r:.4f}; ‖Σ_all S‖ {corrected.summary()['sum_norm']:.2e} "
          f"(CE-only: {old.S.double().sum(0).norm():.3f}), mean ‖S_i‖ {corrected.summary()['mean_norm']:.3f}")
    assert new_cos.min() >= 0.99
    assert r >= 0.95
    assert corrected.summary()["sum_norm"] < 1e-6 * corrected.summary()["mean_norm"] * len(y)
    assert corrected.summary()["newton_step_norm"] < 1e-9  # the layer is at its optimum
    assert old_cos.min() < 0.9  # the defect the term fixes: some examples point the wrong way without it


def test_weight_decay_term_needs_the_layer_and_some_damping():
    h, y = _blobs(n=20)
    probs = torch.full((20, 3), 1 / 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="weights="):
        parameter_influence(h[:, :-1], probs, y, InfluenceConfig(term="weight_decay"), weight_decay=1e-3)
    with pytest.raises(ValueError, match="singular"):
        parameter_influence(h[:, :-1], probs, y, weight_decay=0.0)


def test_centred_influence_cancels_the_drift_of_an_unconverged_layer():
    """Away from the optimum, the centred S sums to zero while the weight-decay term leaves
    Σ_all S = (n/(n−1)) H⁻¹∇J(θ̂), the Newton step the record reports."""
    h, y = _blobs()
    W = 0.5 * _fit_with_weight_decay(h, y, 1e-2)  # not the optimum
    probs = torch.softmax(h @ W.T, dim=1)
    args = (h[:, :-1], probs, y)
    centred = parameter_influence(*args, InfluenceConfig(term="centred"), weights=W, weight_decay=1e-2)
    decayed = parameter_influence(*args, InfluenceConfig(term="weight_decay"), weights=W, weight_decay=1e-2)
    n = len(y)
    assert centred.total.norm() < 1e-10
    assert torch.allclose(decayed.total, n / (n - 1) * decayed.newton_step, atol=1e-10)
    assert decayed.newton_step.norm() > 0.1
