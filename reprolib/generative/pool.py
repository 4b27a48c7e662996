"""The model pool whose logits are matched in stage 2 (paper: {ConvNet3, ResNet10, ResNet18}).

Each member is built once from :func:`reprolib.nets.build_network` and kept for the whole stage. At
every generator step one member is drawn uniformly (from a CPU generator) and, as in DiM's reference,
trained on a few real minibatches (SGD) before its logits on the real and the generated batch are
compared; its weights are frozen while the generator's loss is back-propagated through it.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reprolib.nets import NETWORK_NAMES, build_network

PAPER_POOL = ("convnetd3", "resnet10_dim", "resnet18_dim")


@dataclass(frozen=True)
class PoolMember:
    arch: str
    arch_options: dict = field(default_factory=dict)

    def validate(self) -> None:
        if self.arch.lower() not in NETWORK_NAMES:
            raise ValueError(f"unknown pool network {self.arch!r}; choose one of {', '.join(NETWORK_NAMES)}")


class ModelPool:
    """Networks trained on real data alongside the generator; ``draw`` picks the one for a step."""

    def __init__(self, members: tuple[PoolMember, ...], channels: int, num_classes: int, image_size,
                 device: torch.device, *, lr: float = 0.01, momentum: float = 0.9, weight_decay: float = 5e-4) -> None:
        if not members:
            raise ValueError("the model pool needs at least one member")
        self.members = members
        self.nets = [build_network(m.arch, channels, num_classes, image_size, **m.arch_options).to(device) for m in members]
        self.optimizers = [torch.optim.SGD(n.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay) for n in self.nets]

    def draw(self, generator: torch.Generator) -> int:
        return int(torch.randint(len(self.nets), (1,), generator=generator))

    def train_on(self, index: int, x: Tensor, y: Tensor) -> float:
        """One SGD step of member ``index`` on a real minibatch; returns its loss."""
        net, optimizer = self.nets[index], self.optimizers[index]
        net.train()
        loss = F.cross_entropy(net(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.item()

    @contextmanager
    def frozen(self, index: int):
        """Member ``index`` with its parameters excluded from autograd (gradients flow to the inputs only)."""
        net: nn.Module = self.nets[index]
        flags = [p.requires_grad for p in net.parameters()]
        for p in net.parameters():
            p.requires_grad_(False)
        try:
            yield net
        finally:
            for p, flag in zip(net.parameters(), flags):
                p.requires_grad_(flag)

    def state_dict(self) -> dict:
        return {"nets": [n.state_dict() for n in self.nets], "optimizers": [o.state_dict() for o in self.optimizers]}

    def load_state_dict(self, state: dict) -> None:
        for net, s in zip(self.nets, state["nets"]):
            net.load_state_dict(s)
        for optimizer, s in zip(self.optimizers, state["optimizers"]):
            optimizer.load_state_dict(s)
