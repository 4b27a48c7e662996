"""Which copy of a dataset was used (DataSource), where copies are looked for, and the not-found error."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from reprolib.data.errors import DatasetNotFoundError
from reprolib.store import default_root

DATA_ENV = "REPROLIB_DATA"


@dataclass(frozen=True)
class DataSource:
    """The copy of a dataset that was loaded, as every result must report it.

    ``exact`` says whether its content is identical to the official dataset; ``note`` is one
    sentence for the book (lossy? subset? stand-in?); ``fingerprint`` is the SHA-256 of the loaded
    uint8 images and labels, which identifies the content in artifact specs.
    """

    dataset: str
    label: str
    exact: bool
    location: str
    note: str
    fingerprint: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def data_folders(root: str | Path | None) -> list[Path]:
    """Data folders to search, in order: ``root``, then each entry of ``$REPROLIB_DATA`` (``os.pathsep``-separated)."""
    folders = [Path(root).expanduser()] if root is not None else []
    folders += [Path(entry).expanduser() for entry in os.environ.get(DATA_ENV, "").split(os.pathsep) if entry]
    return folders


def downloads_folder() -> Path:
    """Where downloads go (and are found again): ``downloads/`` in the artifact cache folder."""
    return default_root() / "downloads"


def portable_location(path: Path) -> str:
    """``path`` as a record states it, without this machine's folders: relative to the package (shipped
    data), the ``$REPROLIB_DATA``
    folder or the downloads folder it was found in, else to the home folder, else as it is."""
    import reprolib

    roots = [(Path(reprolib.__file__).parent, "reprolib")]  # data shipped inside the package
    roots += [(folder, f"${DATA_ENV}") for folder in data_folders(None)]
    roots += [(downloads_folder(), "downloads (torchvision)"), (Path.home(), "~")]
    for root, name in roots:
        if path.is_relative_to(root):
            return f"{name}/{path.relative_to(root).as_posix()}"
    return str(path)


@dataclass
class Search:
    """The places tried for one dataset, in order, each with why it did not hold a usable copy."""

    title: str
    how_to_get: str
    looked: list[str] = field(default_factory=list)

    def miss(self, place: str | Path, why: str) -> None:
        self.looked.append(f"{place}: {why}")

    def not_found(self) -> DatasetNotFoundError:
        places = "\n".join(f"  - {p}" for p in self.looked)
        return DatasetNotFoundError(f"{self.title} not found. Looked in:\n{places}\nTo get it: {self.how_to_get}")
