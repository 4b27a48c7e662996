"""The losses of the two training stages.

Stage 1 (conditional GAN, ACGAN + WGAN-GP as in DiM): the critic maximises ``D(real) − D(fake)`` under
a gradient penalty, both heads learn the class of real and generated images (each with its own labels:
DiM's discriminator step draws new fakes of random labels), and the generator minimises
``−D(fake) + CE(class(fake), y)``.

Stage 2 adds one **matching term** between the logits a pool model gives a real batch and a generated
batch with the same labels (pairs are matched row by row). The rules (``MATCHING_RULES``):

* ``dim`` — DiM: mean squared difference of the log-softmax of the two logit vectors;
* ``kd`` — "Ours (No Stand.)": ``τ² · KL(softmax(l_real/τ) ‖ softmax(l_syn/τ))``;
* ``kd_std`` — "Ours": the same KL after Z-standardisation ``Z(x; τ) = (x − mean(x)) / (std(x)·τ)``
  of each logit vector (Sun et al. 2024: unbiased std, a small ε added to it), paper eq. (3)–(6).

The generator's stage-2 loss is ``L_CGAN + λ · term`` (paper eq. (7) with the τ² inside the term).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

MATCHING_RULES = ("dim", "kd", "kd_std")
RULE_NAMES = {"dim": "DiM", "kd": "Ours (No Stand.)", "kd_std": "Ours"}  # the paper's row names
STD_EPS = 1e-7


def gradient_penalty(critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor, generator: torch.Generator) -> Tensor:
    """WGAN-GP: ``mean((‖∇ₓ critic(x̂)‖₂ − 1)²)`` at ``x̂ = α·real + (1 − α)·fake``, ``α ~ U[0, 1]`` per sample.

    The graph is kept (``create_graph``) so the penalty trains the critic.
    """
    alpha = torch.rand(len(real), *([1] * (real.dim() - 1)), generator=generator).to(real.device)
    mixed = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()


def discriminator_loss(discriminator, real: Tensor, real_labels: Tensor, fake: Tensor, fake_labels: Tensor,
                       gp_weight: float, generator: torch.Generator) -> Tensor:
    """``D(fake) − D(real) + CE(class(real), y_real) + CE(class(fake), y_fake) + gp_weight · GP``."""
    critic_real, classes_real = discriminator(real)
    critic_fake, classes_fake = discriminator(fake.detach())
    penalty = gradient_penalty(lambda x: discriminator(x)[0], real, fake, generator)
    return (critic_fake.mean() - critic_real.mean() + F.cross_entropy(classes_real, real_labels)
            + F.cross_entropy(classes_fake, fake_labels) + gp_weight * penalty)


def generator_loss(discriminator, fake: Tensor, labels: Tensor) -> Tensor:
    """``L_CGAN`` for the generator: ``−D(fake) + CE(class(fake), y)``."""
    critic_fake, classes_fake = discriminator(fake)
    return -critic_fake.mean() + F.cross_entropy(classes_fake, labels)


def standardize(logits: Tensor, tau: float, eps: float = STD_EPS) -> Tensor:
    """``(x − mean(x)) / ((std(x) + ε) · τ)`` over the class dimension (the last)."""
    mean = logits.mean(dim=-1, keepdim=True)
    std = logits.std(dim=-1, keepdim=True)
    return (logits - mean) / ((std + eps) * tau)


def _kl(real_scaled: Tensor, fake_scaled: Tensor) -> Tensor:
    """``KL(softmax(real) ‖ softmax(fake))`` averaged over the batch."""
    return F.kl_div(F.log_softmax(fake_scaled, dim=-1), F.log_softmax(real_scaled, dim=-1),
                    reduction="batchmean", log_target=True)


def matching_loss(rule: str, real_logits: Tensor, fake_logits: Tensor, tau: float = 2.0) -> Tensor:
    """The matching term of ``rule`` between row-paired real and generated logits (real ones are targets)."""
    real_logits = real_logits.detach()
    if rule == "dim":
        return F.mse_loss(F.log_softmax(fake_logits, dim=-1), F.log_softmax(real_logits, dim=-1))
    if rule == "kd":
        return tau**2 * _kl(real_logits / tau, fake_logits / tau)
    if rule == "kd_std":
        return tau**2 * _kl(standardize(real_logits, tau), standardize(fake_logits, tau))
    raise ValueError(f"unknown matching rule {rule!r}; choose one of {', '.join(MATCHING_RULES)}")
