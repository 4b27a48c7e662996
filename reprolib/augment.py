"""Differentiable Siamese Augmentation (DSA; Zhao & Bilen, ICML 2021).

Each call picks one group uniformly from the strategy (``color``, ``crop``, ``cutout``, ``flip``,
``scale``, ``rotate``) and applies it with parameters drawn per sample. Every op is differentiable
with respect to the images, so gradients reach synthetic images through the augmentation.

*Siamese* mode (DC, DSA, DM) draws one parameter set and shares it across every sample of every
batch, as the original does, so a real and a synthetic batch of different sizes receive identical
transformations. MTT uses the per-sample mode (``DSA.__call__``).

Parameters are drawn on the CPU from a ``torch.Generator`` (the global CPU RNG when ``None``) and
moved to the images' device, so a fixed seed gives the same augmentation on CPU and GPU.

Semantics follow the original code: scale and rotate are ``F.affine_grid``/``F.grid_sample`` warps
with the original's ``theta`` and PyTorch's default ``align_corners=False`` (bilinear, zero padding),
in the images' dtype; crop is an integer shift with zero fill; cutout zeroes a square of side
``round(0.5 * size)``; colour ops are plain arithmetic on normalised images without clamping.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["DEFAULT_STRATEGY", "GROUPS", "AugmentParams", "DSA"]

DEFAULT_STRATEGY = "color_crop_cutout_flip_scale_rotate"
GROUPS = ("color", "crop", "cutout", "flip", "scale", "rotate")
_IDENTITY = ("", "none", "None")


@dataclass(frozen=True)
class AugmentParams:
    """One draw: the group and its parameters, one row per sample, or a single row when ``shared``.

    ``values`` by group (CPU tensors): color ``brightness`` (additive shift), ``saturation`` and
    ``contrast`` (factors); crop ``shift_y``, ``shift_x`` (pixels); cutout ``center_y``,
    ``center_x`` (pixels); flip ``flip`` (bool); scale ``scale_x``, ``scale_y`` (sampling factors,
    > 1 shrinks the image); rotate ``angle`` (degrees). ``size`` is the (H, W) they were drawn for.
    """

    group: str
    size: tuple[int, int]
    shared: bool = False
    values: dict[str, Tensor] = field(default_factory=dict)


class DSA:
    """Differentiable augmentation: per call one group drawn uniformly from the strategy's groups
    ('color' = brightness, saturation, contrast applied in turn)."""

    def __init__(
        self,
        strategy: str = DEFAULT_STRATEGY,
        *,
        scale: float = 1.2,
        rotate_degrees: float = 15.0,
        crop_ratio: float = 0.125,
        cutout_ratio: float = 0.5,
        brightness: float = 1.0,
        saturation: float = 2.0,
        contrast: float = 0.5,
        flip_p: float = 0.5,
    ):
        groups = () if strategy in _IDENTITY else tuple(strategy.split("_"))
        bad = [g for g in groups if g not in GROUPS]
        if bad:
            raise ValueError(
                f"unknown DSA group(s) {bad} in strategy {strategy!r}; valid groups: {', '.join(GROUPS)}"
            )
        self.strategy = strategy
        self.groups = groups
        self.scale = scale
        self.rotate_degrees = rotate_degrees
        self.crop_ratio = crop_ratio
        self.cutout_ratio = cutout_ratio
        self.brightness = brightness
        self.saturation = saturation
        self.contrast = contrast
        self.flip_p = flip_p

    def __repr__(self) -> str:
        return f"DSA(strategy={self.strategy!r})"

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Augment ``x`` (B, C, H, W) with parameters drawn per sample."""
        params = self.sample(x.shape[0], x.shape[-2], x.shape[-1], generator)
        return self.apply(x, params)

    def siamese(self, *batches: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, ...]:
        """Augment every batch with one shared parameter draw (identical transform for all samples)."""
        if not batches:
            return ()
        size = tuple(batches[0].shape[-2:])
        if any(tuple(b.shape[-2:]) != size for b in batches):
            raise ValueError("siamese batches must share the image size")
        params = self.sample(1, size[0], size[1], generator, shared=True)
        return tuple(self.apply(b, params) for b in batches)

    def sample(
        self,
        batch_size: int,
        height: int,
        width: int,
        generator: torch.Generator | None = None,
        shared: bool = False,
    ) -> AugmentParams:
        """Draw the group and its parameters on the CPU (one row per sample, one row if ``shared``)."""
        size = (height, width)
        if not self.groups:
            return AugmentParams("none", size, shared)
        group = self.groups[int(torch.randint(len(self.groups), (1,), generator=generator))]
        n = 1 if shared else batch_size

        def uniform() -> Tensor:
            return torch.rand(n, generator=generator, dtype=torch.float64)

        def integers(low: int, high: int) -> Tensor:  # inclusive bounds
            return torch.randint(low, high + 1, (n,), generator=generator)

        if group == "color":
            values = {
                "brightness": (uniform() - 0.5) * self.brightness,
                "saturation": uniform() * self.saturation,
                "contrast": uniform() + self.contrast,
            }
        elif group == "crop":
            max_y, max_x = (int(s * self.crop_ratio + 0.5) for s in size)
            values = {"shift_y": integers(-max_y, max_y), "shift_x": integers(-max_x, max_x)}
        elif group == "cutout":
            # As the original: the centre may reach the far edge when the side is even.
            side_y, side_x = _cutout_side(size, self.cutout_ratio)
            values = {
                "center_y": integers(0, height - side_y % 2),
                "center_x": integers(0, width - side_x % 2),
            }
        elif group == "flip":
            values = {"flip": uniform() < self.flip_p}
        elif group == "scale":
            low, high = 1.0 / self.scale, self.scale
            values = {"scale_x": low + uniform() * (high - low), "scale_y": low + uniform() * (high - low)}
        else:  # rotate
            values = {"angle": (uniform() - 0.5) * 2.0 * self.rotate_degrees}
        return AugmentParams(group, size, shared, values)

    def apply(self, x: Tensor, params: AugmentParams) -> Tensor:
        """Apply drawn parameters to ``x`` (B, C, H, W); a shared draw broadcasts to any batch size."""
        if params.group == "none":
            return x
        if x.ndim != 4 or tuple(x.shape[-2:]) != params.size:
            raise ValueError(f"expected a (B, C, {params.size[0]}, {params.size[1]}) batch, got {tuple(x.shape)}")
        rows = next(iter(params.values.values())).shape[0]
        if rows not in (1, x.shape[0]):
            raise ValueError(f"parameters for {rows} samples cannot augment a batch of {x.shape[0]}")
        v = params.values
        if params.group in ("scale", "rotate"):
            return _warp(x, _theta(params.group, v))

        def on_x(t: Tensor) -> Tensor:
            dtype = x.dtype if t.is_floating_point() else t.dtype
            return t.to(device=x.device, dtype=dtype).view(-1, 1, 1, 1)

        if params.group == "color":
            x = x + on_x(v["brightness"])
            mean = x.mean(dim=1, keepdim=True)
            x = (x - mean) * on_x(v["saturation"]) + mean
            mean = x.mean(dim=(1, 2, 3), keepdim=True)
            return (x - mean) * on_x(v["contrast"]) + mean
        if params.group == "flip":
            return torch.where(on_x(v["flip"]), x.flip(3), x)
        if params.group == "crop":
            return _shift(x, v["shift_y"].to(x.device), v["shift_x"].to(x.device))
        side_y, side_x = _cutout_side(params.size, self.cutout_ratio)
        top = v["center_y"].to(x.device) - side_y // 2
        left = v["center_x"].to(x.device) - side_x // 2
        return x * _cutout_mask(x, top, left, side_y, side_x)


