"""Sweeps: the local executor with 2 jobs gives the sequential records; a rerun does only what is missing."""

from __future__ import annotations

import json

import pytest

from reprolib.cli import main
from reprolib.sweep import SweepOptions

TINY = """artifacts:
  coreset-baselines:
    ipcs: [1]
    methods: [random, herding]
    feature_model: {arch: convnet, arch_options: {depth: 2, width: 8}, train: {epochs: 2}}
    eval: {arch: convnet, arch_options: {depth: 2, width: 8}, num_eval: 1, epochs: 5}
"""


def _metrics(results, preset="tiny"):
    found = {}
    for path in sorted((results / preset).glob("*.json")):
        found[path.stem] = json.loads(path.read_text())["metrics"]
    return found


def test_local_executor_matches_sequential_and_resumes(tmp_path, monkeypatch, capsys):
    preset = tmp_path / "tiny.yaml"
    preset.write_text(TINY)
    base = ["compute", "coreset-baselines", "--preset", str(preset), "--device", "cpu"]

    monkeypatch.setenv("REPROLIB_RESULTS", str(tmp_path / "sequential"))
    assert main(base) == 0
    monkeypatch.setenv("REPROLIB_RESULTS", str(tmp_path / "local"))
    monkeypatch.setenv("REPROLIB_CACHE", str(tmp_path / "cache-local"))
    assert main([*base, "--executor", "local", "--jobs", "2", "--jobs-folder", str(tmp_path / "jobs")]) == 0
    assert _metrics(tmp_path / "local") == _metrics(tmp_path / "sequential") != {}

    capsys.readouterr()
    assert main([*base, "--missing"]) == 0
    assert "already done" in capsys.readouterr().out
    assert main([*base, "--missing", "-p", "ipcs=[2]"]) == 0  # other parameters: not done, so it runs
    [filed] = (tmp_path / "local").glob("tiny+*/coreset-baselines.json")  # filed apart from the preset's record
    assert json.loads(filed.read_text())["params"]["ipcs"] == [2]
    assert main([*base, "--missing", "-p", "ipcs=[2]"]) == 0
    assert "already done" in capsys.readouterr().out


@pytest.mark.parametrize("kwargs, message", [({"executor": "kubernetes"}, "unknown executor"), ({"jobs": 0}, "--jobs")])
def test_bad_sweep_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SweepOptions(**kwargs)
