"""GDD-SKD losses: logit standardisation, the matching rules, the WGAN gradient penalty; GAN shapes,
DiM's layouts (parameter counts pinned to DiM's released models)."""

from __future__ import annotations

import pytest
import torch

from reprolib.nets import count_parameters
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


@pytest.mark.parametrize("channels, size, generator, discriminator", [(3, 32, 3_559_363, 3_137_971), (1, 28, 3_286_921, 2_969_803)])
def test_gan_parameter_counts_are_dims(channels, size, generator, discriminator):
    """DiM's gan_model.py at width 196: 28 px starts from 4×4 and upsamples 4→7→14→28 (first kernel 3)."""
    g = Generator(channels, 10, size, mean=(0.5,) * channels, std=(0.5,) * channels)
    assert count_parameters(g) == generator
    assert count_parameters(Discriminator(channels, 10, size)) == discriminator
    kernels = [m.kernel_size[0] for m in g.body if isinstance(m, torch.nn.ConvTranspose2d)]
    assert kernels == ([4, 4, 4] if size == 32 else [3, 4, 4])
    convs_after = [sum(isinstance(m, torch.nn.Conv2d) and not isinstance(m, torch.nn.ConvTranspose2d) for m in part)
                   for part in _stages(g.body)]
    assert convs_after == [3, 1, 1]  # the last stage's conv is the output conv


def _stages(body: torch.nn.Sequential) -> list[list[torch.nn.Module]]:
    stages: list[list[torch.nn.Module]] = []
    for m in body:
        if isinstance(m, torch.nn.ConvTranspose2d):
            stages.append([])
        stages[-1].append(m)
    return stages


def test_discriminator_slope_is_pytorchs_default_and_signed_images_round_trip():
    d = Discriminator(1, 10, 28, width=8)
    assert {m.negative_slope for m in d.modules() if isinstance(m, torch.nn.LeakyReLU)} == {0.01}
    g = Generator(1, 10, 28, width=8, mean=(0.1307,), std=(0.3081,))
    x = torch.rand(4, 1, 28, 28, generator=make_generator(9)) * 2 - 1
    torch.testing.assert_close(g.from_dataset(g.to_dataset(x)), x)
    torch.testing.assert_close(g.to_dataset(torch.full((1, 1, 1, 1), -1.0)), torch.full((1, 1, 1, 1), -0.1307 / 0.3081))
