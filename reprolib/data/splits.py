"""The fixed, seeded, stratified train/test split for datasets that ship without an official one."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

SPLIT_SEED = 0
TEST_FRACTION = 0.2


def stratified_split(keys: Sequence[str], labels: np.ndarray, test_fraction: float = TEST_FRACTION,
                     seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (train, test) indices: per class, the round(test_fraction * n) items with the smallest
    SHA-256 of ``f"{seed}:{key}"`` go to test.

    Keys are stable names (a file's relative path, or an index), so the split depends neither on
    library versions nor on the order in which files are listed.
    """
    labels = np.asarray(labels)
    rank = {i: hashlib.sha256(f"{seed}:{key}".encode()).digest() for i, key in enumerate(keys)}
    is_test = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        n_test = int(test_fraction * len(members) + 0.5)
        is_test[sorted(members, key=rank.__getitem__)[:n_test]] = True
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)
