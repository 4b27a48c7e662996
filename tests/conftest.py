"""Shared fixtures: every test gets its own artifact cache and results folder."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path, monkeypatch):
    """Keep tests from reading or writing the user's cache and the committed results/."""
    monkeypatch.setenv("REPROLIB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("REPROLIB_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("REPROLIB_PROGRESS", "0")
    return tmp_path


@pytest.fixture(scope="session")
def digits():
    """The embedded scikit-learn digits, loaded once for every test that trains on a real problem."""
    from reprolib.data import load_dataset

    return load_dataset("digits")


@pytest.fixture
def spy_dsa():
    """A DSA class that records, per siamese call, the parameter draw each batch was augmented with
    (``spy_dsa.calls``); patch it over a module's ``DSA`` to watch what a training loop augments."""
    from reprolib.augment import DSA

    class SpyDSA(DSA):
        calls: list[list] = []

        def siamese(self, *batches, generator=None):
            SpyDSA.calls.append([])
            return super().siamese(*batches, generator=generator)

        def apply(self, x, params):
            if SpyDSA.calls:
                SpyDSA.calls[-1].append((params, len(x)))
            return super().apply(x, params)

    return SpyDSA


@pytest.fixture(scope="session")
def built_book(tmp_path_factory):
    """The book built once per test session from the committed pages: the path of its html/ folder."""
    import subprocess
    import sys
    from pathlib import Path

    from reprolib.records import project_root

    out = tmp_path_factory.mktemp("book")
    run = subprocess.run(
        [str(Path(sys.executable).parent / "jupyter-book"), "build", "book", "--path-output", str(out), "--warningiserror"],
        cwd=project_root(), capture_output=True, text=True,
    )
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-2000:]
    return out / "_build" / "html"
