"""Where the student misses the teacher: per-coordinate |θ_{i+K} − θ̃_{i,J}| for a finished distilled set.

IADD (Figs. 1, 6, 7) plots, for every parameter coordinate of the network, the difference between
the teacher's target parameters and the student's after J unrolled steps on the distilled set, beside
IADD's learned weights W. :func:`parameter_differences` measures it by replaying the engine's iteration
(random teacher, random start epoch i < ``max_start_epoch``, a planned minibatch/DSA sequence, the
learned step size) ``probes`` times through :func:`~reprolib.distillation.trajectory.unroll.unroll`,
one |θ_{i+K} − θ̃_{i,J}| vector per draw (their mean is the figure; two halves of the draws tell whether
a coordinate's difficulty persists or is noise). The other functions reduce such per-coordinate
vectors (hundreds of thousands of values) to what a page can store and plot: a per-index envelope,
quantiles, equal-count bins ranked by one vector, and per-module means.
"""

from __future__ import annotations

from itertools import accumulate
from typing import Protocol

import torch
from torch import Tensor

from reprolib.augment import DSA
from reprolib.distillation.trajectory.engine import MatchConfig
from reprolib.distillation.trajectory.flat import FlatModel
from reprolib.distillation.trajectory.unroll import draw_plan, unroll
from reprolib.runtime import make_generator


class TrajectorySource(Protocol):
    """What :func:`parameter_differences` needs of :class:`~reprolib.distillation.trajectory.Trajectories`."""

    def __len__(self) -> int: ...

    def trajectory(self, index: int) -> Tensor: ...


def parameter_differences(model: FlatModel, images: Tensor, labels: Tensor, syn_lr: float,
                          trajectories: TrajectorySource, config: MatchConfig, image_size: tuple[int, int],
                          probes: int = 4, seed: int = 0) -> Tensor:
    """|θ_{i+K} − θ̃_{i,J}| per coordinate for each of ``probes`` draws: ``[probes, P]`` on the images' device.

    Each draw is one matching iteration of the engine without the update: the student starts at
    teacher snapshot i and takes ``config.syn_steps`` steps of size ``syn_lr`` on the (augmented) set.
    One unroll's graph is alive at a time (the plain mode's memory, as in a distillation iteration).
    """
    if probes < 1:
        raise ValueError(f"probes must be ≥ 1 (the number of teacher/start draws averaged), got {probes}")
    config.validate()
    epochs = len(trajectories.trajectory(0)) - 1
    if config.max_start_epoch + config.expert_epochs > epochs:
        raise ValueError(f"max_start_epoch ({config.max_start_epoch}) + expert_epochs ({config.expert_epochs}) exceeds "
                         f"the teachers' {epochs} epochs: use the distilled set's own teachers and matching settings")
    generator = make_generator(seed)
    dsa = DSA(config.dsa_strategy) if config.dsa else None
    batch_syn = config.batch_syn or len(images)
    lr = torch.tensor(float(syn_lr), device=images.device, dtype=images.dtype)
    rows = []
    for _ in range(probes):  # the engine's draw order: teacher, start epoch, plan
        teacher = int(torch.randint(len(trajectories), (1,), generator=generator))
        start_epoch = int(torch.randint(config.max_start_epoch, (1,), generator=generator))
        trajectory = trajectories.trajectory(teacher)
        start = trajectory[start_epoch].to(images.device)
        target = trajectory[start_epoch + config.expert_epochs].to(images.device)
        plan = draw_plan(len(images), config.syn_steps, batch_syn, image_size, dsa, generator)
        student = unroll(model, images.detach(), labels, lr, start, plan, dsa).detach()
        rows.append((target - student).abs())
    return torch.stack(rows)


def module_slices(model: FlatModel) -> list[tuple[str, str, slice]]:
    """(module name, module type, its coordinates in the flat vector) per module owning parameters
    (weight and bias together), in network order, e.g. ``("features.0", "Conv2d", slice(0, 320))``."""
    groups: dict[str, list[int]] = {}
    offset = 0
    for name, size in zip(model.names, model.sizes):
        module = name.rpartition(".")[0]
        groups.setdefault(module, [offset, offset])[1] = offset + size
        offset += size
    return [(module, type(model.net.get_submodule(module)).__name__, slice(a, b)) for module, (a, b) in groups.items()]


def envelope(values: Tensor, bins: int) -> dict[str, list[float]]:
    """``values`` in ≤ ``bins`` contiguous blocks of coordinates: each block's mean, min and max
    (what a plot over every coordinate shows at screen resolution) and its first index."""
    if bins < 1:
        raise ValueError(f"bins must be ≥ 1, got {bins}")
    values = values.detach().flatten().float().cpu()
    blocks = values.tensor_split(min(bins, len(values)))
    return {"start": [0, *accumulate(len(b) for b in blocks[:-1])], "mean": [float(b.mean()) for b in blocks],
            "min": [float(b.min()) for b in blocks], "max": [float(b.max()) for b in blocks]}


def quantiles(values: Tensor, count: int = 101) -> dict[str, list[float]]:
    """``count`` evenly spaced quantiles (0 … 1) of ``values``: the sorted curve, in brief."""
    q = torch.linspace(0, 1, count, dtype=torch.float64)
    ordered = values.detach().flatten().cpu().sort().values
    return {"q": q.tolist(), "value": ordered[(q * (len(ordered) - 1)).round().long()].tolist()}


def ranked_bins(key: Tensor, values: dict[str, Tensor], bins: int = 10) -> list[dict[str, float]]:
    """Coordinates sorted by ``key`` and cut into ``bins`` equal-count groups (lowest key first); per
    group the mean of ``key`` and of every vector in ``values`` — e.g. IADD's W by decile of difference."""
    key = key.detach().flatten().cpu().double()
    values = {name: v.detach().flatten().cpu().double() for name, v in values.items()}
    return [{"key": float(key[group].mean()), **{name: float(v[group].mean()) for name, v in values.items()}}
            for group in key.argsort().tensor_split(bins)]
