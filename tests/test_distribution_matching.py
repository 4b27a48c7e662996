"""DM: the mean-embedding loss, siamese augmentation inside the loop, beating random real images on the
digits, resume after interruption."""

from __future__ import annotations

import pytest
import torch

from reprolib.distillation import distribution_matching as dm
from reprolib.distillation.distribution_matching import (
    DistributionMatchingConfig,
    distribution_matching,
    mean_embedding_loss,
)
from reprolib.distillation.synthetic import init_synthetic
from reprolib.evaluation import EvalProtocol, evaluate_synthetic
from reprolib.nets import build_network
from reprolib.runtime import make_generator
from reprolib.store import ArtifactStore

TINY = {"depth": 2, "width": 32}
PROTOCOL = EvalProtocol(arch_options=TINY, num_eval=1, epochs=100)


def _config(**changes):
    return DistributionMatchingConfig(**{"iterations": 30, "batch_real": 64, "arch_options": TINY, **changes})


def test_loss_is_the_squared_distance_of_class_mean_embeddings(digits):
    torch.manual_seed(0)
    net = build_network("convnet", 1, 10, (8, 8), **TINY)
    real = [digits.images_of_class(c, 20) for c in range(3)]
    assert mean_embedding_loss(real, [r.clone() for r in real], net.embed).item() == pytest.approx(0.0, abs=1e-6)
    # Only the class means matter: a permutation of a class's images changes nothing.
    shuffled = [r.flip(0) for r in real]
    assert mean_embedding_loss(real, shuffled, net.embed).item() == pytest.approx(0.0, abs=1e-6)
    syn = [r[:2].clone().requires_grad_(True) for r in real]
    loss = mean_embedding_loss(real, syn, net.embed)
    expected = sum(((net.embed(r).mean(0) - net.embed(s).mean(0)) ** 2).sum() for r, s in zip(real, syn))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    grads = torch.autograd.grad(loss, syn)
    assert all(g.abs().sum() > 0 for g in grads)


def test_real_and_synthetic_batch_share_one_augmentation_draw(digits, monkeypatch, spy_dsa):
    monkeypatch.setattr(dm, "DSA", spy_dsa)
    distribution_matching(digits, 3, _config(iterations=2))
    assert len(spy_dsa.calls) == 2 * 10  # iterations x classes
    for (real_params, n_real), (syn_params, n_syn) in spy_dsa.calls:
        assert real_params is syn_params and real_params.shared
        assert n_real == 64 and n_syn == 3


def test_beats_random_real_images_on_digits_at_ipc1(digits):
    images, labels = init_synthetic(digits, 1, make_generator(0), "real")
    baseline = evaluate_synthetic(images, labels, digits, PROTOCOL).mean
    learned = distribution_matching(digits, 1, _config(), seed=0)
    assert not torch.equal(learned.images, images.detach())
    assert evaluate_synthetic(learned.images, learned.labels, digits, PROTOCOL).mean > baseline + 5


def test_resume_after_interruption_gives_the_same_set(digits, tmp_path):
    config = _config(iterations=6)
    whole = distribution_matching(digits, 2, config, seed=1)
    checkpoint = ArtifactStore(tmp_path / "store").checkpoint("distilled-set", {"test": 2})

    class Interrupted(Exception):
        pass

    class Flaky:
        def load(self):
            return checkpoint.load()

        def save(self, state):
            checkpoint.save(state)
            raise Interrupted

    with pytest.raises(Interrupted):
        distribution_matching(digits, 2, config, seed=1, checkpoint=Flaky(), checkpoint_every=3)
    assert checkpoint.load()["iteration"] == 3
    resumed = distribution_matching(digits, 2, config, seed=1, checkpoint=checkpoint, checkpoint_every=3)
    assert torch.equal(resumed.images, whole.images)
