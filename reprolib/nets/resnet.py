"""ResNets of the DC/MTT codebase and the standard CIFAR ResNets (kuangliu/pytorch-cifar layout).

Both families share one layout: a 3x3 stride-1 stem (64 channels, no max pooling), four stages of
64/128/256/512 channels with strides 1/2/2/2, global average pooling and Linear. They differ only in
the normalisation: the distillation ResNet18 uses instance norm (GroupNorm(C, C)), the CIFAR ones
BatchNorm. ``resnet18_bn`` and ``resnet18_cifar`` are therefore the same architecture under two names.

Global average pooling replaces the reference's ``avg_pool2d(out, 4)``; at 32 px (and 28 px) the last
map is 4x4, so the two are identical there, and other sizes keep a 512-d head.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from reprolib.nets.base import NORMS_2D, EmbedNet, choice, conv3x3, halve, image_hw, norm2d

WIDTHS = (64, 128, 256, 512)


def _shortcut(cin: int, cout: int, stride: int, norm: str, pool_stride: bool) -> nn.Module:
    """Identity, or 1x1 conv + norm when the shape changes (AP variant: 1x1 conv, AvgPool 2, norm)."""
    if stride == 1 and cin == cout:
        return nn.Identity()
    if pool_stride and stride != 1:
        return nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.AvgPool2d(stride), norm2d(norm, cout))
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), norm2d(norm, cout))


class BasicBlock(nn.Module):
    """conv3x3-norm-ReLU-conv3x3-norm + shortcut, ReLU.

    ``pool_stride`` (ResNet_AP): the strided conv becomes a stride-1 conv followed by AvgPool 2x2.
    """

    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int, norm: str, pool_stride: bool = False) -> None:
        super().__init__()
        self.conv1 = conv3x3(cin, planes, 1 if pool_stride else stride)
        self.bn1 = norm2d(norm, planes)
        self.pool = nn.AvgPool2d(stride) if pool_stride and stride != 1 else nn.Identity()
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = norm2d(norm, planes)
        self.shortcut = _shortcut(cin, planes, stride, norm, pool_stride)

    def forward(self, x: Tensor) -> Tensor:
        out = self.pool(F.relu(self.bn1(self.conv1(x))))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class Bottleneck(nn.Module):
    """conv1x1-norm-ReLU-conv3x3(stride)-norm-ReLU-conv1x1(4x)-norm + shortcut, ReLU."""

    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int, norm: str) -> None:
        super().__init__()
        cout = planes * self.expansion
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = norm2d(norm, planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = norm2d(norm, planes)
        self.conv3 = nn.Conv2d(planes, cout, 1, bias=False)
        self.bn3 = norm2d(norm, cout)
        self.shortcut = _shortcut(cin, cout, stride, norm, pool_stride=False)

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + self.shortcut(x))


class ResNet(EmbedNet):
    """Stem, four stages of ``blocks``, then global average pooling, or, when ``flat_hw`` (the last
    map's size) is given, the flattened map as in DC's ResNet_AP."""

    def __init__(
        self,
        channels: int,
        num_classes: int,
        blocks: Sequence[int],
        norm: str,
        bottleneck: bool = False,
        pool_stride: bool = False,
        flat_hw: tuple[int, int] | None = None,
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(conv3x3(channels, WIDTHS[0]), norm2d(norm, WIDTHS[0]), nn.ReLU())
        stages: list[nn.Module] = []
        cin = WIDTHS[0]
        for i, (planes, n) in enumerate(zip(WIDTHS, blocks)):
            for j in range(n):
                stride = 2 if i > 0 and j == 0 else 1
                if bottleneck:
                    block = Bottleneck(cin, planes, stride, norm)
                else:
                    block = BasicBlock(cin, planes, stride, norm, pool_stride)
                stages.append(block)
                cin = planes * block.expansion
        self.stages = nn.Sequential(*stages)
        self.flat_hw = flat_hw
        features = cin if flat_hw is None else cin * flat_hw[0] * flat_hw[1]
        self.classifier = nn.Linear(features, num_classes)

    def embed(self, x: Tensor) -> Tensor:
        out = self.stages(self.stem(x))
        if self.flat_hw is None:
            out = F.adaptive_avg_pool2d(out, 1)
        return out.flatten(1)


def resnet18(
    channels: int, num_classes: int, image_size: int | Sequence[int], *, norm: str = "instancenorm"
) -> ResNet:
    """Distillation ResNet18: BasicBlocks [2, 2, 2, 2], instance norm by default."""
    image_hw(image_size)
    return ResNet(channels, num_classes, (2, 2, 2, 2), choice("norm", norm, NORMS_2D))


def resnet18_bn(channels: int, num_classes: int, image_size: int | Sequence[int]) -> ResNet:
    """Distillation ResNet18 with BatchNorm (DC's ResNet18BN)."""
    return resnet18(channels, num_classes, image_size, norm="batchnorm")


def resnet18_ap(
    channels: int, num_classes: int, image_size: int | Sequence[int], *, norm: str = "instancenorm"
) -> ResNet:
    """DC's ResNet18_AP: stride-2 convs -> stride-1 conv + AvgPool 2x2; no global pooling.

    As in the reference, the head takes the flattened last map: 512x4x4 at 32 px, 512x3x3 at 28 px,
    and in general 512 x (h // 8) x (w // 8).
    """
    flat_hw = halve(image_hw(image_size), 3, "resnet18_ap")
    norm = choice("norm", norm, NORMS_2D)
    return ResNet(channels, num_classes, (2, 2, 2, 2), norm, pool_stride=True, flat_hw=flat_hw)


def resnet18_cifar(channels: int, num_classes: int, image_size: int | Sequence[int]) -> ResNet:
    """Standard CIFAR ResNet18 (BatchNorm, 11,173,962 parameters on CIFAR-10)."""
    return resnet18(channels, num_classes, image_size, norm="batchnorm")


def resnet50_cifar(channels: int, num_classes: int, image_size: int | Sequence[int]) -> ResNet:
    """Standard CIFAR ResNet50: Bottlenecks [3, 4, 6, 3], BatchNorm (23,520,842 parameters on CIFAR-10)."""
    image_hw(image_size)
    return ResNet(channels, num_classes, (3, 4, 6, 3), "batchnorm", bottleneck=True)
