"""Running many artifacts: in this process, as local jobs, or on a SLURM cluster, through submitit.

Each artifact is one job (one GPU on a cluster). Prerequisites shared between artifacts (teacher
trajectories, trained models, distilled sets) live in the artifact store, where a file lock makes the
first job compute them and every other job wait and reuse them; so the jobs need no ordering, only a
store they all see (``$REPROLIB_CACHE`` on a shared filesystem for a cluster). A rerun after a
failure submits only the artifacts whose record is missing or was made with other parameters.
"""

from __future__ import annotations

import os
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
    """Where and how the jobs run. ``slurm`` holds extra submitit parameters (``slurm_partition``, ...)."""

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


def is_done(name: str, preset: str, overrides: Mapping[str, Any]) -> bool:
    """Whether a record exists for ``name`` at ``preset`` made with exactly these parameters."""
    record = read_record(name, run_name(preset_name(preset), overrides))
    wanted = precision.resolve(split_precision(preset, overrides)[1], resolve_device("auto")).precision
    return (record is not None and record.get("params") == _plain(resolve(name, preset, overrides))
            and record.get("precision", "fp32") == wanted)


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
        executor.update_parameters(timeout_min=options.timeout_min, gpus_per_node=1, tasks_per_node=1,
                                   name="reprolib", **options.slurm)
    env = {k: v for k, v in os.environ.items() if k.startswith("REPROLIB_")}
    lines, pending = [], list(names)
    while pending:  # at most `jobs` at a time (a cluster queues them anyway: submit all)
        batch_size = len(pending) if options.executor == "slurm" else options.jobs
        batch, pending = pending[:batch_size], pending[batch_size:]
        submitted = [executor.submit(_with_env, env, mode, n, preset, overrides, target) for n in batch]
        lines += [_guarded(name, handle.result) for name, handle in zip(batch, submitted)]
    return lines


def _with_env(env: dict, mode: str, name: str, preset: str, overrides: dict, target: str | None) -> str:
    """The job body: the submitting shell's REPROLIB_* settings, then the artifact."""
    os.environ.update(env)
    return job(mode, name, preset, overrides, target)
