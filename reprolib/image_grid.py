"""Image grids stored in run records: a class per row, encoded as a small base64 PNG.

Figures of distilled or generated images keep their pixels in the record (a few KB per grid), so a
page renders from committed results without the artifact store. Grey images are stored as 8-bit
single-channel PNG, colour ones as RGB.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import torch
from PIL import Image


def encode_grid(pixels: torch.Tensor, per_row: int) -> str:
    """``[rows·per_row, ch, H, W]`` images in [0, 1], row-major (class-ordered) → base64 PNG."""
    n, ch, h, w = pixels.shape
    if ch not in (1, 3) or n % per_row:
        raise ValueError(f"need 1- or 3-channel images, a whole number of rows of {per_row}; got shape {tuple(pixels.shape)}")
    grid = pixels.detach().float().cpu().clamp(0, 1).reshape(n // per_row, per_row, ch, h, w)
    grid = grid.permute(0, 3, 1, 4, 2).reshape((n // per_row) * h, per_row * w, ch)
    array = (grid * 255).round().to(torch.uint8).numpy()
    buffer = io.BytesIO()
    Image.fromarray(array[..., 0] if ch == 1 else array).save(buffer, format="png", optimize=True)
    return base64.b64encode(buffer.getvalue()).decode()


def decode_grid(png: str) -> np.ndarray:
    """The grid as an ``[H, W, 3]`` uint8 array, ready for ``imshow`` (grey repeated to RGB)."""
    array = np.asarray(Image.open(io.BytesIO(base64.b64decode(png))).convert("RGB"))
    return array
