"""The learnable synthetic set: shapes, labels, real-image init, seeding, errors."""

from __future__ import annotations

import pytest
import torch

from reprolib.distillation.synthetic import init_synthetic
from reprolib.runtime import make_generator


def test_real_init_draws_real_images_of_each_class(digits):
    images, labels = init_synthetic(digits, 3, make_generator(0))
    assert images.shape == (30, 1, 8, 8) and images.requires_grad and images.is_leaf
    assert labels.tolist() == [c for c in range(10) for _ in range(3)]
    for image, label in zip(images, labels):
        matches = (digits.train_x == image.detach()).flatten(1).all(1)
        assert matches.any() and (digits.train_y[matches] == label).all()
    again, _ = init_synthetic(digits, 3, make_generator(0))
    assert torch.equal(images, again)


def test_noise_init_and_errors(digits):
    images, _ = init_synthetic(digits, 2, make_generator(0), init="noise")
    assert images.shape == (20, 1, 8, 8)
    with pytest.raises(ValueError, match="unknown synthetic init"):
        init_synthetic(digits, 2, make_generator(0), init="zeros")
    with pytest.raises(ValueError, match="training images"):
        init_synthetic(digits, 10_000, make_generator(0))
