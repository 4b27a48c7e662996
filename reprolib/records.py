"""Run records: the JSON files under ``results/<run name>/<artifact>.json`` that the book shows.

A record holds what was run (parameters, data source), what came out (metrics), what the paper says
(paper values) and how it ran (device, library versions, git commit, wall time, date). Its identity is
the preset plus the overrides: a run with overrides is filed under ``<preset>+<hash of the overrides>``
(:func:`run_name`), never over the preset's own record. The book shows every run's record that exists
for an artifact, so re-running at ``smoke`` never hides a committed ``small`` or ``paper`` result.

Inside a Jupyter kernel records are written only where ``$REPROLIB_RESULTS`` points (``reprolib run``
points it at the project's ``results/``): a plain ``papermill ... out.ipynb`` to a scratch file shows
its run on the page but files nothing in the checkout unless the user says where.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

import reprolib
from reprolib.store import atomic_write_bytes

PRESET_ORDER = ("smoke", "small", "paper")


def project_root() -> Path:
    """The checkout holding ``reprolib/`` (an editable install), used for ``results/`` and notebooks."""
    return Path(reprolib.__file__).resolve().parents[1]


def results_root() -> Path:
    """``$REPROLIB_RESULTS``, else ``<project>/results``."""
    override = os.environ.get("REPROLIB_RESULTS")
    return Path(override).expanduser() if override else project_root() / "results"


def record_path(artifact: str, run: str, root: Path | None = None) -> Path:
    """Where the record of ``artifact`` for the run named ``run`` (see :func:`run_name`) lives."""
    return (root or results_root()) / run / f"{artifact}.json"


def run_name(preset: str, overrides: Mapping[str, Any] | None = None) -> str:
    """The name a run is filed under: the preset's, plus ``+<8 hex digits>`` of the overrides when any."""
    if not overrides:
        return preset
    canonical = json.dumps(overrides, sort_keys=True, default=str, separators=(",", ":"))
    return f"{preset}+{hashlib.sha256(canonical.encode()).hexdigest()[:8]}"


def overrides_text(overrides: Mapping[str, Any] | None) -> str:
    """Overrides as the ``-p`` arguments that give them: ``ipcs=[2] eval.epochs=5``."""
    return " ".join(f"{k}={json.dumps(v, default=str, separators=(',', ':'))}" for k, v in (overrides or {}).items())


def stopped_parts(record: Mapping[str, Any]) -> list[str]:
    """Every part of a record's metrics that did not finish (``status`` other than ok), named by its
    method, dataset, IPC or label, with its message's first line."""
    found: list[str] = []

    def visit(value: Any) -> None:
        if isinstance(value, Mapping):
            if value.get("status") not in (None, "ok"):
                where = " ".join(str(value[k]) for k in ("method", "label", "dataset") if value.get(k) is not None)
                where += f" IPC {value['ipc']}" if value.get("ipc") is not None else ""
                message = str(value.get("message") or "").strip().splitlines()
                found.append(f"{where or 'a part'} {value['status']}" + (f" ({message[0][:160]})" if message else ""))
            for v in value.values():
                visit(v)
        elif isinstance(value, list):
            for v in value:
                visit(v)

    visit(record.get("metrics", {}))
    return list(dict.fromkeys(found))


