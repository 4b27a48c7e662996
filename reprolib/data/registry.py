"""Static facts about the datasets, by name: shapes, classes, normalisation. Nothing here loads data."""

from __future__ import annotations

from dataclasses import dataclass

FOLDER_PREFIX = "folder:"


@dataclass(frozen=True)
class DatasetInfo:
    """What is known about a dataset before loading it: used to validate parameters (e.g. IPC) early.

    ``mean``/``std`` are the published normalisation constants, or None where they are computed from
    the training split on load. ``exact_sources`` are the source labels whose content is identical
    to the official dataset.
    """

    name: str
    num_classes: int
    channels: int
    image_size: tuple[int, int]
    train_per_class_min: int
    description: str
    exact_sources: tuple[str, ...]
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None


_MNIST_STATS = dict(mean=(0.1307,), std=(0.3081,))
_FASHION_STATS = dict(mean=(0.2861,), std=(0.3530,))
# CIFAR-10 std as in the DC/DSA/MTT codebases (the per-pixel std of the official set is 0.247/0.243/0.262).
_CIFAR10_STATS = dict(mean=(0.4914, 0.4822, 0.4465), std=(0.2023, 0.1994, 0.2010))
_CIFAR100_STATS = dict(mean=(0.5071, 0.4866, 0.4409), std=(0.2673, 0.2564, 0.2762))
_IMAGENET_STATS = dict(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))

_INFOS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo(
            "digits", 10, 1, (8, 8), 139,
            "scikit-learn's 1,797 handwritten 8x8 digits (values 0..16), embedded in the package; fixed seeded "
            "stratified 80/20 split: 1,438 train / 359 test; mean/std from the training split",
            ("digits (scikit-learn)",),
        ),
        DatasetInfo(
            "mnist", 10, 1, (28, 28), 5421,
            "MNIST handwritten digits, 28x28 grey, 60,000 train / 10,000 test", ("mnist",), **_MNIST_STATS,
        ),
        DatasetInfo(
            "fashion-mnist", 10, 1, (28, 28), 6000,
            "Fashion-MNIST clothing images, 28x28 grey, 60,000 train / 10,000 test",
            ("fashion-mnist", "fashion-mnist (Debian, official IDX)"), **_FASHION_STATS,
        ),
        DatasetInfo(
            "cifar10", 10, 3, (32, 32), 5000,
            "CIFAR-10 (official python batches), 32x32 colour, 50,000 train / 10,000 test", ("cifar10",),
            **_CIFAR10_STATS,
        ),
        DatasetInfo(
            "cifar10-jpeg", 10, 3, (32, 32), 5000,
            "CIFAR-10 re-encoded as JPEG (quality about 75): lossy offline copy, 50,000 train / 10,000 test; "
            "CIFAR-10 normalisation", (), **_CIFAR10_STATS,
        ),
        DatasetInfo(
            "cifar100", 100, 3, (32, 32), 500,
            "CIFAR-100 (official python batches, fine labels), 32x32 colour, 50,000 train / 10,000 test",
            ("cifar100",), **_CIFAR100_STATS,
        ),
        DatasetInfo(
            "tinyimagenet", 200, 3, (64, 64), 500,
            "Tiny ImageNet (tiny-imagenet-200), 64x64 colour, 100,000 train / 10,000 val used as test; "
            "ImageNet normalisation", ("tinyimagenet",), **_IMAGENET_STATS,
        ),
        DatasetInfo(
            "pneumoniamnist", 2, 1, (28, 28), 1214,
            "PneumoniaMNIST chest X-rays (MedMNIST v2), 28x28 grey, normal/pneumonia; official split "
            "4,708/524/624 (train/val/test); mean/std from the training split",
            ("pneumoniamnist",),
        ),
        DatasetInfo(
            "pneumoniamnist-subset", 2, 1, (28, 28), 150,
            "A class-balanced 500-image subset of PneumoniaMNIST shipped inside the package (150/20/80 per class "
            "train/val/test; MedMNIST v2, CC BY 4.0): the chest X-rays `smoke` runs on with no data folder",
            (),
        ),
        DatasetInfo(
            "covid-cxr", 4, 1, (112, 112), 1076,
            "COVID-19 Radiography Database (COVID, Lung_Opacity, Normal, Viral Pneumonia), resized to 112x112 "
            "grey; no official split: fixed seeded stratified 80/20 split; mean/std from the training split",
            ("covid-cxr",),
        ),
    )
}

DATASET_NAMES: tuple[str, ...] = tuple(_INFOS)


def unknown_name(name: str) -> ValueError:
    valid = ", ".join(DATASET_NAMES)
    return ValueError(f"unknown dataset {name!r}: valid names are {valid}, or {FOLDER_PREFIX}PATH for your own images "
                      f"(PATH: a folder or .zip whose first-level folders are the classes, optionally split into "
                      f"train/ and test/; see the README's 'Your own data')")


def dataset_info(name: str) -> DatasetInfo:
    """Static facts about ``name``; for ``folder:PATH`` the folder's listing and first image are read."""
    if name.startswith(FOLDER_PREFIX):
        from reprolib.data.catalog import folder_info  # reads the folder listing: kept out of this module

        return folder_info(name[len(FOLDER_PREFIX):])
    try:
        return _INFOS[name]
    except KeyError:
        raise unknown_name(name) from None


def check_ipcs(datasets: tuple[str, ...] | list[str], ipcs: tuple[int, ...] | list[int]) -> None:
    """Raise ValueError unless every dataset exists and every IPC is between 1 and its smallest class."""
    if not datasets or not ipcs:
        raise ValueError("give at least one dataset and one ipc")
    for name in datasets:
        if name not in DATASET_NAMES and not name.startswith(FOLDER_PREFIX):
            raise unknown_name(name)
        smallest = dataset_info(name).train_per_class_min
        for ipc in ipcs:
            if not 1 <= ipc <= smallest:
                raise ValueError(f"ipc={ipc} is impossible for {name}: it must be between 1 and {smallest} (its smallest class)")
