"""Nothing is lost under faults: a killed run resumes to the same result; bad input computes nothing."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from reprolib.store import ArtifactStore

ARGS = ["-m", "reprolib", "compute", "coreset-baselines", "--device", "cpu",
        "-p", "ipcs=[1,5,10]", "-p", "eval.num_eval=2", "-p", "eval.epochs=30", "-p", "feature_model.train.epochs=3"]


def _env(tmp: Path, name: str) -> dict:
    return {**os.environ, "REPROLIB_CACHE": str(tmp / f"cache-{name}"), "REPROLIB_RESULTS": str(tmp / f"results-{name}"),
            "REPROLIB_PROGRESS": "0"}


def _metrics(tmp: Path, name: str) -> list:
    record = json.loads((tmp / f"results-{name}" / "smoke" / "coreset-baselines.json").read_text())
    return record["metrics"]["rows"]


def test_sigkill_then_rerun_gives_the_uninterrupted_result(tmp_path):
    reference = subprocess.run([sys.executable, *ARGS], env=_env(tmp_path, "ref"), capture_output=True, text=True, timeout=600)
    assert reference.returncode == 0, reference.stderr[-3000:]

    env = _env(tmp_path, "killed")
    victim = subprocess.Popen([sys.executable, *ARGS], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # kill it at a random point after its first scored cell: some evaluations stored, the rest not
    cache, deadline = tmp_path / "cache-killed" / "evaluation", time.monotonic() + 300
    while not list(cache.rglob("*.sha256")) and time.monotonic() < deadline and victim.poll() is None:
        time.sleep(0.02)
    time.sleep(random.Random(0).uniform(0.0, 0.5))
    victim.send_signal(signal.SIGKILL)
    victim.wait(60)
    assert not (tmp_path / "results-killed" / "smoke" / "coreset-baselines.json").exists()

    # whatever the kill left in the cache is either a complete, checksummed artifact or ignored
    store = ArtifactStore(tmp_path / "cache-killed")
    for path in (tmp_path / "cache-killed").rglob("*.pt"):
        digest_file = path.with_suffix(".sha256")
        assert not digest_file.exists() or len(digest_file.read_text()) == 64

    resumed = subprocess.run([sys.executable, *ARGS], env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert _metrics(tmp_path, "killed") == _metrics(tmp_path, "ref")
    assert store.root.exists()


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
