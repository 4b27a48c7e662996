"""Trajectory-matching experiments shared by the DDPP and IADD pages: settings, distilled sets, scores.

A *setting* is one (dataset, IPC) with its teachers and matching hyper-parameters (REFERENCE §1's
table at ``paper``). A distilled set is stored under everything that determines it (data, teachers,
matching config, rule, seed, code version), so DDPP Table I, IADD Table 1 and the cross-architecture
tables share one artifact per (setting, method) and never recompute it per page. Long distillations
checkpoint into the store and resume; a diverged one becomes a row that says so.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import asdict, dataclass

import torch
from torch import Tensor

from reprolib.coreset import CORESET_METHODS, DISPLAY_NAMES as CORESET_NAMES
from reprolib.data import Dataset, check_ipcs, load_dataset
from reprolib.distillation.trajectory import (
    DistillationDiverged, DistilledSet, FlatModel, MatchConfig, RuleConfig, TeacherConfig, build_rule, distill,
    teacher_trajectories,
)
from reprolib.distillation.trajectory.rules import METHOD_NAMES, METHOD_RULES, RATIOS
from reprolib.evaluation import EvalProtocol, EvalResult, evaluate_synthetic
from reprolib.experiments import coreset_baselines as coreset
from reprolib.experiments.context import RunContext
from reprolib.train import embed

CODE_VERSION = 1  # bump when a change here alters distilled sets or scores

METHODS = tuple(METHOD_RULES)  # mtt, ddpp, iadd
# What the trajectory pages' "code" line names: MTT's, DDPP's and IADD's matching rules and the loop they share.
METHOD_FILES = ("reprolib/distillation/trajectory/rules.py", "reprolib/distillation/trajectory/engine.py")


@dataclass(frozen=True)
class Setting:
    """One (dataset, IPC) cell of a benchmark with its teachers and matching hyper-parameters."""

    dataset: str
    ipc: int
    zca: bool = False
    teachers: TeacherConfig = TeacherConfig()
    match: MatchConfig = MatchConfig()
    label: str = ""  # tells apart settings of one (dataset, IPC) in tables, e.g. the points of a tuning grid

    def validate(self) -> None:
        check_ipcs([self.dataset], [self.ipc])
        self.teachers.validate()
        self.match.validate(self.teachers)

    def protocol(self, base: EvalProtocol) -> EvalProtocol:
        """The evaluation protocol on the network the set was distilled with (as the tables do)."""
        return dataclasses.replace(base, arch=self.teachers.arch, arch_options=dict(self.teachers.arch_options))


@dataclass(frozen=True)
class RuleOptions:
    """The papers' rule options: DDPP's ε and ratio form, IADD's weight lr."""

    epsilon: float = 0.1
    ratio: str = "signed"
    lr_weight: float = 1e-4

    def rule(self, method: str) -> RuleConfig:
        return RuleConfig(METHOD_RULES[method], epsilon=self.epsilon, ratio=self.ratio, lr_weight=self.lr_weight)

    def validate(self) -> None:
        if self.ratio not in RATIOS:
            raise ValueError(f"unknown DDPP ratio {self.ratio!r}; choose one of {', '.join(RATIOS)}")
        RuleConfig("pruned", self.epsilon, self.ratio, self.lr_weight).validate()


def validate_settings(settings: tuple[Setting, ...], hint: str = "") -> None:
    """At least one setting, each valid (``hint`` is added to the empty-list message)."""
    if not settings:
        raise ValueError("settings must name at least one (dataset, ipc) setting" + (f": {hint}" if hint else ""))
    for setting in settings:
        setting.validate()


def validate_methods(methods: tuple[str, ...]) -> None:
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        raise ValueError(f"unknown trajectory-matching method(s) {unknown}; choose from {', '.join(METHODS)}")


class DatasetCache:
    """Each (dataset, ZCA) loaded once per run, on the run's device; with ``validation`` > 0 the test
    tensors are that fraction of the training set, held out (tuning never sees the test set)."""

    def __init__(self, ctx: RunContext, validation: float = 0.0):
        self.ctx, self.validation, self.loaded = ctx, validation, {}

    def __call__(self, name: str, zca: bool) -> Dataset:
        if (name, zca) not in self.loaded:
            data = load_dataset(name, zca=zca, device=self.ctx.device)
            self.loaded[(name, zca)] = data.validation_split(self.validation) if self.validation else data
        return self.loaded[(name, zca)]

    def sources(self) -> dict[str, dict]:
        """What a run record says of its data: each loaded dataset's source (with or without ZCA alike)."""
        return {name: data.source.as_dict() for (name, _), data in self.loaded.items()}


def distilled_spec(data: Dataset, setting: Setting, rule: RuleConfig, seed: int) -> dict:
    return {"data": data.spec(), "ipc": setting.ipc, "teachers": asdict(setting.teachers),
            "match": asdict(setting.match) | {"checkpoint_every": None}, "rule": rule.spec(), "seed": seed,
            "code": CODE_VERSION}


