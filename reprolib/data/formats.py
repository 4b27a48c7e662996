"""Readers for dataset files: IDX (the MNIST family), CIFAR python batches, MedMNIST npz, and folders or
zips of images. They return numpy arrays and raise DatasetCorruptError naming the file that is wrong."""

from __future__ import annotations

import codecs
import gzip
import hashlib
import io
import os
import pickle
import struct
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from reprolib.data.errors import DatasetCorruptError

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"})
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_GREY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "F"})


def read_maybe_gzip(path: Path) -> bytes:
    """The bytes of ``path``, decompressed when it is gzip data (recognised by its magic bytes)."""
    data = path.read_bytes()
    if data[:2] != b"\x1f\x8b":
        if path.suffix == ".gz":
            raise DatasetCorruptError(path, "is named .gz but is not gzip data")
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as err:
        raise DatasetCorruptError(path, f"bad gzip data ({err})") from None


def read_idx(path: Path) -> tuple[np.ndarray, str]:
    """An IDX file (plain or gzip) as an array, and the SHA-256 of its decompressed bytes.

    The digest identifies the official files whatever their compression (Debian recompressed
    Fashion-MNIST, so the .gz checksums differ while the content is the same).
    """
    data = read_maybe_gzip(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise DatasetCorruptError(path, f"is not an IDX file (magic bytes {data[:4].hex() or 'missing'})")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DatasetCorruptError(path, "has a truncated IDX header")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected = header + int(np.prod(dims)) * dtype.itemsize
    if len(data) != expected:
        raise DatasetCorruptError(path, f"has {len(data)} bytes but its header (shape {dims}) implies {expected}")
    array = np.frombuffer(data, dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))
    return array, hashlib.sha256(data).hexdigest()


def _numpy_reconstruct():
    try:
        from numpy._core.multiarray import _reconstruct  # numpy >= 2
    except ImportError:
        from numpy.core.multiarray import _reconstruct  # numpy 1.x
    return _reconstruct


class _ArraysOnlyUnpickler(pickle.Unpickler):
    """Rebuilds dicts, lists, strings, numbers and numpy arrays, and refuses every other object."""

    _ALLOWED = {
        ("_codecs", "encode"): codecs.encode,  # how Python 3 writes bytes in protocol 2 pickles
        ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct(),
        ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct(),
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }

    def find_class(self, module: str, name: str):
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}") from None


def read_cifar_pickle(path: Path, data: bytes) -> dict:
    """One file of the official CIFAR python version (``data`` are its bytes) as a dict with str keys.

    The official CIFAR-10/100 batches are Python 2 pickles of dicts of plain numpy arrays and lists,
    hence ``encoding="bytes"``. Pickle is used only for these official files, and the unpickler
    admits numpy arrays and builtins only, so a tampered file cannot run code.
    """
    try:
        content = _ArraysOnlyUnpickler(io.BytesIO(data), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as err:
        raise DatasetCorruptError(path, f"is not a CIFAR python batch ({type(err).__name__}: {err})") from None
    if not isinstance(content, dict):
        raise DatasetCorruptError(path, f"is not a CIFAR python batch (a pickled {type(content).__name__})")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in content.items()}


