"""One matching iteration of MTT, DDPP and IADD, and IADD's runtime protocol.

*Iteration*: the unrolled student (``syn_steps`` steps on minibatches of ``batch_syn`` synthetic
images with DSA) and the gradient of the rule's loss w.r.t. the images, the step size and the rule's
own weights, in fp32 (TF32 off: "equal gradients" means equal). Three paths per shape: the
straightforward autograd unroll (:mod:`bench.reference`), the library's ``matching_gradient`` and its
memory-saving mode; seconds (best of ``repeats``), peak memory, the ratio to the reference, and a
check that all three give the same gradients.

*Runtime protocol* (IADD Sec. 4.2): whole distillation iterations of the library's ``distill`` loop
(iterations × matching steps at a batch), timed per iteration as the ``iadd-runtime`` page does.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import torch
from torch import Tensor, nn

from bench.fakes import random_dataset, random_trajectories
from bench.hardware import count_flops, peak_for
from bench.measure import best_time, check, peak_memory, precision, relative_difference
from bench.reference import autograd_unroll_gradient
from bench.sizes import MatchShape, Size
from reprolib.augment import DSA
from reprolib.distillation.trajectory import FlatModel, MatchConfig, StepPlan, TeacherConfig, build_rule, draw_plan, matching_gradient
from reprolib.distillation.trajectory.rules import METHOD_NAMES, MatchingRule
from reprolib.experiments.context import RunContext
from reprolib.experiments.trajectory_matching import RuleOptions
from reprolib.experiments.trajectory_runtime import RuntimeParams, time_method
from reprolib.nets import build_network
from reprolib.runtime import make_generator

METHODS = ("mtt", "ddpp", "iadd")
PATHS = {
    "reference": "the straightforward autograd unroll (a parameter list, a new module every step)",
    "plain": "the library's matching_gradient (one flat parameter vector, functional calls)",
    "memory_saving": "the library's memory-saving mode (one step's graph at a time, recomputed backwards)",
}
TOLERANCE = 1e-4  # relative difference of fp32 gradients
T = TypeVar("T")


@dataclass
class Problem:
    """One shape's fixed inputs: network, synthetic set, start/target parameters and step plan."""

    build: Callable[[], nn.Module]
    model: FlatModel
    images: Tensor
    labels: Tensor
    start: Tensor
    target: Tensor
    plan: list[StepPlan]
    dsa: DSA


def make_problem(shape: MatchShape, device: torch.device, seed: int = 0, image_size: int = 32,
                 **arch_options) -> Problem:
    """Random synthetic images and a start/target pair for ConvNetD3 (other ConvNets by ``arch_options``) at ``shape``."""
    generator = make_generator(seed)

    def build() -> nn.Module:
        return build_network("convnet", 3, shape.num_classes, image_size, **arch_options)

    torch.manual_seed(seed)
    model = FlatModel(build().to(device))
    n = shape.ipc * shape.num_classes
    images = torch.randn(n, 3, image_size, image_size, generator=generator).to(device)
    labels = torch.arange(shape.num_classes).repeat_interleave(shape.ipc).to(device)
    start = model.flatten()
    target = start + 0.01 * torch.randn(len(start), generator=generator).to(device)
    dsa = DSA()
    plan = draw_plan(n, shape.syn_steps, min(shape.batch_syn, n), (image_size, image_size), dsa, generator)
    return Problem(build, model, images, labels, start, target, plan, dsa)


def gradients(path: str, problem: Problem, rule: MatchingRule) -> dict[str, Tensor]:
    """Run one iteration's gradient by ``path``; the gradients w.r.t. images, step size and rule weights."""
    images = problem.images.clone().requires_grad_(True)
    syn_lr = torch.tensor(0.01, device=images.device, requires_grad=True)
    learnables = [t for t, _, _ in rule.learnables()]
    for t in learnables:
        t.grad = None

    def loss_fn(student: Tensor):
        return rule.loss(student, problem.target, problem.start)

    if path == "reference":
        autograd_unroll_gradient(problem.build, images, problem.labels, syn_lr, problem.start, problem.plan,
                                 problem.dsa, loss_fn)
    else:
        matching_gradient(problem.model, images, problem.labels, syn_lr, problem.start, problem.plan, problem.dsa,
                          loss_fn, memory_saving=path == "memory_saving")
    return {"images": images.grad, "syn_lr": syn_lr.grad, **{f"rule_{i}": t.grad for i, t in enumerate(learnables)}}


