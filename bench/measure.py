"""Timing, peak memory and numeric precision for the benchmark cases.

* :func:`best_time`: the minimum over repeats of a synchronised wall-clock time (the minimum is the
  least disturbed by other work on a shared machine);
* :func:`peak_memory`: on CUDA the allocator's peak; on a CPU, which has no such counter, the peak of
  the bytes held by the autograd graph (:class:`GraphMemory`) — the part of the unroll's memory that
  grows with steps × batch and that the memory-saving mode removes;
* :func:`precision`: fp32 (TF32 off, so "equal gradients" means equal), tf32, or bf16 autocast.
"""

from __future__ import annotations

import time
import warnings
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import Tensor

from bench.hardware import synchronize

PRECISIONS = ("fp32", "tf32", "bf16")


def best_time(fn: Callable[[], object], device: torch.device, repeats: int) -> float:
    """Seconds of the fastest of ``repeats`` calls of ``fn`` (device synchronised around each)."""
    best = float("inf")
    for _ in range(repeats):
        synchronize(device)
        began = time.perf_counter()
        fn()
        synchronize(device)
        best = min(best, time.perf_counter() - began)
    return best


class GraphMemory:
    """Peak bytes of the storages the autograd graph holds while the context is active.

    Saved-tensor hooks see every tensor autograd keeps for backward; storages are counted once
    however many saved views share them, and released when the graph drops its last reference.
    """

    def __init__(self) -> None:
        self.current = self.peak = 0
        self._refs: dict[int, list[int]] = {}  # storage address -> [bytes, references]

    def _pack(self, tensor: Tensor) -> object:
        storage = tensor.untyped_storage()
        key = storage.data_ptr()
        entry = self._refs.setdefault(key, [storage.nbytes(), 0])
        if entry[1] == 0:
            self.current += entry[0]
            self.peak = max(self.peak, self.current)
        entry[1] += 1
        holder = _Saved(tensor)
        weakref.finalize(holder, self._release, key)
        return holder

    def _release(self, key: int) -> None:
        entry = self._refs[key]
        entry[1] -= 1
        if entry[1] == 0:
            self.current -= entry[0]
            del self._refs[key]

    @contextmanager
    def track(self) -> Iterator["GraphMemory"]:
        with torch.autograd.graph.saved_tensors_hooks(self._pack, lambda holder: holder.tensor):
            yield self


class _Saved:
    __slots__ = ("tensor", "__weakref__")

    def __init__(self, tensor: Tensor):
        self.tensor = tensor


def peak_memory(fn: Callable[[], object], device: torch.device) -> dict:
    """Peak memory of one call of ``fn``: ``{"bytes": ..., "kind": ...}``."""
    if device.type == "cuda":
        synchronize(device)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        synchronize(device)
        return {"bytes": torch.cuda.max_memory_allocated(device), "kind": "CUDA allocator peak (all tensors)"}
    tracker = GraphMemory()
    with tracker.track():
        fn()
    return {"bytes": tracker.peak, "kind": "autograd-graph peak (saved tensors; CPU has no allocator counter)"}


@contextmanager
def precision(mode: str, device: torch.device) -> Iterator[None]:
    """Run the body at ``mode``: 'fp32' (TF32 off for matmul and cuDNN), 'tf32' (on), 'bf16' (autocast)."""
    if mode not in PRECISIONS:
        raise ValueError(f"unknown precision {mode!r}; choose one of {', '.join(PRECISIONS)}")
    flags = torch.backends.cuda.matmul, torch.backends.cudnn
    previous = [f.allow_tf32 for f in flags]
    with warnings.catch_warnings():  # newer torch prefers fp32_precision; the flags still work
        warnings.simplefilter("ignore")
        for f in flags:
            f.allow_tf32 = mode != "fp32"
    try:
        if mode == "bf16":
            with torch.autocast(device.type, dtype=torch.bfloat16):
                yield
        else:
            yield
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for f, value in zip(flags, previous):
                f.allow_tf32 = value


def relative_difference(a: Tensor, b: Tensor) -> float:
    """‖a − b‖ / ‖b‖ (0 when both are zero): how far a result is from its reference."""
    a, b = a.detach().double().cpu(), b.detach().double().cpu()
    scale = float(b.norm())
    return float((a - b).norm()) / scale if scale else float((a - b).norm())


def check(what: str, difference: float, tolerance: float) -> dict:
    """One equality check of the run: a library path against its reference, within ``tolerance``."""
    return {"what": what, "difference": difference, "tolerance": tolerance, "ok": bool(difference <= tolerance)}
