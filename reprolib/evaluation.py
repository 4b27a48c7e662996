"""The distillation evaluation protocol, shared by every table (REFERENCE §1).

Train ``num_eval`` freshly initialised networks on a small (distilled or selected) set with SGD
(momentum 0.9, weight decay 5e-4, batch 256), the learned or given lr decayed ×0.1 at half of the
epochs, DSA augmentation on every batch, and report test accuracy mean ± std (population std, as
the reference code's ``np.std``) over the networks.

The networks are trained one after another by default; ``batched=True`` trains them together
(:func:`reprolib.train.train_classifiers`, ``torch.func.vmap`` over stacked parameters), equal to float
tolerance. Which is faster depends on the device and the network: ``python -m bench`` measures both
(the book's Performance page shows the latest numbers). On the 2-core CPU batching is slower, for
ConvNetD3 on 32×32 images and for the smoke preset's small ConvNet alike, so the sequential loop stays
the default.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

import torch
from torch import Tensor

from reprolib.augment import DEFAULT_STRATEGY, DSA
from reprolib.data import Dataset
from reprolib.nets import NETWORK_NAMES, build_network
from reprolib.runtime import make_generator
from reprolib.train import TrainConfig, accuracy, train_classifier, train_classifiers


@dataclass(frozen=True)
class EvalProtocol:
    """How a small training set is scored; defaults are the papers' (1000 epochs, 5 networks)."""

    arch: str = "convnet"
    arch_options: dict = field(default_factory=dict)
    num_eval: int = 5
    epochs: int = 1000
    lr: float = 0.01
    batch_size: int = 256
    momentum: float = 0.9
    weight_decay: float = 5e-4
    dsa: bool = True
    dsa_strategy: str = DEFAULT_STRATEGY
    # A cheaper schedule for some set sizes, {ipc: {num_eval: n, epochs: e}}: how a CPU preset cuts the
    # cost of large sets (IPC 50 trains 50× the images of IPC 1 per epoch) while keeping the protocol.
    by_ipc: dict = field(default_factory=dict)

    def validate(self) -> None:
        if self.arch.lower() not in NETWORK_NAMES:
            raise ValueError(f"unknown evaluation network {self.arch!r}; choose one of {', '.join(NETWORK_NAMES)}")
        if self.num_eval < 1 or self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError(f"num_eval, epochs, batch_size must be ≥ 1 and lr > 0; got {self}")
        for ipc, changes in self.by_ipc.items():
            if not isinstance(ipc, int) or ipc < 1 or not isinstance(changes, dict) or not changes:
                raise ValueError(f"by_ipc maps an IPC (integer ≥ 1) to changes such as {{epochs: 300}}; got {ipc!r}: {changes!r}")
            bad = {k: v for k, v in changes.items()
                   if k not in ("num_eval", "epochs") or not isinstance(v, int) or isinstance(v, bool) or v < 1}
            if bad:
                raise ValueError(f"by_ipc[{ipc}] may set num_eval and epochs (integers ≥ 1), not {bad}")

    def for_ipc(self, ipc: int) -> "EvalProtocol":
        """The protocol a set of ``ipc`` images per class is scored with (``by_ipc``'s changes applied)."""
        return replace(self, **self.by_ipc.get(ipc, {}), by_ipc={}) if self.by_ipc else self

    def train_config(self, lr: float | None = None) -> TrainConfig:
        return TrainConfig(
            epochs=self.epochs,
            lr=self.lr if lr is None else lr,
            batch_size=self.batch_size,
            momentum=self.momentum,
            weight_decay=self.weight_decay,
            schedule="step",
        )

    def as_dict(self) -> dict:
        """The fields (``by_ipc`` only when set, so stored evaluations keep their addresses)."""
        fields = asdict(self)
        if not fields["by_ipc"]:
            del fields["by_ipc"]
        return fields


@dataclass(frozen=True)
class EvalResult:
    """Per-network test accuracies (percent) and the lr they were trained with."""

    accuracies: tuple[float, ...]
    lr: float

    @property
    def mean(self) -> float:
        return statistics.fmean(self.accuracies)

    @property
    def std(self) -> float:
        return statistics.pstdev(self.accuracies)

    @property
    def n(self) -> int:
        return len(self.accuracies)

    def as_dict(self) -> dict:
        return {"mean": self.mean, "std": self.std, "n": self.n, "accuracies": list(self.accuracies), "lr": self.lr}

    def __str__(self) -> str:
        return f"{self.mean:.1f} ± {self.std:.1f} (n={self.n})"


@dataclass(frozen=True)
class EvalNetwork:
    """One network of a cross-architecture table: a ``reprolib.nets`` name and its options."""

    arch: str
    arch_options: dict = field(default_factory=dict)

    def protocol(self, base: EvalProtocol, **changes) -> EvalProtocol:
        """``base`` on this network (with ``changes``): epochs, lr, DSA and the rest stay the one protocol."""
        return replace(base, arch=self.arch, arch_options=dict(self.arch_options), **changes)


def evaluate_synthetic(
    images: Tensor,
    labels: Tensor,
    dataset: Dataset,
    protocol: EvalProtocol = EvalProtocol(),
    *,
    lr: float | None = None,
    seed: int = 0,
    per_batch: Callable[[Tensor, torch.Generator], Tensor] | None = None,
    batched: bool = False,
) -> EvalResult:
    """Score a small training set ``(images, labels)`` on ``dataset``'s test split.

    ``lr`` is the learned step size of methods that learn one (MTT, DDPP, IADD); otherwise the
    protocol's lr is used. Network ``k`` is initialised and trained from seed ``seed + k``.
    ``per_batch(batch, generator)`` replaces the protocol's DSA step on each minibatch (DiM's
    regenerate-every-batch evaluation passes labels as ``images`` and generates them there).
    ``batched`` trains the networks together (same random streams, equal to float tolerance).
    The protocol's ``by_ipc`` schedule for ``len(labels) // num_classes`` images per class applies.
    """
    device = dataset.test_x.device
    images, labels = images.detach().to(device), labels.to(device)
    protocol = protocol.for_ipc(len(labels) // dataset.num_classes)
    augment = per_batch if per_batch is not None else DSA(protocol.dsa_strategy) if protocol.dsa else None
    config = protocol.train_config(lr)

    def build(k: int) -> torch.nn.Module:
        torch.manual_seed(seed + k)
        return build_network(
            protocol.arch, dataset.channels, dataset.num_classes, dataset.image_size, **protocol.arch_options
        ).to(device)

    if batched:
        nets = train_classifiers([build(k) for k in range(protocol.num_eval)], images, labels, config,
                                 generators=[make_generator(seed + k) for k in range(protocol.num_eval)], augment=augment)
    else:
        nets = [train_classifier(build(k), images, labels, config, generator=make_generator(seed + k), augment=augment,
                                 desc=f"eval {k + 1}/{protocol.num_eval}") for k in range(protocol.num_eval)]
    return EvalResult(tuple(accuracy(net, dataset.test_x, dataset.test_y) for net in nets), config.lr)
