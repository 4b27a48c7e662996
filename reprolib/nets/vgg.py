"""VGG11 of the DC codebase: instance norm (GroupNorm(C, C)) by default, BatchNorm on request."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from reprolib.nets.base import NORMS_2D, EmbedNet, choice, first_padding, halve, image_hw, norm2d

VGG11_CFG = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")


class VGG11(EmbedNet):
    """Conv3x3 -> norm -> ReLU per number in ``VGG11_CFG``, 2x2 max pooling per 'M', Linear(512).

    At 32 px the five poolings leave 1x1 (the reference flattens it); other sizes >= 32 are averaged
    to 1x1 so the head stays Linear(512). 28-pixel sides get first-conv padding 3 (DC code).
    """

    def __init__(
        self, channels: int, num_classes: int, image_size: int | Sequence[int], *, norm: str = "instancenorm"
    ) -> None:
        super().__init__()
        norm = choice("norm", norm, NORMS_2D)
        in_hw = image_hw(image_size)
        padding = first_padding(in_hw, base=1)
        halve((in_hw[0] + 2 * padding[0] - 2, in_hw[1] + 2 * padding[1] - 2), VGG11_CFG.count("M"), "vgg11")
        layers: list[nn.Module] = []
        cin = channels
        for item in VGG11_CFG:
            if item == "M":
                layers.append(nn.MaxPool2d(2))
                continue
            layers += [nn.Conv2d(cin, item, kernel_size=3, padding=padding if not layers else 1)]
            layers += [norm2d(norm, item), nn.ReLU()]
            cin = item
        layers.append(nn.AdaptiveAvgPool2d(1))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(512, num_classes)

    def embed(self, x: Tensor) -> Tensor:
        return self.features(x).flatten(1)