def distilled_set(data: Dataset, setting: Setting, rule: RuleConfig, seed: int, ctx: RunContext) -> DistilledSet:
    """The distilled set of ``setting`` under ``rule`` (from the store, or distilled with checkpoints)."""
    spec = distilled_spec(data, setting, rule, seed)

    def compute() -> dict:
        trajectories = teacher_trajectories(data, setting.teachers, ctx.store, seed)
        matcher = build_rule(rule, FlatModel(setting.teachers.build(data)).num_params, device=ctx.device)
        result = distill(data, setting.ipc, trajectories, setting.teachers, setting.match, matcher, seed=seed,
                         checkpoint=ctx.store.checkpoint("distilled-set", spec),
                         desc=f"{data.name} IPC {setting.ipc} {rule.name}")
        ctx.store.checkpoint("distilled-set", spec).clear()
        return result.as_tensors() | {"teacher_accuracies": trajectories.accuracies}

    return DistilledSet.from_tensors(ctx.store.cached("distilled-set", spec, compute))


def evaluate_images(images: Tensor, labels: Tensor, lr: float | None, data: Dataset, protocol: EvalProtocol,
                    seed: int, ctx: RunContext) -> EvalResult:
    """The protocol's score of a learned set (cached by the images' hash)."""
    digest = hashlib.sha256(images.detach().cpu().numpy().tobytes() + labels.cpu().numpy().tobytes()).hexdigest()
    spec = {"data": data.spec(), "images": digest, "lr": lr, "protocol": protocol.as_dict(), "seed": seed,
            "code": CODE_VERSION}

    def compute() -> dict:
        result = evaluate_synthetic(images, labels, data, protocol, lr=lr, seed=seed)
        return {"accuracies": torch.tensor(result.accuracies, dtype=torch.float64), "lr": result.lr}

    found = ctx.store.cached("evaluation", spec, compute)
    return EvalResult(tuple(found["accuracies"].tolist()), float(found["lr"]))


def trajectory_row(method: str, setting: Setting, options: RuleOptions, protocol: EvalProtocol, data: Dataset,
                   seed: int, ctx: RunContext) -> dict:
    """One reproduced cell: distil (or load), score, and record the run's cost; a divergence is a row too."""
    base = {"dataset": setting.dataset, "ipc": setting.ipc, "method": METHOD_NAMES[method], "reproduced": True}
    try:
        found = distilled_set(data, setting, options.rule(method), seed, ctx)
    except DistillationDiverged as err:
        ctx.log(str(err))
        return base | {"status": "diverged", "message": str(err)}
    result = evaluate_images(found.images, found.labels, found.syn_lr, data, setting.protocol(protocol), seed, ctx)
    ctx.log(f"{setting.dataset} IPC {setting.ipc} {METHOD_NAMES[method]}: {result}")
    history = found.history
    extra = {key: history[key][-1] for key in ("kept_fraction", "weight_mean", "weight_min", "weight_max") if key in history}
    if "kept_fraction" in history:
        extra["kept_fraction_mean"] = sum(history["kept_fraction"]) / len(history["kept_fraction"])
    return base | {"status": "ok", **result.as_dict(), "syn_lr": found.syn_lr,
                   "final_loss": history["loss"][-1], "seconds_per_iteration": found.seconds_per_iteration,
                   "peak_memory_bytes": found.peak_memory_bytes, **extra}


def coreset_rows(data: Dataset, setting: Setting, methods: tuple[str, ...], feature_model: coreset.FeatureModel,
                 protocol: EvalProtocol, seed: int, ctx: RunContext, features_cache: dict) -> list[dict]:
    """The coreset rows of a benchmark, computed by the coreset-baselines experiment's functions."""
    key = (setting.dataset, setting.zca)
    if key not in features_cache and any(m != "random" for m in methods):
        net, forgetting, _ = coreset.train_feature_model(data, feature_model, seed, ctx)
        features_cache[key] = (embed(net, data.train_x), forgetting)
    features, forgetting = features_cache.get(key, (None, None))
    rows = []
    for method in methods:
        result, draws = coreset.coreset_result(method, data, setting.ipc, features, forgetting, protocol, seed, ctx)
        rows.append({"dataset": setting.dataset, "ipc": setting.ipc, "method": CORESET_NAMES[method],
                     "reproduced": True, "status": "ok", **result.as_dict(), "selections": draws})
    return rows


def full_dataset_row(data: Dataset, setting: Setting, protocol: EvalProtocol, epochs: int, seed: int,
                     ctx: RunContext) -> dict:
    """The "Full Dataset" row: the protocol's networks trained on the whole training set for ``epochs``."""
    result = evaluate_images(data.train_x, data.train_y, None, data, dataclasses.replace(protocol, epochs=epochs), seed, ctx)
    return {"dataset": setting.dataset, "ipc": None, "method": "Full Dataset", "reproduced": True, "status": "ok",
            **result.as_dict(), "epochs": epochs}


def validate_coreset_methods(methods: tuple[str, ...]) -> None:
    unknown = sorted(set(methods) - set(CORESET_METHODS))
    if unknown:
        raise ValueError(f"unknown coreset method(s) {unknown}; choose from {', '.join(CORESET_METHODS)}")