def cifar_batch_arrays(path: Path, content: dict, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    """The (N, 3, 32, 32) uint8 images and int64 labels of one CIFAR batch."""
    try:
        images = np.asarray(content["data"], dtype=np.uint8)
        labels = np.asarray(content[label_key], dtype=np.int64)
    except KeyError as err:
        raise DatasetCorruptError(path, f"has no {err} entry") from None
    if images.ndim != 2 or images.shape[1] != 3 * 32 * 32 or labels.shape != (len(images),):
        raise DatasetCorruptError(path, f"has images of shape {images.shape} and labels of shape {labels.shape}")
    return images.reshape(-1, 3, 32, 32), labels


def read_npz(path: Path, keys: Sequence[str]) -> dict[str, np.ndarray]:
    """The arrays ``keys`` of an .npz file (no pickled objects allowed)."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in keys if k not in npz.files]
            if missing:
                raise DatasetCorruptError(path, f"lacks the arrays {missing} (has {npz.files})")
            return {k: npz[k] for k in keys}
    except DatasetCorruptError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, zlib.error) as err:
        raise DatasetCorruptError(path, f"is not a readable .npz file ({type(err).__name__}: {err})") from None


def files_signature(path: Path) -> str:
    """A digest of the names, sizes and modification times of the files at ``path``: changes when they do."""
    path = Path(path)
    entries = []
    if path.is_dir():
        for folder, _, names in os.walk(path, followlinks=True):
            for name in names:
                stat = os.stat(os.path.join(folder, name))
                entries.append((os.path.relpath(os.path.join(folder, name), path), stat.st_size, stat.st_mtime_ns))
    else:
        stat = path.stat()
        entries.append((path.name, stat.st_size, stat.st_mtime_ns))
    return hashlib.sha256(repr(sorted(entries)).encode()).hexdigest()


def _hidden(name: str) -> bool:
    return any(part.startswith(".") or part == "__MACOSX" for part in name.split("/"))


def _relative(path: str, root: Path) -> str:
    return os.path.relpath(path, root).replace(os.sep, "/")


def _wrapping_prefix(names: list[str]) -> str:
    """The folders that wrap every file (``tiny-imagenet-200/`` in its zip), to be looked through."""
    prefix = ""
    while names and all("/" in n[len(prefix):] for n in names):
        top = {n[len(prefix):].split("/", 1)[0] for n in names}
        if len(top) != 1:
            break
        prefix += top.pop() + "/"
    return prefix


class FileTree:
    """The files of a folder or of a zip archive, by relative POSIX path, read as bytes.

    Hidden files and ``__MACOSX`` are ignored, and folders that wrap everything are looked through,
    so ``x.zip`` holding ``x/train/...`` reads like the folder ``x/``.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._zip: zipfile.ZipFile | None = None
        if self.path.is_dir():
            walked = list(os.walk(self.path, followlinks=True))
            names = [_relative(os.path.join(folder, n), self.path) for folder, _, files in walked for n in files]
            folders = [_relative(folder, self.path) for folder, _, _ in walked[1:]]
        else:
            try:
                self._zip = zipfile.ZipFile(self.path)
            except zipfile.BadZipFile as err:
                raise DatasetCorruptError(self.path, f"is not a readable zip file ({err})") from None
            names = [info.filename for info in self._zip.infolist() if not info.is_dir()]
            folders = [info.filename.rstrip("/") for info in self._zip.infolist() if info.is_dir()]
            folders += [n.rsplit("/", 1)[0] for n in names if "/" in n]
        names = [n for n in names if not _hidden(n)]
        self.prefix = _wrapping_prefix(names)
        self.names = sorted(n[len(self.prefix):] for n in names)
        #: every folder (files' and empty ones), relative like ``names``
        self.folders = sorted({f[len(self.prefix):] for f in folders if f.startswith(self.prefix) and not _hidden(f)} - {""})

    def describe(self, name: str) -> str:
        """Where the file ``name`` is, for messages."""
        return f"{self.path}:{self.prefix}{name}" if self._zip else str(self.path / self.prefix / name)

    def read(self, name: str) -> bytes:
        if self._zip is None:
            return (self.path / self.prefix / name).read_bytes()
        try:
            return self._zip.read(self.prefix + name)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as err:
            raise DatasetCorruptError(self.describe(name), f"cannot be read from the zip ({err})") from None

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()

    def __enter__(self) -> FileTree:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def class_folders(tree: FileTree, under: str = "", skip_dirs: frozenset[str] = frozenset()
                  ) -> tuple[tuple[str, ...], list[str], np.ndarray]:
    """The images below the folder ``under`` of ``tree``, labelled by their first folder.

    Returns (class names sorted, image paths sorted within each class, int64 labels). Images below
    a folder named in ``skip_dirs`` (e.g. the COVID database's ``masks``) are left out.
    """
    prefix = f"{under.strip('/')}/" if under else ""
    by_class: dict[str, list[str]] = {}
    for name in tree.names:
        parts = name[len(prefix):].split("/")
        if (not name.startswith(prefix) or len(parts) < 2 or Path(name).suffix.lower() not in IMAGE_EXTENSIONS
                or skip_dirs.intersection(parts[1:-1])):
            continue
        by_class.setdefault(parts[0], []).append(name)
    if not by_class:
        where = tree.describe(under) if under else str(tree.path)
        raise DatasetCorruptError(where, "holds no images in class folders (expected <class>/<image>)")
    empty = [f for f in tree.folders if f.startswith(prefix) and "/" not in f[len(prefix):]
             and f[len(prefix):] not in by_class and f[len(prefix):] not in skip_dirs]
    if empty:
        raise ValueError(f"{tree.describe(empty[0])} is a class folder without images ({len(empty)} such): a class "
                         f"with no images cannot be learned or sampled; add images or remove the folder")
    classes = tuple(sorted(by_class))
    paths = [p for c in classes for p in by_class[c]]
    labels = np.repeat(np.arange(len(classes), dtype=np.int64), [len(by_class[c]) for c in classes])
    return classes, paths, labels


def _decode(data: bytes, tree: FileTree, name: str, mode: str | None, size: tuple[int, int] | None) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data)) as image:
            image = image.convert(mode or native_mode(image))
            if size is not None and image.size != (size[1], size[0]):
                image = image.resize((size[1], size[0]), Image.BILINEAR)  # antialiased when shrinking
            array = np.asarray(image, dtype=np.uint8)
    except UnidentifiedImageError:
        raise DatasetCorruptError(tree.describe(name), "is not an image in a format Pillow knows") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise DatasetCorruptError(tree.describe(name), f"is not a readable image ({err})") from None
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def native_mode(image: Image.Image) -> str:
    """``L`` for a grey image (of any bit depth), else ``RGB``."""
    return "L" if image.mode in _GREY_MODES else "RGB"