def _rule(method: str, problem: Problem, device: torch.device) -> MatchingRule:
    return build_rule(RuleOptions().rule(method), problem.model.num_params, device=device)


def _max_difference(a: dict[str, Tensor], b: dict[str, Tensor]) -> float:
    return max(relative_difference(a[key], b[key]) for key in b)


def _unless_out_of_memory(fn: Callable[[], T]) -> T | None:
    """``fn()``, or None when the device runs out of memory (the cache is emptied for the next path)."""
    try:
        return fn()
    except torch.OutOfMemoryError:
        torch.cuda.empty_cache()
        return None


def run_shape(shape: MatchShape, size: Size, device: torch.device, info: dict) -> tuple[list[dict], dict, list[dict]]:
    """Rows (one per method), the shape's summary (memory, FLOPs) and its equality checks."""
    problem = make_problem(shape, device)
    mtt = _rule("mtt", problem, device)
    flops = _unless_out_of_memory(lambda: count_flops(lambda: gradients("plain", problem, mtt)))
    peak, peak_kind = peak_for(info, "fp32")
    memory = {path: _unless_out_of_memory(lambda: peak_memory(lambda: gradients(path, problem, mtt), device))
              or {"bytes": None, "kind": "out of memory"} for path in PATHS}
    rows, checks = [], []
    for method in METHODS:
        rule = _rule(method, problem, device)
        row, results = {"shape": shape.label, "method": METHOD_NAMES[method]}, {}
        for path in PATHS:
            row[f"{path}_s"] = _unless_out_of_memory(lambda: best_time(
                lambda: results.update({path: gradients(path, problem, rule)}), device, size.repeats))
        for path in ("plain", "memory_saving"):
            ref, ours = row["reference_s"], row[f"{path}_s"]
            row[f"speedup_{path}"] = ref / ours if ref and ours else None
            row[f"flop_fraction_{path}"] = flops / ours / peak if flops and ours else None
        rows.append(row)
        for path in ("reference", "memory_saving"):
            if path in results and "plain" in results:
                checks.append(check(f"{shape.label} {METHOD_NAMES[method]}: gradients of {path} vs the library's plain",
                                    _max_difference(results[path], results["plain"]), TOLERANCE))
    summary = {"shape": shape.label, **dataclasses.asdict(shape), "flops_per_iteration": flops, "peak": peak_kind,
               "memory": memory}
    return rows, summary, checks


def run(size: Size, device: torch.device, info: dict) -> dict:
    rows, shapes, checks = [], [], []
    with precision("fp32", device):
        for shape in size.matching:
            shape_rows, summary, shape_checks = run_shape(shape, size, device, info)
            rows += shape_rows
            shapes.append(summary)
            checks += shape_checks
    return {"paths": PATHS, "rows": rows, "shapes": shapes, "checks": checks}


def run_runtime_protocol(size: Size, device: torch.device, info: dict) -> dict:
    """IADD's protocol on the library's ``distill`` loop: seconds per iteration of MTT, DDPP and IADD."""
    teachers = TeacherConfig(num_teachers=2, epochs=3)
    match = MatchConfig(iterations=size.runtime_iterations, syn_steps=size.runtime_steps, batch_syn=size.runtime_batch,
                        expert_epochs=2, max_start_epoch=1, lr_img=100.0, max_loss=1e9)
    params = RuntimeParams(dataset="random", ipcs=(size.runtime_ipc,), teachers=teachers, match=match, warmup=1)
    data = random_dataset(10, 2 * size.runtime_ipc * 10, 10, device)
    ctx = RunContext(device=device)
    with tempfile.TemporaryDirectory() as root, precision("fp32", device):
        trajectories = random_trajectories(data, teachers, root)
        rows = [time_method(method, params, size.runtime_ipc, data, trajectories, ctx) for method in METHODS]
    mtt = rows[0]["mean"]
    for row in rows:
        row["overhead_vs_mtt"] = row["mean"] / mtt - 1
    return {"shape": {"dataset": "CIFAR-10 shapes", "ipc": size.runtime_ipc, "iterations": size.runtime_iterations,
                      "syn_steps": size.runtime_steps, "batch_syn": size.runtime_batch, "network": "ConvNetD3"},
            "rows": rows}
