"""ZCA whitening as MTT uses it: kornia's ``ZCAWhitening(eps=0.1, compute_inv=True)`` fitted on the whole
training set of [0, 1] images (no mean/std normalisation), applied to train and test; the inverse is for
display only. Fitting is slow for large images, so the fitted matrices are cached in the artifact store."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from reprolib.store import ArtifactStore

EPS = 0.1
_BUFFERS = ("mean_vector", "transform_matrix", "transform_inv")


class Whitening:
    """A fitted ZCA transform (a kornia ``ZCAWhitening`` module) and its inverse."""

    def __init__(self, tensors: Mapping[str, torch.Tensor]):
        from kornia.enhance import ZCAWhitening

        self.module = ZCAWhitening(eps=EPS, compute_inv=True)
        for name in _BUFFERS:  # restore a fit without refitting
            setattr(self.module, name, tensors[name])
        self.module.fitted = True

    @classmethod
    def fit(cls, images: torch.Tensor) -> Whitening:
        """Fit on ``images`` (N, C, H, W) in [0, 1]."""
        from kornia.enhance import ZCAWhitening

        module = ZCAWhitening(eps=EPS, compute_inv=True).fit(images)
        return cls({name: getattr(module, name) for name in _BUFFERS})

    def tensors(self) -> dict[str, torch.Tensor]:
        return {name: getattr(self.module, name).detach().cpu() for name in _BUFFERS}

    def to(self, device: torch.device | str) -> Whitening:
        return Whitening({name: getattr(self.module, name).to(device) for name in _BUFFERS})

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x)

    def inverse(self, x: torch.Tensor) -> torch.Tensor:
        return self.module.inverse_transform(x)


def fitted_whitening(images: torch.Tensor, key: Mapping[str, Any]) -> Whitening:
    """The whitening fitted on ``images`` ([0, 1]), from the store when ``key`` (what determines the
    images, e.g. the dataset's fingerprint) was fitted before on this kind of device."""
    import kornia

    spec = {**key, "eps": EPS, "method": "kornia.enhance.ZCAWhitening", "kornia": kornia.__version__,
            "device": images.device.type}
    tensors = ArtifactStore.default().cached("zca", spec, lambda: Whitening.fit(images).tensors())
    return Whitening(tensors).to(images.device)
