"""Random stand-ins with the shapes of the real thing: a CIFAR-shaped dataset and teacher trajectories.

Benchmarks time shapes, not pixel values, so they need no dataset on disk; these objects are real
:class:`~reprolib.data.Dataset` / :class:`~reprolib.distillation.trajectory.Trajectories`, so the
library's own code paths run on them unchanged.
"""

from __future__ import annotations

from pathlib import Path

import torch

from reprolib.data import Dataset
from reprolib.data.sources import DataSource
from reprolib.distillation.trajectory import FlatModel, TeacherConfig, Trajectories
from reprolib.store import ArtifactStore


def random_dataset(num_classes: int, train: int, test: int, device: torch.device, *, channels: int = 3,
                   image_size: int = 32, seed: int = 0) -> Dataset:
    """``train``/``test`` N(0, 1) images with balanced labels (every class present) on ``device``."""
    generator = torch.Generator().manual_seed(seed)

    def split(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.randn(n, channels, image_size, image_size, generator=generator)
        y = torch.arange(n) % num_classes
        return x.to(device), y.to(device)

    (train_x, train_y), (test_x, test_y) = split(train), split(test)
    source = DataSource("random", f"random {channels}×{image_size}² tensors", False, "",
                        "N(0, 1) noise with the shapes of the benchmarked dataset (timings only)", f"random-{seed}")
    return Dataset(f"random-{num_classes}", num_classes, channels, (image_size, image_size),
                   tuple(str(c) for c in range(num_classes)), train_x, train_y, test_x, test_y,
                   (0.0,) * channels, (1.0,) * channels, source)


def random_trajectories(data: Dataset, teachers: TeacherConfig, root: Path, seed: int = 0) -> Trajectories:
    """``teachers.num_teachers`` random-walk trajectories of ``teachers.epochs`` epochs from fresh
    initialisations, stored in an :class:`ArtifactStore` at ``root`` as real teachers are."""
    store = ArtifactStore(Path(root))
    specs = []
    for index in range(teachers.num_teachers):
        torch.manual_seed(seed + index)
        start = FlatModel(teachers.build(data)).flatten()
        steps = 1e-2 * torch.randn(teachers.epochs, len(start), generator=torch.Generator().manual_seed(seed + index))
        snapshots = torch.cat([start[None], start + steps.cumsum(0)])
        spec = {"benchmark": "random-trajectory", "data": data.spec(), "seed": seed, "index": index}
        store.save("teacher-trajectory", spec, {"snapshots": snapshots, "test_accuracy": 0.0})
        specs.append(spec)
    return Trajectories(store, specs, [0.0] * len(specs))
