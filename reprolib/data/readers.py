"""Readers of the datasets distributed as official files (IDX, CIFAR python batches, MedMNIST npz, the
scikit-learn digits). Each recognises which copy it read (source label, exactness) by checksums or
counts, never by file name alone."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from reprolib.data.errors import DatasetCorruptError
from reprolib.data.formats import cifar_batch_arrays, read_cifar_pickle, read_idx, read_npz
from reprolib.data.raw import RawData
from reprolib.data.sources import DataSource
from reprolib.data.splits import SPLIT_SEED, stratified_split

Reader = Callable[[Path], tuple[RawData, DataSource]]


def counts_text(*counts: int) -> str:
    return "/".join(f"{n:,}" for n in counts)


def check_label_range(path: Path | str, labels: np.ndarray, num_classes: int) -> None:
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise DatasetCorruptError(path, f"has labels outside 0..{num_classes - 1}")


def check_exists(path: Path) -> str | None:
    return None if path.exists() else "does not exist"


# --- MNIST and Fashion-MNIST: IDX files --------------------------------------------------------------

_IDX_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
              "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
_IDX_COUNTS = {"train": 60000, "test": 10000}
# SHA-256 of the decompressed official files (so any compression, e.g. Debian's re-gzipped copy, matches).
_OFFICIAL_IDX_SHA256 = {
    "mnist": {
        "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
}
# The offline copy's MNIST training images, reconstructed from a PNG export (see the data README).
_RECONSTRUCTED_MNIST_TRAIN_IMAGES = "374ba378bee06c633f4800ac6a495f71d1b80b0e82bf763acbfa4c7e9c379f75"
DEBIAN_FASHION = "/usr/share/datasets/fashion-mnist"
_FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                    "Ankle boot")


def _idx_file(folder: Path, name: str) -> Path | None:
    """The file ``name`` in ``folder``, uncompressed (faster) or ``.gz``."""
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def check_idx(path: Path) -> str | None:
    if not path.is_dir():
        return "does not exist"
    missing = [f"{n}[.gz]" for pair in _IDX_FILES.values() for n in pair if _idx_file(path, n) is None]
    return f"missing {', '.join(missing)}" if missing else None


def _read_idx_dataset(path: Path) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], dict[str, str]]:
    """The train and test (images (N, 1, 28, 28), labels) in ``path``, and each file's content SHA-256."""
    splits, digests = {}, {}
    for split, (image_name, label_name) in _IDX_FILES.items():
        image_path, label_path = _idx_file(path, image_name), _idx_file(path, label_name)
        images, digests[image_name] = read_idx(image_path)
        labels, digests[label_name] = read_idx(label_path)
        n = _IDX_COUNTS[split]
        if images.shape != (n, 28, 28) or images.dtype != np.uint8:
            raise DatasetCorruptError(image_path, f"holds {images.dtype} images of shape {images.shape}, "
                                                  f"expected {n:,} images of 28x28 uint8")
        if labels.shape != (n,):
            raise DatasetCorruptError(label_path, f"holds labels of shape {labels.shape}, expected ({n},)")
        check_label_range(label_path, labels, 10)
        splits[split] = (images[:, None], labels)
    return splits, digests


def read_mnist_family(name: str) -> Reader:
    official = _OFFICIAL_IDX_SHA256[name]
    title = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}[name]

    def read(path: Path) -> tuple[RawData, DataSource]:
        splits, digests = _read_idx_dataset(path)
        classes = _FASHION_CLASSES if name == "fashion-mnist" else tuple(str(d) for d in range(10))
        raw = RawData.from_arrays(splits["train"], splits["test"], classes)
        differ = sorted(f for f, digest in digests.items() if digest != official[f])
        if not differ and str(path).startswith(DEBIAN_FASHION):
            return raw, DataSource(name, f"{name} (Debian, official IDX)", True, str(path),
                                   f"Official {title} IDX files as packaged by Debian (gzip recompressed; "
                                   "content SHA-256 verified identical).")
        if not differ:
            return raw, DataSource(name, name, True, str(path),
                                   f"Official {title} IDX files (content SHA-256 verified).")
        if name == "mnist" and differ == ["train-images-idx3-ubyte"] and \
                digests["train-images-idx3-ubyte"] == _RECONSTRUCTED_MNIST_TRAIN_IMAGES:
            return raw, DataSource(
                name, "mnist (reconstructed train images)", False, str(path),
                "Official MNIST test set and labels; the training images are reconstructed from a public PNG "
                "export (at most one grey level off; 97.2% of pixels exact when the same method is applied to "
                "the test set), so results are close to, not exactly, those on official MNIST.")
        return raw, DataSource(name, f"{name} (unverified copy)", False, str(path),
                               f"{title} IDX files whose content differs from the official ones "
                               f"({', '.join(differ)}): results may not match {title}.")

    return read


