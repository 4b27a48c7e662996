"""Run records: required keys, atomic writes, every preset's record found, provenance."""

from __future__ import annotations

import json

import pytest

from reprolib import records


def _record(preset="smoke", value=1.0):
    return {"artifact": "demo", "preset": preset, "params": {}, "metrics": {"value": value}}


def test_write_and_read_every_preset(isolated_dirs):
    for preset in ("paper", "mine", "smoke"):
        records.write_record(_record(preset))
    found = records.read_records("demo")
    assert list(found) == ["smoke", "paper", "mine"]  # standard presets first, then user presets
    assert records.read_record("demo", "small") is None


def test_missing_keys_and_non_json_values_are_refused(isolated_dirs):
    with pytest.raises(ValueError, match="needs the key 'metrics'"):
        records.write_record({"artifact": "demo", "preset": "smoke", "params": {}})
    with pytest.raises(ValueError):
        records.write_record(_record(value=float("nan")))
    assert records.read_record("demo", "smoke") is None


def test_failed_write_keeps_the_previous_record(isolated_dirs, monkeypatch):
    path = records.write_record(_record(value=1.0))

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.fsync", full_disk)
    with pytest.raises(OSError, match="previous record is unchanged"):
        records.write_record(_record(value=2.0))
    assert json.loads(path.read_text())["metrics"]["value"] == 1.0
    assert not list(path.parent.glob("*.tmp"))


def test_corrupt_record_is_a_clear_error(isolated_dirs):
    path = records.write_record(_record())
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        records.read_record("demo", "smoke")


def test_provenance_names_device_versions_and_commit():
    prov = records.provenance("cpu: 2 threads")
    assert prov["device"] == "cpu: 2 threads"
    assert {"torch", "kornia", "reprolib", "python"} <= set(prov["versions"])
    assert "date" in prov and "git_commit" in prov