def _cutout_side(size: tuple[int, int], ratio: float) -> tuple[int, int]:
    return int(size[0] * ratio + 0.5), int(size[1] * ratio + 0.5)


def _theta(group: str, v: dict[str, Tensor]) -> Tensor:
    """The original's ``theta`` (float64, n×2×3): the destination-to-source map in ``F.affine_grid``'s
    normalised coordinates, diag(sx, sy) for scale and [[cos, −sin], [sin, cos]] for rotate."""
    if group == "scale":
        sx, sy = v["scale_x"], v["scale_y"]
        theta = torch.zeros(sx.shape[0], 2, 3, dtype=torch.float64)
        theta[:, 0, 0], theta[:, 1, 1] = sx, sy
    else:
        rad = torch.deg2rad(v["angle"])
        cos, sin = torch.cos(rad), torch.sin(rad)
        theta = torch.zeros(rad.shape[0], 2, 3, dtype=torch.float64)
        theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 0], theta[:, 1, 1] = cos, -sin, sin, cos
    return theta


def _warp(x: Tensor, theta: Tensor) -> Tensor:
    """Bilinear resampling with zero padding at ``theta`` (align_corners=False), in ``x``'s dtype."""
    theta = theta.to(device=x.device, dtype=x.dtype).expand(x.shape[0], 2, 3)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _shift(x: Tensor, dy: Tensor, dx: Tensor) -> Tensor:
    """out[..., i, j] = x[..., i + dy, j + dx], zero where that falls outside the image."""
    b, c, h, w = x.shape
    rows = torch.arange(h, device=x.device) + dy.view(-1, 1)
    cols = torch.arange(w, device=x.device) + dx.view(-1, 1)
    inside = ((rows >= 0) & (rows < h))[:, :, None] & ((cols >= 0) & (cols < w))[:, None, :]
    index = rows.clamp(0, h - 1)[:, :, None] * w + cols.clamp(0, w - 1)[:, None, :]
    index = index.view(-1, 1, h * w).expand(b, c, h * w)
    out = x.reshape(b, c, h * w).gather(2, index).view(b, c, h, w)
    return out * inside.unsqueeze(1).to(x.dtype)


def _cutout_mask(x: Tensor, top: Tensor, left: Tensor, side_y: int, side_x: int) -> Tensor:
    """(n, 1, H, W) mask: 0 inside the box [top, top + side_y) x [left, left + side_x), 1 elsewhere."""
    rows = torch.arange(x.shape[2], device=x.device)
    cols = torch.arange(x.shape[3], device=x.device)
    in_rows = (rows >= top.view(-1, 1)) & (rows < top.view(-1, 1) + side_y)
    in_cols = (cols >= left.view(-1, 1)) & (cols < left.view(-1, 1) + side_x)
    box = in_rows[:, :, None] & in_cols[:, None, :]
    return (~box).unsqueeze(1).to(x.dtype)