def git_commit() -> str | None:
    """The checkout's commit (with '+dirty' when it has uncommitted changes), or None outside git."""
    try:
        run = lambda *args: subprocess.run(  # noqa: E731
            ["git", *args], cwd=project_root(), capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        commit = run("rev-parse", "HEAD")
        dirty = run("status", "--porcelain", "--untracked-files=no")
        return commit + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def versions() -> dict[str, str]:
    """Versions of the packages that determine the numbers."""
    import kornia
    import numpy

    found = {
        "python": platform.python_version(),
        "reprolib": reprolib.__version__,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "kornia": kornia.__version__,
    }
    try:
        import torchvision

        found["torchvision"] = torchvision.__version__
    except Exception:  # torchvision is optional for computation
        pass
    return found


def provenance(device: str) -> dict[str, Any]:
    """How and where a run happened."""
    return {
        "device": device,
        "versions": versions(),
        "git_commit": git_commit(),
        "host_platform": platform.platform(),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def outcome_line(record: Mapping[str, Any]) -> str:
    """One line for the terminal: the run, its time and device, and every part that did not finish."""
    line = f"{record['artifact']} at {record.get('run', record['preset'])}: {record.get('wall_time_s', '?')} s on {record.get('device', '?')}"
    stopped = stopped_parts(record)
    return line + (f"; NOT FINISHED: {'; '.join(stopped)} (the page says so)" if stopped else "")


def in_unpointed_kernel() -> bool:
    """Whether this is a Jupyter kernel with no ``$REPROLIB_RESULTS`` (a plain papermill run): its
    records are shown, not filed in the checkout."""
    import sys

    return "ipykernel" in sys.modules and not os.environ.get("REPROLIB_RESULTS")


_UNFILED: dict[tuple[str, str], dict[str, Any]] = {}  # this process's records that were shown, not filed


def keep_unfiled(record: dict[str, Any]) -> None:
    """Hold a record that is not written to disk so this process's pages still show it."""
    _UNFILED[(record["artifact"], record.get("run", record["preset"]))] = record


def write_record(record: dict[str, Any], root: Path | None = None) -> Path:
    """Write ``record`` (which names its ``artifact``, ``preset`` and, with overrides, its ``run``)
    atomically; returns the path.

    A failed write (full disk, no permission) raises and leaves the previous record intact.
    """
    for key in ("artifact", "preset", "params", "metrics"):
        if key not in record:
            raise ValueError(f"a run record needs the key {key!r}; it has {sorted(record)}")
    path = record_path(record["artifact"], record.get("run", record["preset"]), root)
    data = json.dumps(record, indent=1, sort_keys=False, allow_nan=False).encode() + b"\n"
    try:
        atomic_write_bytes(path, data)
    except OSError as err:
        raise OSError(f"could not write the run record {path}: {err}; the previous record is unchanged") from err
    return path


def read_record(artifact: str, run: str, root: Path | None = None) -> dict[str, Any] | None:
    """The record of ``artifact`` for the run named ``run`` (a preset, or ``preset+hash``), or None."""
    if root is None and (artifact, run) in _UNFILED:
        return _UNFILED[(artifact, run)]
    path = record_path(artifact, run, root)
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"the run record {path} is not valid JSON ({err}); delete it and re-run") from err


def read_records(artifact: str, root: Path | None = None) -> dict[str, dict[str, Any]]:
    """Every run's record for ``artifact`` by run name: the standard presets first, then each preset's
    override runs, then any user preset (and this process's unfiled runs, see :func:`keep_unfiled`)."""
    base = root or results_root()
    runs = [d.name for d in base.iterdir() if d.is_dir()] if base.is_dir() else []
    if root is None:
        runs += [run for name, run in _UNFILED if name == artifact]

    def order(run: str) -> tuple:
        preset, _, digest = run.partition("+")
        return (PRESET_ORDER.index(preset) if preset in PRESET_ORDER else len(PRESET_ORDER), preset, digest)

    found = {run: read_record(artifact, run, root) for run in sorted(set(runs), key=order)}
    return {run: r for run, r in found.items() if r is not None}


def failure_path(artifact: str, run: str, root: Path | None = None) -> Path:
    return (root or results_root()) / run / f"{artifact}.failed.json"


def write_failure(artifact: str, run: str, error: BaseException) -> None:
    """Note that the page of ``artifact`` failed to execute for ``run`` (its previous page stays)."""
    # papermill's error carries the notebook's exception as ename/evalue; others: the message's last line
    kind = getattr(error, "ename", None) or type(error).__name__
    lines = [line for line in str(getattr(error, "evalue", None) or error).strip().splitlines() if line.strip()]
    note = {"artifact": artifact, "run": run, "error": kind, "message": " ".join(lines)[:600],
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    atomic_write_bytes(failure_path(artifact, run), json.dumps(note, indent=1).encode() + b"\n")


def clear_failure(artifact: str, run: str) -> None:
    failure_path(artifact, run).unlink(missing_ok=True)


def read_failures(artifact: str, root: Path | None = None) -> dict[str, dict[str, Any]]:
    """The failure notes of ``artifact`` by run name (see :func:`write_failure`)."""
    base = root or results_root()
    found = sorted(base.glob(f"*/{artifact}.failed.json")) if base.is_dir() else []
    return {p.parent.name: json.loads(p.read_text()) for p in found}