def _native_channels(data: bytes) -> int | None:
    try:
        with Image.open(io.BytesIO(data)) as image:
            return 1 if native_mode(image) == "L" else 3
    except (OSError, SyntaxError, ValueError):
        return None  # _decode names the problem


def decode_images(tree: FileTree, names: Sequence[str], image_size: tuple[int, int] | None = None,
                  channels: int | None = None) -> np.ndarray:
    """Decode images of ``tree`` into a uint8 (N, C, H, W) array.

    ``image_size`` (H, W) resizes with antialiased bilinear filtering; without it every image must have
    the first one's size. ``channels`` 1 or 3 converts to grey or RGB; without it every image must be
    grey, or every one colour, like the first (nothing is converted silently). (One thread: for small
    images Pillow's per-image Python work dominates, and threads measured slower.)
    """
    if not names:
        raise ValueError("no images to decode")
    first_data = tree.read(names[0])
    first = _decode(first_data, tree, names[0], {1: "L", 3: "RGB"}.get(channels), image_size)
    mode = "L" if first.shape[0] == 1 else "RGB"
    out = np.empty((len(names), *first.shape), dtype=np.uint8)
    out[0] = first
    for i, name in enumerate(names[1:], start=1):
        data = tree.read(name)
        if channels is None and _native_channels(data) not in (None, first.shape[0]):
            kinds = {1: "grey", 3: "colour"}
            raise ValueError(
                f"{tree.describe(name)} is {kinds[4 - first.shape[0]]} but {tree.describe(names[0])} is "
                f"{kinds[first.shape[0]]}: convert them all on purpose with channels=1 or channels=3 "
                f"(a folder dataset takes it in its name: folder:PATH?channels=3)")
        image = _decode(data, tree, name, mode, image_size)
        if image.shape != first.shape:
            raise ValueError(
                f"{tree.describe(name)} is {image.shape[1]}x{image.shape[2]} but {tree.describe(names[0])} is "
                f"{first.shape[1]}x{first.shape[2]}: resize them all on purpose with image_size (a folder dataset "
                f"takes it in its name: folder:PATH?image_size={first.shape[1]}x{first.shape[2]})"
            )
        out[i] = image
    return out