# --- CIFAR-10 / CIFAR-100: official python batches ---------------------------------------------------

# (file, MD5) as published for the official python version (the checksums torchvision verifies).
_CIFAR_FILES = {
    "cifar10": dict(
        label_key="labels", num_classes=10, meta_key="label_names",
        meta=("batches.meta", "5ff9c542aee3614f3951f8cda6e48888"),
        train=[("data_batch_1", "c99cafc152244af753f735de768cd75f"),
               ("data_batch_2", "d4bba439e000b95fd0a9bffe97cbabec"),
               ("data_batch_3", "54ebc095f3ab1f0389bbae665268c751"),
               ("data_batch_4", "634d18415352ddfa80567beed471001a"),
               ("data_batch_5", "482c414d41f54cd18b22e5b47cb7c3cb")],
        test=[("test_batch", "40351d587109b95175f43aff81a1287e")],
    ),
    "cifar100": dict(
        label_key="fine_labels", num_classes=100, meta_key="fine_label_names",
        meta=("meta", "7973b15100ade9c7d40fb424638fde48"),
        train=[("train", "16019d7e3df5f24257cddd939b257f8d")],
        test=[("test", "f0ef6b0ae62326f3e7ffdfab6717acfc")],
    ),
}


def check_cifar(name: str) -> Callable[[Path], str | None]:
    files = _CIFAR_FILES[name]
    needed = [f for f, _ in (files["meta"], *files["train"], *files["test"])]

    def check(path: Path) -> str | None:
        if not path.is_dir():
            return "does not exist"
        missing = [f for f in needed if not (path / f).is_file()]
        return f"missing {', '.join(missing)}" if missing else None

    return check


_CIFAR_COUNTS = {"train": 50000, "test": 10000}


def read_cifar(name: str) -> Reader:
    files = _CIFAR_FILES[name]
    title = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}[name]

    def read(path: Path) -> tuple[RawData, DataSource]:
        differ = []

        def load(file: str, md5: str) -> dict:
            data = (path / file).read_bytes()
            if hashlib.md5(data).hexdigest() != md5:
                differ.append(file)
            return read_cifar_pickle(path / file, data)

        splits = {}
        for split, expected in _CIFAR_COUNTS.items():
            parts = [cifar_batch_arrays(path / f, load(f, md5), files["label_key"]) for f, md5 in files[split]]
            images, labels = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
            if len(images) != expected:
                raise DatasetCorruptError(path, f"holds {len(images):,} {split} images, {title} has {expected:,}")
            check_label_range(path, labels, files["num_classes"])
            splits[split] = (images, labels)
        meta_file, meta_md5 = files["meta"]
        names = load(meta_file, meta_md5).get(files["meta_key"])
        if names is None or len(names) != files["num_classes"]:
            raise DatasetCorruptError(path / meta_file, f"has no list of {files['num_classes']} class names")
        classes = [n.decode() if isinstance(n, bytes) else str(n) for n in names]
        raw = RawData.from_arrays(splits["train"], splits["test"], classes)
        if not differ:
            return raw, DataSource(name, name, True, str(path), f"Official {title} python batches (MD5 verified).")
        return raw, DataSource(name, f"{name} (unverified copy)", False, str(path),
                               f"{title} python batches whose MD5 differs from the official files "
                               f"({', '.join(differ)}): results may not match {title}.")

    return read


# --- PneumoniaMNIST (MedMNIST npz) ------------------------------------------------------------------

PNEUMONIA_MD5 = "28209eda62fecd6e6a2d98b1501bb15f"
_PNEUMONIA_COUNTS = (4708, 524, 624)


