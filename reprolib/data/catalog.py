"""Where each dataset's copies may be (layouts, offline places, downloads), the search that finds one
(or says where it looked), and reading it, cached in the artifact store when images need decoding."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from reprolib.data import image_folders, readers
from reprolib.data.formats import files_signature
from reprolib.data.raw import RawData
from reprolib.data.readers import Reader
from reprolib.data.registry import FOLDER_PREFIX, DatasetInfo, unknown_name
from reprolib.data.sources import DATA_ENV, DataSource, Search, data_folders, downloads_folder, portable_location
from reprolib.store import ArtifactStore

READER_VERSION = 1  # part of the cache key of decoded datasets: bump when reading or decoding changes


@dataclass(frozen=True)
class Recipe:
    """How to find, read and recognise one dataset."""

    name: str
    title: str  # for messages
    candidates: tuple[str, ...]  # paths relative to a data folder, in order of preference
    check: Callable[[Path], str | None]  # None when the path holds a complete copy, else what is missing
    read: Reader
    how_to_get: str
    known_places: tuple[str, ...] = ()  # absolute offline places (``~`` expanded)
    download: Callable[[Path], None] | None = None  # fetches into the downloads folder, under `candidates`
    decoded: bool = False  # images need decoding: cache the decoded arrays in the artifact store
    options: dict = field(default_factory=dict)  # reader options, part of the cache key


def _torchvision_download(class_name: str) -> Callable[[Path], None]:
    def download(dest: Path) -> None:
        import torchvision.datasets

        getattr(torchvision.datasets, class_name)(str(dest), train=True, download=True)

    return download


_TINY_URL = "http://cs231n.stanford.edu/tiny-imagenet-200.zip"
_TINY_MD5 = "90528d7ca1a48142e341f4ef8d21d0de"
_PNEUMONIA_URL = "https://zenodo.org/records/10519652/files/pneumoniamnist.npz?download=1"


def _download_tinyimagenet(dest: Path) -> None:
    from torchvision.datasets.utils import download_and_extract_archive

    download_and_extract_archive(_TINY_URL, str(dest), md5=_TINY_MD5, remove_finished=True)


def _download_pneumoniamnist(dest: Path) -> None:
    from torchvision.datasets.utils import download_url

    download_url(_PNEUMONIA_URL, str(dest / "medmnist"), filename="pneumoniamnist.npz", md5=readers.PNEUMONIA_MD5)


def _get(layout: str, extra: str) -> str:
    return f"set ${DATA_ENV} (or pass root=) to a folder containing {layout}{extra}"


_CIFAR_PAGE = "https://www.cs.toronto.edu/~kriz/cifar.html"
RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        Recipe("mnist", "MNIST", ("mnist", "MNIST/raw"), readers.check_idx, readers.read_mnist_family("mnist"),
               _get("mnist/ or MNIST/raw/ with the four IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte, "
                    "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte; .gz or not)",
                    " from https://yann.lecun.com/exdb/mnist/; online, download=True fetches them"),
               download=_torchvision_download("MNIST")),
        Recipe("fashion-mnist", "Fashion-MNIST", ("fashion-mnist", "FashionMNIST/raw"), readers.check_idx,
               readers.read_mnist_family("fashion-mnist"),
               f"apt-get install dataset-fashion-mnist (puts the IDX files in {readers.DEBIAN_FASHION}/), or "
               + _get("fashion-mnist/ or FashionMNIST/raw/ with the four IDX files",
                      " from https://github.com/zalandoresearch/fashion-mnist; online, download=True fetches them"),
               known_places=(readers.DEBIAN_FASHION,), download=_torchvision_download("FashionMNIST")),
        Recipe("cifar10", "CIFAR-10 (python version)", ("cifar-10-batches-py",), readers.check_cifar("cifar10"),
               readers.read_cifar("cifar10"),
               _get("cifar-10-batches-py/", f" (extract cifar-10-python.tar.gz from {_CIFAR_PAGE}); online, "
                    "download=True fetches it"),
               download=_torchvision_download("CIFAR10")),
        Recipe("cifar100", "CIFAR-100 (python version)", ("cifar-100-python",), readers.check_cifar("cifar100"),
               readers.read_cifar("cifar100"),
               _get("cifar-100-python/", f" (extract cifar-100-python.tar.gz from {_CIFAR_PAGE}); online, "
                    "download=True fetches it"),
               download=_torchvision_download("CIFAR100")),
        Recipe("cifar10-jpeg", "CIFAR-10 JPEG copy", ("cifar10-jpeg",), image_folders.check_cifar10_jpeg,
               image_folders.read_cifar10_jpeg,
               _get("cifar10-jpeg/train.zip and cifar10-jpeg/test.zip", " (zips of <class>/NNNN.jpg: the project's "
                    "offline JPEG copy of CIFAR-10; for exact CIFAR-10 use the dataset cifar10)"),
               decoded=True),
        Recipe("tinyimagenet", "Tiny ImageNet", ("tiny-imagenet-200", "tiny-imagenet-200.zip"),
               image_folders.check_tinyimagenet, image_folders.read_tinyimagenet,
               _get("tiny-imagenet-200/ or tiny-imagenet-200.zip", f" (from {_TINY_URL}); online, download=True "
                    "fetches it"),
               download=_download_tinyimagenet, decoded=True),
        Recipe("pneumoniamnist", "PneumoniaMNIST", ("medmnist/pneumoniamnist.npz", "pneumoniamnist.npz"),
               readers.check_exists, readers.read_pneumoniamnist,
               _get("medmnist/pneumoniamnist.npz", " (from https://zenodo.org/records/10519652, or where the "
                    "medmnist package puts it, ~/.medmnist/); online, download=True fetches it"),
               known_places=("~/.medmnist/pneumoniamnist.npz",), download=_download_pneumoniamnist),
        Recipe("pneumoniamnist-subset", "PneumoniaMNIST subset shipped with reprolib", (), readers.check_exists,
               readers.read_pneumoniamnist_subset, "reinstall reprolib: the file ships inside the package",
               known_places=(str(readers.SHIPPED_PNEUMONIA),)),
        Recipe("covid-cxr", "COVID-19 Radiography Database",
               ("COVID-19_Radiography_Dataset", "covid-cxr", "COVID-19_Radiography_Dataset.zip", "covid-cxr.zip"),
               image_folders.check_tree, image_folders.read_covid,
               _get("COVID-19_Radiography_Dataset/ (or covid-cxr/, or either as .zip) with the class folders COVID, "
                    "Lung_Opacity, Normal and Viral Pneumonia", " (from https://www.kaggle.com/datasets/"
                    "tawsifurrahman/covid19-radiography-database; needs a Kaggle account)"),
               decoded=True, options={"image_size": list(image_folders.COVID_SIZE), "channels": 1}),
    )
}


def candidate_places(recipe: Recipe, root: str | Path | None) -> list[Path]:
    """Where a copy may be, in search order: data folders, known offline places, earlier downloads."""
    places = [folder / c for folder in data_folders(root) for c in recipe.candidates]
    places += [Path(p).expanduser() for p in recipe.known_places]
    if recipe.download is not None:
        places += [downloads_folder() / c for c in recipe.candidates]
    return places


def find_copy(name: str, root: str | Path | None, download: bool) -> tuple[Recipe, Path]:
    """The first complete copy of ``name``, downloading it when allowed and nothing else was found."""
    recipe = RECIPES[name]
    search = Search(recipe.title, recipe.how_to_get)
    if not os.environ.get(DATA_ENV):
        search.miss(f"${DATA_ENV}", "not set")
    for path in candidate_places(recipe, root):
        why = recipe.check(path)
        if why is None:
            return recipe, path
        search.miss(path, why)
    dest = downloads_folder()
    if recipe.download is None:
        search.miss("download", "not available for this dataset")
    elif not download:
        search.miss(f"download into {dest}", "not tried (download=False)")
    else:
        try:
            recipe.download(dest)
        except Exception as err:  # offline, server down, checksum mismatch: all mean "not found here"
            search.miss(f"download into {dest}", f"failed ({type(err).__name__}: {' '.join(str(err).split())})")
        else:
            for path in (dest / c for c in recipe.candidates):
                if recipe.check(path) is None:
                    return recipe, path
            search.miss(f"download into {dest}", "finished, but the files are not where expected")
    raise search.not_found()


def read_copy(recipe: Recipe, path: Path) -> tuple[RawData, DataSource]:
    """Read the copy at ``path``; decoded image datasets come from the artifact store after the first time."""
    where = portable_location(path)
    if not recipe.decoded:
        raw, source = recipe.read(path)
        return raw, replace(source, location=where, fingerprint=raw.fingerprint())

    def compute() -> dict:
        raw, source = recipe.read(path)
        return {**raw.to_dict(), "source": replace(source, location=where, fingerprint=raw.fingerprint()).as_dict()}

    spec = {"dataset": recipe.name, "location": str(path.resolve()), "files": files_signature(path),
            "options": recipe.options, "reader": READER_VERSION}
    stored = ArtifactStore.default().cached("dataset", spec, compute)
    return RawData.from_dict(stored), replace(DataSource(**stored["source"]), location=where)  # where it is now


def read_dataset(name: str, root: str | Path | None = None, download: bool = True) -> tuple[RawData, DataSource]:
    """The uint8 data of a registered dataset and the source it came from."""
    if name == "digits":
        return readers.read_digits()
    if name not in RECIPES:
        raise unknown_name(name)
    return read_copy(*find_copy(name, root, download))


def folder_recipe(path: str | Path, image_size: tuple[int, int] | None = None, channels: int | None = None) -> Recipe:
    """A recipe for a user's folder or zip of class folders (``train/`` + ``test/`` parts, or one seeded split)."""
    path = Path(path).expanduser().resolve()
    name = f"{FOLDER_PREFIX}{path}"

    def read(p: Path) -> tuple[RawData, DataSource]:
        raw, split = image_folders.read_class_folder_dataset(p, image_size, channels)
        return raw, DataSource(name, f"image folder {path.name}", False, str(p),
                               f"A user-supplied folder of class folders ({len(raw.class_names)} classes), {split}.")

    return Recipe(name, f"image folder {path}", (), image_folders.check_tree, read,
                  "pass an existing folder or zip whose first-level folders are the classes", decoded=True,
                  options={"image_size": list(image_size) if image_size else None, "channels": channels})


def _require_folder(recipe: Recipe) -> Path:
    location = Path(recipe.name[len(FOLDER_PREFIX):])
    why = recipe.check(location)
    if why is not None:
        search = Search(recipe.title, recipe.how_to_get)
        search.miss(location, why)
        raise search.not_found()
    return location


def read_folder(path: str | Path, image_size: tuple[int, int] | None = None,
                channels: int | None = None) -> tuple[RawData, DataSource]:
    """The uint8 data of a folder or zip of class folders, decoded once and then cached."""
    recipe = folder_recipe(path, image_size, channels)
    return read_copy(recipe, _require_folder(recipe))


def folder_info(text: str) -> DatasetInfo:
    """Static facts of a folder dataset (``PATH`` or ``PATH?channels=..&image_size=..``) from its listing
    and first image (nothing else is decoded)."""
    where, image_size, channels = image_folders.split_folder_name(text)
    path = _require_folder(folder_recipe(where))
    classes, (channels, height, width), smallest = image_folders.folder_facts(path, image_size, channels)
    return DatasetInfo(f"{FOLDER_PREFIX}{text}", len(classes), channels, (height, width), smallest,
                       f"images in class folders at {path}; mean/std from the training split", ())
