"""Nothing is lost under faults: a killed run resumes to the same result; bad input computes nothing."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


COMPUTE = [sys.executable, "-m", "reprolib", "compute"]
CORESET = [*COMPUTE, "coreset-baselines", "--device", "cpu",
           "-p", "ipcs=[1,5,10]", "-p", "eval.num_eval=2", "-p", "eval.epochs=30", "-p", "feature_model.train.epochs=3"]
# three short teachers, then MTT and DDPP with a checkpoint every 2 of their 12 iterations
TRAJECTORY = [*COMPUTE, "ddpp-table1", "--device", "cpu", "-p",
              "settings=[{dataset: digits, ipc: 1, teachers: {arch: convnet, arch_options: {depth: 2, width: 16}, "
              "num_teachers: 3, epochs: 6, batch_size: 128}, match: {iterations: 12, syn_steps: 4, expert_epochs: 1, "
              "max_start_epoch: 3, lr_img: 100.0, lr_lr: 1.0e-5, lr_init: 0.01, checkpoint_every: 2}}]",
              "-p", "methods=[mtt, ddpp]", "-p", "coreset_methods=[random]", "-p", "classic_methods=[]",
              "-p", "full_dataset_epochs=0", "-p", "eval.num_eval=1", "-p", "eval.epochs=10"]


def _env(tmp: Path, name: str) -> dict:
    return {**os.environ, "REPROLIB_CACHE": str(tmp / f"cache-{name}"), "REPROLIB_RESULTS": str(tmp / f"results-{name}"),
            "REPROLIB_PROGRESS": "0"}


def _run(args: list[str], env: dict) -> None:
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]


def _kill_when(args: list[str], env: dict, marker: Path, pattern: str, delay: float) -> None:
    """Start ``args`` in its own process group and SIGKILL the whole group ``delay`` s after a file
    matching ``pattern`` appears under ``marker`` (or when it exits first)."""
    victim = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 600
    while not list(marker.rglob(pattern)) and time.monotonic() < deadline and victim.poll() is None:
        time.sleep(0.01)
    time.sleep(delay)
    try:
        os.killpg(victim.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    victim.wait(60)


def _no_partial_artifact_is_readable(cache: Path) -> None:
    """Whatever a kill left is a complete artifact its checksum file accepts, or a stray file the store
    ignores. A checksum file holds one SHA-256, or two (old and new) when a rewrite was interrupted."""
    for path in cache.rglob("*.pt"):
        digest_file = path.with_suffix(".sha256")
        if not digest_file.exists():
            continue
        accepted = digest_file.read_text().split()
        assert 1 <= len(accepted) <= 2 and all(len(s) == 64 for s in accepted), accepted
        assert hashlib.sha256(path.read_bytes()).hexdigest() in accepted, f"{path} is not what its checksum accepts"


def test_sigkill_then_rerun_gives_the_uninterrupted_result(tmp_path, record_metrics):
    _run(CORESET, _env(tmp_path, "ref"))
    env = _env(tmp_path, "killed")
    # kill it at a random point after its first scored cell: some evaluations stored, the rest not
    _kill_when(CORESET, env, tmp_path / "cache-killed" / "evaluation", "*.sha256", random.Random(0).uniform(0.0, 0.5))
    assert not (tmp_path / "results-killed" / "smoke" / "coreset-baselines.json").exists()
    _no_partial_artifact_is_readable(tmp_path / "cache-killed")
    _run(CORESET, env)
    assert record_metrics(tmp_path / "results-killed") == record_metrics(tmp_path / "results-ref") != {}


@pytest.fixture(scope="module")
def trajectory_reference(tmp_path_factory, record_metrics) -> dict:
    tmp = tmp_path_factory.mktemp("trajectory")
    _run(TRAJECTORY, _env(tmp, "ref"))
    return record_metrics(tmp / "results-ref")


@pytest.mark.parametrize("stage, pattern, delay", [
    ("teacher-trajectory", "*.sha256", 0.0),  # after the first of three teachers is stored
    ("distilled-set.checkpoint", "*.sha256", random.Random(1).uniform(0.0, 0.3)),  # mid-distillation
])
def test_killed_teacher_training_or_distillation_resumes_to_the_same_record(tmp_path, trajectory_reference,
                                                                          record_metrics, stage, pattern, delay):
    env = _env(tmp_path, "killed")
    _kill_when(TRAJECTORY, env, tmp_path / "cache-killed" / stage, pattern, delay)
    assert not (tmp_path / "results-killed").exists()
    teachers = len(list((tmp_path / "cache-killed" / "teacher-trajectory").rglob("*.sha256")))
    assert teachers < 3 if stage == "teacher-trajectory" else teachers == 3, f"killed at the wrong point ({teachers} teachers)"
    _no_partial_artifact_is_readable(tmp_path / "cache-killed")
    _run(TRAJECTORY, env)
    assert record_metrics(tmp_path / "results-killed") == trajectory_reference
    assert not list((tmp_path / "cache-killed").glob("*.checkpoint/*.pt")), "a finished run leaves no checkpoint behind"


def test_killed_sweep_reruns_only_what_is_missing_to_the_same_records(tmp_path, tiny_sweep, record_metrics):
    sweep = [*COMPUTE, "all", "--preset", str(tiny_sweep), "--device", "cpu"]
    _run(sweep, _env(tmp_path, "ref"))
    env = _env(tmp_path, "killed")
    local = [*sweep, "--executor", "local", "--jobs", "2", "--jobs-folder", str(tmp_path / "jobs")]
    _kill_when(local, env, tmp_path / "cache-killed", "*.sha256", random.Random(2).uniform(0.0, 1.0))
    _no_partial_artifact_is_readable(tmp_path / "cache-killed")
    done = subprocess.run([*sweep, "--missing"], env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert record_metrics(tmp_path / "results-killed") == record_metrics(tmp_path / "results-ref")
    assert set(record_metrics(tmp_path / "results-ref")) == {"coreset-baselines", "classic-distillation"}


def test_malformed_preset_and_missing_data_fail_cleanly(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("artifacts: {coreset-baselines: {ipcs: [1, }\n")
    env = {**_env(tmp_path, "bad"), "REPROLIB_DATA": str(tmp_path / "empty")}
    run = subprocess.run([sys.executable, "-m", "reprolib", "compute", "coreset-baselines", "--preset", str(bad)],
                         env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 2 and "not valid YAML" in run.stderr
    run = subprocess.run([sys.executable, "-m", "reprolib", "compute", "coreset-baselines", "-p", "datasets=[cifar100]"],
                         env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode != 0
    assert "not found" in run.stderr and "REPROLIB_DATA" in run.stderr
    assert not (tmp_path / "results-bad").exists()
