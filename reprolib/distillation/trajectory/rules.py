"""Matching rules: how the student's final parameters are compared with the teacher's.

Each rule is an object with ``loss(student, target, start) -> (loss, statistics)``, any learnable
tensors of its own (``learnables``: tensor and its SGD lr) and a ``state`` saved with the distilled
set. The engine is the same for all of them.

* ``mtt`` (Cazenavette et al. 2022): ||θ̃_J − θ_{i+K}||² / ||θ_i − θ_{i+K}||².
* ``pruned`` (DDPP, Li et al. 2023): coordinates whose student/teacher ratio θ̃/θ or θ/θ̃ is below ε
  are "difficult to match" and dropped from student, target and start alike; the loss is MTT's over
  the kept coordinates. The mask is recomputed every iteration (no gradient through it): the paper
  does not say whether it accumulates. ``ratio='signed'`` is the paper's formula literally (so a
  coordinate whose sign differs is always dropped); ``ratio='magnitude'`` compares |θ̃|/|θ|, with
  which ε = 0 drops nothing and the rule is exactly MTT.
* ``weighted`` (IADD, Li et al. 2024): a learnable vector W (initialised to ones, its own small lr,
  1e-4 in the paper) multiplies student and target: ||W⊙θ̃_J − W⊙θ_{i+K}||² / ||θ_i − θ_{i+K}||²,
  the denominator unweighted. With W ≡ 1 (untrained) this is MTT's loss exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

RULES = ("mtt", "pruned", "weighted")
RATIOS = ("signed", "magnitude")
METHOD_RULES = {"mtt": "mtt", "ddpp": "pruned", "iadd": "weighted"}  # the papers' method → rule
METHOD_NAMES = {"mtt": "MTT", "ddpp": "DDPP", "iadd": "IADD"}


@dataclass(frozen=True)
class RuleConfig:
    """Which rule, with its options (ε and ratio for ``pruned``, the weights' lr for ``weighted``)."""

    name: str = "mtt"
    epsilon: float = 0.1
    ratio: str = "signed"
    lr_weight: float = 1e-4
    momentum_weight: float = 0.5

    def validate(self) -> None:
        if self.name not in RULES:
            raise ValueError(f"unknown matching rule {self.name!r}; choose one of {', '.join(RULES)}")
        if self.ratio not in RATIOS:
            raise ValueError(f"unknown DDPP ratio {self.ratio!r}; choose one of {', '.join(RATIOS)}")
        if not 0 <= self.epsilon < 1:
            raise ValueError(f"DDPP's epsilon must be in [0, 1) (the paper uses 0.1), got {self.epsilon}")
        if self.lr_weight < 0:
            raise ValueError(f"IADD's weight lr must be ≥ 0 (the paper uses 1e-4), got {self.lr_weight}")

    def spec(self) -> dict:
        """Only the options the rule uses, so e.g. MTT's artifacts do not depend on ε."""
        if self.name == "pruned":
            return {"name": self.name, "epsilon": self.epsilon, "ratio": self.ratio}
        if self.name == "weighted":
            return {"name": self.name, "lr_weight": self.lr_weight, "momentum_weight": self.momentum_weight}
        return {"name": self.name}


def _normalised(numerator: Tensor, denominator: Tensor) -> Tensor:
    return numerator / denominator


class MatchingRule:
    """MTT's rule; the base of the others."""

    name = "mtt"

    def learnables(self) -> list[tuple[Tensor, float, float]]:
        """(tensor, lr, momentum) of each learnable tensor the rule owns."""
        return []

    def state(self) -> dict[str, Tensor]:
        return {}

    def load_state(self, state: dict[str, Tensor]) -> None:
        pass

    def loss(self, student: Tensor, target: Tensor, start: Tensor) -> tuple[Tensor, dict]:
        return _normalised(((student - target) ** 2).sum(), ((start - target) ** 2).sum()), {}


MTTRule = MatchingRule


class PrunedRule(MatchingRule):
    """DDPP: drop the difficult-to-match coordinates, then MTT's loss over the rest."""

    name = "pruned"

    def __init__(self, epsilon: float = 0.1, ratio: str = "signed"):
        self.epsilon, self.ratio = epsilon, ratio

    @torch.no_grad()
    def keep_mask(self, student: Tensor, target: Tensor) -> Tensor:
        """True where the coordinate is kept: both θ̃/θ and θ/θ̃ are ≥ ε (0/0 counts as matched)."""
        a, b = (student.abs(), target.abs()) if self.ratio == "magnitude" else (student, target)
        difficult = (a / b < self.epsilon) | (b / a < self.epsilon)
        return ~difficult

    def loss(self, student: Tensor, target: Tensor, start: Tensor) -> tuple[Tensor, dict]:
        keep = self.keep_mask(student.detach(), target)
        if not keep.any():
            raise FloatingPointError("DDPP pruned every parameter (no coordinate passes the ε test); lower epsilon")
        loss = _normalised(((student - target)[keep] ** 2).sum(), ((start - target)[keep] ** 2).sum())
        return loss, {"kept_fraction": keep.float().mean().item()}


class WeightedRule(MatchingRule):
    """IADD: a learnable per-parameter weight on student and target, unweighted denominator."""

    name = "weighted"

    def __init__(self, num_params: int, lr: float = 1e-4, momentum: float = 0.5, device=None, dtype=torch.float32):
        self.weights = torch.ones(num_params, device=device, dtype=dtype, requires_grad=True)
        self.lr, self.momentum = lr, momentum

    def learnables(self) -> list[tuple[Tensor, float, float]]:
        return [(self.weights, self.lr, self.momentum)] if self.lr > 0 else []

    def state(self) -> dict[str, Tensor]:
        return {"weights": self.weights.detach().cpu()}

    def load_state(self, state: dict[str, Tensor]) -> None:
        with torch.no_grad():
            self.weights.copy_(state["weights"])

    def loss(self, student: Tensor, target: Tensor, start: Tensor) -> tuple[Tensor, dict]:
        w = self.weights
        loss = _normalised(((w * student - w * target) ** 2).sum(), ((start - target) ** 2).sum())
        wd = w.detach()
        return loss, {"weight_mean": wd.mean().item(), "weight_min": wd.min().item(), "weight_max": wd.max().item()}


def build_rule(config: RuleConfig, num_params: int, device=None, dtype=torch.float32) -> MatchingRule:
    """A fresh rule object for a network of ``num_params`` parameters."""
    config.validate()
    if config.name == "pruned":
        return PrunedRule(config.epsilon, config.ratio)
    if config.name == "weighted":
        return WeightedRule(num_params, config.lr_weight, config.momentum_weight, device, dtype)
    return MatchingRule()
