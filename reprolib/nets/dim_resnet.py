"""ResNet10 / ResNet18 of DiM's model pool (Wang et al. 2023, github.com/vimar-gu/DiM, models/resnet.py).

``layout='cifar'`` (default, REFERENCE §3): 3x3 stride-1 stem with 32 channels, four stages of
32/64/128/256 channels with ``(depth - 2) // 6`` BasicBlocks each (1 for ResNet10, 2 for ResNet18),
global average pooling, Linear(256). DiM declares ``AvgPool2d(4)`` but its forward pools over the
whole map, which is what we do (identical at 32 px).

``layout='imagenet'``: what DiM's code builds for every dataset whose name does not start with
"cifar" (so its MNIST / Fashion-MNIST runs): 7x7 stride-2 stem + 3x3 stride-2 max pooling, stages
of 64/128/256/512 channels with [1,1,1,1] (ResNet10) or [2,2,2,2] (ResNet18) blocks, Linear(512).

BatchNorm by default (DiM's ``norm_type='batch'``); 'instancenorm' is GroupNorm(C, C). Convolutions
use DiM's initialisation: normal with std sqrt(2 / (k * k * out_channels)).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from reprolib.nets.base import NORMS_2D, EmbedNet, choice, conv3x3, image_hw, norm2d
from reprolib.nets.resnet import BasicBlock

LAYOUTS = ("cifar", "imagenet")


class DiMResNet(EmbedNet):
    """DiM's ResNet; see the module docstring."""

    def __init__(
        self,
        channels: int,
        num_classes: int,
        image_size: int | Sequence[int],
        *,
        depth: int,
        norm: str = "batchnorm",
        layout: str = "cifar",
    ) -> None:
        super().__init__()
        image_hw(image_size)
        norm, layout = choice("norm", norm, NORMS_2D), choice("layout", layout, LAYOUTS)
        blocks = (depth - 2) // 6 if layout == "cifar" else {10: 1, 18: 2}[depth]
        widths = (32, 64, 128, 256) if layout == "cifar" else (64, 128, 256, 512)
        if layout == "cifar":
            stem: list[nn.Module] = [conv3x3(channels, widths[0]), norm2d(norm, widths[0]), nn.ReLU()]
        else:
            stem = [
                nn.Conv2d(channels, widths[0], kernel_size=7, stride=2, padding=3, bias=False),
                norm2d(norm, widths[0]),
                nn.ReLU(),
                nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
            ]
        self.stem = nn.Sequential(*stem)
        stages: list[nn.Module] = []
        cin = widths[0]
        for i, planes in enumerate(widths):
            for j in range(blocks):
                stages.append(BasicBlock(cin, planes, 2 if i > 0 and j == 0 else 1, norm))
                cin = planes
        self.stages = nn.Sequential(*stages)
        self.classifier = nn.Linear(cin, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))

    def embed(self, x: Tensor) -> Tensor:
        return F.adaptive_avg_pool2d(self.stages(self.stem(x)), 1).flatten(1)
