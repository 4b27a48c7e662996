"""The data module: dataset names and facts, the file readers (on tiny files built here), the search and its
error messages, source labels, caching, ZCA, and the real offline copies when $REPROLIB_DATA points at them."""

from __future__ import annotations

import dataclasses
import gzip
import io
import os
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from reprolib.data import (
    DATASET_NAMES, DatasetCorruptError, DatasetNotFoundError, available_sources, dataset_info, load_dataset,
    load_image_folder,
)
from reprolib.data import catalog, image_folders, readers, zca
from reprolib.data.formats import (
    FileTree, cifar_batch_arrays, class_folders, decode_images, read_cifar_pickle, read_idx,
)
from reprolib.data.splits import stratified_split


# --- helpers: tiny files in the real formats ---------------------------------------------------------

def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> Path:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def png_bytes(value: int, size: tuple[int, int] = (6, 5), mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, (value, 255 - value, value // 2) if mode == "RGB" else value).save(buffer, "PNG")
    return buffer.getvalue()


def write_class_folders(root: Path, counts: dict[str, int], **kwargs) -> Path:
    for c, (name, n) in enumerate(counts.items()):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            (root / name / f"{i:03d}.png").write_bytes(png_bytes(20 * c + i, **kwargs))
    return root


def zip_folder(folder: Path, target: Path) -> Path:
    with zipfile.ZipFile(target, "w") as z:
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                z.write(file, file.relative_to(folder.parent).as_posix())  # wrapped in folder.name/
    return target


def shared_data() -> Path:
    """The offline copies (CI sets REPROLIB_DATA to them); tests that need them skip without."""
    value = os.environ.get("REPROLIB_DATA")
    if not value or not Path(value).is_dir():
        pytest.skip("REPROLIB_DATA does not point at the offline dataset copies")
    return Path(value)


@pytest.fixture
def nowhere(tmp_path, monkeypatch) -> Path:
    """No data anywhere: an empty root, no $REPROLIB_DATA, an empty home."""
    monkeypatch.delenv("REPROLIB_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path / "empty"


# --- names and static facts ----------------------------------------------------------------------------

def test_every_name_has_static_facts():
    for name in DATASET_NAMES:
        info = dataset_info(name)
        assert info.name == name and info.num_classes >= 2 and info.train_per_class_min > 0
        assert (info.mean is None) == (info.std is None)
    assert dataset_info("cifar10-jpeg").exact_sources == ()
    assert dataset_info("cifar10-jpeg").mean == dataset_info("cifar10").mean


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="valid names are digits, mnist") as err:
        load_dataset("cifar11")
    assert "covid-cxr" in str(err.value) and "folder:" in str(err.value)
    with pytest.raises(ValueError, match="cifar11"):
        dataset_info("cifar11")


def test_split_is_stratified_and_independent_of_listing_order():
    keys = [f"k{i}" for i in range(100)]
    labels = np.array([i % 3 for i in range(100)])
    train, test = stratified_split(keys, labels)
    assert sorted([*train, *test]) == list(range(100))
    assert np.bincount(labels[test]).tolist() == [7, 7, 7]  # round(0.2 * 34), round(0.2 * 33) twice
    order = np.random.default_rng(0).permutation(100)
    _, test_shuffled = stratified_split([keys[i] for i in order], labels[order])
    assert sorted(keys[i] for i in order[test_shuffled]) == sorted(keys[i] for i in test)


# --- digits: always available ----------------------------------------------------------------------------

def test_digits_counts_range_and_source():
    data = load_dataset("digits")
    assert (len(data.train_y), len(data.test_y)) == (1438, 359)
    assert data.train_x.shape == (1438, 1, 8, 8) and data.train_x.dtype == torch.float32
    assert data.num_classes == 10 and data.class_names[3] == "3"
    counts = torch.bincount(data.train_y, minlength=10)
    assert int(counts.min()) == dataset_info("digits").train_per_class_min
    assert torch.bincount(data.test_y, minlength=10).tolist() == [36, 36, 35, 37, 36, 36, 36, 36, 35, 36]
    pixels = data.denormalise(data.train_x, clamp=False)
    assert pixels.min() >= -1e-6 and pixels.max() <= 1 + 1e-6
    assert torch.allclose(pixels * 16, (pixels * 16).round(), atol=1e-4)  # 0..16 scaled by 1/16
    assert abs(float(data.train_x.mean())) < 1e-4 and abs(float(data.train_x.std()) - 1) < 1e-3
    assert data.source.label == "digits (scikit-learn)" and data.source.exact
    assert data.source.location == "sklearn" and len(data.source.fingerprint) == 64
    assert load_dataset("digits").source.fingerprint == data.source.fingerprint


def test_dataset_methods():
    data = load_dataset("digits")
    indices = data.class_indices()
    assert sum(len(i) for i in indices) == len(data.train_y)
    assert bool((data.train_y[indices[4]] == 4).all())
    first = data.images_of_class(4, 5, generator=torch.Generator().manual_seed(1))
    again = data.images_of_class(4, 5, generator=torch.Generator().manual_seed(1))
    assert first.shape == (5, 1, 8, 8) and torch.equal(first, again)
    assert len(data.images_of_class(4)) == len(indices[4])
    with pytest.raises(ValueError, match="has 14"):
        data.images_of_class(4, 10_000)

    small = data.subset(train_per_class=3, test_total=25, seed=2)
    assert torch.bincount(small.train_y, minlength=10).tolist() == [3] * 10
    test_counts = torch.bincount(small.test_y, minlength=10)
    assert int(test_counts.sum()) == 25 and int(test_counts.max() - test_counts.min()) <= 1
    assert torch.equal(small.train_x, data.subset(3, 25, seed=2).train_x)
    assert not torch.equal(small.train_x, data.subset(3, 25, seed=3).train_x)
    assert small.source.fingerprint != data.source.fingerprint and "Subset" in small.source.note
    assert small.mean == data.mean and len(data.train_y) == 1438  # the original is untouched
    with pytest.raises(ValueError, match="smallest class"):
        data.subset(train_per_class=1000)

    moved = data.to("cpu")
    assert moved.device == torch.device("cpu") and torch.equal(moved.test_x, data.test_x)
    assert "digits" in repr(data) and "1,438 train" in repr(data)


# --- file readers -----------------------------------------------------------------------------------------

def test_idx_reader_plain_and_gzip(tmp_path):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    plain, digest = read_idx(write_idx(tmp_path / "a-idx3-ubyte", array))
    packed, packed_digest = read_idx(write_idx(tmp_path / "a-idx3-ubyte.gz", array, compress=True))
    assert np.array_equal(plain, array) and np.array_equal(packed, array)
    assert digest == packed_digest  # the digest is of the content, whatever the compression


@pytest.mark.parametrize("content, problem", [
    (b"\x1f\x8b\x08\x00garbage", "bad gzip"),
    (b"\x00\x00\x08\x03" + struct.pack(">3I", 2, 3, 4) + bytes(5), "implies 40"),
    (b"\x12\x34\x56\x78" + bytes(20), "not an IDX file"),
    (b"\x00\x00\x08\x03\x00", "truncated IDX header"),
])
def test_idx_reader_rejects_damaged_files(tmp_path, content, problem):
    path = tmp_path / "bad-idx3-ubyte"
    path.write_bytes(content)
    with pytest.raises(DatasetCorruptError, match=problem) as err:
        read_idx(path)
    assert str(path) in str(err.value) and err.value.path == str(path)
    truncated = tmp_path / "cut.gz"
    whole = gzip.compress(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    truncated.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DatasetCorruptError, match="bad gzip"):
        read_idx(truncated)


@pytest.fixture
def small_counts(monkeypatch):
    """Let the readers accept small fake MNIST (60/10 images) and CIFAR (20/10) files."""
    monkeypatch.setattr(readers, "_IDX_COUNTS", {"train": 60, "test": 10})
    monkeypatch.setattr(readers, "_CIFAR_COUNTS", {"train": 20, "test": 10})


def fake_mnist(folder: Path, compress: bool) -> Path:
    folder.mkdir(parents=True)
    suffix = ".gz" if compress else ""
    for split, n in (("train", 60), ("t10k", 10)):
        write_idx(folder / f"{split}-images-idx3-ubyte{suffix}", np.zeros((n, 28, 28), np.uint8), compress)
        write_idx(folder / f"{split}-labels-idx1-ubyte{suffix}", np.arange(n) % 10, compress)
    return folder


def test_idx_dataset_is_found_in_torchvision_layout_and_labelled_by_content(tmp_path, small_counts):
    fake_mnist(tmp_path / "MNIST" / "raw", compress=False)
    data = load_dataset("mnist", root=tmp_path, download=False)
    assert (len(data.train_y), len(data.test_y)) == (60, 10) and data.train_x.shape[1:] == (1, 28, 28)
    assert data.source.label == "mnist (unverified copy)" and not data.source.exact  # zeros are not MNIST
    assert "t10k-images-idx3-ubyte" in data.source.note
    assert data.source.location == str(tmp_path / "MNIST" / "raw")
    assert available_sources(tmp_path)["mnist"][0] == str(tmp_path / "MNIST" / "raw")


def test_idx_dataset_with_wrong_count_is_corrupt(tmp_path, small_counts):
    folder = fake_mnist(tmp_path / "mnist", compress=True)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.zeros(9, np.uint8), compress=True)
    with pytest.raises(DatasetCorruptError, match=r"t10k-labels-idx1-ubyte.gz: holds labels of shape \(9,\)"):
        load_dataset("mnist", root=tmp_path, download=False)


def cifar_pickle(content: dict) -> bytes:
    return pickle.dumps(content, protocol=2)


def test_cifar_batch_reader(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (4, 3072), dtype=np.uint8)
    data = cifar_pickle({b"batch_label": b"x", b"data": images, b"labels": [0, 1, 2, 9]})
    content = read_cifar_pickle(tmp_path / "data_batch_1", data)
    x, y = cifar_batch_arrays(tmp_path / "data_batch_1", content, "labels")
    assert x.shape == (4, 3, 32, 32) and np.array_equal(x.reshape(4, -1), images) and y.tolist() == [0, 1, 2, 9]
    with pytest.raises(DatasetCorruptError, match="no 'fine_labels' entry"):
        cifar_batch_arrays(tmp_path / "train", content, "fine_labels")
    with pytest.raises(DatasetCorruptError, match="not a CIFAR python batch"):
        read_cifar_pickle(tmp_path / "data_batch_1", data[:100])


def test_cifar_reader_refuses_code(tmp_path):
    evil = pickle.dumps({"data": os.getcwd}, protocol=2)  # any callable other than numpy's array rebuilders
    with pytest.raises(DatasetCorruptError, match="refusing to unpickle"):
        read_cifar_pickle(tmp_path / "data_batch_1", evil)


def test_cifar_folder_is_read_labelled_and_count_checked(tmp_path, small_counts):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"):
        n = 4 if name == "test_batch" else 2
        batch = {b"data": np.full((n, 3072), 7, np.uint8), b"labels": [0, 1] * (n // 2)}
        (folder / name).write_bytes(cifar_pickle(batch))
    (folder / "batches.meta").write_bytes(cifar_pickle({b"label_names": [b"c%d" % i for i in range(10)]}))
    with pytest.raises(DatasetCorruptError, match="holds 10 train images, CIFAR-10 has 20"):
        load_dataset("cifar10", root=tmp_path, download=False)
    readers._CIFAR_COUNTS.update(train=10, test=4)
    data = load_dataset("cifar10", root=tmp_path, download=False)
    assert data.train_x.shape == (10, 3, 32, 32) and data.class_names[9] == "c9"
    assert data.source.label == "cifar10 (unverified copy)" and "data_batch_1" in data.source.note
    assert data.mean == dataset_info("cifar10").mean


def test_zip_and_folder_of_class_folders_read_alike(tmp_path):
    folder = write_class_folders(tmp_path / "shapes", {"b_square": 5, "a_circle": 10, "c_star": 5})
    (folder / "README.txt").write_text("not an image")
    archive = zip_folder(folder, tmp_path / "shapes.zip")
    from_folder = load_image_folder(folder)
    from_zip = load_dataset(f"folder:{archive}")
    for data in (from_folder, from_zip):
        assert data.class_names == ("a_circle", "b_square", "c_star")
        assert (len(data.train_y), len(data.test_y)) == (16, 4)  # 80/20 in each class
        assert torch.bincount(data.test_y).tolist() == [2, 1, 1]
        assert data.channels == 3 and data.image_size == (5, 6) and not data.source.exact
    assert torch.equal(from_folder.train_x, from_zip.train_x)
    info = dataset_info(f"folder:{archive}")
    assert (info.num_classes, info.channels, info.image_size, info.train_per_class_min) == (3, 3, (5, 6), 4)
    grey = load_image_folder(folder, image_size=(4, 4), channels=1)
    assert grey.train_x.shape[1:] == (1, 4, 4)


def test_folder_with_train_and_test_parts(tmp_path):
    write_class_folders(tmp_path / "set" / "train", {"x": 3, "y": 4}, mode="L")
    write_class_folders(tmp_path / "set" / "test", {"x": 2, "y": 1}, mode="L")
    data = load_image_folder(tmp_path / "set")
    assert (len(data.train_y), len(data.test_y)) == (7, 3) and data.channels == 1
    assert "train and test as given" in data.source.note


def test_decoded_images_are_cached_until_files_change(tmp_path, monkeypatch):
    folder = write_class_folders(tmp_path / "pics", {"p": 5, "q": 5})
    calls = []
    real = image_folders.decode_images
    monkeypatch.setattr(image_folders, "decode_images", lambda *a, **k: calls.append(1) or real(*a, **k))
    first = load_image_folder(folder)
    second = load_image_folder(folder)
    assert len(calls) == 1 and torch.equal(first.train_x, second.train_x)
    assert first.source == second.source
    (folder / "p" / "000.png").write_bytes(png_bytes(99))
    os.utime(folder / "p" / "000.png", ns=(0, 0))  # a surely different modification time
    changed = load_image_folder(folder)
    assert len(calls) == 2 and changed.source.fingerprint != first.source.fingerprint


def test_damaged_zip_and_image_are_corrupt(tmp_path):
    folder = write_class_folders(tmp_path / "pics", {"p": 5, "q": 5})
    archive = zip_folder(folder, tmp_path / "pics.zip")
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(DatasetCorruptError, match="truncated.zip: is not a readable zip file"):
        load_dataset(f"folder:{truncated}")
    (folder / "q" / "002.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(DatasetCorruptError, match=r"q/002.png: is not an image in a format Pillow knows") as caught:
        load_image_folder(folder)
    assert "object at 0x" not in str(caught.value)  # the file, never Pillow's repr of a buffer
    with FileTree(zip_folder(folder, tmp_path / "again.zip")) as tree:
        _, names, _ = class_folders(tree)
        with pytest.raises(DatasetCorruptError, match=r"again.zip:pics/q/002.png: is not an image"):
            decode_images(tree, names)


def test_an_empty_class_folder_is_an_error_naming_it(tmp_path):
    """It once made a 2-class dataset out of 3 without a word."""
    folder = write_class_folders(tmp_path / "pics", {"a": 5, "b": 5})
    (folder / "c").mkdir()
    (folder / "c" / "notes.txt").write_text("no images here")
    for name in (f"folder:{folder}", f"folder:{zip_folder(folder, tmp_path / 'pics.zip')}"):
        for read in (load_dataset, dataset_info):  # dataset_info: checked with the parameters, before computing
            with pytest.raises(ValueError, match=r"pics/c is a class folder without images"):
                read(name)


def test_mixed_grey_and_colour_images_are_refused_unless_converted_on_purpose(tmp_path):
    """One greyscale image sorted first once turned an RGB set grey."""
    folder = write_class_folders(tmp_path / "pics", {"a": 5, "b": 5})
    (folder / "a" / "000.png").write_bytes(png_bytes(7, mode="L"))
    with pytest.raises(ValueError, match=r"pics/a/001.png is colour but .*pics/a/000.png is grey: .*channels=3"):
        load_dataset(f"folder:{folder}")
    colour = load_dataset(f"folder:{folder}?channels=3")
    assert colour.channels == 3 and dataset_info(f"folder:{folder}?channels=3").channels == 3
    grey = load_dataset(f"folder:{folder}?channels=1&image_size=4")
    assert grey.train_x.shape[1:] == (1, 4, 4)
    assert dataset_info(f"folder:{folder}?channels=1&image_size=4").image_size == (4, 4)


def test_folder_options_are_settable_from_parameters_and_checked(tmp_path):
    from reprolib.presets import PresetError, resolve

    folder = write_class_folders(tmp_path / "pics", {"a": 5, "b": 5})
    (folder / "b" / "004.png").write_bytes(png_bytes(3, size=(9, 9)))
    with pytest.raises(ValueError, match=r"pics/b/004.png is 9x9 but .*a/000.png is 5x6: .*\?image_size=5x6"):
        load_dataset(f"folder:{folder}")
    params = resolve("coreset-baselines", "smoke", {"datasets": [f"folder:{folder}?image_size=8x8"], "ipcs": [1]})
    assert load_dataset(params.datasets[0]).image_size == (8, 8)
    for bad, message in (("?size=8", "unknown option 'size'"), ("?channels=2", "channels must be 1"),
                         ("?image_size=8y8", "image_size must be H or HxW")):
        with pytest.raises(PresetError, match=message):
            resolve("coreset-baselines", "smoke", {"datasets": [f"folder:{folder}{bad}"], "ipcs": [1]})


def test_train_and_test_parts_of_different_kinds_are_named(tmp_path):
    write_class_folders(tmp_path / "set" / "train", {"x": 3, "y": 4}, mode="L")
    write_class_folders(tmp_path / "set" / "test", {"x": 2, "y": 1})
    with pytest.raises(ValueError, match=r"test/x/000.png is colour 5x6 but .*train/x/000.png is grey 5x6: .*channels=1"):
        load_dataset(f"folder:{tmp_path / 'set'}")
    assert load_dataset(f"folder:{tmp_path / 'set'}?channels=1").test_x.shape[1] == 1


def test_pneumoniamnist_npz_source_labels(tmp_path):
    rng = np.random.default_rng(0)

    def write(path: Path, train_labels: np.ndarray) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {}
        for split, labels in (("train", train_labels), ("val", np.array([0, 1])), ("test", np.array([0, 1, 1]))):
            arrays[f"{split}_images"] = rng.integers(0, 256, (len(labels), 28, 28), dtype=np.uint8)
            arrays[f"{split}_labels"] = labels.reshape(-1, 1).astype(np.uint8)
        np.savez(path, **arrays)
        return path

    write(tmp_path / "balanced" / "medmnist" / "pneumoniamnist.npz", np.array([0, 1, 0, 1]))
    data = load_dataset("pneumoniamnist", root=tmp_path / "balanced", download=False)
    assert data.source.label == "pneumoniamnist (balanced subset)" and not data.source.exact
    assert (len(data.train_y), len(data.val_y), len(data.test_y)) == (4, 2, 3) and data.val_x.shape == (2, 1, 28, 28)
    write(tmp_path / "other" / "pneumoniamnist.npz", np.array([0, 1, 1]))
    assert load_dataset("pneumoniamnist", root=tmp_path / "other").source.label == "pneumoniamnist (unverified copy)"
    cut = tmp_path / "cut" / "medmnist" / "pneumoniamnist.npz"
    cut.parent.mkdir(parents=True)
    cut.write_bytes((tmp_path / "other" / "pneumoniamnist.npz").read_bytes()[:500])
    with pytest.raises(DatasetCorruptError, match="pneumoniamnist.npz: is not a readable .npz file"):
        load_dataset("pneumoniamnist", root=tmp_path / "cut", download=False)


def test_covid_database_layout(tmp_path):
    root = tmp_path / "COVID-19_Radiography_Dataset"
    for c, name in enumerate(("COVID", "Lung_Opacity", "Normal", "Viral Pneumonia")):
        write_class_folders(root / name, {"images": 5, "masks": 5}, size=(20, 20))  # <class>/images, <class>/masks
    data = load_dataset("covid-cxr", root=tmp_path, download=False)
    assert data.train_x.shape == (16, 1, 112, 112) and len(data.test_y) == 4  # masks left out, 1 per class to test
    assert data.class_names == ("COVID", "Lung_Opacity", "Normal", "Viral Pneumonia")
    assert data.source.label == "covid-cxr (unrecognised version)" and not data.source.exact
    (root / "Normal").rename(root / "normal")
    with pytest.raises(DatasetCorruptError, match="expected"):
        load_dataset("covid-cxr", root=tmp_path, download=False)


def test_incomplete_tinyimagenet_is_corrupt(tmp_path):
    root = tmp_path / "tiny-imagenet-200"
    wnids = [f"n{i:08d}" for i in range(200)]
    (root / "val").mkdir(parents=True)
    (root / "wnids.txt").write_text("\n".join(wnids))
    (root / "val" / "val_annotations.txt").write_text("val_0.JPEG\tn00000000\t0\t0\t63\t63\n")
    write_class_folders(root / "train" / wnids[0], {"images": 2})
    with pytest.raises(DatasetCorruptError, match="has 2 train images .expected 100,000"):
        load_dataset("tinyimagenet", root=tmp_path, download=False)


# --- not found --------------------------------------------------------------------------------------------

def test_missing_dataset_lists_every_place_and_how_to_get_it(nowhere, tmp_path, monkeypatch):
    other = tmp_path / "other"
    (other / "mnist").mkdir(parents=True)
    write_idx(other / "mnist" / "train-images-idx3-ubyte", np.zeros((1, 28, 28), np.uint8))
    monkeypatch.setenv("REPROLIB_DATA", str(other))
    with pytest.raises(DatasetNotFoundError) as err:
        load_dataset("mnist", root=nowhere, download=False)
    message = str(err.value)
    downloads = tmp_path / "cache" / "downloads"
    for place in (nowhere / "mnist", nowhere / "MNIST" / "raw", other / "MNIST" / "raw", downloads / "mnist"):
        assert f"{place}: does not exist" in message
    assert f"{other / 'mnist'}: missing train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz]" in message
    assert "not tried (download=False)" in message
    assert "To get it: set $REPROLIB_DATA" in message and "https://yann.lecun.com/exdb/mnist/" in message
    assert isinstance(err.value, FileNotFoundError)


def test_failed_download_is_reported(nowhere, monkeypatch):
    def offline(dest):
        raise OSError("network is unreachable")

    monkeypatch.setitem(catalog.RECIPES, "cifar10", dataclasses.replace(catalog.RECIPES["cifar10"], download=offline))
    with pytest.raises(DatasetNotFoundError) as err:
        load_dataset("cifar10", root=nowhere)
    message = str(err.value)
    assert "$REPROLIB_DATA: not set" in message and f"{nowhere / 'cifar-10-batches-py'}: does not exist" in message
    assert "failed (OSError: network is unreachable)" in message
    assert "cifar-10-batches-py/" in message and "https://www.cs.toronto.edu/~kriz/cifar.html" in message


def test_datasets_without_download_say_so(nowhere):
    with pytest.raises(DatasetNotFoundError, match="download: not available") as err:
        load_dataset("covid-cxr", root=nowhere)
    assert "kaggle.com" in str(err.value) and "Viral Pneumonia" in str(err.value)
    with pytest.raises(DatasetNotFoundError, match="does not exist"):
        load_image_folder(nowhere / "pictures")
    assert available_sources(nowhere)["cifar10"] == []


# --- ZCA ----------------------------------------------------------------------------------------------------

def test_zca_whitens_and_inverts():
    generator = torch.Generator().manual_seed(0)
    rotation, _ = torch.linalg.qr(torch.randn(12, 12, generator=generator))
    mixing = torch.linspace(2, 6, 12).diag() @ rotation  # correlated, variances >> eps=0.1: whitens to ~identity
    x = (torch.randn(4000, 12, generator=generator) @ mixing).view(4000, 3, 2, 2)
    whitening = zca.Whitening.fit(x)
    white = whitening(x).flatten(1)
    assert torch.allclose(torch.cov(white.T), torch.eye(12), atol=0.05)
    assert torch.allclose(whitening.inverse(whitening(x)), x, atol=1e-3)


def test_zca_fit_is_cached(monkeypatch):
    from kornia.enhance import ZCAWhitening

    fits = []
    real_fit = ZCAWhitening.fit
    monkeypatch.setattr(ZCAWhitening, "fit", lambda self, x: fits.append(1) or real_fit(self, x))
    plain = load_dataset("digits")
    white = load_dataset("digits", zca=True)
    again = load_dataset("digits", zca=True)
    assert len(fits) == 1 and torch.equal(white.train_x, again.train_x)
    assert white.zca and white.mean == (0.0,) and white.std == (1.0,)
    assert white.train_x.shape == plain.train_x.shape
    restored = white.denormalise(white.train_x, clamp=False)
    assert torch.allclose(restored, plain.denormalise(plain.train_x), atol=1e-4)
    assert white.spec()["zca"] and white.spec()["fingerprint"] == plain.source.fingerprint


# --- the real offline copies (skipped without $REPROLIB_DATA) ------------------------------------------------

def test_offline_mnist():
    data = load_dataset("mnist", root=shared_data() / "missing", download=False)  # found via $REPROLIB_DATA
    assert (len(data.train_y), len(data.test_y)) == (60000, 10000)
    assert data.source.label == "mnist (reconstructed train images)" and not data.source.exact
    assert data.source.location == "$REPROLIB_DATA/mnist"  # no path of this machine in records
    assert data.mean == (0.1307,) and data.std == (0.3081,)


def test_offline_pneumoniamnist():
    data = load_dataset("pneumoniamnist", root=shared_data(), download=False)
    assert (len(data.train_y), len(data.test_y), len(data.val_y)) == (2428, 468, 270)
    assert data.num_classes == 2 and data.class_names == ("normal", "pneumonia")
    assert data.source.label == "pneumoniamnist (balanced subset)" and not data.source.exact


def test_offline_cifar10_jpeg_test_zip():
    archive = shared_data() / "cifar10-jpeg" / "test.zip"
    with FileTree(archive) as tree:
        classes, names, labels = class_folders(tree)
        images = decode_images(tree, names, channels=3)
    assert classes[0] == "airplane" and classes[-1] == "truck"
    assert images.shape == (10000, 3, 32, 32) and np.bincount(labels).tolist() == [1000] * 10
    assert shared_data() / "cifar10-jpeg" == Path(available_sources()["cifar10-jpeg"][0])


def test_debian_fashion_mnist(monkeypatch):
    if not Path("/usr/share/datasets/fashion-mnist").is_dir():
        pytest.skip("Debian's dataset-fashion-mnist is not installed (apt-get install dataset-fashion-mnist)")
    monkeypatch.delenv("REPROLIB_DATA", raising=False)
    data = load_dataset("fashion-mnist", download=False)
    assert (len(data.train_y), len(data.test_y)) == (60000, 10000)
    assert data.source.label == "fashion-mnist (Debian, official IDX)" and data.source.exact
    assert data.class_names[0] == "T-shirt/top"
