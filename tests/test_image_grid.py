"""Image grids in records: a class per row, exact 8-bit round trip, grey stored as one channel."""

from __future__ import annotations

import base64
import io

import pytest
import torch
from PIL import Image

from reprolib.image_grid import decode_grid, encode_grid


@pytest.mark.parametrize("channels", [1, 3])
def test_grid_puts_a_class_per_row_and_round_trips_at_8_bits(channels):
    pixels = torch.rand(2 * 3, channels, 4, 5)  # 2 classes x 3 images
    png = encode_grid(pixels, per_row=3)
    grid = decode_grid(png)
    assert grid.shape == (2 * 4, 3 * 5, 3)
    second_class_third_image = torch.from_numpy(grid[4:8, 10:15, :channels].copy()).permute(2, 0, 1).float() / 255
    assert torch.allclose(second_class_third_image, pixels[5], atol=0.5 / 255 + 1e-6)
    assert Image.open(io.BytesIO(base64.b64decode(png))).mode == ("L" if channels == 1 else "RGB")


def test_grid_rejects_what_it_cannot_lay_out():
    with pytest.raises(ValueError, match="whole number of rows"):
        encode_grid(torch.rand(5, 1, 4, 4), per_row=2)
    with pytest.raises(ValueError, match="1- or 3-channel"):
        encode_grid(torch.rand(4, 2, 4, 4), per_row=2)
