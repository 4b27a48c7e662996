"""The small "SENet" of the dataset-pruning paper (Yang et al., ICLR 2023, Fig. 3). UNVERIFIED.

The paper cites Hu et al. (2018) (squeeze-and-excitation) and gives 1.25M parameters, but describes
no architecture and publishes no code; one sentence calls the same network "SqueezeNet". 1.25M is
also the parameter count of the ImageNet SqueezeNet 1.0, and the paper's ResNet18/50 counts (11.69M,
25.56M) are the ImageNet ones too, so the number may have been copied from the ImageNet models.

Our construction, chosen to be a squeeze-and-excitation network of that size on CIFAR: a
post-activation SE-ResNet with a 3x3 stride-1 stem (32 channels), one SE BasicBlock per stage at
32/64/128/256 channels (the DiM ResNet10 layout), SE reduction 16 with biased FC layers as in Hu et al.,
BatchNorm, global average pooling and Linear(256): 1,240,360 parameters on CIFAR-10. Every choice
here beyond "SE network of ~1.25M parameters" is ours.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from reprolib.nets.base import EmbedNet, conv3x3, image_hw, norm2d

WIDTHS = (32, 64, 128, 256)
REDUCTION = 16


class SEBlock(nn.Module):
    """BasicBlock whose residual branch is rescaled per channel by squeeze-and-excitation."""

    def __init__(self, cin: int, planes: int, stride: int) -> None:
        super().__init__()
        self.conv1 = conv3x3(cin, planes, stride)
        self.bn1 = norm2d("batchnorm", planes)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = norm2d("batchnorm", planes)
        self.squeeze = nn.Linear(planes, planes // REDUCTION)
        self.excite = nn.Linear(planes // REDUCTION, planes)
        if stride == 1 and cin == planes:
            self.shortcut: nn.Module = nn.Identity()
        else:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, planes, 1, stride=stride, bias=False), norm2d("batchnorm", planes)
            )

    def forward(self, x: Tensor) -> Tensor:
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        scale = self.excite(F.relu(self.squeeze(out.mean(dim=(2, 3))))).sigmoid()
        return F.relu(out * scale[:, :, None, None] + self.shortcut(x))


class SENet(EmbedNet):
    """Small SE-ResNet (~1.24M parameters on CIFAR-10); see the module docstring."""

    def __init__(self, channels: int, num_classes: int, image_size: int | Sequence[int]) -> None:
        super().__init__()
        image_hw(image_size)
        self.stem = nn.Sequential(conv3x3(channels, WIDTHS[0]), norm2d("batchnorm", WIDTHS[0]), nn.ReLU())
        blocks, cin = [], WIDTHS[0]
        for i, planes in enumerate(WIDTHS):
            blocks.append(SEBlock(cin, planes, 1 if i == 0 else 2))
            cin = planes
        self.stages = nn.Sequential(*blocks)
        self.classifier = nn.Linear(cin, num_classes)

    def embed(self, x: Tensor) -> Tensor:
        return F.adaptive_avg_pool2d(self.stages(self.stem(x)), 1).flatten(1)
