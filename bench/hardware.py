"""The machine a benchmark ran on, its peak FLOP/s, and how many FLOPs the ConvNet work takes.

The peak is a *physical limit* to compare achieved throughput with: for known GPUs the vendor's dense
figure per precision (:data:`VENDOR_PEAKS`); on every device also measured fp32 and bf16 matmul rates
(the practical ceiling of a large GEMM), which are the only peaks given for a CPU (bf16 runs on AMX /
AVX-512-BF16 units where the CPU has them, ≈5× its fp32 rate).
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from reprolib.nets import build_network
from reprolib.precision import native_bf16
from reprolib.records import git_commit, versions
from reprolib.runtime import device_description

TERA = 1e12

# Dense peak FLOP/s by precision (structured-sparsity figures halved), from NVIDIA's datasheets:
# H100 SXM5 / H200 SXM: FP32 67, TF32 989*, BF16 1,979* TFLOPS (* with sparsity); H100 PCIe: FP32 51,
# TF32 756*, BF16 1,513*; A100 (40/80 GB): FP32 19.5, TF32 156, BF16 312 (dense); RTX A6000: FP32 38.7
# TFLOPS (its tensor figures are only quoted with sparsity and FP16, so TF32/BF16 are left out).
# Matched in order against torch.cuda.get_device_name().
VENDOR_PEAKS: tuple[tuple[str, dict[str, float]], ...] = (
    ("H100 PCIe", {"fp32": 51 * TERA, "tf32": 378 * TERA, "bf16": 756.5 * TERA}),
    ("H100", {"fp32": 67 * TERA, "tf32": 494.5 * TERA, "bf16": 989.5 * TERA}),
    ("H200", {"fp32": 67 * TERA, "tf32": 494.5 * TERA, "bf16": 989.5 * TERA}),
    ("A100", {"fp32": 19.5 * TERA, "tf32": 156 * TERA, "bf16": 312 * TERA}),
    ("RTX A6000", {"fp32": 38.7 * TERA}),
)


def vendor_peaks(device: torch.device) -> dict[str, float]:
    """The vendor's dense peak FLOP/s by precision for this GPU ({} for a CPU or an unknown GPU)."""
    if device.type != "cuda":
        return {}
    name = torch.cuda.get_device_name(device)
    return next((dict(peaks) for key, peaks in VENDOR_PEAKS if key in name), {})


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_rate(device: torch.device, n: int | None = None, repeats: int = 5, dtype: torch.dtype = torch.float32) -> float:
    """Measured FLOP/s of an n×n matmul in ``dtype`` (TF32 off), the best of ``repeats``."""
    n = n or (8192 if device.type == "cuda" else 1024)
    a, b = (torch.randn(n, n, device=device).to(dtype) for _ in range(2))
    previous = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        a @ b
        best = float("inf")
        for _ in range(repeats):
            synchronize(device)
            began = time.perf_counter()
            a @ b
            synchronize(device)
            best = min(best, time.perf_counter() - began)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = previous
    return 2 * n**3 / best


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs (forward and backward, double backward included) of one call of ``fn``, by torch's counter."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def convnet_flops_per_image(num_classes: int = 10, image_size: int = 32, channels: int = 3) -> int:
    """FLOPs of one forward + backward of ConvNetD3 (width 128) on one channels×image_size² image
    (≈0.30 G at 3×32×32)."""
    net = build_network("convnetd3", channels, num_classes, image_size)
    x, y = torch.randn(1, channels, image_size, image_size), torch.zeros(1, dtype=torch.long)
    return count_flops(lambda: F.cross_entropy(net(x), y).backward())


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe(device: torch.device) -> dict:
    """Device, threads, load, versions and commit, as the result JSON records them."""
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        name, memory = props.name, props.total_memory
    else:
        name, memory = _cpu_name(), None
    return {
        "type": device.type,
        "description": device_description(device),
        "name": name,
        "memory_bytes": memory,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "vendor_peak_flops": vendor_peaks(device),
        "measured_matmul_fp32_flops": matmul_rate(device),
        "measured_matmul_bf16_flops": matmul_rate(device, repeats=10, dtype=torch.bfloat16),
        "native_bf16": native_bf16(device),
        "versions": versions() | ({"cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version()}
                                  if device.type == "cuda" else {}),
        "git_commit": git_commit(),
        "platform": platform.platform(),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def peak_for(device_info: dict, precision: str = "fp32") -> tuple[float, str]:
    """The peak to compare a run at ``precision`` with: the vendor's figure when known, else the
    measured matmul rate at that precision (bf16, or fp32 for the rest); and which one it is."""
    vendor = device_info.get("vendor_peak_flops") or {}
    if precision in vendor:
        return vendor[precision], f"vendor {precision} peak"
    if precision == "bf16" and device_info.get("measured_matmul_bf16_flops"):
        return device_info["measured_matmul_bf16_flops"], "measured bf16 matmul"
    return device_info["measured_matmul_fp32_flops"], "measured fp32 matmul"
