"""Teacher training throughput: the one-model DataLoader loop vs the library's paths.

One epoch of ConvNetD3 teachers (lr 0.01, batch 256, DSA, as REFERENCE §1) on CIFAR-10-shaped data.
Paths: the straightforward loop (:mod:`bench.reference`); ``train_teacher`` (one model, data resident
on the device); ``train_teachers`` (several teachers in one vectorised step); on CUDA also the last
two with TF32 and the batched one under bf16 autocast. Reports images/s, teacher-epochs per minute
(per 50,000-image CIFAR-10 epoch) and the achieved fraction of the device's peak FLOP/s.

channels_last is not tried: the batched path's vmap works on 5-D tensors, which have no channels_last
layout, and ``train_teacher`` builds its network itself.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from bench.fakes import random_dataset
from bench.hardware import convnet_flops_per_image, peak_for
from bench.measure import best_time, check, precision, relative_difference
from bench.reference import one_model_teacher_loop
from bench.sizes import Size
from reprolib.data import Dataset
from reprolib.distillation.trajectory import TeacherConfig, train_teacher, train_teachers

CIFAR10_EPOCH = 50_000
TOLERANCE = 1e-3  # relative distance between fp32 trajectories after an epoch of SGD
REFERENCE = "reference: one model, DataLoader"


def trajectory_drift(final: Tensor, reference: Tensor) -> float:
    """How far a trajectory ends from the reference's end, relative to how far the reference moved."""
    return relative_difference(final[-1] - reference[0], reference[-1] - reference[0])


def run(size: Size, device: torch.device, info: dict) -> dict:
    flops_per_image = convnet_flops_per_image()
    data = random_dataset(10, size.teacher_images, 10, device)  # train_teacher's test accuracy: 10 images
    warm = random_dataset(10, min(256, size.teacher_images), 10, device, seed=1)  # one batch: cuDNN autotuning, lazy init
    config = TeacherConfig(num_teachers=size.teachers_at_once, epochs=1)
    k = size.teachers_at_once
    reference = lambda d: one_model_teacher_loop(d, config, 0)  # noqa: E731 — each returns teacher 0's trajectory
    one = lambda d: train_teacher(d, config, 0)[0]  # noqa: E731
    together = lambda d: train_teachers(d, config, list(range(k)))[0][0]  # noqa: E731
    runs: dict[str, tuple[int, str, Callable[[Dataset], Tensor]]] = {  # label -> (models, precision, run)
        REFERENCE: (1, "fp32", reference),
        "library: one model (train_teacher)": (1, "fp32", one),
        f"library: {k} at once (train_teachers)": (k, "fp32", together),
    }
    if device.type == "cuda":
        runs["library: one model, TF32"] = (1, "tf32", one)
        runs[f"library: {k} at once, TF32"] = (k, "tf32", together)
        runs[f"library: {k} at once, bf16 autocast"] = (k, "bf16", together)

    rows, trajectories = [], {}
    for label, (models, mode, fn) in runs.items():
        with precision(mode, device):
            fn(warm)
            result: dict = {}
            seconds = best_time(lambda: result.update(out=fn(data)), device, size.repeats)
        trajectories[label] = result["out"]
        images_per_s = models * size.teacher_images / seconds
        peak, peak_kind = peak_for(info, mode)
        rows.append({"path": label, "models": models, "precision": mode, "seconds": seconds,
                     "images_per_s": images_per_s, "teacher_epochs_per_min": images_per_s * 60 / CIFAR10_EPOCH,
                     "flop_fraction": images_per_s * flops_per_image / peak, "peak": peak_kind})
    for row in rows:
        row["speedup"] = row["images_per_s"] / rows[0]["images_per_s"]

    base = trajectories[REFERENCE]
    checks = [check(f"teacher trajectory: {label} vs the reference loop", trajectory_drift(trajectories[label], base), TOLERANCE)
              for label, (_, mode, _) in runs.items() if mode == "fp32" and label != REFERENCE]
    deviations = {label: trajectory_drift(trajectories[label], base) for label, (_, mode, _) in runs.items() if mode != "fp32"}
    best = max(rows[1:], key=lambda r: r["images_per_s"])
    return {
        "shape": {"network": "ConvNetD3 (width 128, instance norm)", "images": size.teacher_images, "epochs": 1,
                  "batch_size": config.batch_size, "image": "3×32×32", "classes": 10, "teachers_at_once": k,
                  "flops_per_image": flops_per_image},
        "rows": rows,
        "best_library": best["path"],
        "ratio_best_library_vs_reference": best["speedup"],
        "reduced_precision_drift": deviations,
        "checks": checks,
    }
