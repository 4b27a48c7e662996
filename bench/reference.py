"""Straightforward reference implementations — the baselines the library's paths are timed against.

These are what a direct transcription of the papers' loops looks like, kept deliberately plain (and
used nowhere but in the benchmark and its equality tests):

* :func:`one_model_teacher_loop` — one teacher at a time, an ``nn.Module`` with ``torch.optim.SGD``,
  minibatches from a ``DataLoader`` over CPU tensors, copied to the device every step;
* :func:`autograd_unroll_gradient` — the unrolled student as a *list* of parameter tensors, with a
  freshly built network module at every step, and one ``backward`` through the whole unroll.

Both consume the random streams exactly as the library does (same batch order, same augmentation
draws), so their results must equal the library's to float tolerance — which the benchmark asserts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call
from torch.utils.data import DataLoader, Sampler, TensorDataset

from reprolib.augment import DSA
from reprolib.data import Dataset
from reprolib.distillation.trajectory import StepPlan, TeacherConfig
from reprolib.runtime import make_generator


class _EpochPermutation(Sampler[int]):
    """One ``randperm`` per epoch from ``generator``: the library's batch order. (torch's
    ``RandomSampler`` draws an extra permutation at the end of each epoch, which would shift the
    augmentation draws that share the generator.)"""

    def __init__(self, n: int, generator: torch.Generator):
        self.n, self.generator = n, generator

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[int]:
        return iter(torch.randperm(self.n, generator=self.generator).tolist())


def one_model_teacher_loop(data: Dataset, config: TeacherConfig, seed: int) -> Tensor:
    """A teacher trajectory ``[epochs + 1, P]`` (CPU) trained the straightforward way."""
    device = data.device
    torch.manual_seed(seed)
    net = config.build(data).to(device)
    generator = make_generator(seed)
    loader = DataLoader(TensorDataset(data.train_x.cpu(), data.train_y.cpu()), batch_size=config.batch_size,
                        sampler=_EpochPermutation(len(data.train_x), generator))
    optimizer = torch.optim.SGD(net.parameters(), lr=config.lr, momentum=config.momentum,
                                weight_decay=config.weight_decay)
    dsa = DSA(config.dsa_strategy) if config.dsa else None

    def snapshot() -> Tensor:
        return torch.cat([p.detach().reshape(-1) for p in net.parameters()]).cpu()

    snapshots = [snapshot()]
    net.train()
    for _ in range(config.epochs):
        for xb, yb in loader:
            xb, yb = xb.to(device), yb.to(device)
            if dsa is not None:
                xb = dsa(xb, generator)
            loss = F.cross_entropy(net(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        snapshots.append(snapshot())
    return torch.stack(snapshots)


def autograd_unroll_gradient(build: Callable[[], nn.Module], images: Tensor, labels: Tensor, syn_lr: Tensor,
                             start: Tensor, plan: list[StepPlan], dsa: DSA | None,
                             loss_fn: Callable[[Tensor], tuple[Tensor, dict]]) -> Tensor:
    """Unroll ``plan`` from the flat ``start`` with a parameter list and a new module per step, apply
    ``loss_fn`` to the flattened result and backpropagate into ``images``/``syn_lr``; returns the loss."""
    device = images.device
    template = build()
    shapes = [p.shape for p in template.parameters()]
    params = [part.view(shape).detach().clone().requires_grad_(True)
              for part, shape in zip(start.split([s.numel() for s in shapes]), shapes)]
    for step in plan:
        net = build().to(device)  # a fresh module every step, as a direct transcription does
        names = [name for name, _ in net.named_parameters()]
        index = step.indices.to(device)
        x = images[index]
        if step.augment is not None:
            x = dsa.apply(x, step.augment)
        loss = F.cross_entropy(functional_call(net, dict(zip(names, params)), (x,)), labels[index])
        grads = torch.autograd.grad(loss, params, create_graph=True)
        params = [p - syn_lr * g for p, g in zip(params, grads)]
    loss, _ = loss_fn(torch.cat([p.reshape(-1) for p in params]))
    loss.backward()
    return loss.detach()
