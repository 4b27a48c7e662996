"""From a trained generator to training data for the evaluation protocol.

Two modes (the run record says which one every number used):

* ``fixed`` (default) — a true distilled set: ``ipc`` images per class drawn once from the generator,
  then scored by :func:`reprolib.evaluation.evaluate_synthetic` like any other synthetic set.
* ``regenerate`` — DiM's own protocol: every minibatch is generated afresh (new latents for the
  batch's labels); ``ipc`` only fixes the number of steps per epoch. It follows the evaluation
  protocol in every other respect (networks, SGD schedule, DSA, seeds) — see
  :func:`evaluate_regenerating`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from reprolib.augment import DSA
from reprolib.data import Dataset
from reprolib.evaluation import EvalProtocol, EvalResult, evaluate_synthetic
from reprolib.generative.gan import Generator, latent_codes
from reprolib.runtime import make_generator

SAMPLING_MODES = ("fixed", "regenerate")


def class_labels(num_classes: int, ipc: int, device: torch.device | str = "cpu") -> Tensor:
    """``ipc`` labels of each class, class-ordered."""
    return torch.arange(num_classes, device=device).repeat_interleave(ipc)


@torch.no_grad()
def generate(generator: Generator, labels: Tensor, random: torch.Generator, batch_size: int = 500) -> Tensor:
    """Images of the given labels (generator in eval mode), batched."""
    generator.eval()
    parts = [generator(latent_codes(labels[i : i + batch_size], generator.num_classes, generator.latent_dim, random))
             for i in range(0, len(labels), batch_size)]
    return torch.cat(parts)


def sample_set(generator: Generator, ipc: int, seed: int) -> tuple[Tensor, Tensor]:
    """The fixed synthetic set: ``ipc`` generated images per class (class-ordered) and their labels."""
    if ipc < 1:
        raise ValueError(f"ipc must be ≥ 1, got {ipc}")
    labels = class_labels(generator.num_classes, ipc, generator.mean.device)
    return generate(generator, labels, make_generator(seed)), labels


def evaluate_regenerating(generator: Generator, dataset: Dataset, protocol: EvalProtocol, ipc: int, seed: int = 0) -> EvalResult:
    """DiM's protocol: :func:`evaluate_synthetic` on ``ipc`` images per class, but each minibatch's
    images are generated afresh for its labels before augmentation (the "set" is the list of labels)."""
    labels = class_labels(dataset.num_classes, ipc, dataset.test_x.device)
    dsa = DSA(protocol.dsa_strategy) if protocol.dsa else None

    def images_for(batch_labels: Tensor, random: torch.Generator) -> Tensor:
        images = generate(generator, batch_labels, random)
        return dsa(images, random) if dsa is not None else images

    return evaluate_synthetic(labels, labels, dataset, protocol, seed=seed, per_batch=images_for)
