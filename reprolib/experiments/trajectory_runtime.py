"""IADD's runtime comparison (Sec. 4.2): seconds per distillation iteration of MTT, DDPP and IADD.

The paper times 10 iterations × 50 matching steps with batch 100 on an RTX A6000. Here each method
runs ``iterations`` timed iterations (after ``warmup`` untimed ones) on the device at hand, from the
same teachers; the record gives mean ± std seconds per iteration and, on CUDA, the peak memory.
Timings are measured fresh each run (never cached); the teachers come from the store.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from dataclasses import dataclass

import torch

from reprolib.artifacts import Artifact
from reprolib.distillation.trajectory import FlatModel, MatchConfig, TeacherConfig, build_rule, distill, teacher_trajectories
from reprolib.distillation.trajectory.rules import METHOD_NAMES
from reprolib.experiments import trajectory_matching as tm
from reprolib.experiments.context import RunContext
from reprolib.pages import trajectory_matching as page


@dataclass(frozen=True)
class RuntimeParams:
    dataset: str = "cifar10"
    ipcs: tuple[int, ...] = (10,)
    zca: bool = False
    teachers: TeacherConfig = TeacherConfig()
    match: MatchConfig = MatchConfig(iterations=10, syn_steps=50, batch_syn=100)
    warmup: int = 1
    methods: tuple[str, ...] = ("mtt", "ddpp", "iadd")
    rules: tm.RuleOptions = tm.RuleOptions()
    seed: int = 0

    def validate(self) -> None:
        for ipc in self.ipcs:
            tm.Setting(self.dataset, ipc, self.zca, self.teachers, self.match).validate()
        if self.warmup < 0:
            raise ValueError(f"warmup must be ≥ 0, got {self.warmup}")
        tm.validate_methods(self.methods)
        self.rules.validate()


def time_method(method: str, params: RuntimeParams, ipc: int, data, trajectories, ctx: RunContext) -> dict:
    """Per-iteration wall times of one method (device synchronised at each iteration's end)."""
    config = dataclasses.replace(params.match, iterations=params.warmup + params.match.iterations,
                                 checkpoint_every=10**9, batch_syn=min(params.match.batch_syn or 10**9, ipc * data.num_classes))
    rule = build_rule(params.rules.rule(method), FlatModel(params.teachers.build(data)).num_params, device=ctx.device)
    stamps = []

    def stamp(*_) -> None:
        if ctx.device.type == "cuda":
            torch.cuda.synchronize(ctx.device)
        stamps.append(time.perf_counter())

    stamp()
    result = distill(data, ipc, trajectories, params.teachers, config, rule, seed=params.seed, on_iteration=stamp,
                     desc=f"time {method}")
    seconds = [b - a for a, b in zip(stamps, stamps[1:])][params.warmup:]
    return {"method": METHOD_NAMES[method], "ipc": ipc, "mean": statistics.fmean(seconds),
            "std": statistics.pstdev(seconds), "n": len(seconds), "seconds": seconds,
            "peak_memory_bytes": result.peak_memory_bytes, "batch_syn": config.batch_syn}


def run(params: RuntimeParams, ctx: RunContext) -> dict:
    data = tm.DatasetCache(ctx)(params.dataset, params.zca)
    trajectories = teacher_trajectories(data, params.teachers, ctx.store, params.seed)
    rows = [time_method(m, params, ipc, data, trajectories, ctx) for ipc in params.ipcs for m in params.methods]
    shape = {"dataset": params.dataset, "syn_steps": params.match.syn_steps, "batch_syn": params.match.batch_syn,
             "iterations": params.match.iterations, "arch": params.teachers.arch, "arch_options": params.teachers.arch_options,
             "memory_saving": params.match.memory_saving}
    return {"data_source": {params.dataset: data.source.as_dict()}, "metrics": {"rows": rows, "shape": shape}}


ARTIFACTS = [
    Artifact(
        name="iadd-runtime",
        paper="iadd",
        title="IADD Sec. 4.2: distillation runtime of MTT, DDPP and IADD",
        notebook="iadd/runtime.ipynb",
        params=RuntimeParams,
        run=run,
        paper_values=lambda: page.published_values("iadd", "runtime_text"),
        claims=page.runtime_claims,
        method_files=tm.METHOD_FILES,
    )
]
