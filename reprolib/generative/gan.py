"""DiM's conditional GAN: a generator and a discriminator with a critic head and a class head.

Layouts follow DiM's released ``gan_model.py`` with the width as a parameter (196 in the paper):

* **Generator** — ``Linear(latent → W·s0²) + BN + ReLU``, then one stage per entry of ``convs``:
  [ConvTranspose stride 2 → BN → ReLU] followed by ``convs[i]`` × [Conv 3×3 → BN → ReLU]; then
  ``Conv 3×3 → tanh``. DiM's ``convs`` is ``(3, 1, 0)``: 3 convs after the first upsampling, 1 after the
  second, none after the third (3,559,363 parameters at 3×32×32). The start size is
  ``s0 = ceil(size / 2ⁿ)`` and the first transposed conv has kernel 4 (doubling) or 3 (``2·s0 − 1``),
  so 32 px runs 4→8→16→32 and 28 px runs 4→7→14→28 as in DiM (3,286,921 parameters at 1×28×28);
  later ones have kernel 4. The tanh output is a [−1, 1] image (:meth:`Generator.signed`); ``forward``
  returns it as a dataset-normalised image (``((t + 1) / 2 − mean) / std``), the space every
  classifier downstream sees.
* **Label conditioning** — the first ``num_classes`` entries of the N(0, 1) latent are overwritten by
  the one-hot label (:func:`latent_codes`).
* **Discriminator** — 8 convs 3×3 of width W, each followed by LayerNorm over (C, H, W) and
  LeakyReLU(``slope``; DiM: PyTorch's default 0.01); convs 2, 4 and 8 have stride 2; global max pooling
  (DiM's MaxPool 4 at 28/32 px); two linear heads: critic (1 value, no sigmoid: WGAN) and class logits
  (ACGAN). 3,137,971 parameters at 3×32×32 and 2,969,803 at 1×28×28 (width 196), as DiM's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from reprolib.nets.base import image_hw, positive_int

STRIDED_CONVS = (2, 4, 8)  # 1-based positions of DiM's stride-2 convolutions
DISCRIMINATOR_CONVS = 8
DIM_GENERATOR_CONVS = (3, 1, 0)  # convs after each of DiM's three upsamplings
DIM_SLOPE = 0.01  # nn.LeakyReLU()'s default, which DiM's discriminator uses


def upsampling_plan(size: int, stages: int) -> tuple[int, int]:
    """``(s0, k)``: the start size and the first transposed conv's kernel so that ``stages`` stride-2
    upsamplings reach ``size`` (kernel 4 doubles, kernel 3 gives ``2·s0 − 1``)."""
    positive_int("image size", size)
    positive_int("number of generator stages", stages)
    first = size // 2 ** (stages - 1)
    if first * 2 ** (stages - 1) != size or first < 2:
        raise ValueError(f"{stages} upsamplings cannot reach {size} px: the size must be a multiple of "
                         f"{2 ** (stages - 1)} and at least {2 ** stages}; change gan.generator_convs")
    start = math.ceil(first / 2)
    return start, first - 2 * start + 4


def latent_codes(labels: Tensor, num_classes: int, latent_dim: int, generator: torch.Generator) -> Tensor:
    """N(0, 1) latents (drawn on the CPU from ``generator``) whose first ``num_classes`` entries are the
    one-hot labels; returned on the labels' device."""
    if latent_dim < num_classes:
        raise ValueError(f"latent_dim={latent_dim} must be at least the number of classes ({num_classes})")
    z = torch.randn(len(labels), latent_dim, generator=generator)
    z[:, :num_classes] = nn.functional.one_hot(labels.cpu(), num_classes).float()
    return z.to(labels.device)


def _bn_relu(width: int) -> list[nn.Module]:
    return [nn.BatchNorm2d(width), nn.ReLU()]


class Generator(nn.Module):
    """Latent (with the one-hot label) → image; see the module docstring."""

    def __init__(self, channels: int, num_classes: int, image_size: int | Sequence[int], *, latent_dim: int = 100,
                 width: int = 196, convs: Sequence[int] = DIM_GENERATOR_CONVS, mean: Sequence[float] = (0.5,),
                 std: Sequence[float] = (0.5,)) -> None:
        super().__init__()
        h, w = image_hw(image_size)
        if h != w:
            raise ValueError(f"the generator makes square images; got {h}x{w}")
        if not convs or min(convs) < 0:
            raise ValueError(f"gan.generator_convs needs one count ≥ 0 per upsampling, got {list(convs)}")
        self.channels, self.num_classes, self.latent_dim = channels, num_classes, latent_dim
        self.start, first_kernel = upsampling_plan(h, len(convs))
        self.width = positive_int("generator width", width)
        self.project = nn.Sequential(nn.Linear(latent_dim, width * self.start**2), nn.BatchNorm1d(width * self.start**2), nn.ReLU())
        blocks: list[nn.Module] = []
        for stage, count in enumerate(convs):
            kernel = first_kernel if stage == 0 else 4
            blocks += [nn.ConvTranspose2d(width, width, kernel_size=kernel, stride=2, padding=1), *_bn_relu(width)]
            for _ in range(count):
                blocks += [nn.Conv2d(width, width, kernel_size=3, padding=1), *_bn_relu(width)]
        blocks += [nn.Conv2d(width, channels, kernel_size=3, padding=1), nn.Tanh()]
        self.body = nn.Sequential(*blocks)
        if len(mean) != channels or len(std) != channels:
            raise ValueError(f"mean/std need one value per channel ({channels}); got {mean}, {std}")
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def signed(self, z: Tensor) -> Tensor:
        """Images in [−1, 1] (the tanh output; DiM's GAN space)."""
        x = self.project(z).view(len(z), self.width, self.start, self.start)
        return self.body(x)

    def to_dataset(self, signed: Tensor) -> Tensor:
        """[−1, 1] images → dataset-normalised ones."""
        return ((signed + 1) / 2 - self.mean) / self.std

    def from_dataset(self, x: Tensor) -> Tensor:
        """Dataset-normalised images → [−1, 1] ones (DiM feeds its GAN real images normalised by 0.5/0.5)."""
        return (x * self.std + self.mean) * 2 - 1

    def forward(self, z: Tensor) -> Tensor:
        """Images normalised like the dataset's."""
        return self.to_dataset(self.signed(z))


class Discriminator(nn.Module):
    """Image → (critic value ``[B]``, class logits ``[B, num_classes]``); see the module docstring."""

    def __init__(self, channels: int, num_classes: int, image_size: int | Sequence[int], *, width: int = 196,
                 slope: float = DIM_SLOPE) -> None:
        super().__init__()
        hw = image_hw(image_size)
        width = positive_int("discriminator width", width)
        layers: list[nn.Module] = []
        cin = channels
        for position in range(1, DISCRIMINATOR_CONVS + 1):
            stride = 2 if position in STRIDED_CONVS else 1
            layers.append(nn.Conv2d(cin, width, kernel_size=3, stride=stride, padding=1))
            hw = ((hw[0] - 1) // stride + 1, (hw[1] - 1) // stride + 1)
            layers += [nn.LayerNorm([width, *hw]), nn.LeakyReLU(slope)]
            cin = width
        self.features = nn.Sequential(*layers, nn.AdaptiveMaxPool2d(1), nn.Flatten())
        self.critic = nn.Linear(width, 1)
        self.classes = nn.Linear(width, num_classes)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        features = self.features(x)
        return self.critic(features).squeeze(1), self.classes(features)
