"""Sweeps on a real SLURM cluster: a one-node cluster on localhost (Debian's slurm-wlm and munge, which
``.ci/run`` installs), submitted to through submitit exactly as on a shared cluster.

The fixture starts munged (unless one runs), slurmctld and slurmd with their configuration, state, spool
and logs in a temporary folder and on free ports, and stops what it started. The test is skipped, with
the reason, only where SLURM is not installed or cannot be started (not root, daemons failing).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

DAEMONS = ("munged", "slurmctld", "slurmd")
SBIN = ("/usr/sbin", "/usr/bin", "/sbin")


def _daemon(name: str) -> str | None:
    return shutil.which(name) or next((f"{d}/{name}" for d in SBIN if Path(d, name).is_file()), None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _slurm_conf(folder: Path, host: str) -> str:
    ctld, slurmd = _free_port(), _free_port()
    return f"""ClusterName=reprolibtest
SlurmctldHost={host}
SlurmUser=root
SlurmctldPort={ctld}
SlurmdPort={slurmd}
AuthType=auth/munge
StateSaveLocation={folder}/state
SlurmdSpoolDir={folder}/spool
SlurmctldPidFile={folder}/slurmctld.pid
SlurmdPidFile={folder}/slurmd.pid
SlurmctldLogFile={folder}/slurmctld.log
SlurmdLogFile={folder}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
ReturnToService=2
MpiDefault=none
NodeName={host} CPUs={os.cpu_count()} State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


def _munge_works() -> bool:
    try:
        encoded = subprocess.run(["munge", "-n"], capture_output=True, timeout=10)
        return encoded.returncode == 0 and subprocess.run(["unmunge"], input=encoded.stdout, capture_output=True,
                                                          timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory):
    """A running one-node cluster: yields the environment (``SLURM_CONF``) its commands need."""
    missing = [d for d in (*DAEMONS, "sbatch", "squeue", "scancel", "munge") if _daemon(d) is None]
    if missing:
        pytest.skip(f"SLURM is not installed (no {', '.join(missing)}): apt-get install slurm-wlm munge, as .ci/run does")
    if os.geteuid() != 0:
        pytest.skip("starting slurmd (and munged as the munge user) needs root, as in CI's container")
    folder = tmp_path_factory.mktemp("slurm")
    (folder / "state").mkdir()
    (folder / "spool").mkdir()
    host = socket.gethostname().split(".")[0]
    (folder / "slurm.conf").write_text(_slurm_conf(folder, host))
    env = {**os.environ, "SLURM_CONF": str(folder / "slurm.conf")}
    started = []
    try:
        if not _munge_works():
            Path("/run/munge").mkdir(parents=True, exist_ok=True)
            shutil.chown("/run/munge", "munge", "munge")
            started.append(subprocess.Popen(["runuser", "-u", "munge", "--", _daemon("munged"), "-F"],
                                            stdout=subprocess.DEVNULL, stderr=open(folder / "munged.err", "w")))
            deadline = time.monotonic() + 20
            while not _munge_works() and time.monotonic() < deadline:
                time.sleep(0.2)
        for name in ("slurmctld", "slurmd"):
            started.append(subprocess.Popen([_daemon(name), "-D"], env=env, stdout=subprocess.DEVNULL,
                                            stderr=open(folder / f"{name}.err", "w")))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            state = subprocess.run(["sinfo", "--noheader", "--format=%T"], env=env, capture_output=True, text=True)
            if state.stdout.strip() == "idle":
                break
            if any(p.poll() is not None for p in started):
                break
            time.sleep(0.5)
        else:
            state = None
        if state is None or state.stdout.strip() != "idle":
            logs = "\n".join(p.read_text()[-1500:] for p in sorted(folder.glob("*.err")) + sorted(folder.glob("*.log")))
            pytest.skip(f"a one-node SLURM cluster did not start here:\n{logs}")
        yield env
    finally:
        _drain(env)
        for proc in reversed(started):
            proc.terminate()
        for proc in reversed(started):
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()


