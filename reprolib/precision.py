"""Numerical precision of every loop that trains or runs a network on data.

One setting, ``precision: auto | bf16 | fp32``, chooses how :mod:`reprolib.train` (and through it
teachers, the evaluation protocol, full-data rows, coreset feature models, DC/DSA inner loops and
dataset pruning's models) and DM's embeddings run:

- ``fp32``: float32, eager — the numerics every parity test pins;
- ``bf16``: bfloat16 autocast for the network's forward and backward (losses, optimiser state and
  parameters stay float32) with the network compiled by ``torch.compile`` (inductor);
- ``auto``: ``bf16`` where the device multiplies bf16 natively (CPUs with AMX or AVX-512-BF16,
  bf16-capable GPUs), ``fp32`` elsewhere.

On the 2-core Xeon this project runs on, bf16 + compile trains ConvNetD3 ≈5× faster than fp32 eager
(``python -m bench``; the book's Performance page). Compilation is dropped for eager, with one warning,
when no compiler works; ``REPROLIB_COMPILE=0`` turns it off by hand. Trajectory matching's unrolled
differentiation never reads this setting: it stays float32 (its gradient is what the papers match).

The setting is a context (:func:`use`), entered by the runner for a whole artifact, so every cache
key computed inside it names the precision (:meth:`Numerics.cache_key`) and the run record states it.
Outside any context the library runs ``fp32``.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass

import torch
from torch import Tensor

PRECISIONS = ("auto", "bf16", "fp32")


def native_bf16(device: torch.device | str) -> bool:
    """Whether ``device`` multiplies bf16 matrices natively (so bf16 is worth its rounding)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        cpu = getattr(torch, "cpu", None)
        checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
        return any(bool(getattr(cpu, name, lambda: False)()) for name in checks)
    return False


def _compile_allowed() -> bool:
    return os.environ.get("REPROLIB_COMPILE", "1").strip().lower() not in ("0", "false", "no", "off")


@dataclass(frozen=True)
class Numerics:
    """A resolved precision: ``precision`` is 'bf16' or 'fp32'; ``compile`` whether networks are compiled."""

    precision: str = "fp32"
    compile: bool = False

    def __post_init__(self) -> None:
        if self.precision not in ("bf16", "fp32"):
            raise ValueError(f"a resolved precision is 'bf16' or 'fp32', not {self.precision!r}")

    @property
    def dtype(self) -> torch.dtype:
        return torch.bfloat16 if self.precision == "bf16" else torch.float32

    def autocast(self, device: torch.device | str) -> contextlib.AbstractContextManager:
        """Autocast to bf16 on ``device`` (a no-op context at fp32)."""
        if self.precision == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)

    def compiled(self, function: Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
        """``function`` (a network, or a method such as ``net.embed``), compiled when this precision
        compiles; graphs are shared across instances of one architecture."""
        return _Compiled(function) if self.compile else function

    def cache_key(self) -> dict[str, str]:
        """What a stored artifact's address adds: nothing at fp32, so fp32 addresses stay as they were."""
        return {} if self.precision == "fp32" else {"precision": self.precision}

    def describe(self) -> dict[str, object]:
        """For run records: the precision and whether networks were compiled."""
        return {"precision": self.precision, "compiled": self.compile and not _Compiled.broken}

    def label(self) -> str:
        return "fp32" if self.precision == "fp32" else "bf16 autocast" + (" + torch.compile" if self.compile else "")


def widen(t: Tensor) -> Tensor:
    """``t`` in float32 if autocast left it in a reduced float (bf16/fp16); otherwise unchanged."""
    return t.float() if t.dtype in (torch.bfloat16, torch.float16) else t


FP32 = Numerics()
_current: ContextVar[Numerics] = ContextVar("reprolib_numerics", default=FP32)


def resolve(precision: str, device: torch.device | str) -> Numerics:
    """``auto | bf16 | fp32`` on ``device`` as :class:`Numerics`; an unknown name is an error."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)} "
                         "(auto: bf16 where the device multiplies bf16 natively, fp32 elsewhere)")
    if precision == "fp32" or (precision == "auto" and not native_bf16(device)):
        return FP32
    return Numerics("bf16", compile=_compile_allowed())


def current() -> Numerics:
    """The numerics in force (fp32 outside any :func:`use`)."""
    return _current.get()


@contextlib.contextmanager
def use(numerics: Numerics | str, device: torch.device | str = "cpu") -> Iterator[Numerics]:
    """Run the block with ``numerics`` (or a precision name resolved on ``device``)."""
    if isinstance(numerics, str):
        numerics = resolve(numerics, device)
    token = _current.set(numerics)
    try:
        yield numerics
    finally:
        _current.reset(token)


class _Compiled:
    """``torch.compile(function)``, falling back to eager for good (one warning) if compiling fails.

    Dynamo treats module parameters as inputs, so a fresh network of the same architecture reuses the
    compiled graphs (and inductor's on-disk cache serves later processes).
    """

    broken = False

    def __init__(self, function: Callable[[Tensor], Tensor]):
        _keep_compiled_code_with_the_cache()
        self.function = function
        self.compiled = torch.compile(function)

    def __call__(self, x: Tensor) -> Tensor:
        if not _Compiled.broken:
            try:
                return self.compiled(x)
            except Exception as err:  # a missing or failing compiler: fall back only if eager works
                out = self.function(x)
                _Compiled.broken = True
                warnings.warn(f"torch.compile failed ({type(err).__name__}: {str(err)[:200]}); running eager "
                              "from now on (set REPROLIB_COMPILE=0 to skip compiling)", RuntimeWarning, stacklevel=2)
                return out
        return self.function(x)


def _keep_compiled_code_with_the_cache() -> None:
    """Inductor's compiled kernels go beside the artifact store (``<cache>/inductor``), so a later run
    skips most of the warm-up; ``$TORCHINDUCTOR_CACHE_DIR`` set by the user wins."""
    if "TORCHINDUCTOR_CACHE_DIR" not in os.environ:
        from reprolib.store import default_root

        os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(default_root() / "inductor")
