"""Sweeps: the local executor with 2 jobs gives the sequential records; a rerun does only what is missing;
SLURM settings are checked and override the defaults (tests/test_slurm.py submits to a real cluster)."""

from __future__ import annotations

import json
import os

import pytest

from reprolib.cli import main
from reprolib.sweep import SweepOptions, slurm_parameters


def _metrics(results, preset="tiny"):
    found = {}
    for path in sorted((results / preset).glob("*.json")):
        found[path.stem] = json.loads(path.read_text())["metrics"]
    return found


def test_local_executor_matches_sequential_and_resumes(tmp_path, monkeypatch, capsys, tiny_sweep):
    base = ["compute", "coreset-baselines", "--preset", str(tiny_sweep), "--device", "cpu"]

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


def test_a_record_whose_parameters_have_integer_keys_counts_as_done(tiny_sweep):
    """classic-distillation's ``loops: {1: [1, 1]}`` comes back from JSON with the key "1": still done."""
    from reprolib.presets import resolve
    from reprolib.records import write_record
    from reprolib.runner import _plain
    from reprolib.sweep import is_done

    params = _plain(resolve("classic-distillation", str(tiny_sweep)))
    assert 1 in params["dc"]["loops"]
    write_record({"artifact": "classic-distillation", "preset": "tiny", "params": params, "metrics": {}})
    assert is_done("classic-distillation", str(tiny_sweep), {})


def _fake_sinfo(tmp_path, monkeypatch, gres: str) -> None:
    """A ``sinfo`` on PATH that lists nodes with these generic resources."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sinfo").write_text(f"#!/bin/sh\nprintf '%s\\n' {gres}\n")
    (bin_dir / "sinfo").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")


@pytest.mark.parametrize("gres, gpus", [("'(null)'", None), ("gpu:4 '(null)'", 1), ("'gpu:a100:8(S:0-1),shard:8'", 1)])
def test_gpus_per_job_default_to_what_the_partition_has(tmp_path, monkeypatch, gres, gpus):
    _fake_sinfo(tmp_path, monkeypatch, gres)
    params = slurm_parameters(SweepOptions(executor="slurm"))
    assert params.get("gpus_per_node") == gpus  # a CPU cluster is asked for no GPU (sbatch refuses a gres it lacks)


def test_every_slurm_key_overrides_the_defaults(tmp_path, monkeypatch):
    import submitit

    _fake_sinfo(tmp_path, monkeypatch, "gpu:4")
    given = {"gpus_per_node": 0, "timeout_min": 30, "tasks_per_node": 2, "name": "mine", "partition": "cpu",
             "slurm_mem": "4G", "cpus_per_task": 8}
    params = slurm_parameters(SweepOptions(executor="slurm", slurm=given))
    assert "gpus_per_node" not in params and params["slurm_partition"] == "cpu" and params["timeout_min"] == 30
    executor = submitit.AutoExecutor(folder=tmp_path / "jobs", cluster="slurm")
    executor.update_parameters(**params)  # no "multiple values for keyword argument"
    sbatch = executor._executor._make_submission_file_text("true", "0")
    for line in ("--partition=cpu", "--ntasks-per-node=2", "--job-name=mine", "--mem=4G", "--cpus-per-task=8", "--time=30"):
        assert line in sbatch
    assert "gpus" not in sbatch


@pytest.mark.parametrize("given, message", [
    ({"partiton": "gpu"}, "unknown --slurm key 'partiton' \\(did you mean slurm_partition\\?\\)"),
    ({"gpus_per_nod": 1}, "did you mean gpus_per_node"),
    ({"gpus_per_node": "two"}, "gpus_per_node='two': expected int"),
])
def test_bad_slurm_keys_are_named(given, message):
    with pytest.raises(ValueError, match=message):
        SweepOptions(executor="slurm", slurm=given)


def test_slurm_settings_need_the_slurm_executor(capsys):
    assert main(["compute", "coreset-baselines", "--executor", "local", "--slurm", "partition=gpu"]) == 2
    assert "--slurm settings apply to --executor slurm" in capsys.readouterr().err
