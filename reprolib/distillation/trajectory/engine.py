"""The distillation loop shared by MTT, DDPP and IADD (REFERENCE §1), with checkpoints and a divergence stop.

Per iteration: a random teacher and start epoch i < ``max_start_epoch``; θ_start = snapshot i,
θ_target = snapshot i + ``expert_epochs``; ``syn_steps`` differentiable student steps on DSA-augmented
minibatches of the synthetic set with the learnable step size α; the rule's loss; one momentum-SGD
step on the images (``lr_img``), on α (``lr_lr``) and on the rule's own tensors.

Every random draw comes from one CPU generator whose state is checkpointed with the images, α, the
rule's state and the optimisers' momenta every ``checkpoint_every`` iterations, so an interrupted run
resumes bit-exactly on the CPU. A non-finite or exploding loss (> ``max_loss``) stops the run with
:class:`DistillationDiverged`, leaving the last good checkpoint in place.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from reprolib.augment import DEFAULT_STRATEGY, DSA
from reprolib.data import Dataset
from reprolib.distillation.synthetic import INITS, init_synthetic
from reprolib.distillation.trajectory.flat import FlatModel
from reprolib.distillation.trajectory.rules import MatchingRule
from reprolib.distillation.trajectory.teachers import TeacherConfig, Trajectories
from reprolib.distillation.trajectory.unroll import draw_plan, matching_gradient
from reprolib.runtime import make_generator, progress
from reprolib.store import Checkpoint


class DistillationDiverged(RuntimeError):
    """The matching loss became non-finite or exploded; the message says where and what was kept."""


@dataclass(frozen=True)
class MatchConfig:
    """The matching loop's hyper-parameters (names as in MTT's code; ``batch_syn`` 0 = all images)."""

    iterations: int = 5000
    syn_steps: int = 20
    expert_epochs: int = 2
    max_start_epoch: int = 20
    lr_img: float = 1000.0
    lr_lr: float = 1e-5
    lr_init: float = 0.01  # the learnable step size α starts at the teachers' lr
    batch_syn: int = 0
    momentum: float = 0.5
    init: str = "real"
    dsa: bool = True
    dsa_strategy: str = DEFAULT_STRATEGY
    memory_saving: bool = False
    checkpoint_every: int = 200
    max_loss: float = 100.0

    def validate(self, teachers: TeacherConfig | None = None) -> None:
        positive = ("iterations", "syn_steps", "expert_epochs", "max_start_epoch", "checkpoint_every")
        bad = [name for name in positive if getattr(self, name) < 1]
        if bad:
            raise ValueError(f"{', '.join(bad)} must be ≥ 1; got {self}")
        if self.lr_img <= 0 or self.lr_lr < 0 or self.lr_init <= 0 or self.batch_syn < 0 or self.max_loss <= 0:
            raise ValueError(f"lr_img, lr_init, max_loss must be > 0 and lr_lr, batch_syn ≥ 0; got {self}")
        if self.init not in INITS:
            raise ValueError(f"unknown synthetic init {self.init!r}; choose one of {', '.join(INITS)}")
        if teachers is not None and self.max_start_epoch + self.expert_epochs > teachers.epochs:
            raise ValueError(
                f"max_start_epoch ({self.max_start_epoch}) + expert_epochs ({self.expert_epochs}) exceeds the "
                f"teachers' {teachers.epochs} epochs: lower them or train longer teachers")


@dataclass
class DistilledSet:
    """The result: images, labels, learned step size, the rule's state (IADD's W) and the loss history."""

    images: Tensor
    labels: Tensor
    syn_lr: float
    rule_state: dict[str, Tensor]
    history: dict[str, list[float]] = field(default_factory=dict)
    seconds_per_iteration: float = 0.0
    peak_memory_bytes: int | None = None

    def as_tensors(self) -> dict:
        return {"images": self.images, "labels": self.labels, "syn_lr": self.syn_lr, "rule_state": self.rule_state,
                "history": self.history, "seconds_per_iteration": self.seconds_per_iteration,
                "peak_memory_bytes": self.peak_memory_bytes}

    @classmethod
    def from_tensors(cls, found: dict) -> "DistilledSet":
        return cls(found["images"], found["labels"], float(found["syn_lr"]), dict(found["rule_state"]),
                   dict(found["history"]), float(found["seconds_per_iteration"]), found["peak_memory_bytes"])


IterationHook = Callable[[int, dict], None]
"""Called after each completed iteration with (iteration index, its statistics)."""


def distill(data: Dataset, ipc: int, trajectories: Trajectories, teachers: TeacherConfig, config: MatchConfig,
            rule: MatchingRule, *, seed: int = 0, checkpoint: Checkpoint | None = None,
            on_iteration: IterationHook | None = None, desc: str = "distill") -> DistilledSet:
    """Learn ``ipc`` images per class by trajectory matching with ``rule``; resumes from ``checkpoint``."""
    config.validate(teachers)
    device = data.device
    generator = make_generator(seed)
    images, labels = init_synthetic(data, ipc, generator, config.init)
    syn_lr = torch.tensor(config.lr_init, device=device, requires_grad=True)
    optimizers = [torch.optim.SGD([images], lr=config.lr_img, momentum=config.momentum),
                  torch.optim.SGD([syn_lr], lr=config.lr_lr, momentum=config.momentum)]
    optimizers += [torch.optim.SGD([t], lr=lr, momentum=m) for t, lr, m in rule.learnables()]
    model = FlatModel(teachers.build(data).to(device))
    dsa = DSA(config.dsa_strategy) if config.dsa else None
    batch_syn = config.batch_syn or len(images)
    history: dict[str, list[float]] = {"loss": [], "syn_lr": []}
    first = 0

    def save(iteration: int) -> None:
        if checkpoint is not None:
            checkpoint.save({
                "iteration": iteration, "images": images.detach().cpu(), "syn_lr": syn_lr.detach().cpu(),
                "rule_state": rule.state(), "optimizers": [o.state_dict() for o in optimizers],
                "generator": generator.get_state(), "history": history,
            })

    state = checkpoint.load() if checkpoint is not None else None
    last_saved = None
    if state is not None:
        with torch.no_grad():
            images.copy_(state["images"])
            syn_lr.copy_(state["syn_lr"])
        rule.load_state(state["rule_state"])
        for optimizer, saved in zip(optimizers, state["optimizers"]):
            optimizer.load_state_dict(saved)
        generator.set_state(state["generator"])
        history, first = {k: list(v) for k, v in state["history"].items()}, int(state["iteration"])
        last_saved = first

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    started = time.perf_counter()
    bar = progress(range(first, config.iterations), desc=desc, initial=first, total=config.iterations)
    for iteration in bar:
        teacher = int(torch.randint(len(trajectories), (1,), generator=generator))
        start_epoch = int(torch.randint(config.max_start_epoch, (1,), generator=generator))
        trajectory = trajectories.trajectory(teacher)
        start = trajectory[start_epoch].to(device)
        target = trajectory[start_epoch + config.expert_epochs].to(device)
        plan = draw_plan(len(images), config.syn_steps, batch_syn, data.image_size, dsa, generator)
        for optimizer in optimizers:
            optimizer.zero_grad(set_to_none=True)
        loss, stats = matching_gradient(
            model, images, labels, syn_lr, start, plan, dsa,
            lambda student: rule.loss(student, target, start), memory_saving=config.memory_saving)
        value = float(loss)
        problem = _divergence(value, optimizers, config.max_loss)
        if problem:
            kept = ("no checkpoint was configured" if checkpoint is None else
                    "no checkpoint was saved yet" if last_saved is None else
                    f"the last good checkpoint (iteration {last_saved}) is kept in the store")
            raise DistillationDiverged(
                f"{desc}: {problem} at iteration {iteration}; {kept}. Lower lr_img or lr_lr (or, for DDPP, "
                f"epsilon: the DDPP paper reports that pruning too many parameters crashes training).")
        for optimizer in optimizers:
            optimizer.step()
        history["loss"].append(value)
        history["syn_lr"].append(float(syn_lr.detach()))
        for key, v in stats.items():
            history.setdefault(key, []).append(v)
        bar.set_postfix(loss=f"{value:.3f}", lr=f"{float(syn_lr.detach()):.2e}", **{k: f"{v:.3g}" for k, v in stats.items()})
        if on_iteration is not None:
            on_iteration(iteration, {"loss": value, **stats})
        if (iteration + 1) % config.checkpoint_every == 0 and iteration + 1 < config.iterations:
            save(iteration + 1)
            last_saved = iteration + 1
    run = config.iterations - first
    return DistilledSet(
        images.detach().cpu(), labels.cpu(), float(syn_lr.detach()), rule.state(), history,
        seconds_per_iteration=(time.perf_counter() - started) / max(1, run),
        peak_memory_bytes=torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None)


def _divergence(loss: float, optimizers: list[torch.optim.Optimizer], max_loss: float) -> str | None:
    """Why this iteration must not be applied, or None when the loss and every gradient are fine."""
    if loss != loss or loss in (float("inf"), float("-inf")):
        return f"the matching loss became non-finite ({loss})"
    grads = [p.grad for o in optimizers for g in o.param_groups for p in g["params"] if p.grad is not None]
    if not all(bool(torch.isfinite(g).all()) for g in grads):
        return "a gradient became non-finite"
    if loss > max_loss:
        return f"the matching loss exploded to {loss:.3g} (> max_loss={max_loss:g})"
    return None
