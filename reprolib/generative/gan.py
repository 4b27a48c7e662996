"""DiM-style conditional GAN: a generator and a discriminator with a critic head and a class head.

Sizes follow DiM's reference design (REFERENCE §6) with the width as a parameter (196 in the paper):

* **Generator** — ``Linear(latent → W·s0²) + BN + ReLU``, then ``n`` upsampling blocks
  [ConvTranspose 4×4 stride 2 → BN → ReLU → Conv 3×3 → BN → ReLU], then ``Conv 3×3 → tanh``. The start
  size ``s0`` and ``n`` solve ``s0·2ⁿ = image size`` with ``s0 ≥ 4`` as large a power-of-two factor as
  possible: 32 px = 4·2³ (DiM's three upsamplings), 28 px = 7·2², the 8 px digits = 4·2¹. The tanh
  output is a [0, 1] image (``(t + 1) / 2``) which the generator normalises with the dataset's
  mean/std, so generated and real images live in the same space for every network downstream.
* **Label conditioning** — the first ``num_classes`` entries of the N(0, 1) latent are overwritten by
  the one-hot label (:func:`latent_codes`).
* **Discriminator** — 8 convs 3×3 of width W, each followed by LayerNorm over (C, H, W) and
  LeakyReLU(0.2); convs 2, 4 and 8 have stride 2; global max pooling (DiM's MaxPool 4 at 28/32 px);
  two linear heads: critic (1 value, no sigmoid: WGAN) and class logits (ACGAN).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from reprolib.nets.base import image_hw, positive_int

STRIDED_CONVS = (2, 4, 8)  # 1-based positions of DiM's stride-2 convolutions
DISCRIMINATOR_CONVS = 8


def upsampling_plan(size: int) -> tuple[int, int]:
    """``(s0, n)`` with ``s0 · 2**n == size``, ``s0 >= 4`` and ``n`` as large as possible."""
    positive_int("image size", size)
    n = 0
    while size % 2 ** (n + 1) == 0 and size // 2 ** (n + 1) >= 4:
        n += 1
    if size < 4:
        raise ValueError(f"the generator needs images of at least 4 px, got {size}")
    return size // 2**n, n


def latent_codes(labels: Tensor, num_classes: int, latent_dim: int, generator: torch.Generator) -> Tensor:
    """N(0, 1) latents (drawn on the CPU from ``generator``) whose first ``num_classes`` entries are the
    one-hot labels; returned on the labels' device."""
    if latent_dim < num_classes:
        raise ValueError(f"latent_dim={latent_dim} must be at least the number of classes ({num_classes})")
    z = torch.randn(len(labels), latent_dim, generator=generator)
    z[:, :num_classes] = nn.functional.one_hot(labels.cpu(), num_classes).float()
    return z.to(labels.device)


class Generator(nn.Module):
    """Latent (with the one-hot label) → normalised image; see the module docstring."""

    def __init__(self, channels: int, num_classes: int, image_size: int | Sequence[int], *, latent_dim: int = 100,
                 width: int = 196, mean: Sequence[float] = (0.5,), std: Sequence[float] = (0.5,)) -> None:
        super().__init__()
        h, w = image_hw(image_size)
        if h != w:
            raise ValueError(f"the generator makes square images; got {h}x{w}")
        self.channels, self.num_classes, self.latent_dim = channels, num_classes, latent_dim
        self.start, n = upsampling_plan(h)
        self.width = positive_int("generator width", width)
        self.project = nn.Sequential(nn.Linear(latent_dim, width * self.start**2), nn.BatchNorm1d(width * self.start**2), nn.ReLU())
        blocks: list[nn.Module] = []
        for _ in range(n):
            blocks += [
                nn.ConvTranspose2d(width, width, kernel_size=4, stride=2, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
                nn.Conv2d(width, width, kernel_size=3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
            ]
        blocks += [nn.Conv2d(width, channels, kernel_size=3, padding=1), nn.Tanh()]
        self.body = nn.Sequential(*blocks)
        if len(mean) != channels or len(std) != channels:
            raise ValueError(f"mean/std need one value per channel ({channels}); got {mean}, {std}")
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def pixels(self, z: Tensor) -> Tensor:
        """Images in [0, 1]."""
        x = self.project(z).view(len(z), self.width, self.start, self.start)
        return (self.body(x) + 1) / 2

    def forward(self, z: Tensor) -> Tensor:
        """Images normalised like the dataset's."""
        return (self.pixels(z) - self.mean) / self.std


class Discriminator(nn.Module):
    """Image → (critic value ``[B]``, class logits ``[B, num_classes]``); see the module docstring."""

    def __init__(self, channels: int, num_classes: int, image_size: int | Sequence[int], *, width: int = 196) -> None:
        super().__init__()
        hw = image_hw(image_size)
        width = positive_int("discriminator width", width)
        layers: list[nn.Module] = []
        cin = channels
        for position in range(1, DISCRIMINATOR_CONVS + 1):
            stride = 2 if position in STRIDED_CONVS else 1
            layers.append(nn.Conv2d(cin, width, kernel_size=3, stride=stride, padding=1))
            hw = ((hw[0] - 1) // stride + 1, (hw[1] - 1) // stride + 1)
            layers += [nn.LayerNorm([width, *hw]), nn.LeakyReLU(0.2)]
            cin = width
        self.features = nn.Sequential(*layers, nn.AdaptiveMaxPool2d(1), nn.Flatten())
        self.critic = nn.Linear(width, 1)
        self.classes = nn.Linear(width, num_classes)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        features = self.features(x)
        return self.critic(features).squeeze(1), self.classes(features)
