"""A network evaluated at a flat parameter vector, as trajectory matching needs.

Teacher snapshots, the student's unrolled parameters, DDPP's masks and IADD's weights are all
vectors over the same coordinates; :class:`FlatModel` fixes that coordinate order (the order of
``net.named_parameters()``) and runs the network at any vector with
``torch.func.functional_call``, so gradients flow into the vector. Buffers (none for the
instance-norm ConvNet) are taken from the module.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.func import functional_call


class FlatModel:
    """``net`` addressed by one flat parameter vector of length :attr:`num_params`."""

    def __init__(self, net: nn.Module):
        self.net = net
        self.names = [name for name, _ in net.named_parameters()]
        self.shapes = [p.shape for _, p in net.named_parameters()]
        self.sizes = [math.prod(s) for s in self.shapes]
        self.num_params = sum(self.sizes)

    def flatten(self) -> Tensor:
        """The module's current parameters as one detached vector."""
        return torch.cat([p.detach().reshape(-1) for p in self.net.parameters()])

    def unflatten(self, flat: Tensor) -> dict[str, Tensor]:
        """Views of ``flat`` shaped as the module's parameters, by name."""
        if flat.shape != (self.num_params,):
            raise ValueError(f"expected a flat parameter vector of length {self.num_params}, got shape {tuple(flat.shape)}")
        return {name: part.view(shape) for name, part, shape in zip(self.names, flat.split(self.sizes), self.shapes)}

    def load(self, flat: Tensor) -> nn.Module:
        """Copy ``flat`` into the module's parameters (for evaluation); returns the module."""
        with torch.no_grad():
            for p, part in zip(self.net.parameters(), flat.split(self.sizes)):
                p.copy_(part.view_as(p))
        return self.net

    def __call__(self, flat: Tensor, x: Tensor) -> Tensor:
        """Logits of the network with parameters ``flat`` on ``x``; differentiable in both."""
        return functional_call(self.net, self.unflatten(flat), (x,))
