"""Teacher ("expert") trajectories: networks trained on the real data, snapshotted every epoch.

REFERENCE §1: SGD lr 0.01, no momentum, no weight decay, constant lr, batch 256, 50 epochs, per-sample
DSA; the parameters (not buffers) are saved at initialisation and after every epoch, so a trajectory
is a ``[epochs + 1, P]`` tensor. Each teacher is its own stored artifact (a *shard*), so a killed run
keeps every teacher it finished and the next run trains only the missing ones.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import asdict, dataclass, field

import torch
from torch import Tensor

from reprolib.augment import DEFAULT_STRATEGY, DSA
from reprolib.data import Dataset
from reprolib.distillation.trajectory.flat import FlatModel
from reprolib.nets import NETWORK_NAMES, build_network
from reprolib.runtime import make_generator, progress
from reprolib.store import ArtifactStore
from reprolib.train import TrainConfig, accuracy, train_classifier, train_classifiers

CODE_VERSION = 1  # bump when a change here alters the trajectories


@dataclass(frozen=True)
class TeacherConfig:
    """The teachers' network and schedule; the student of the matching loop is the same network."""

    arch: str = "convnet"
    arch_options: dict = field(default_factory=dict)
    num_teachers: int = 100
    epochs: int = 50
    lr: float = 0.01
    batch_size: int = 256
    momentum: float = 0.0
    weight_decay: float = 0.0
    dsa: bool = True
    dsa_strategy: str = DEFAULT_STRATEGY

    def validate(self) -> None:
        if self.arch.lower() not in NETWORK_NAMES:
            raise ValueError(f"unknown teacher network {self.arch!r}; choose one of {', '.join(NETWORK_NAMES)}")
        if self.num_teachers < 1 or self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError(f"teachers need num_teachers, epochs, batch_size ≥ 1 and lr > 0; got {self}")

    def build(self, data: Dataset) -> torch.nn.Module:
        """A freshly initialised teacher/student network for ``data`` (seed beforehand)."""
        return build_network(self.arch, data.channels, data.num_classes, data.image_size, **self.arch_options)

    def train_config(self) -> TrainConfig:
        return TrainConfig(epochs=self.epochs, lr=self.lr, batch_size=self.batch_size, momentum=self.momentum,
                           weight_decay=self.weight_decay, schedule="constant")


def teacher_seed(seed: int, index: int) -> int:
    """Teacher ``index``'s own seed (initialisation, batch order, augmentation)."""
    return seed * 100_003 + index


def train_teacher(data: Dataset, config: TeacherConfig, seed: int) -> tuple[Tensor, float]:
    """One trajectory ``[epochs + 1, P]`` (CPU, float32) and the final network's test accuracy."""
    torch.manual_seed(seed)
    net = config.build(data).to(data.device)
    flat = FlatModel(net)
    snapshots = [flat.flatten().cpu()]
    steps_per_epoch = math.ceil(len(data.train_x) / config.batch_size)
    steps = 0

    def snapshot_at_epoch_end(*_) -> None:
        nonlocal steps
        steps += 1
        if steps % steps_per_epoch == 0:
            snapshots.append(flat.flatten().cpu())

    train_classifier(
        net, data.train_x, data.train_y, config.train_config(), generator=make_generator(seed),
        augment=DSA(config.dsa_strategy) if config.dsa else None, on_batch=snapshot_at_epoch_end, desc="teacher",
    )
    return torch.stack(snapshots), accuracy(net, data.test_x, data.test_y)


def train_teachers(data: Dataset, config: TeacherConfig, seeds: list[int]) -> list[tuple[Tensor, float]]:
    """:func:`train_teacher` for each seed, all teachers trained together (one vectorised step, see
    :func:`reprolib.train.train_classifiers`); equal to the one-at-a-time results to float tolerance.

    Meant for a device that one network leaves idle (a GPU); on the 2-core CPU it is slower than
    training the teachers one after another (``python -m bench``; the book's Performance page).
    """
    nets = []
    for seed in seeds:
        torch.manual_seed(seed)
        nets.append(config.build(data).to(data.device))
    names = [name for name, _ in nets[0].named_parameters()]
    snapshots = [[FlatModel(net).flatten().cpu()] for net in nets]

    def snapshot(_epoch: int, params: dict[str, Tensor]) -> None:
        for k, taken in enumerate(snapshots):
            taken.append(torch.cat([params[name][k].detach().reshape(-1) for name in names]).cpu())

    train_classifiers(nets, data.train_x, data.train_y, config.train_config(),
                      generators=[make_generator(seed) for seed in seeds],
                      augment=DSA(config.dsa_strategy) if config.dsa else None, on_epoch=snapshot)
    return [(torch.stack(taken), accuracy(net, data.test_x, data.test_y)) for taken, net in zip(snapshots, nets)]


def teacher_spec(data: Dataset, config: TeacherConfig, seed: int, index: int) -> dict:
    return {"data": data.spec(), "teacher": asdict(config) | {"num_teachers": None}, "seed": seed,
            "index": index, "code": CODE_VERSION}


class Trajectories:
    """The stored trajectories of one teacher set, loaded shard by shard (a few kept in memory)."""

    def __init__(self, store: ArtifactStore, specs: list[dict], accuracies: list[float], keep: int = 8):
        self.store, self.specs, self.accuracies, self.keep = store, specs, accuracies, keep
        self._loaded: OrderedDict[int, Tensor] = OrderedDict()

    def __len__(self) -> int:
        return len(self.specs)

    def trajectory(self, index: int) -> Tensor:
        if index not in self._loaded:
            found = self.store.load("teacher-trajectory", self.specs[index])
            if found is None:
                raise FileNotFoundError(f"teacher {index} vanished from the store at {self.store.root}; re-run to retrain it")
            self._loaded[index] = found["snapshots"]
            while len(self._loaded) > self.keep:
                self._loaded.popitem(last=False)
        self._loaded.move_to_end(index)
        return self._loaded[index]

    @property
    def num_epochs(self) -> int:
        return self.trajectory(0).shape[0] - 1


def teacher_trajectories(data: Dataset, config: TeacherConfig, store: ArtifactStore, seed: int = 0) -> Trajectories:
    """Train (or find in ``store``) ``config.num_teachers`` teachers; teacher k of a larger set is teacher k of a smaller one."""
    config.validate()
    specs, accuracies = [], []
    for index in progress(range(config.num_teachers), desc="teachers"):
        spec = teacher_spec(data, config, seed, index)

        def compute(index: int = index) -> dict:
            snapshots, test_accuracy = train_teacher(data, config, teacher_seed(seed, index))
            return {"snapshots": snapshots, "test_accuracy": test_accuracy}

        found = store.cached("teacher-trajectory", spec, compute)
        specs.append(spec)
        accuracies.append(float(found["test_accuracy"]))
    return Trajectories(store, specs, accuracies)
