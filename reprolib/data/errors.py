"""The two ways loading a dataset fails: no copy found, or a copy that cannot be read."""

from __future__ import annotations

from pathlib import Path


class DatasetNotFoundError(FileNotFoundError):
    """No copy of the dataset anywhere; the message lists every place looked and how to get it."""


class DatasetCorruptError(ValueError):
    """A dataset file exists but is damaged: bad gzip, wrong header, truncated archive, wrong counts."""

    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}. The file is damaged or not the expected dataset: "
                         "replace it with a fresh copy.")
