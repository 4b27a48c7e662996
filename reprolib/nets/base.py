"""Pieces shared by every network: the embed/classifier contract, option checks, shape arithmetic.

Every network is an :class:`EmbedNet`: ``embed(x)`` returns the flattened penultimate features and
``classifier`` is the final ``nn.Linear``, so coreset selection, distribution matching and influence
functions can use the features without knowing the architecture.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

NORMS_2D = ("instancenorm", "batchnorm")


class EmbedNet(nn.Module):
    """A classifier split into a feature extractor (``embed``) and a final linear layer."""

    classifier: nn.Linear

    def embed(self, x: Tensor) -> Tensor:
        """Penultimate features, shape ``[B, d]``."""
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.embed(x))


def choice(kind: str, value: object, allowed: Sequence[str]) -> str:
    """Return ``value`` lower-cased if it is one of ``allowed``; otherwise raise a ValueError listing them."""
    key = value.lower() if isinstance(value, str) else value
    if key not in allowed:
        raise ValueError(f"unknown {kind} {value!r}; choose one of: {', '.join(allowed)}")
    return key


def positive_int(kind: str, value: object) -> int:
    """Return ``value`` if it is a positive int; otherwise raise a ValueError."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{kind} must be a positive integer, got {value!r}")
    return value


def image_hw(image_size: int | Sequence[int]) -> tuple[int, int]:
    """``32`` or ``(32, 32)`` -> ``(32, 32)``."""
    h, w = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    return positive_int("image height", h), positive_int("image width", w)


def first_padding(hw: tuple[int, int], base: int) -> tuple[int, int]:
    """Padding of the first conv: ``base``, plus 2 on every side that is 28 pixels long.

    The DC/MTT code pads MNIST's 28x28 images by 2 extra pixels in the first conv so that the rest of
    a network built for 32x32 (pooling schedule, linear layer) applies unchanged. We apply the rule
    by size rather than by channel count (the DC code tests ``channel == 1``, which coincides for every
    dataset it supports), so 3-channel 28x28 images (e.g. MedMNIST colour sets) work the same way.
    """
    return tuple(base + 2 if side == 28 else base for side in hw)


def halve(hw: tuple[int, int], times: int, net: str) -> tuple[int, int]:
    """Spatial size after ``times`` floor-halvings (2x2 stride-2 pooling); ValueError if it vanishes."""
    h, w = hw
    for _ in range(times):
        if h < 2 or w < 2:
            raise ValueError(
                f"{net}: a {hw[0]}x{hw[1]} feature map cannot be pooled {times} times; "
                "the depth is too large for the image size"
            )
        h, w = h // 2, w // 2
    return h, w


def norm2d(kind: str, channels: int) -> nn.Module:
    """'instancenorm' = GroupNorm(C, C) with affine (no running stats, safe under vmap); 'batchnorm'."""
    if kind == "instancenorm":
        return nn.GroupNorm(channels, channels, affine=True)
    return nn.BatchNorm2d(channels)


def conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    """Bias-free 3x3 convolution with padding 1, as in every ResNet here."""
    return nn.Conv2d(cin, cout, kernel_size=3, stride=stride, padding=1, bias=False)
