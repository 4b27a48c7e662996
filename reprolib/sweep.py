"""Running many artifacts: in this process, as local jobs, or on a SLURM cluster, through submitit.

Each artifact is one job (on SLURM with as many GPUs as ``--slurm gpus_per_node=N`` asks, by default
one where the partition's nodes have GPUs and none where they have not). Prerequisites shared between
artifacts (teacher trajectories, trained models, distilled sets) live in the artifact store, where a
file lock makes the first job compute them and every other job wait and reuse them; so the jobs need no
ordering, only a store they all see (``$REPROLIB_CACHE`` on a shared filesystem for a cluster). A rerun after a
failure submits only the artifacts whose record is missing or was made with other parameters.
"""

from __future__ import annotations

import difflib
import json
import os
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reprolib import precision
from reprolib.presets import preset_name, resolve, split_precision
from reprolib.records import outcome_line, read_record, run_name
from reprolib.runner import _plain, run_artifact, run_notebook
from reprolib.runtime import resolve_device

EXECUTORS = ("inline", "local", "slurm")


@dataclass(frozen=True)
class SweepOptions:
    """Where and how the jobs run. ``slurm`` holds submitit parameters (``slurm_partition``, ``gpus_per_node``,
    ``cpus_per_task``, ...; sbatch's own names such as ``partition`` work too) over :func:`slurm_parameters`'s
    defaults."""

    executor: str = "inline"
    jobs: int = 1
    folder: Path = Path("_build/sweep")
    timeout_min: int = 24 * 60
    slurm: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.executor not in EXECUTORS:
            raise ValueError(f"unknown executor {self.executor!r}; choose one of {', '.join(EXECUTORS)}")
        if self.jobs < 1:
            raise ValueError(f"--jobs must be ≥ 1, got {self.jobs}")
        if self.slurm and self.executor != "slurm":
            raise ValueError(f"--slurm settings apply to --executor slurm, not {self.executor}")
        object.__setattr__(self, "slurm", check_slurm_keys(self.slurm))


