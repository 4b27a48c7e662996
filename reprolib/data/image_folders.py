"""Readers of datasets stored as images in class folders, in a folder or a zip: the generic
``folder:PATH`` form, the CIFAR-10 JPEG copy, the COVID-19 Radiography Database and Tiny ImageNet."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import numpy as np
import torch

from reprolib.data.errors import DatasetCorruptError
from reprolib.data.formats import FileTree, class_folders, decode_images
from reprolib.data.raw import RawData
from reprolib.data.readers import counts_text
from reprolib.data.sources import DataSource
from reprolib.data.splits import SPLIT_SEED, TEST_FRACTION, stratified_split


@contextmanager
def open_parts(path: Path) -> Iterator[dict[str, tuple[FileTree, str]]]:
    """The class-folder trees of ``path`` as {split: (tree, folder in it)}: {'train', 'test'} when the
    folder or zip has ``train`` and ``test`` parts (sub-folders or ``train.zip``/``test.zip``), else {'all'}."""
    with ExitStack() as stack:
        if path.is_dir() and all((path / f"{s}.zip").is_file() for s in ("train", "test")):
            yield {s: (stack.enter_context(FileTree(path / f"{s}.zip")), "") for s in ("train", "test")}
            return
        tree = stack.enter_context(FileTree(path))
        tops = {n.split("/", 1)[0] for n in tree.names if "/" in n}
        yield {s: (tree, s) for s in ("train", "test")} if {"train", "test"} <= tops else {"all": (tree, "")}


def read_class_folder_dataset(path: Path, image_size: tuple[int, int] | None, channels: int | None,
                               skip_dirs: frozenset[str] = frozenset()) -> tuple[RawData, str]:
    """Decode a folder or zip of class folders; returns the data and a sentence on how it was split."""
    with open_parts(path) as parts:
        if "all" in parts:
            tree, under = parts["all"]
            classes, names, labels = class_folders(tree, under, skip_dirs)
            images = decode_images(tree, names, image_size, channels)
            train, test = stratified_split(names, labels)
            raw = RawData.from_arrays((images[train], labels[train]), (images[test], labels[test]), classes)
            return raw, (f"no given split: a fixed stratified {1 - TEST_FRACTION:.0%}/{TEST_FRACTION:.0%} split by "
                         f"SHA-256 of each file's path (seed {SPLIT_SEED})")
        (train_tree, train_under), (test_tree, test_under) = parts["train"], parts["test"]
        classes, train_names, train_labels = class_folders(train_tree, train_under, skip_dirs)
        test_classes, test_names, test_labels = class_folders(test_tree, test_under, skip_dirs)
        if test_classes != classes:
            raise DatasetCorruptError(test_tree.describe(test_under) if test_under else test_tree.path,
                                      f"has class folders {test_classes}, unlike train's {classes}")
        train_images = decode_images(train_tree, train_names, image_size, channels)
        test_images = decode_images(test_tree, test_names, image_size, channels)
        if train_images.shape[1:] != test_images.shape[1:]:
            c, h, w = train_images.shape[1:]
            raise ValueError(f"{test_tree.describe(test_names[0])} is {_shape_text(test_images.shape[1:])} but "
                             f"{train_tree.describe(train_names[0])} is {_shape_text(train_images.shape[1:])}: convert "
                             f"them all on purpose with options in the dataset's name: "
                             f"folder:{path}?channels={c}&image_size={h}x{w}")
        raw = RawData.from_arrays((train_images, train_labels), (test_images, test_labels), classes)
        return raw, "train and test as given"


def _shape_text(shape) -> str:
    c, h, w = shape
    return f"{'grey' if c == 1 else 'colour'} {h}x{w}"


def split_folder_name(text: str) -> tuple[str, tuple[int, int] | None, int | None]:
    """``PATH?channels=C&image_size=HxW`` (the part of a dataset name after ``folder:``) as (PATH,
    image_size, channels); each option converts every image on purpose (image_size ``32`` means 32x32)."""
    path, _, query = text.partition("?")
    options = dict(item.partition("=")[::2] for item in query.split("&") if item)
    unknown = sorted(set(options) - {"channels", "image_size"})
    if unknown:
        raise ValueError(f"folder:{text}: unknown option {unknown[0]!r}; a folder dataset takes channels=1|3 and "
                         f"image_size=H or HxW, e.g. folder:{path}?channels=3&image_size=32x32")
    channels = options.get("channels")
    if channels is not None and channels not in ("1", "3"):
        raise ValueError(f"folder:{text}: channels must be 1 (grey) or 3 (colour), got {channels!r}")
    size = options.get("image_size")
    if size is not None:
        sides = size.lower().split("x")
        if len(sides) not in (1, 2) or not all(s.isdigit() and int(s) > 0 for s in sides):
            raise ValueError(f"folder:{text}: image_size must be H or HxW in pixels (e.g. 32 or 28x28), got {size!r}")
        size = (int(sides[0]), int(sides[-1]))
    return path, size, None if channels is None else int(channels)


def folder_facts(path: Path, image_size: tuple[int, int] | None = None, channels: int | None = None
                 ) -> tuple[tuple[str, ...], tuple[int, int, int], int]:
    """(class names, (C, H, W) of the first training image as converted, smallest training class size) of a
    class-folder dataset, from its listing and first image only."""
    with open_parts(path) as parts:
        tree, under = parts.get("train", parts.get("all"))
        classes, names, labels = class_folders(tree, under)
        shape = decode_images(tree, names[:1], image_size, channels).shape[1:]
    if "all" in parts:
        labels = labels[stratified_split(names, labels)[0]]
    return classes, shape, int(np.bincount(labels, minlength=len(classes)).min())


def check_tree(path: Path) -> str | None:
    """None when ``path`` exists (a folder, or a file to be read as a zip), else why not."""
    return None if path.is_dir() or path.is_file() else "does not exist"


_CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def check_cifar10_jpeg(path: Path) -> str | None:
    if not path.is_dir():
        return "does not exist"
    missing = [f"{s}.zip (or {s}/)" for s in ("train", "test")
               if not (path / f"{s}.zip").is_file() and not (path / s).is_dir()]
    return f"missing {', '.join(missing)}" if missing else None


def read_cifar10_jpeg(path: Path) -> tuple[RawData, DataSource]:
    raw, _ = read_class_folder_dataset(path, None, 3)
    if raw.class_names != _CIFAR10_CLASSES:
        raise DatasetCorruptError(path, f"has class folders {raw.class_names}, expected CIFAR-10's {_CIFAR10_CLASSES}")
    if tuple(raw.train_x.shape[1:]) != (3, 32, 32):
        raise DatasetCorruptError(path, f"holds images of shape {tuple(raw.train_x.shape[1:])}, expected 3x32x32")
    for split, labels, per_class in (("train", raw.train_y, 5000), ("test", raw.test_y, 1000)):
        counts = torch.bincount(labels, minlength=10).tolist()
        if counts != [per_class] * 10:
            raise DatasetCorruptError(path, f"holds {counts} {split} images per class, expected {per_class} each")
    return raw, DataSource(
        "cifar10-jpeg", "cifar10-jpeg", False, str(path),
        "CIFAR-10 re-encoded as JPEG (quality about 75) from a public export: lossy (pixel statistics within 1% "
        "of the original) and in another order; not the official CIFAR-10.")


_COVID_CLASSES = ("COVID", "Lung_Opacity", "Normal", "Viral Pneumonia")
_COVID_COUNTS = [3616, 6012, 10192, 1345]  # the database's final release (Kaggle, version 5)
COVID_SIZE = (112, 112)


def read_covid(path: Path) -> tuple[RawData, DataSource]:
    raw, split = read_class_folder_dataset(path, COVID_SIZE, 1, skip_dirs=frozenset({"masks"}))
    if raw.class_names != _COVID_CLASSES:
        raise DatasetCorruptError(path, f"has class folders {raw.class_names}, expected {_COVID_CLASSES}")
    counts = (torch.bincount(raw.train_y, minlength=4) + torch.bincount(raw.test_y, minlength=4)).tolist()
    detail = (f"resized to 112x112 grey (antialiased bilinear); {split}: "
              f"{counts_text(len(raw.train_y), len(raw.test_y))} train/test")
    if counts == _COVID_COUNTS:
        return raw, DataSource("covid-cxr", "covid-cxr", True, str(path),
                               f"COVID-19 Radiography Database (all 21,165 images), {detail}.")
    return raw, DataSource("covid-cxr", "covid-cxr (unrecognised version)", False, str(path),
                           f"COVID-19 Radiography Database with {counts} images per class (the final release has "
                           f"{_COVID_COUNTS}), {detail}.")


def check_tinyimagenet(path: Path) -> str | None:
    if path.is_file():
        return check_tree(path)
    if not path.is_dir():
        return "does not exist"
    missing = [n for n in ("wnids.txt", "train", "val/val_annotations.txt") if not (path / n).exists()]
    return f"missing {', '.join(missing)}" if missing else None


def read_tinyimagenet(path: Path) -> tuple[RawData, DataSource]:
    """tiny-imagenet-200 (folder or zip): classes are the sorted wnids (as ImageFolder orders them); the
    labelled val split serves as the test set, as is standard (the test split has no labels)."""
    with FileTree(path) as tree:
        present = set(tree.names)
        for needed in ("wnids.txt", "val/val_annotations.txt"):
            if needed not in present:
                raise DatasetCorruptError(tree.describe(needed), "is missing")
        wnids = sorted(tree.read("wnids.txt").decode().split())
        index = {w: i for i, w in enumerate(wnids)}
        if len(index) != 200:
            raise DatasetCorruptError(tree.describe("wnids.txt"), f"lists {len(index)} classes, expected 200")
        words = {}
        if "words.txt" in present:
            for line in tree.read("words.txt").decode().splitlines():
                wnid, _, text = line.partition("\t")
                words[wnid] = text.split(",")[0].strip()
        train = [(n, index.get(n.split("/")[1], -1)) for n in tree.names
                 if n.startswith("train/") and n.count("/") == 3 and n.split("/")[2] == "images"]
        val = []
        for line in tree.read("val/val_annotations.txt").decode().splitlines():
            fields = line.split("\t")
            if len(fields) >= 2:
                val.append((f"val/images/{fields[0]}", index.get(fields[1], -1)))
        splits = {}
        for split, items, per_class in (("train", train, 500), ("val", val, 50)):
            labels = np.array([label for _, label in items], dtype=np.int64)
            counts = np.bincount(labels[labels >= 0], minlength=200)
            if (labels < 0).any() or len(counts) != 200 or (counts != per_class).any():
                raise DatasetCorruptError(path, f"has {len(items):,} {split} images (expected {200 * per_class:,}, "
                                                f"{per_class} per class): incomplete or not tiny-imagenet-200")
            missing = [n for n, _ in items if n not in present]
            if missing:
                raise DatasetCorruptError(tree.describe(missing[0]), f"is missing ({len(missing)} {split} images are)")
            splits[split] = (decode_images(tree, [n for n, _ in items], (64, 64), 3), labels)
    raw = RawData.from_arrays(splits["train"], splits["val"], [words.get(w, w) for w in wnids])
    return raw, DataSource("tinyimagenet", "tinyimagenet", True, str(path),
                           "Tiny ImageNet (tiny-imagenet-200): 100,000 train images, the 10,000 labelled val images "
                           "as test; counts checked, files not checksummed.")
