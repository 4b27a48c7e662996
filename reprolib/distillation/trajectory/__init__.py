"""Trajectory matching (MTT) and its two matching rules, DDPP (``pruned``) and IADD (``weighted``).

One engine serves all three methods (DESIGN: "DDPP and IADD are two matching rules on one
trajectory-matching engine"):

* ``flat``     — a network driven by one flat parameter vector (``torch.func.functional_call``);
* ``teachers`` — teacher ("expert") trajectories: per-epoch parameter snapshots, one stored shard
  per teacher, so an interrupted run keeps the teachers it finished;
* ``unroll``   — the differentiable student unroll and its gradient, in the plain (keep every step's
  graph) or the memory-saving (recompute each step backwards) mode, which give the same gradient;
* ``rules``    — the matching losses: ``mtt``, ``pruned`` (DDPP), ``weighted`` (IADD);
* ``engine``   — the distillation loop: optimisers, random teacher/start epoch, checkpoints and
  resume, divergence stop.
"""

from reprolib.distillation.trajectory.engine import DistillationDiverged, DistilledSet, MatchConfig, distill
from reprolib.distillation.trajectory.flat import FlatModel
from reprolib.distillation.trajectory.rules import RULES, MatchingRule, MTTRule, PrunedRule, RuleConfig, WeightedRule, build_rule
from reprolib.distillation.trajectory.teachers import TeacherConfig, Trajectories, train_teacher, train_teachers, teacher_trajectories
from reprolib.distillation.trajectory.unroll import StepPlan, draw_plan, matching_gradient, unroll

__all__ = [
    "RULES", "DistillationDiverged", "DistilledSet", "FlatModel", "MTTRule", "MatchConfig", "MatchingRule",
    "PrunedRule", "RuleConfig", "StepPlan", "TeacherConfig", "Trajectories", "WeightedRule", "build_rule",
    "distill", "draw_plan", "matching_gradient", "teacher_trajectories", "train_teacher", "train_teachers", "unroll",
]
