"""Run records: the JSON files under ``results/<preset>/<artifact>.json`` that the book shows.

A record holds what was run (parameters, data source), what came out (metrics), what the paper says
(paper values) and how it ran (device, library versions, git commit, wall time, date). The book shows
every preset's record that exists for an artifact, so re-running at ``smoke`` never hides a committed
``small`` or ``paper`` result.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import subprocess
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


def record_path(artifact: str, preset: str, root: Path | None = None) -> Path:
    return (root or results_root()) / preset / f"{artifact}.json"


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


def write_record(record: dict[str, Any], root: Path | None = None) -> Path:
    """Write ``record`` (which names its ``artifact`` and ``preset``) atomically; returns the path.

    A failed write (full disk, no permission) raises and leaves the previous record intact.
    """
    for key in ("artifact", "preset", "params", "metrics"):
        if key not in record:
            raise ValueError(f"a run record needs the key {key!r}; it has {sorted(record)}")
    path = record_path(record["artifact"], record["preset"], root)
    data = json.dumps(record, indent=1, sort_keys=False, allow_nan=False).encode() + b"\n"
    try:
        atomic_write_bytes(path, data)
    except OSError as err:
        raise OSError(f"could not write the run record {path}: {err}; the previous record is unchanged") from err
    return path


def read_record(artifact: str, preset: str, root: Path | None = None) -> dict[str, Any] | None:
    path = record_path(artifact, preset, root)
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"the run record {path} is not valid JSON ({err}); delete it and re-run") from err


def read_records(artifact: str, root: Path | None = None) -> dict[str, dict[str, Any]]:
    """Every preset's record for ``artifact``: the standard presets first, then any user preset."""
    base = root or results_root()
    presets = [p for p in PRESET_ORDER if (base / p).is_dir()]
    if base.is_dir():
        presets += sorted(d.name for d in base.iterdir() if d.is_dir() and d.name not in PRESET_ORDER)
    found = {p: read_record(artifact, p, base) for p in presets}
    return {p: r for p, r in found.items() if r is not None}
