"""Generative dataset distillation (GDD-SKD, Li et al. 2025; DiM, Wang et al. 2023).

A conditional GAN (ACGAN + WGAN-GP, :mod:`.gan`, :mod:`.losses`) is trained on the real data (stage 1,
the "CGAN" row), then trained further while the logits of a model from a pool (:mod:`.pool`) on a
real batch and on a generated batch of the same labels are matched by one pluggable rule (stage 2,
:mod:`.training`): DiM's log-softmax MSE, KD without standardisation, or KD with Z-standardised
logits (the paper's method). A generator is scored two ways: DiM's protocol, which generates new
images at every step (:mod:`.dim_protocol`), or a fixed set of IPC images per class (:mod:`.sampling`).
"""

from reprolib.generative.dim_augment import ChainedAugment
from reprolib.generative.dim_protocol import DiMEval, DiMResult, batches_per_epoch, evaluate_dim
from reprolib.generative.gan import Discriminator, Generator, latent_codes
from reprolib.generative.losses import MATCHING_RULES, RULE_NAMES, gradient_penalty, matching_loss, standardize
from reprolib.generative.pool import ModelPool, PoolMember
from reprolib.generative.sampling import sample_set
from reprolib.generative.training import CHECKPOINTS, GANConfig, GeneratorRun, Selection, train_cgan, train_matching

__all__ = [
    "CHECKPOINTS", "ChainedAugment", "DiMEval", "DiMResult", "Discriminator", "GANConfig", "Generator", "GeneratorRun",
    "MATCHING_RULES", "ModelPool", "PoolMember", "RULE_NAMES", "Selection", "batches_per_epoch", "evaluate_dim",
    "gradient_penalty", "latent_codes", "matching_loss", "sample_set", "standardize", "train_cgan", "train_matching",
]