def read_pneumoniamnist(path: Path) -> tuple[RawData, DataSource]:
    keys = [f"{s}_{k}" for s in ("train", "val", "test") for k in ("images", "labels")]
    arrays = read_npz(path, keys)
    splits = {}
    for split in ("train", "val", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"].reshape(-1)
        if images.shape[1:] != (28, 28) or images.dtype != np.uint8 or len(labels) != len(images):
            raise DatasetCorruptError(path, f"has {split} images {images.dtype}{images.shape} and {len(labels)} "
                                            "labels, expected N uint8 28x28 images and N labels")
        check_label_range(path, labels, 2)
        splits[split] = (images[:, None], labels)
    raw = RawData.from_arrays(splits["train"], splits["test"], ("normal", "pneumonia"), val=splits["val"])
    counts = tuple(len(splits[s][1]) for s in ("train", "val", "test"))
    if hashlib.md5(path.read_bytes()).hexdigest() == PNEUMONIA_MD5:
        return raw, DataSource("pneumoniamnist", "pneumoniamnist", True, str(path),
                               "Official PneumoniaMNIST (MedMNIST v2, 28x28, MD5 verified); its val split is kept.")
    if len(set(np.bincount(splits["train"][1], minlength=2))) == 1:
        return raw, DataSource(
            "pneumoniamnist", "pneumoniamnist (balanced subset)", False, str(path),
            f"A class-balanced subset of PneumoniaMNIST ({counts_text(*counts)} train/val/test, official "
            f"{counts_text(*_PNEUMONIA_COUNTS)}): real chest X-rays, not the official split; a small stand-in "
            "for the COVID-19 Radiography Database.")
    return raw, DataSource("pneumoniamnist", "pneumoniamnist (unverified copy)", False, str(path),
                           f"PneumoniaMNIST file whose MD5 differs from the official one ({counts_text(*counts)} "
                           "train/val/test): results may not match PneumoniaMNIST.")


# The subset shipped inside the package (reprolib/data/shipped/): what `smoke` runs on with no data folder.
SHIPPED_PNEUMONIA = Path(__file__).parent / "shipped" / "pneumoniamnist-subset.npz"
SHIPPED_PNEUMONIA_MD5 = "59503ba5524e065ece2c134fef6b8a2b"
SHIPPED_PNEUMONIA_CREDIT = ("PneumoniaMNIST from MedMNIST v2 (Yang et al., Scientific Data 2023; CC BY 4.0, "
                            "https://medmnist.com), from the chest X-rays of Kermany et al., Cell 2018")


def read_pneumoniamnist_subset(path: Path) -> tuple[RawData, DataSource]:
    """The 500-image class-balanced PneumoniaMNIST subset shipped with reprolib (smoke's chest X-rays)."""
    raw, _ = read_pneumoniamnist(path)
    if hashlib.md5(path.read_bytes()).hexdigest() != SHIPPED_PNEUMONIA_MD5:
        raise DatasetCorruptError(path, "is not the PneumoniaMNIST subset shipped with reprolib (MD5 differs): "
                                        "reinstall the package")
    counts = counts_text(len(raw.train_y), len(raw.val_y), len(raw.test_y))
    return raw, DataSource(
        "pneumoniamnist-subset", "pneumoniamnist (subset shipped with reprolib)", False, str(path),
        f"A class-balanced subset of PneumoniaMNIST shipped inside the package ({counts} train/val/test images, "
        f"official {counts_text(*_PNEUMONIA_COUNTS)}): real 28x28 chest X-rays, far too few for the papers' "
        f"numbers; {SHIPPED_PNEUMONIA_CREDIT}.")


# --- scikit-learn digits ------------------------------------------------------------------------------

def read_digits() -> tuple[RawData, DataSource]:
    """scikit-learn's embedded 8x8 digits (values 0..16) with the fixed stratified split."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.rint(digits.images).astype(np.uint8)[:, None]
    labels = digits.target.astype(np.int64)
    train, test = stratified_split([str(i) for i in range(len(labels))], labels)
    raw = RawData.from_arrays((images[train], labels[train]), (images[test], labels[test]),
                              [str(d) for d in range(10)], max_value=16)
    source = DataSource(
        "digits", "digits (scikit-learn)", True, "sklearn",
        f"The 1,797 real 8x8 handwritten digits embedded in scikit-learn; no official split: a fixed stratified "
        f"split by SHA-256 of each index (seed {SPLIT_SEED}), {len(train):,} train / {len(test):,} test.")
    return raw, replace(source, fingerprint=raw.fingerprint())
