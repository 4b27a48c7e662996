"""Training a classifier on tensors resident on the device, and measuring its accuracy.

One loop serves every place that trains a network on data: teachers, full-data baselines, the model
that coreset selection reads features from, dataset pruning, and the evaluation of distilled sets.
Networks run in the precision in force (:mod:`reprolib.precision`: fp32 eager by default, bf16
autocast + ``torch.compile`` on the fast path); losses, gradients' accumulation in the optimiser and
everything returned are float32.
:func:`train_classifiers` is the same loop for several networks of one architecture at once (one
vectorised step for all of them), for the places that train many: teachers and evaluation networks.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, grad, stack_module_state, vmap

from reprolib import precision
from reprolib.runtime import progress

BatchHook = Callable[[Tensor, Tensor, Tensor], None]
"""Called after each step with (indices into the training set, logits, labels)."""


@dataclass(frozen=True)
class TrainConfig:
    """An SGD schedule. ``schedule``: 'step' (lr ×0.1 at ``epochs // 2``), 'cosine' or 'constant'."""

    epochs: int
    lr: float = 0.01
    batch_size: int = 256
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "step"

    def __post_init__(self) -> None:
        if self.epochs < 0 or self.batch_size <= 0 or self.lr <= 0:
            raise ValueError(f"epochs must be ≥ 0 and batch_size, lr > 0; got {self}")
        if self.schedule not in ("step", "cosine", "constant"):
            raise ValueError(f"schedule must be 'step', 'cosine' or 'constant', not {self.schedule!r}")

    def lr_at(self, epoch: int) -> float:
        if self.schedule == "step":
            return self.lr * (0.1 if epoch >= self.epochs // 2 and self.epochs > 1 else 1.0)
        if self.schedule == "cosine":
            return 0.5 * self.lr * (1 + math.cos(math.pi * epoch / max(self.epochs, 1)))
        return self.lr

    def as_dict(self) -> dict:
        return asdict(self)


def train_classifier(
    net: nn.Module,
    x: Tensor,
    y: Tensor,
    config: TrainConfig,
    *,
    generator: torch.Generator,
    augment: Callable[[Tensor, torch.Generator], Tensor] | None = None,
    on_batch: BatchHook | None = None,
    desc: str = "train",
) -> nn.Module:
    """Train ``net`` in place with SGD on ``(x, y)`` (already on the net's device); returns ``net``.

    Minibatch order and augmentation are drawn from ``generator`` (a CPU generator), so a seed gives
    the same run on any device.
    """
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"training data must be non-empty with one label per image; got {len(x)} images, {len(y)} labels")
    optimizer = torch.optim.SGD(
        net.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
    )
    numerics = precision.current()
    forward = numerics.compiled(net)
    net.train()
    for epoch in progress(range(config.epochs), desc=desc):
        for group in optimizer.param_groups:
            group["lr"] = config.lr_at(epoch)
        order = torch.randperm(len(x), generator=generator).to(x.device)
        for start in range(0, len(x), config.batch_size):
            idx = order[start : start + config.batch_size]
            xb, yb = x[idx], y[idx]
            if augment is not None:
                xb = augment(xb, generator)
            with numerics.autocast(xb.device):
                logits = forward(xb)
            logits = precision.widen(logits)
            loss = F.cross_entropy(logits, yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if on_batch is not None:
                on_batch(idx, logits.detach(), yb)
    net.eval()
    return net


EpochHook = Callable[[int, dict[str, Tensor]], None]
"""Called after each epoch of :func:`train_classifiers` with (epoch, stacked parameters ``[K, ...]`` by name)."""


def train_classifiers(
    nets: Sequence[nn.Module],
    x: Tensor,
    y: Tensor,
    config: TrainConfig,
    *,
    generators: Sequence[torch.Generator],
    augment: Callable[[Tensor, torch.Generator], Tensor] | None = None,
    on_epoch: EpochHook | None = None,
) -> list[nn.Module]:
    """Train ``nets`` (one architecture, no buffers) together; network k as :func:`train_classifier`
    would with ``generators[k]``, to float tolerance; returns ``nets``, trained in place.

    Each network keeps its own batch order and augmentation draws (so the random streams are those of
    the sequential loop); the forward/backward passes of all networks run as one ``torch.func.vmap``
    over their stacked parameters, and the SGD update is torch.optim.SGD's, applied to the stack.
    """
    if len(nets) != len(generators) or not nets:
        raise ValueError(f"give one generator per network; got {len(nets)} networks, {len(generators)} generators")
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"training data must be non-empty with one label per image; got {len(x)} images, {len(y)} labels")
    if any(list(net.buffers()) for net in nets):
        raise ValueError("batched training needs networks without buffers (BatchNorm keeps running statistics); "
                         "train such networks one at a time with train_classifier")
    params, _ = stack_module_state(list(nets))
    params = {name: p.detach() for name, p in params.items()}
    base = copy.deepcopy(nets[0]).to("meta").train()

    numerics = precision.current()

    def loss(p: dict[str, Tensor], xb: Tensor, yb: Tensor) -> Tensor:
        with numerics.autocast(xb.device):
            logits = functional_call(base, p, (xb,))
        return F.cross_entropy(precision.widen(logits), yb)

    step_gradients = vmap(grad(loss))
    momenta: dict[str, Tensor] = {}
    for epoch in progress(range(config.epochs), desc="train (batched)"):
        lr = config.lr_at(epoch)
        orders = [torch.randperm(len(x), generator=g).to(x.device) for g in generators]
        for start in range(0, len(x), config.batch_size):
            batches = [order[start : start + config.batch_size] for order in orders]
            xb = torch.stack([augment(x[i], g) if augment is not None else x[i] for i, g in zip(batches, generators)])
            yb = torch.stack([y[i] for i in batches])
            _sgd_update(params, step_gradients(params, xb, yb), momenta, lr, config.momentum, config.weight_decay)
        if on_epoch is not None:
            on_epoch(epoch, params)
    with torch.no_grad():
        for k, net in enumerate(nets):
            for name, p in net.named_parameters():
                p.copy_(params[name][k])
            net.eval()
    return list(nets)


def _sgd_update(params: dict[str, Tensor], grads: dict[str, Tensor], momenta: dict[str, Tensor], lr: float,
                momentum: float, weight_decay: float) -> None:
    """torch.optim.SGD's step (no dampening, no Nesterov), in place on ``params`` and ``momenta``."""
    for name, p in params.items():
        d = grads[name]
        if weight_decay:
            d = d.add(p, alpha=weight_decay)
        if momentum:
            if name not in momenta:
                momenta[name] = d.clone()
            else:
                momenta[name].mul_(momentum).add_(d)
            d = momenta[name]
        p.add_(d, alpha=-lr)


@torch.no_grad()
def _batched_eval(net: nn.Module, function: Callable[[Tensor], Tensor], x: Tensor, batch_size: int) -> Tensor:
    """``function`` over ``x`` in batches with ``net`` in eval mode, in the precision in force; float32 out."""
    numerics = precision.current()
    was_training = net.training
    net.eval()
    with numerics.autocast(x.device):
        out = torch.cat([precision.widen(function(x[i : i + batch_size])) for i in range(0, len(x), batch_size)])
    net.train(was_training)
    return out


def predict(net: nn.Module, x: Tensor, batch_size: int = 1024) -> Tensor:
    """Logits of ``net`` (in eval mode) over ``x``, batched."""
    return _batched_eval(net, precision.current().compiled(net), x, batch_size)


def embed(net: nn.Module, x: Tensor, batch_size: int = 1024) -> Tensor:
    """Penultimate features (``net.embed``) over ``x``, batched, in eval mode."""
    return _batched_eval(net, precision.current().compiled(net.embed), x, batch_size)


def accuracy(net: nn.Module, x: Tensor, y: Tensor, batch_size: int = 1024) -> float:
    """Top-1 accuracy in percent."""
    return (predict(net, x, batch_size).argmax(1) == y).float().mean().item() * 100.0
