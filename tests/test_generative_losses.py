"""GDD-SKD losses: logit standardisation, the matching rules, the WGAN gradient penalty; GAN shapes."""

from __future__ import annotations

import pytest
import torch

from reprolib.generative import Discriminator, Generator, gradient_penalty, latent_codes, matching_loss, standardize
from reprolib.generative.losses import MATCHING_RULES
from reprolib.runtime import make_generator


def test_standardisation_is_invariant_to_shift_and_positive_scale():
    logits = torch.randn(6, 10, generator=make_generator(0))
    base = standardize(logits, tau=2.0)
    for shift, scale in ((3.0, 1.0), (-5.0, 0.25), (0.7, 40.0)):
        torch.testing.assert_close(standardize(scale * logits + shift, tau=2.0), base, atol=1e-5, rtol=1e-5)
    assert torch.allclose(base.mean(-1), torch.zeros(6), atol=1e-6)
    torch.testing.assert_close(base.std(-1), torch.full((6,), 0.5), atol=1e-5, rtol=1e-5)  # unit std / τ


@pytest.mark.parametrize("rule", MATCHING_RULES)
def test_matching_term_is_zero_for_identical_logits_and_positive_otherwise(rule):
    real = torch.randn(8, 10, generator=make_generator(1))
    other = torch.randn(8, 10, generator=make_generator(2))  # not an affine image of `real`
    assert matching_loss(rule, real, real.clone()).abs().item() < 1e-6
    assert matching_loss(rule, real, other).item() > 1e-3


def test_standardised_kd_ignores_logit_range_but_plain_kd_does_not():
    real = torch.randn(8, 10, generator=make_generator(3))
    assert matching_loss("kd_std", real, 5 * real + 1).item() < 1e-6
    assert matching_loss("kd", real, 5 * real + 1).item() > 1e-2


def test_kd_term_gradient_reaches_the_synthetic_logits_only():
    real = torch.randn(4, 10, generator=make_generator(4), requires_grad=True)
    fake = torch.randn(4, 10, generator=make_generator(5), requires_grad=True)
    matching_loss("kd_std", real, fake).backward()
    assert real.grad is None and fake.grad.abs().sum() > 0


def test_gradient_penalty_matches_a_hand_computation_on_a_linear_critic():
    # critic(x) = sum(w * x**2) / 2  =>  ∇ = w * x, so the penalty is mean((‖w·x̂‖ − 1)²) with x̂ = α r + (1 − α) f
    w = torch.tensor([[[0.5, -2.0], [1.5, 0.3]]])
    real, fake = torch.randn(5, 1, 2, 2, generator=make_generator(6)), torch.randn(5, 1, 2, 2, generator=make_generator(7))
    penalty = gradient_penalty(lambda x: (w * x**2).flatten(1).sum(1) / 2, real, fake, make_generator(8))
    alpha = torch.rand(5, 1, 1, 1, generator=make_generator(8))
    mixed = alpha * real + (1 - alpha) * fake
    expected = (((w * mixed).flatten(1).norm(dim=1) - 1) ** 2).mean()
    torch.testing.assert_close(penalty, expected)


@pytest.mark.parametrize("channels, size, mean, std", [(1, 8, (0.3,), (0.4,)), (1, 28, (0.1307,), (0.3081,)),
                                                       (3, 32, (0.49, 0.48, 0.45), (0.2, 0.2, 0.2))])
def test_generator_and_discriminator_shapes_and_ranges(channels, size, mean, std):
    torch.manual_seed(0)
    g = Generator(channels, 10, size, latent_dim=20, width=8, mean=mean, std=std)
    labels = torch.arange(10).repeat(2)
    z = latent_codes(labels, 10, 20, make_generator(0))
    assert torch.equal(z[:, :10], torch.nn.functional.one_hot(labels, 10).float())
    x = g(z)
    assert x.shape == (20, channels, size, size)
    low = (0 - torch.tensor(mean)) / torch.tensor(std)
    high = (1 - torch.tensor(mean)) / torch.tensor(std)
    assert (x >= low.view(1, -1, 1, 1) - 1e-5).all() and (x <= high.view(1, -1, 1, 1) + 1e-5).all()
    critic, classes = Discriminator(channels, 10, size, width=8)(x)
    assert critic.shape == (20,) and classes.shape == (20, 10)


def test_bad_generator_settings_fail_clearly():
    with pytest.raises(ValueError, match="at least the number of classes"):
        latent_codes(torch.arange(10), 10, 5, make_generator(0))
    with pytest.raises(ValueError, match="one value per channel"):
        Generator(3, 10, 32, mean=(0.5,), std=(0.5,))
