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
