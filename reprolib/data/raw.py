"""A dataset as read from disk, before scaling: uint8 images and int64 labels, plus its content digest."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class RawData:
    """A dataset as read: uint8 images (N, C, H, W) and int64 labels, before scaling and normalisation."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    class_names: tuple[str, ...]
    val_x: torch.Tensor | None = None
    val_y: torch.Tensor | None = None
    max_value: int = 255  # the pixel value meaning 1.0 (16 for scikit-learn digits)

    @classmethod
    def from_arrays(cls, train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray],
                    class_names, val: tuple[np.ndarray, np.ndarray] | None = None, max_value: int = 255) -> RawData:
        def images(x):
            return torch.from_numpy(np.ascontiguousarray(x, dtype=np.uint8))

        def labels(y):
            return torch.from_numpy(np.ascontiguousarray(y, dtype=np.int64).reshape(-1))

        return cls(images(train[0]), labels(train[1]), images(test[0]), labels(test[1]), tuple(class_names),
                   images(val[0]) if val else None, labels(val[1]) if val else None, max_value)

    def tensors(self) -> dict[str, torch.Tensor | None]:
        return {"train_x": self.train_x, "train_y": self.train_y, "test_x": self.test_x, "test_y": self.test_y,
                "val_x": self.val_x, "val_y": self.val_y}

    def fingerprint(self) -> str:
        """SHA-256 of the images, labels and scale: the identity of the content."""
        digest = hashlib.sha256(f"max_value={self.max_value}".encode())
        for key, tensor in self.tensors().items():
            if tensor is not None:
                digest.update(f"{key}{tuple(tensor.shape)}".encode())
                digest.update(tensor.contiguous().numpy())  # buffer protocol: no copy
        return digest.hexdigest()

    def to_dict(self) -> dict:
        stored = {k: v for k, v in self.tensors().items() if v is not None}
        return {**stored, "class_names": list(self.class_names), "max_value": self.max_value}

    @classmethod
    def from_dict(cls, stored: dict) -> RawData:
        return cls(stored["train_x"], stored["train_y"], stored["test_x"], stored["test_y"],
                   tuple(stored["class_names"]), stored.get("val_x"), stored.get("val_y"), stored["max_value"])
