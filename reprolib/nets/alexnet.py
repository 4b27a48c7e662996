"""AlexNet, 32x32 variant of the DC codebase (used in cross-architecture tables)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from reprolib.nets.base import EmbedNet, first_padding, halve, image_hw


class AlexNet(EmbedNet):
    """Conv5x5(128)-ReLU-MaxPool, Conv5x5(192)-ReLU-MaxPool, Conv3x3 256/192/192 with ReLU, MaxPool, Linear.

    No normalisation. The linear layer takes the flattened last map (192x4x4 at 32 px, as in the
    reference); 28-pixel sides get first-conv padding 4 instead of 2 so they reach 32 (DC code).
    """

    def __init__(self, channels: int, num_classes: int, image_size: int | Sequence[int]) -> None:
        super().__init__()
        in_hw = image_hw(image_size)
        padding = first_padding(in_hw, base=2)
        hw = halve((in_hw[0] + 2 * padding[0] - 4, in_hw[1] + 2 * padding[1] - 4), 3, "alexnet")
        self.features = nn.Sequential(
            nn.Conv2d(channels, 128, kernel_size=5, padding=padding),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(128, 192, kernel_size=5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(192, 256, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(256, 192, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(192, 192, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Linear(192 * hw[0] * hw[1], num_classes)

    def embed(self, x: Tensor) -> Tensor:
        return self.features(x).flatten(1)
