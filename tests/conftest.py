"""Shared fixtures: every test gets its own artifact cache and results folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reprolib import records

# two small artifacts (coreset baselines; DC and DM) for the sweep tests: about 20 s on one CPU core
TINY_SWEEP = """precision: fp32
artifacts:
  coreset-baselines:
    ipcs: [1]
    methods: [random, herding]
    feature_model: {arch: convnet, arch_options: {depth: 2, width: 8}, train: {epochs: 2}}
    eval: {arch: convnet, arch_options: {depth: 2, width: 8}, num_eval: 1, epochs: 5}
  classic-distillation:
    ipcs: [1]
    methods: [dc, dm]
    dc: {iterations: 3, loops: {1: [1, 1]}, batch_real: 32, init: real, arch: convnet, arch_options: {depth: 2, width: 8}}
    dm: {iterations: 6, batch_real: 32, arch: convnet, arch_options: {depth: 2, width: 8}}
    eval: {arch: convnet, arch_options: {depth: 2, width: 8}, num_eval: 1, epochs: 5}
    checkpoint_every: 1
"""


@pytest.fixture
def tiny_sweep(tmp_path) -> Path:
    """A preset file listing the two small artifacts of ``TINY_SWEEP`` (so ``all`` sweeps both)."""
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY_SWEEP)
    return path


def _without_timings(value):
    """A record's metrics minus what differs between identical runs (wall-clock timings, the device text)."""
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items() if "seconds" not in k and k != "timed_on"}
    if isinstance(value, list):
        return [_without_timings(v) for v in value]
    return value


@pytest.fixture(scope="session")
def record_metrics():
    """A reader of a results folder: {artifact: metrics without timings} over every record in it."""
    def read(folder: Path) -> dict:
        return {p.stem: _without_timings(json.loads(p.read_text())["metrics"]) for p in sorted(Path(folder).rglob("*.json"))}
    return read


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path, monkeypatch):
    """Keep tests from reading or writing the user's cache and the committed results/."""
    monkeypatch.setenv("REPROLIB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("REPROLIB_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("REPROLIB_PROGRESS", "0")
    # A user preset without 'precision:' runs 'auto' (bf16 + torch.compile here); compiling every tiny
    # network would cost the suite minutes, so tests run bf16 eager unless one asks for compiling.
    monkeypatch.setenv("REPROLIB_COMPILE", "0")
    monkeypatch.setattr(records, "_UNFILED", {})  # records a test's kernel showed but did not file stay in that test
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
