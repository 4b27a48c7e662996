"""``load_dataset``: find a copy, read it (cached when decoding is slow), scale, normalise or whiten."""

from __future__ import annotations

from pathlib import Path

import torch

from reprolib.data.catalog import RECIPES, RawData, candidate_places, read_dataset, read_folder
from reprolib.data.dataset import Dataset
from reprolib.data.image_folders import split_folder_name
from reprolib.data.registry import DATASET_NAMES, FOLDER_PREFIX, dataset_info
from reprolib.data.sources import DataSource
from reprolib.data.zca import fitted_whitening

_CHUNK = 4096


def channel_stats(images: torch.Tensor, max_value: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 images scaled by 1/max_value, exact (integer sums in float64)."""
    channels = images.shape[1]
    total = torch.zeros(channels, dtype=torch.float64)
    squares = torch.zeros(channels, dtype=torch.float64)
    for start in range(0, len(images), _CHUNK):
        chunk = images[start:start + _CHUNK].to("cpu", torch.float64)
        total += chunk.sum(dim=(0, 2, 3))
        squares += chunk.square().sum(dim=(0, 2, 3))
    n = images.numel() / channels
    mean = total / n
    std = (squares / n - mean.square()).clamp_min(0).sqrt()
    return tuple((mean / max_value).tolist()), tuple((std / max_value).tolist())


def assemble(name: str, raw: RawData, source: DataSource, mean: tuple[float, ...] | None,
             std: tuple[float, ...] | None, zca: bool, device: torch.device | str) -> Dataset:
    """Scale to [0, 1] on ``device``, then normalise (``mean``/``std``; None: from the training split) or whiten."""
    if mean is None or std is None:
        mean, std = channel_stats(raw.train_x, raw.max_value)
    if zca:  # whitening works on [0, 1] images
        shift, scale = torch.zeros(len(mean)), torch.full((len(std),), float(raw.max_value))
    else:  # (x / max - mean) / std in one subtraction and one division
        shift, scale = torch.tensor(mean) * raw.max_value, torch.tensor(std) * raw.max_value
    shift, scale = shift.to(device).view(-1, 1, 1), scale.to(device).view(-1, 1, 1)

    def scaled(x: torch.Tensor | None) -> torch.Tensor | None:
        if x is None:
            return None
        x = x.to(device)  # moved as uint8: 4x less to transfer
        return torch.empty(x.shape, device=x.device).copy_(x).sub_(shift).div_(scale)  # copy_ beats .float() on CPU

    train_x, test_x, val_x = scaled(raw.train_x), scaled(raw.test_x), scaled(raw.val_x)
    whitening = None
    if zca:
        whitening = fitted_whitening(train_x, {"dataset": name, "fingerprint": source.fingerprint})
        train_x, test_x, val_x = (None if x is None else whitening(x) for x in (train_x, test_x, val_x))
        mean, std = (0.0,) * len(mean), (1.0,) * len(std)
    _, channels, height, width = raw.train_x.shape
    return Dataset(
        name=name, num_classes=len(raw.class_names), channels=channels, image_size=(height, width),
        class_names=raw.class_names, train_x=train_x, train_y=raw.train_y.to(device), test_x=test_x,
        test_y=raw.test_y.to(device), mean=tuple(mean), std=tuple(std), source=source, zca=zca,
        whitening=whitening, val_x=val_x, val_y=None if raw.val_y is None else raw.val_y.to(device),
    )


def load_dataset(name: str, root: str | Path | None = None, *, zca: bool = False, device: torch.device | str = "cpu",
                 download: bool = True) -> Dataset:
    """Load a dataset by name (see ``DATASET_NAMES``, or ``folder:PATH``, optionally with
    ``?channels=1|3&image_size=HxW`` to convert every image) as whole tensors on ``device``.

    Copies are looked for in ``root``, then ``$REPROLIB_DATA``, then known offline places, then earlier
    downloads, then downloaded with torchvision when ``download`` (where the dataset allows it).
    ``dataset.source`` says which copy was used and whether it is exact. ``zca=True`` whitens [0, 1]
    images as MTT does instead of normalising them.
    """
    if name.startswith(FOLDER_PREFIX):
        path, image_size, channels = split_folder_name(name[len(FOLDER_PREFIX):])
        return load_image_folder(path, image_size, channels, zca=zca, device=device)
    info = dataset_info(name)
    raw, source = read_dataset(name, root, download)
    return assemble(name, raw, source, info.mean, info.std, zca, device)


def load_image_folder(path: str | Path, image_size: tuple[int, int] | None = None, channels: int | None = None, *,
                      zca: bool = False, device: torch.device | str = "cpu") -> Dataset:
    """A folder or zip of class folders as a Dataset: its ``train/`` and ``test/`` parts (folders, or
    ``train.zip`` and ``test.zip``), else a fixed seeded stratified 80/20 split. ``image_size`` (H, W)
    resizes; ``channels`` 1 or 3 converts; mean/std come from the training split."""
    raw, source = read_folder(path, image_size, channels)
    return assemble(source.dataset, raw, source, None, None, zca, device)


def available_sources(root: str | Path | None = None) -> dict[str, list[str]]:
    """For each dataset, the places where a complete copy is present (checked cheaply, nothing read)."""
    present = {}
    for name in DATASET_NAMES:
        if name == "digits":
            present[name] = ["sklearn (embedded)"]
        else:
            recipe = RECIPES[name]
            present[name] = [str(p) for p in candidate_places(recipe, root) if recipe.check(p) is None]
    return present