def check_slurm_keys(given: Mapping[str, Any]) -> dict:
    """``given`` with sbatch-style names (``partition``) spelt as submitit's (``slurm_partition``); an
    unknown key or a wrong type is an error naming it (and the closest valid key)."""
    if not given:
        return {}
    from submitit import AutoExecutor, SlurmExecutor

    generic = AutoExecutor._typed_parameters()
    specific = {f"slurm_{k}" for k in SlurmExecutor._valid_parameters()}
    checked = {}
    for key, value in given.items():
        key = key if key in generic or key in specific or f"slurm_{key}" not in specific else f"slurm_{key}"
        if key not in generic and key not in specific:
            close = difflib.get_close_matches(key, [*generic, *specific], n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ValueError(f"unknown --slurm key {key!r}{hint}; valid: {', '.join(sorted(generic))} and "
                             f"slurm_<sbatch option> ({', '.join(sorted(specific))})")
        kind = (int, float) if generic.get(key) is float else generic.get(key, object)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ValueError(f"--slurm {key}={value!r}: expected {generic[key].__name__}")
        checked[key] = value
    return checked


def partition_gpus(partition: str | None = None) -> int:
    """The most GPUs a node of ``partition`` (default: the cluster's default partition) has, from sinfo's
    generic resources (``gpu:4``, ``gpu:a100:8(S:0-1)``); 0 when none (or sinfo cannot tell)."""
    command = ["sinfo", "--noheader", "--format=%G", *(["--partition", partition] if partition else [])]
    try:
        listed = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    counts = [0]
    for gres in listed.replace(",", " ").split():
        fields = gres.split("(")[0].split(":")
        if fields[0] == "gpu" and fields[-1].isdigit():
            counts.append(int(fields[-1]))
    return max(counts)


def slurm_parameters(options: SweepOptions) -> dict:
    """submitit's parameters for one artifact's job: one task, ``options.timeout_min``, one GPU where the
    partition has GPUs (none on a CPU cluster), then every ``--slurm`` setting over these."""
    defaults = {"timeout_min": options.timeout_min, "tasks_per_node": 1}
    if "gpus_per_node" not in options.slurm and "slurm_gpus_per_node" not in options.slurm:
        defaults["gpus_per_node"] = min(1, partition_gpus(options.slurm.get("slurm_partition")))
    merged = {**defaults, **options.slurm}
    return {k: v for k, v in merged.items() if not (k.endswith("gpus_per_node") and v == 0)}  # no gres asked


def is_done(name: str, preset: str, overrides: Mapping[str, Any]) -> bool:
    """Whether a record exists for ``name`` at ``preset`` made with exactly these parameters."""
    record = read_record(name, run_name(preset_name(preset), overrides))
    wanted = json.loads(json.dumps(_plain(resolve(name, preset, overrides))))  # as stored: integer keys are text
    numerics = precision.resolve(split_precision(preset, overrides)[1], resolve_device("auto")).precision
    return record is not None and record.get("params") == wanted and record.get("precision", "fp32") == numerics


def job(mode: str, name: str, preset: str, overrides: Mapping[str, Any], target: str | None = None) -> str:
    """One artifact: ``compute`` its record (``target``: the device), or ``run`` (execute) its notebook
    (``target``: the kernel). Runs in the job's process."""
    if mode == "compute":
        return outcome_line(run_artifact(name, preset, overrides, device=target or "auto"))
    page = run_notebook(name, preset, overrides, kernel=target)
    record = read_record(name, run_name(preset_name(preset), overrides))
    return f"{outcome_line(record) if record else name} -> {page}"


def sweep(mode: str, names: Sequence[str], preset: str, overrides: Mapping[str, Any], options: SweepOptions,
          only_missing: bool = False, target: str | None = None) -> list[str]:
    """Run ``names`` with ``options.executor``; returns one line per artifact (skipped ones say so).

    Parameters of every artifact are validated before any job starts.
    """
    for name in names:
        resolve(name, preset, overrides)
    todo = [n for n in names if not (only_missing and is_done(n, preset, overrides))]
    lines = [f"{n}: already done at preset {preset_name(preset)} with these parameters" for n in names if n not in todo]
    if options.executor == "inline":
        return lines + [_guarded(n, job, mode, n, preset, overrides, target) for n in todo]
    return lines + _submit(mode, todo, preset, dict(overrides), options, target)


def _guarded(name: str, fn, *args) -> str:
    """Run one job; a failure becomes a FAILED line so the other artifacts still run."""
    try:
        return fn(*args)
    except Exception as err:
        lines = str(err).strip().splitlines()
        message = "\n".join(lines) if len(lines) <= 15 else lines[-1]  # a notebook traceback: its last line
        return f"{name}: FAILED ({type(err).__name__}: {message})"


def _submit(mode: str, names: Sequence[str], preset: str, overrides: dict, options: SweepOptions,
            target: str | None) -> list[str]:
    import submitit

    folder = Path(options.folder).resolve() / "%j"
    if options.executor == "local":
        executor = submitit.LocalExecutor(folder=folder)
        executor.update_parameters(timeout_min=options.timeout_min)
    else:
        executor = submitit.AutoExecutor(folder=folder, cluster="slurm")
        executor.update_parameters(**slurm_parameters(options))
    env = {k: v for k, v in os.environ.items() if k.startswith("REPROLIB_")}
    lines, pending = [], list(names)
    while pending:  # at most `jobs` at a time (a cluster queues them anyway: submit all)
        batch_size = len(pending) if options.executor == "slurm" else options.jobs
        batch, pending = pending[:batch_size], pending[batch_size:]
        submitted = []
        for name in batch:
            if options.executor == "slurm" and "name" not in options.slurm:
                executor.update_parameters(name=f"reprolib-{name}")  # squeue shows which artifact runs
            submitted.append(executor.submit(_with_env, env, mode, name, preset, overrides, target))
        lines += [_guarded(name, _outcome, handle, options.executor) for name, handle in zip(batch, submitted)]
    return lines


def _outcome(handle, executor: str) -> str:
    """The job's line, followed by where its log is; a SLURM job that leaves the queue without a result
    (cancelled, killed, out of time) is a failure naming its state and log, even where ``sacct`` (which
    submitit asks) has no accounting storage to say so."""
    log = f"[job {handle.job_id}, log {handle.paths.stdout}]"
    while executor == "slurm" and not handle.done():
        state = _queue_state(handle.job_id)
        if state not in _ACTIVE:
            # a completed job's result file may take a while to show on a shared filesystem
            deadline = time.monotonic() + (60 if state in ("COMPLETED", None) else 5)
            while not handle.done() and time.monotonic() < deadline:
                time.sleep(1)
            if handle.done():
                break
            raise RuntimeError(f"SLURM job {handle.job_id} ended without a result ({state or 'no longer queued'}) {log}")
        time.sleep(2)
    return f"{handle.result()} {log}"


_ACTIVE = ("PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "PREEMPTED", "REQUEUED", "REQUEUE_HOLD",
           "REQUEUE_FED", "RESIZING", "SIGNALING", "STAGE_OUT", "RESV_DEL_HOLD")


def _queue_state(job_id: str) -> str | None:
    """The job's state as squeue reports it (finished jobs stay listed for a few minutes), None once gone,
    RUNNING while squeue cannot be asked (a busy controller is no reason to give up on a job)."""
    try:
        listed = subprocess.run(["squeue", "--noheader", "--states=all", "--jobs", str(job_id), "--format=%T"],
                                capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return "RUNNING"
    if listed.returncode != 0:
        return None if "Invalid job id" in listed.stderr else "RUNNING"
    return listed.stdout.strip() or None


def _with_env(env: dict, mode: str, name: str, preset: str, overrides: dict, target: str | None) -> str:
    """The job body: the submitting shell's REPROLIB_* settings, then the artifact."""
    os.environ.update(env)
    return job(mode, name, preset, overrides, target)
