"""Generative dataset distillation (GDD-SKD, Li et al. 2025; DiM, Wang et al. 2023).

A conditional GAN (ACGAN + WGAN-GP, :mod:`.gan`, :mod:`.losses`) is trained on the real data (stage 1,
the "CGAN" row), then trained further while the logits of a model drawn from a pool (:mod:`.pool`) on a
real batch and on a generated batch of the same labels are matched by one pluggable rule (stage 2,
:mod:`.training`): DiM's log-softmax MSE, KD without standardisation, or KD with Z-standardised
logits (the paper's method). :mod:`.sampling` turns a trained generator into a training set.
"""

from reprolib.generative.gan import Discriminator, Generator, latent_codes
from reprolib.generative.losses import MATCHING_RULES, RULE_NAMES, gradient_penalty, matching_loss, standardize
from reprolib.generative.pool import ModelPool, PoolMember
from reprolib.generative.sampling import SAMPLING_MODES, evaluate_regenerating, sample_set
from reprolib.generative.training import GANConfig, GeneratorRun, train_cgan, train_matching

__all__ = [
    "Discriminator", "GANConfig", "Generator", "GeneratorRun", "MATCHING_RULES", "ModelPool", "PoolMember",
    "RULE_NAMES", "SAMPLING_MODES", "evaluate_regenerating", "gradient_penalty", "latent_codes", "matching_loss",
    "sample_set", "standardize", "train_cgan", "train_matching",
]
