"""ConvNet, the standard dataset-distillation network (DC/DSA/DM/MTT), and its 720-model NAS space.

``depth`` blocks of [Conv3x3(width, pad 1) -> norm -> act -> pool 2x2], then flatten and Linear.
With the defaults (depth 3, width 128, instance norm, ReLU, average pooling) CIFAR-10 gives the
reference 320,010 parameters. The linear layer's input is ``width * h * w`` of the last map, so the
same code serves 8x8 digits, 28/32 px, 64 px (depth 4) and 112/128 px (depth 5) images.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from torch import Tensor, nn

from reprolib.nets.base import EmbedNet, choice, first_padding, halve, image_hw, positive_int

ACTS = ("relu", "sigmoid", "leakyrelu")
NORMS = ("instancenorm", "batchnorm", "layernorm", "groupnorm", "none")
POOLS = ("avgpooling", "maxpooling", "none")


def _norm(kind: str, channels: int, hw: tuple[int, int]) -> nn.Module:
    """The DC code's normalisations.

    'layernorm' is ``nn.LayerNorm([C, H, W])`` with per-element affine parameters, exactly as in the
    DC code (its statistics equal GroupNorm(1, C); only the affine part differs, which changes the
    parameter count of the NAS models).
    """
    if kind == "instancenorm":
        return nn.GroupNorm(channels, channels, affine=True)
    if kind == "groupnorm":
        return nn.GroupNorm(4, channels, affine=True)
    if kind == "layernorm":
        return nn.LayerNorm([channels, *hw], elementwise_affine=True)
    return nn.BatchNorm2d(channels)


def _act(kind: str) -> nn.Module:
    if kind == "sigmoid":
        return nn.Sigmoid()
    if kind == "leakyrelu":
        return nn.LeakyReLU(negative_slope=0.01)
    return nn.ReLU()


class ConvNet(EmbedNet):
    """DC-style ConvNet; see the module docstring. 28-pixel sides are padded to 32 by the first conv."""

    def __init__(
        self,
        channels: int,
        num_classes: int,
        image_size: int | Sequence[int],
        *,
        depth: int = 3,
        width: int = 128,
        act: str = "relu",
        norm: str = "instancenorm",
        pool: str = "avgpooling",
    ) -> None:
        super().__init__()
        depth, width = positive_int("depth", depth), positive_int("width", width)
        act, norm = choice("activation", act, ACTS), choice("norm", norm, NORMS)
        pool = choice("pool", pool, POOLS)
        in_hw = image_hw(image_size)
        padding = first_padding(in_hw, base=1)
        hw = (in_hw[0] + 2 * padding[0] - 2, in_hw[1] + 2 * padding[1] - 2)
        if pool != "none":
            halve(hw, depth, f"convnet depth {depth} on {in_hw[0]}x{in_hw[1]} images")
        layers: list[nn.Module] = []
        cin = channels
        for d in range(depth):
            layers.append(nn.Conv2d(cin, width, kernel_size=3, padding=padding if d == 0 else 1))
            if norm != "none":
                layers.append(_norm(norm, width, hw))
            layers.append(_act(act))
            if pool != "none":
                layers.append(nn.AvgPool2d(2) if pool == "avgpooling" else nn.MaxPool2d(2))
                hw = (hw[0] // 2, hw[1] // 2)
            cin = width
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(width * hw[0] * hw[1], num_classes)

    def embed(self, x: Tensor) -> Tensor:
        return self.features(x).flatten(1)


def convnet_space() -> list[dict]:
    """The DC codebase's 720 ConvNets: depth x width x activation x normalisation x pooling.

    Each dict is a valid set of ``build_network("convnet", ...)`` options.
    """
    grid = itertools.product(
        (1, 2, 3, 4),
        (32, 64, 128, 256),
        ("sigmoid", "relu", "leakyrelu"),
        ("none", "batchnorm", "layernorm", "instancenorm", "groupnorm"),
        ("none", "maxpooling", "avgpooling"),
    )
    return [dict(depth=d, width=w, act=a, norm=n, pool=p) for d, w, a, n, p in grid]