def _drain(env: dict, wait_s: float = 60) -> None:
    """Let the jobs end (a job's result file is written before its step ends), then cancel what is left,
    so that stopping the daemons leaves no job step behind."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        listed = subprocess.run(["squeue", "--noheader"], env=env, capture_output=True, text=True)
        if listed.returncode != 0 or not listed.stdout.strip():
            return
        if time.monotonic() > deadline - wait_s / 2:
            subprocess.run(["scancel", "--user", str(os.geteuid())], env=env, capture_output=True)
        time.sleep(0.5)


def _queued(env: dict) -> dict[str, tuple[str, str]]:
    """{job name: (job id, state)} of the queue."""
    listed = subprocess.run(["squeue", "--noheader", "--states=all", "--format=%i %j %T"], env=env,
                            capture_output=True, text=True, check=True).stdout
    return {name: (job, state) for job, name, state in (line.split() for line in listed.splitlines())}


def _reported(name: str, out: str) -> bool:
    """Whether a job line for artifact ``name`` is in ``out`` ('NAME at RUN: …' or 'NAME: …')."""
    return re.search(rf"^{re.escape(name)}( at \S+)?: ", out, re.MULTILINE) is not None


def test_slurm_sweep_matches_inline_and_missing_redoes_only_the_cancelled_job(tmp_path, slurm_cluster, tiny_sweep,
                                                                             record_metrics):
    """Two artifacts as two SLURM jobs on a CPU cluster (no GPU asked, since it has none; one job at a
    time, each taking the node's CPUs through --slurm). The queued one is cancelled: the sweep reports
    it failed with its state and log, the other's record equals the inline run's; ``--missing`` then
    submits only the cancelled artifact, and every record equals the inline run's. About 60 s on 2 cores."""
    compute = [sys.executable, "-m", "reprolib", "compute", "all", "--preset", str(tiny_sweep), "--device", "cpu"]
    inline_env = {**os.environ, "REPROLIB_CACHE": str(tmp_path / "cache-inline"),
                  "REPROLIB_RESULTS": str(tmp_path / "inline"), "REPROLIB_PROGRESS": "0"}
    done = subprocess.run(compute, env=inline_env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]

    env = {**slurm_cluster, "REPROLIB_CACHE": str(tmp_path / "cache"), "REPROLIB_RESULTS": str(tmp_path / "slurm"),
           "REPROLIB_PROGRESS": "0"}
    jobs = tmp_path / "jobs"
    slurm = [*compute, "--executor", "slurm", "--jobs-folder", str(jobs), "--slurm", f"cpus_per_task={os.cpu_count()}",
             "--slurm", "timeout_min=20", "--slurm", "partition=debug"]
    sweep = subprocess.Popen(slurm, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    deadline, cancelled = time.monotonic() + 120, None
    while cancelled is None and time.monotonic() < deadline and sweep.poll() is None:
        queue = _queued(env)
        pending = [(name, job) for name, (job, state) in queue.items() if state == "PENDING"]
        if len(queue) == 2 and pending:
            cancelled, job = pending[0]
            subprocess.run(["scancel", job], env=env, check=True)
        time.sleep(0.2)
    out, err = sweep.communicate(timeout=600)
    assert cancelled is not None, f"no job was seen queued: {out}\n{err}"
    kept = ({"reprolib-coreset-baselines", "reprolib-classic-distillation"} - {cancelled}).pop().removeprefix("reprolib-")
    cancelled = cancelled.removeprefix("reprolib-")
    assert sweep.returncode == 1, err
    assert f"{cancelled}: FAILED (RuntimeError: SLURM job" in err and "CANCELLED" in err, err
    assert _reported(kept, out) and "on cpu" in out and "log " in out, out
    assert set(record_metrics(tmp_path / "slurm")) == {kept}
    logs = sorted(p.name for p in jobs.rglob("*_log.*"))
    assert len([n for n in logs if n.endswith("_log.out")]) == 1, logs  # the cancelled job never ran

    first_jobs = {p.name for p in jobs.iterdir() if p.name.isdigit()}
    done = subprocess.run([*slurm, "--missing"], env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"{kept}: already done" in done.stdout and _reported(cancelled, done.stdout), done.stdout
    assert len({p.name for p in jobs.iterdir() if p.name.isdigit()} - first_jobs) == 1, "--missing: one job, the cancelled one"
    assert record_metrics(tmp_path / "slurm") == record_metrics(tmp_path / "inline") != {}
    assert len(list(jobs.rglob("*_log.out"))) == 2
