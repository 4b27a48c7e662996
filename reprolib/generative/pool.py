"""The model pool whose logits are matched in stage 2 (paper: {ConvNet3, ResNet10, ResNet18}).

Two schedules (``gan.pool_schedule``):

* ``fresh_per_epoch`` — DiM's: at the start of every epoch one member is drawn uniformly and built
  freshly initialised, with a new SGD optimiser (lr 0.01, momentum 0.9, weight decay 5e-4); it serves
  every generator step of that epoch.
* ``persistent`` — every member is built once and kept for the whole stage; one is drawn per step.

Either way, before each generator step the current model is trained on ``pool_batches`` real
minibatches (DiM: 16, augmented per sample by colour and crop) and its logits on the real and the
generated batch are then compared with its weights frozen (gradients reach the generator only). It
stays in training mode, as in DiM (BatchNorm uses batch statistics).

DiM builds its ResNets by the dataset's name: the CIFAR layout (widths 32–256, 3×3 stem) for CIFAR,
the ImageNet layout (64–512, 7×7 stem, max pooling) for every other dataset, MNIST and Fashion-MNIST
included. ``pool_resnet_layout: by_dataset`` applies that rule to the pool's DiM ResNets.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reprolib import precision

from reprolib.nets import NETWORK_NAMES, build_network

PAPER_POOL = ("convnetd3", "resnet10_dim", "resnet18_dim")
POOL_SCHEDULES = ("fresh_per_epoch", "persistent")
RESNET_LAYOUTS = ("by_dataset", "cifar", "imagenet")
DIM_RESNETS = ("resnet10_dim", "resnet18_dim")


@dataclass(frozen=True)
class PoolMember:
    arch: str
    arch_options: dict = field(default_factory=dict)

    def validate(self) -> None:
        if self.arch.lower() not in NETWORK_NAMES:
            raise ValueError(f"unknown pool network {self.arch!r}; choose one of {', '.join(NETWORK_NAMES)}")

    def options(self, dataset: str, resnet_layout: str) -> dict:
        """The member's options, with DiM's ResNet layout rule applied unless a layout is given."""
        if self.arch.lower() not in DIM_RESNETS or "layout" in self.arch_options:
            return dict(self.arch_options)
        layout = resnet_layout if resnet_layout != "by_dataset" else ("cifar" if dataset.startswith("cifar") else "imagenet")
        return {**self.arch_options, "layout": layout}


class ModelPool:
    """The networks matched against; :meth:`current` says which one serves a step."""

    def __init__(self, members: tuple[PoolMember, ...], data, device: torch.device, *, schedule: str = "fresh_per_epoch",
                 resnet_layout: str = "by_dataset", lr: float = 0.01, momentum: float = 0.9, weight_decay: float = 5e-4) -> None:
        if not members:
            raise ValueError("the model pool needs at least one member")
        if schedule not in POOL_SCHEDULES:
            raise ValueError(f"unknown pool schedule {schedule!r}; choose one of {', '.join(POOL_SCHEDULES)}")
        self.members, self.schedule, self.device = members, schedule, device
        self.shape = (data.channels, data.num_classes, data.image_size)
        self.options = [m.options(data.name, resnet_layout) for m in members]
        self.sgd = {"lr": lr, "momentum": momentum, "weight_decay": weight_decay}
        self.nets: dict[int, nn.Module] = {}
        self.optimizers: dict[int, torch.optim.SGD] = {}
        self.active: int | None = None
        self.builds = 0  # freshly initialised models so far
        if schedule == "persistent":
            for index in range(len(members)):
                self._build(index)

    def _build(self, index: int) -> None:
        net = build_network(self.members[index].arch, *self.shape, **self.options[index]).to(self.device)
        self.nets[index] = net
        self.optimizers[index] = torch.optim.SGD(net.parameters(), **self.sgd)
        self.builds += 1

    def current(self, step_in_epoch: int, random: torch.Generator) -> int:
        """The member for this generator step (drawing, and under ``fresh_per_epoch`` building, as due)."""
        index = int(torch.randint(len(self.members), (1,), generator=random)) if (
            self.schedule == "persistent" or step_in_epoch == 0 or self.active is None) else self.active
        if self.schedule == "fresh_per_epoch" and (step_in_epoch == 0 or self.active is None):
            torch.manual_seed(int(torch.randint(2**62, (1,), generator=random)))
            self.nets, self.optimizers = {}, {}
            self._build(index)
        self.active = index
        return index

    def train_on(self, index: int, x: Tensor, y: Tensor) -> float:
        """One SGD step of member ``index`` on a real minibatch; returns its loss."""
        net, optimizer = self.nets[index], self.optimizers[index]
        net.train()
        numerics = precision.current()  # a classifier step: the precision in force (bf16 autocast on the fast path)
        with numerics.autocast(x.device):
            logits = net(x)
        loss = F.cross_entropy(precision.widen(logits), y)
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
        return {"active": self.active, "builds": self.builds, "nets": {i: n.state_dict() for i, n in self.nets.items()},
                "optimizers": {i: o.state_dict() for i, o in self.optimizers.items()}}

    def load_state_dict(self, state: dict) -> None:
        self.nets, self.optimizers = {}, {}
        for index in state["nets"]:
            self._build(int(index))
            self.nets[int(index)].load_state_dict(state["nets"][index])
            self.optimizers[int(index)].load_state_dict(state["optimizers"][index])
        self.active, self.builds = state["active"], int(state["builds"])
