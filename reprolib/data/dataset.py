"""A loaded dataset: whole train/test tensors on one device (these sets are small: no DataLoader)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace

import torch
from torch import Tensor

from reprolib.data.sources import DataSource
from reprolib.data.splits import stratified_split
from reprolib.data.zca import Whitening


@dataclass(eq=False, repr=False)
class Dataset:
    """Images as float32 (N, C, H, W), labels int64.

    Without ZCA the images are normalised with ``mean``/``std``; with ZCA (``zca=True``) they are the
    whitened [0, 1] images, and ``mean``/``std`` are 0/1 (no normalisation applied). ``val_x``/``val_y``
    hold an official validation split where the dataset has one (PneumoniaMNIST), else None.
    """

    name: str
    num_classes: int
    channels: int
    image_size: tuple[int, int]
    class_names: tuple[str, ...]
    train_x: Tensor
    train_y: Tensor
    test_x: Tensor
    test_y: Tensor
    mean: tuple[float, ...]
    std: tuple[float, ...]
    source: DataSource
    zca: bool = False
    whitening: Whitening | None = None
    val_x: Tensor | None = None
    val_y: Tensor | None = None
    _class_indices: list[Tensor] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.zca != (self.whitening is not None):
            raise ValueError("a ZCA dataset needs its fitted whitening (and only a ZCA dataset has one)")

    def __repr__(self) -> str:
        c, (h, w) = self.channels, self.image_size
        return (f"Dataset({self.name!r}, {len(self.train_y):,} train / {len(self.test_y):,} test, "
                f"{self.num_classes} classes, {c}x{h}x{w}, source={self.source.label!r}, zca={self.zca}, "
                f"device={self.device})")

    @property
    def device(self) -> torch.device:
        return self.train_x.device

    def spec(self) -> dict:
        """What determines these tensors, for artifact specs: source, content fingerprint, preprocessing."""
        return {"dataset": self.name, "source": self.source.label, "fingerprint": self.source.fingerprint,
                "zca": self.zca, "mean": list(self.mean), "std": list(self.std)}

    def to(self, device: torch.device | str) -> Dataset:
        def move(x: Tensor | None) -> Tensor | None:
            return None if x is None else x.to(device)

        return replace(self, train_x=move(self.train_x), train_y=move(self.train_y), test_x=move(self.test_x),
                       test_y=move(self.test_y), val_x=move(self.val_x), val_y=move(self.val_y),
                       whitening=self.whitening.to(device) if self.whitening else None)

    def class_indices(self) -> list[Tensor]:
        """Indices of the training images of each class, in dataset order."""
        if self._class_indices is None:
            self._class_indices = [torch.nonzero(self.train_y == c).flatten() for c in range(self.num_classes)]
        return self._class_indices

    def images_of_class(self, c: int, n: int | None = None, generator: torch.Generator | None = None) -> Tensor:
        """``n`` (default: all) training images of class ``c`` in random order (a CPU ``generator`` makes it
        reproducible), e.g. to initialise synthetic images from real ones."""
        indices = self.class_indices()[c]
        n = len(indices) if n is None else n
        if n > len(indices):
            raise ValueError(f"class {c} ({self.class_names[c]}) has {len(indices)} training images, {n} asked")
        order = torch.randperm(len(indices), generator=generator)[:n].to(indices.device)
        return self.train_x[indices[order]]

    def denormalise(self, x: Tensor, clamp: bool = True) -> Tensor:
        """Images back in [0, 1] for display: undoes the normalisation, or the ZCA whitening."""
        if self.whitening is not None:
            out = self.whitening.to(x.device).inverse(x)
        else:
            mean = torch.tensor(self.mean, device=x.device, dtype=x.dtype).view(-1, 1, 1)
            std = torch.tensor(self.std, device=x.device, dtype=x.dtype).view(-1, 1, 1)
            out = x * std + mean
        return out.clamp(0, 1) if clamp else out

    def validation_split(self, fraction: float = 0.1, seed: int = 0) -> Dataset:
        """The training set split in two for tuning: ``fraction`` of every class held out as the *test*
        tensors, the rest as training, so a whole experiment (teachers, distillation, scoring) runs without
        ever touching the real test set. The split is the seeded, stratified, order-independent one of
        :func:`~reprolib.data.splits.stratified_split`. Normalisation (and the ZCA fit) stay those of the
        full training set: unsupervised statistics, which the held-out images shared.
        """
        if not 0 < fraction < 1:
            raise ValueError(f"validation fraction must be in (0, 1), e.g. 0.1; got {fraction}")
        labels = self.train_y.cpu().numpy()
        train, held_out = stratified_split([str(i) for i in range(len(labels))], labels, fraction, seed)
        if min(torch.bincount(torch.as_tensor(labels[held_out]), minlength=self.num_classes)) == 0:
            raise ValueError(f"a {fraction} validation split leaves some class of {self.name} without images; raise it")
        train, held_out = (torch.as_tensor(i, device=self.device) for i in (train, held_out))
        what = f"validation split: {fraction:.0%} of every class of the training set held out (seed {seed}); test set unused"
        fingerprint = hashlib.sha256(f"{self.source.fingerprint}|validation|{fraction}|{seed}".encode())
        source = replace(self.source, note=f"{self.source.note} Tuning on a {what}.", fingerprint=fingerprint.hexdigest())
        return replace(self, source=source, train_x=self.train_x[train], train_y=self.train_y[train],
                       test_x=self.train_x[held_out], test_y=self.train_y[held_out], val_x=None, val_y=None)

    def subset(self, train_per_class: int | None = None, test_total: int | None = None, seed: int = 0) -> Dataset:
        """A stratified random subset for smoke runs: ``train_per_class`` training images of every class and
        ``test_total`` test images spread evenly over the classes (None keeps a split whole).

        Normalisation (and the ZCA fit) stay those of the full training set; the validation split is kept.
        """
        generator = torch.Generator().manual_seed(seed)
        train = test = None
        if train_per_class is not None:
            counts = torch.bincount(self.train_y.cpu(), minlength=self.num_classes)
            if train_per_class > counts.min():
                raise ValueError(f"train_per_class={train_per_class} but the smallest class has {int(counts.min())}")
            train = _balanced(self.train_y, self.num_classes, generator, per_class=train_per_class)
        if test_total is not None:
            if test_total > len(self.test_y):
                raise ValueError(f"test_total={test_total} but the test set has {len(self.test_y)} images")
            test = _balanced(self.test_y, self.num_classes, generator, total=test_total)
        kept = [f"{train_per_class} train images per class"] if train is not None else []
        kept += [f"{test_total} test images"] if test is not None else []
        what = f"seed {seed}: {', '.join(kept) or 'everything'}"
        fingerprint = hashlib.sha256(f"{self.source.fingerprint}|{train_per_class}|{test_total}|{seed}".encode())
        source = replace(self.source, note=f"{self.source.note} Subset ({what}).", fingerprint=fingerprint.hexdigest())
        return replace(
            self, source=source,
            train_x=self.train_x if train is None else self.train_x[train.to(self.device)],
            train_y=self.train_y if train is None else self.train_y[train.to(self.device)],
            test_x=self.test_x if test is None else self.test_x[test.to(self.device)],
            test_y=self.test_y if test is None else self.test_y[test.to(self.device)],
        )


def _balanced(labels: Tensor, num_classes: int, generator: torch.Generator, per_class: int | None = None,
              total: int | None = None) -> Tensor:
    """Sorted indices drawn at random class by class: ``per_class`` of each class, or ``total`` taken in
    rounds of one per class (so classes differ by at most one while they last)."""
    labels = labels.cpu()
    ranked = []  # (round, class, index)
    for c in range(num_classes):
        members = torch.nonzero(labels == c).flatten()
        members = members[torch.randperm(len(members), generator=generator)][:per_class]
        ranked += [(r, c, i) for r, i in enumerate(members.tolist())]
    ranked.sort()
    return torch.tensor(sorted(i for _, _, i in ranked[:total]), dtype=torch.long)
