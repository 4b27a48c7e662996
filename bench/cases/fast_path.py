"""The fast path — bf16 autocast + ``torch.compile`` (:mod:`reprolib.precision`) — against fp32 eager, in one run.

Every row runs a library function (``train_classifier``, ``train_teacher``, ``evaluate_synthetic``, DM's
``mean_embedding_loss``) or a network's step once per *variant* — fp32 eager, the fast path, and for the
ConvNetD3 steps the fast path on channels_last tensors — each inside ``precision.use``, and reports:

* **steady-state seconds** per call: after each variant's first call, the variants take turns for the
  timed calls and the best of each is kept (load from other work on a shared machine hits them alike);
* **warm-up**: the first call's excess over the steady state — compilation, mostly. The first row
  compiles into a fresh inductor cache (what the first run on a machine pays); later rows start from
  no compiled graph in the process but use torch's persistent inductor cache (what a rerun pays);
* **deviation** from fp32, for information: both variants' first calls start from the same seed;
* for the ConvNetD3 steps, the fraction of the device's bf16 matmul peak the fast path reaches.

Rows: ConvNetD3 (width 128, instance norm) training steps at 3×32×32 and 1×28×28; one teacher epoch
with DSA (and DSA's share of it, timed alone on the epoch's batches); the evaluation protocol with DSA;
DM's embedding (forward only); the GAN + pool networks; and one matching iteration, which stays fp32
(the trajectory engine never reads the precision setting; bf16 autocast of it is shown as information).
Where the fast path misses its target, a profile of one fast call names the ops that take the time.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bench.cases.matching import gradients, make_problem
from bench.cases.teachers import trajectory_drift
from bench.fakes import random_dataset
from bench.hardware import convnet_flops_per_image, peak_for, synchronize
from bench.measure import relative_difference
from bench.sizes import Size
from reprolib import precision
from reprolib.augment import DSA
from reprolib.distillation.distribution_matching import DistributionMatchingConfig, mean_embedding_loss
from reprolib.distillation.gradient_matching import random_network
from reprolib.distillation.trajectory import TeacherConfig, build_rule, train_teacher
from reprolib.evaluation import EvalProtocol, evaluate_synthetic
from reprolib.experiments.trajectory_matching import RuleOptions
from reprolib.generative import Discriminator, Generator, latent_codes
from reprolib.generative.training import GANConfig
from reprolib.nets import build_network
from reprolib.precision import Numerics
from reprolib.runtime import make_generator
from reprolib.train import TrainConfig, train_classifier

# The issue's CPU targets: the fast path's speed-up over fp32 eager, and the ConvNetD3 steps' share of the
# measured bf16 matmul peak. Rows without a target are reported only.
TARGETS = {"convnet_32": 5.0, "convnet_28": 5.0, "teacher_epoch": 4.0, "dm_embedding": 4.0, "gan_pool": 3.0}
EVALUATION_TARGET = 4.0
PEAK_FRACTION_TARGET = 0.30
PROFILE_OPS = 8

Call = Callable[[], object]
Variant = tuple[Numerics, Callable[[], Call]]  # the numerics a call runs in, and how to build the call


def fast_numerics(device: torch.device) -> Numerics:
    """The fast path: bf16 autocast, compiled unless ``REPROLIB_COMPILE=0`` (resolved even where bf16 is not native)."""
    return precision.resolve("bf16", device)


def _timed(call: Call, device: torch.device) -> tuple[float, object]:
    synchronize(device)
    began = time.perf_counter()
    out = call()
    synchronize(device)
    return time.perf_counter() - began, out


def compare(variants: dict[str, Variant], device: torch.device, repeats: int) -> dict:
    """Time each variant's first call, then ``repeats`` turns of every variant; the best of each.

    Returns ``{"seconds", "first_s", "outputs", "calls"}`` by variant name (outputs are the first calls') and
    ``recompiled``, the frames compiled during the timed turns (0 when they were steady state).
    Dynamo's in-process graphs are dropped first, so each comparison's warm-up is its own.
    """
    torch._dynamo.reset()
    calls, first, outputs = {}, {}, {}
    for name, (numerics, make) in variants.items():
        with precision.use(numerics):
            calls[name] = make()
            first[name], outputs[name] = _timed(calls[name], device)
    seconds = dict.fromkeys(variants, math.inf)
    compiled_before = _frames_compiled()
    for _ in range(repeats):
        for name, (numerics, _) in variants.items():
            with precision.use(numerics):
                seconds[name] = min(seconds[name], _timed(calls[name], device)[0])
    return {"seconds": seconds, "first_s": first, "outputs": outputs, "calls": calls,
            "recompiled": _frames_compiled() - compiled_before}


def _frames_compiled() -> int:
    """Frames dynamo has compiled in this process (a timed call that compiles is not steady state)."""
    return sum(torch._dynamo.utils.counters["frames"].values())


def top_ops(call: Call, numerics: Numerics, k: int = PROFILE_OPS) -> list[dict]:
    """The ``k`` ops with the most self time in one call of ``call`` under ``numerics`` (torch.profiler)."""
    with precision.use(numerics), torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        call()
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events) or 1
    return [{"op": e.key, "self_s": e.self_cpu_time_total / 1e6, "share": e.self_cpu_time_total / total}
            for e in sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:k]]


def _row(key: str, label: str, timing: dict, target: float | None, deviation: str, deviation_value: float,
         images: int | None = None) -> dict:
    """A result row: fp32 vs fast seconds, ratio, warm-up, throughput and deviation."""
    s, first = timing["seconds"], timing["first_s"]
    row = {"key": key, "case": label, "fp32_s": s["fp32"], "fast_s": s["fast"], "speedup": s["fp32"] / s["fast"],
           "target": target, "first_fp32_s": first["fp32"], "first_fast_s": first["fast"],
           "warmup_s": max(first["fast"] - s["fast"], 0.0), "recompiled_while_timed": timing["recompiled"],
           "deviation": {"what": deviation, "value": deviation_value}}
    if images:
        row |= {"images": images, "images_per_s_fp32": images / s["fp32"], "images_per_s_fast": images / s["fast"]}
    return row


def _losses_recorder() -> tuple[list[float], Callable[[Tensor, Tensor, Tensor], None]]:
    losses: list[float] = []
    return losses, lambda _idx, logits, labels: losses.append(F.cross_entropy(logits, labels).item())


def convnet_steps(key: str, channels: int, image_size: int, size: Size, device: torch.device, fast: Numerics,
                  peak: float) -> tuple[dict, dict]:
    """``fast_steps`` SGD steps of ConvNetD3 through ``train_classifier``: fp32, fast, fast on channels_last."""
    data = random_dataset(10, size.fast_batch * size.fast_steps, 1, device, channels=channels, image_size=image_size)
    config = TrainConfig(epochs=1, batch_size=size.fast_batch, schedule="constant")

    def make(memory_format: torch.memory_format) -> Callable[[], Call]:
        def build() -> Call:
            torch.manual_seed(0)
            net = build_network("convnetd3", channels, 10, image_size).to(device, memory_format=memory_format)
            x = data.train_x.contiguous(memory_format=memory_format)

            def call() -> list[float]:
                losses, record = _losses_recorder()
                train_classifier(net, x, data.train_y, config, generator=make_generator(0), on_batch=record)
                return losses
            return call
        return build

    timing = compare({"fp32": (precision.FP32, make(torch.contiguous_format)),
                      "fast": (fast, make(torch.contiguous_format)),
                      "fast_channels_last": (fast, make(torch.channels_last))}, device, size.repeats)
    images = len(data.train_x)
    flops = convnet_flops_per_image(image_size=image_size, channels=channels) * images
    out = timing["outputs"]
    row = _row(key, f"ConvNetD3 training step, {channels}×{image_size}×{image_size}, batch {size.fast_batch}", timing,
               TARGETS[key], "|loss − fp32 loss| at the last step", abs(out["fast"][-1] - out["fp32"][-1]), images)
    layout = timing["seconds"]["fast_channels_last"]
    row |= {"flops_per_call": flops, "peak_fraction_fast": flops / timing["seconds"]["fast"] / peak,
            "peak_fraction_target": PEAK_FRACTION_TARGET,
            "channels_last": {"fast_s": layout, "warmup_s": max(timing["first_s"]["fast_channels_last"] - layout, 0.0),
                              "speedup": timing["seconds"]["fp32"] / layout,
                              "loss_deviation": abs(out["fast_channels_last"][-1] - out["fp32"][-1])}}
    return row, timing


def teacher_epoch(size: Size, device: torch.device, fast: Numerics) -> tuple[dict, dict]:
    """One teacher epoch with DSA (``train_teacher``), and DSA's share of it timed alone on the same batches."""
    data = random_dataset(10, size.teacher_images, 100, device)
    config = TeacherConfig(num_teachers=1, epochs=1)
    build = lambda: lambda: train_teacher(data, config, seed=0)[0]  # noqa: E731
    timing = compare({"fp32": (precision.FP32, build), "fast": (fast, build)}, device, size.repeats)
    row = _row("teacher_epoch", f"teacher epoch with DSA, {size.teacher_images:,} images (train_teacher)", timing,
               TARGETS["teacher_epoch"], "trajectory drift (relative to the distance fp32 travelled)",
               trajectory_drift(timing["outputs"]["fast"], timing["outputs"]["fp32"]), size.teacher_images)

    dsa = DSA(config.dsa_strategy)

    def augment_epoch() -> None:  # train_classifier's draws: one permutation, then DSA per batch
        generator = make_generator(0)
        order = torch.randperm(len(data.train_x), generator=generator).to(device)
        for start in range(0, len(order), config.batch_size):
            dsa(data.train_x[order[start:start + config.batch_size]], generator)

    dsa_s = compare({"fp32": (precision.FP32, lambda: augment_epoch)}, device, size.repeats)["seconds"]["fp32"]
    row["dsa"] = {"seconds": dsa_s, "share_fast": dsa_s / row["fast_s"], "share_fp32": dsa_s / row["fp32_s"]}
    return row, timing


def evaluation(ipc: int, size: Size, device: torch.device, fast: Numerics) -> tuple[dict, dict]:
    """``evaluate_synthetic`` (``eval_nets`` networks × ``eval_epochs`` epochs, DSA) on an IPC-``ipc`` CIFAR-shaped set."""
    data = random_dataset(10, ipc * 10, size.eval_test_images, device)
    protocol = EvalProtocol(num_eval=size.eval_nets, epochs=size.eval_epochs)
    build = lambda: lambda: evaluate_synthetic(data.train_x, data.train_y, data, protocol)  # noqa: E731
    timing = compare({"fp32": (precision.FP32, build), "fast": (fast, build)}, device, 1)
    out = timing["outputs"]
    return _row(f"evaluation_{ipc}", f"evaluation protocol, IPC {ipc}, {size.eval_nets} networks × {size.eval_epochs} "
                f"epochs, DSA", timing, EVALUATION_TARGET, "|mean accuracy − fp32's| (points)",
                abs(out["fast"].mean - out["fp32"].mean)), timing


def dm_embedding(size: Size, device: torch.device, fast: Numerics) -> tuple[dict, dict]:
    """DM's embedding of a real batch per class and IPC 10 synthetic images, forward only (``mean_embedding_loss``)."""
    data = random_dataset(10, 10 * (size.dm_real_per_class + 10), 1, device)
    per_class = [data.train_x[data.train_y == c] for c in range(10)]
    real, syn = [x[:size.dm_real_per_class] for x in per_class], [x[size.dm_real_per_class:] for x in per_class]
    net = random_network(DistributionMatchingConfig(), data, 0, device).requires_grad_(False)

    def call() -> float:  # as DM's step runs it, without the backward to the images
        numerics = precision.current()
        with numerics.autocast(device):
            return float(mean_embedding_loss(real, syn, numerics.compiled(net.embed)))

    timing = compare({"fp32": (precision.FP32, lambda: call), "fast": (fast, lambda: call)}, device, size.repeats)
    out = timing["outputs"]
    return _row("dm_embedding", f"DM embedding, forward only: {size.dm_real_per_class} real + 10 synthetic images × 10 "
                "classes", timing, TARGETS["dm_embedding"], "relative difference of the loss",
                abs(out["fast"] - out["fp32"]) / abs(out["fp32"]), 10 * (size.dm_real_per_class + 10)), timing


def _network_step(net: nn.Module, inputs: Tensor, loss_fn: Callable[[object], Tensor], device: torch.device) -> Call:
    """One forward + backward of ``net`` (compiled and autocast as the precision in force says); returns the loss."""
    def call() -> float:
        numerics = precision.current()
        net.zero_grad(set_to_none=True)
        with numerics.autocast(device):
            out = numerics.compiled(net)(inputs)
        loss = loss_fn(out)
        loss.backward()
        return loss.item()
    return call


def gan_pool(size: Size, device: torch.device, fast: Numerics, after: Callable[[dict, dict], None]) -> list[dict]:
    """The networks of one GAN + pool step (stage 2), forward + backward each, at the paper's widths.

    ``reprolib.generative`` does not read the precision setting yet, so its step is not timed as a whole:
    the generator (batch B), the discriminator on real + generated images (2B) and each pool member's SGD
    step (``train_classifier``, B) are, through their public classes; the step's estimate is generator +
    discriminator + the mean member (one is drawn per step). WGAN-GP's gradient penalty is left out: its
    double backward cannot be compiled (AOTAutograd has no double backward). ``after(row, timing)`` takes
    each network's row as it is measured; the step's estimate is returned.
    """
    gan = GANConfig()
    data = random_dataset(10, 2 * size.gan_batch, 1, device)
    labels = data.train_y[:size.gan_batch]
    z = latent_codes(labels, 10, gan.latent_dim, make_generator(0))

    def generator_step() -> Call:
        torch.manual_seed(0)
        g = Generator(3, 10, 32, latent_dim=gan.latent_dim, width=gan.generator_width, mean=data.mean,
                      std=data.std).to(device)
        return _network_step(g, z, lambda images: precision.widen(images).square().mean(), device)

    def discriminator_step() -> Call:
        torch.manual_seed(0)
        d = Discriminator(3, 10, 32, width=gan.discriminator_width).to(device)
        return _network_step(d, data.train_x, lambda out: precision.widen(out[0]).mean()
                             + F.cross_entropy(precision.widen(out[1]), data.train_y), device)

    def member_step(arch: str) -> Callable[[], Call]:
        def build() -> Call:
            torch.manual_seed(0)
            net = build_network(arch, 3, 10, 32).to(device)
            config = TrainConfig(epochs=1, lr=gan.pool_lr, batch_size=size.gan_batch)
            x, y = data.train_x[:size.gan_batch], labels

            def call() -> float:
                losses, record = _losses_recorder()
                train_classifier(net, x, y, config, generator=make_generator(0), on_batch=record)
                return losses[-1]
            return call
        return build

    parts = {"generator": (f"generator (width {gan.generator_width}), batch {size.gan_batch}", generator_step),
             "discriminator": (f"discriminator (width {gan.discriminator_width}), batch {2 * size.gan_batch}",
                               discriminator_step),
             **{f"pool_{arch}": (f"pool member {arch}: one SGD step, batch {size.gan_batch}", member_step(arch))
                for arch in size.gan_pool}}
    rows = []
    for key, (label, build) in parts.items():
        timing = compare({"fp32": (precision.FP32, build), "fast": (fast, build)}, device, size.repeats)
        out = timing["outputs"]
        rows.append(_row(f"gan_{key}", label, timing, None, "relative difference of the loss",
                         abs(out["fast"] - out["fp32"]) / max(abs(out["fp32"]), 1e-12)))
        after(rows[-1], timing)
    members = [r for r in rows if r["key"].startswith("gan_pool_")]
    step = {path: rows[0][f"{path}_s"] + rows[1][f"{path}_s"] + sum(r[f"{path}_s"] for r in members) / len(members)
            for path in ("fp32", "fast")}
    total = {"key": "gan_pool", "case": "GAN + pool step: generator + discriminator + the mean pool member "
             "(gradient penalty excluded)", "fp32_s": step["fp32"], "fast_s": step["fast"],
             "speedup": step["fp32"] / step["fast"], "target": TARGETS["gan_pool"],
             "warmup_s": sum(r["warmup_s"] for r in rows), "deviation": None}
    return [total]


def matching_iteration(size: Size, device: torch.device, fast: Numerics) -> dict:
    """One MTT matching iteration at ``size.matching[0]``: fp32 and under the fast-path setting (which the
    trajectory engine ignores, so the ratio is ≈1); bf16 autocast of the unroll (eager: its double backward
    cannot be compiled) as information for a later decision, with its gradient's cosine to fp32's."""
    shape = size.matching[0]
    problem = make_problem(shape, device)
    rule = build_rule(RuleOptions().rule("mtt"), problem.model.num_params, device=device)

    def build(autocast: bool) -> Callable[[], Call]:
        def call() -> Tensor:
            context = torch.autocast(device.type, dtype=torch.bfloat16) if autocast else contextlib.nullcontext()
            with context:
                return gradients("plain", problem, rule)["images"]
        return lambda: call

    timing = compare({"fp32": (precision.FP32, build(False)), "fast": (fast, build(False)),
                      "bf16_autocast": (precision.FP32, build(True))}, device, size.repeats)
    out, seconds = timing["outputs"], timing["seconds"]
    row = _row("matching", f"matching iteration, MTT, {shape.label} (stays fp32 on the fast path)", timing, None,
               "relative difference of the image gradient", relative_difference(out["fast"], out["fp32"]))
    cosine = float(F.cosine_similarity(out["bf16_autocast"].flatten().double(), out["fp32"].flatten().double(), dim=0))
    row["bf16_autocast"] = {"seconds": seconds["bf16_autocast"], "speedup": seconds["fp32"] / seconds["bf16_autocast"],
                            "gradient_cosine": cosine}
    return row


@contextlib.contextmanager
def _fresh_inductor_cache():
    """Compile into an empty inductor cache (the cold cost of a first run); a no-op if torch lacks the hook."""
    try:
        from torch._inductor.runtime.cache_dir_utils import temporary_cache_dir
    except ImportError:
        yield False
        return
    with tempfile.TemporaryDirectory() as folder, temporary_cache_dir(folder):
        yield True


def _load() -> list[float] | None:
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


def run(size: Size, device: torch.device, info: dict) -> dict:
    fast = fast_numerics(device)
    peak, peak_kind = peak_for(info, "bf16")
    load_start = _load()
    rows: list[dict] = []

    def add(row: dict, timing: dict, target: float | None = None) -> None:
        """Keep ``row``; where the fast path misses ``target`` (the row's own by default), profile one fast call
        now, while this comparison's graphs are compiled."""
        target = row["target"] if target is None else target
        if target is not None and row["speedup"] < target:
            row["profile_fast"], row["profile_target"] = top_ops(timing["calls"]["fast"], fast), target
        rows.append(row)

    with _fresh_inductor_cache() as cold:
        row, timing = convnet_steps("convnet_32", 3, 32, size, device, fast, peak)
        add(row | {"cold_inductor_cache": cold}, timing)
    add(*convnet_steps("convnet_28", 1, 28, size, device, fast, peak))
    add(*teacher_epoch(size, device, fast))
    for ipc in size.fast_eval_ipcs:
        add(*evaluation(ipc, size, device, fast))
    add(*dm_embedding(size, device, fast))
    rows += gan_pool(size, device, fast, after=lambda row, timing: add(row, timing, TARGETS["gan_pool"]))
    rows.append(matching_iteration(size, device, fast))
    steps = [r for r in rows if "channels_last" in r]
    return {
        "fast_path": fast.describe() | {"label": fast.label(), "compile_fell_back": fast.compile and not fast.describe()["compiled"]},
        "native_bf16": precision.native_bf16(device),
        "peak": peak, "peak_kind": peak_kind,
        "load_average_start": load_start, "load_average_end": _load(),
        "memory_format_faster": {r["key"]: "channels_last" if r["channels_last"]["fast_s"] < r["fast_s"] else "contiguous"
                                 for r in steps},
        "rows": rows,
        "checks": [],
    }
