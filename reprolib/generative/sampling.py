"""From a trained generator to a fixed training set: the library's distilled-set protocol.

``sample_set`` draws ``ipc`` images per class once; :func:`reprolib.evaluation.evaluate_synthetic`
then scores that set like any other distilled set (DSA, lr ×0.1 at half, last-epoch accuracy). DiM's
own protocol, which generates new images at every step, is :mod:`.dim_protocol`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from reprolib.generative.gan import Generator, latent_codes
from reprolib.runtime import make_generator


def class_labels(num_classes: int, ipc: int, device: torch.device | str = "cpu") -> Tensor:
    """``ipc`` labels of each class, class-ordered."""
    return torch.arange(num_classes, device=device).repeat_interleave(ipc)


@torch.no_grad()
def generate(generator: Generator, labels: Tensor, random: torch.Generator, batch_size: int = 500) -> Tensor:
    """Dataset-normalised images of the given labels (generator in eval mode), batched."""
    was_training = generator.training
    generator.eval()
    parts = [generator(latent_codes(labels[i : i + batch_size], generator.num_classes, generator.latent_dim, random))
             for i in range(0, len(labels), batch_size)]
    generator.train(was_training)
    return torch.cat(parts)


def sample_set(generator: Generator, ipc: int, seed: int) -> tuple[Tensor, Tensor]:
    """The fixed synthetic set: ``ipc`` generated images per class (class-ordered) and their labels."""
    if ipc < 1:
        raise ValueError(f"ipc must be ≥ 1, got {ipc}")
    labels = class_labels(generator.num_classes, ipc, generator.mean.device)
    return generate(generator, labels, make_generator(seed)), labels
