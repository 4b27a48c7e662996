"""The learnable synthetic set shared by every distillation method: images per class and fixed labels."""

from __future__ import annotations

import torch
from torch import Tensor

from reprolib.data import Dataset

INITS = ("real", "noise")


def init_synthetic(data: Dataset, ipc: int, generator: torch.Generator, init: str = "real") -> tuple[Tensor, Tensor]:
    """``ipc`` images per class (class-ordered) and their hard labels, on the dataset's device.

    ``real`` starts from random real training images of each class (MTT's ``pix_init=real``; random
    noise loses several points), ``noise`` from N(0, 1) in the normalised space. The images are a leaf
    tensor with ``requires_grad=True``; the labels never change.
    """
    if init not in INITS:
        raise ValueError(f"unknown synthetic init {init!r}; choose one of {', '.join(INITS)}")
    if ipc < 1:
        raise ValueError(f"ipc must be ≥ 1, got {ipc}")
    labels = torch.arange(data.num_classes).repeat_interleave(ipc)
    if init == "real":
        images = torch.cat([data.images_of_class(c, ipc, generator=generator) for c in range(data.num_classes)])
    else:
        shape = (len(labels), data.channels, *data.image_size)
        images = torch.randn(shape, generator=generator)
    device = data.train_x.device
    return images.detach().to(device).clone().requires_grad_(True), labels.to(device)
