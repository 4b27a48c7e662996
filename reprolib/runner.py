"""Running artifacts: compute and record one (``run_artifact``), or execute its notebook (``run_notebook``).

``run_artifact`` is what a notebook calls and what ``reprolib compute`` calls on a machine without
Jupyter; ``run_notebook`` is what ``reprolib run`` and ``make book`` call: papermill executes the
template into ``book/`` where the book picks it up.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reprolib.artifacts import get_artifact
from reprolib.experiments.context import RunContext
from reprolib import precision
from reprolib.presets import preset_name, resolve, split_precision
from reprolib.records import (
    clear_failure, in_unpointed_kernel, keep_unfiled, project_root, provenance, read_record, results_root, run_name, write_failure,
    write_record,
)
from reprolib.report import paper_value_record
from reprolib.runtime import device_description, resolve_device, seed_all


def _plain(value: Any) -> Any:
    """Parameters as JSON data (dataclasses → dicts, tuples → lists)."""
    import dataclasses

    if dataclasses.is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def run_artifact(
    name: str,
    preset: str = "smoke",
    overrides: Mapping[str, Any] | None = None,
    *,
    device: str = "auto",
    write: bool = True,
    context: RunContext | None = None,
) -> dict[str, Any]:
    """Compute artifact ``name`` at ``preset`` (with ``overrides``) and return its run record.

    Parameters are validated before anything is computed. The record is written to
    ``results/<run>/<name>.json`` (``<run>``: the preset, or ``preset+hash`` with overrides, see
    :func:`reprolib.records.run_name`) unless ``write`` is False or this is a Jupyter kernel with no
    ``$REPROLIB_RESULTS`` (then it is only shown). ``wall_time_s`` is the computation's time: a rerun that
    reproduces the filed record from the cache keeps the filed time and adds its own as ``rerun_s``
    (see :func:`_computation_time`).
    """
    artifact = get_artifact(name)
    params = resolve(name, preset, overrides)
    ctx = context or RunContext(device=resolve_device(device))
    numerics = precision.resolve(split_precision(preset, overrides)[1], ctx.device)
    seed_all(getattr(params, "seed", 0))
    start, stored_before = time.perf_counter(), ctx.store.writes
    loaded_before, computed_before = set(ctx.store.loaded), set(ctx.store.computed)
    with precision.use(numerics):
        outcome = artifact.run(params, ctx)
    elapsed = round(time.perf_counter() - start, 2)
    run = run_name(preset_name(preset), overrides)
    record = {
        "artifact": name,
        "title": artifact.title,
        "paper": artifact.paper,
        "preset": preset_name(preset),
        "run": run,
        "params": _plain(params),
        "overrides": _plain(dict(overrides or {})),
        "data_source": outcome["data_source"],
        "metrics": outcome["metrics"],
        "paper_values": [paper_value_record(v) for v in artifact.paper_values()],
        "wall_time_s": elapsed,
        **provenance(device_description(ctx.device)),
        **numerics.describe(),
    }
    loaded = {address: seconds for address, seconds in ctx.store.loaded.items() if address not in loaded_before}
    computed = {address: seconds for address, seconds in ctx.store.computed.items() if address not in computed_before}
    record.update(_parts(elapsed, loaded, computed))
    record.update(_computation_time(record, computed=ctx.store.writes > stored_before, loaded=loaded))
    if not write:
        return record
    if in_unpointed_kernel():
        keep_unfiled(record)
        print(f"record shown, not filed: set REPROLIB_RESULTS to a folder to keep it (it would go to "
              f"<that folder>/{run}/{name}.json)")
    else:
        write_record(record)
    return record


def _computation_time(record: dict[str, Any], computed: bool, loaded: Mapping[str, float | None]) -> dict[str, Any]:
    """What the header's time means. A run that computed (stored an artifact) states its own wall time;
    when it also loaded parts an earlier process computed, it is marked ``partly_cached`` and gives those
    parts' recorded seconds (``cached_parts_s``; ``cached_parts_untimed`` counts parts stored before costs
    were kept), so that wall time + cached parts = the time from a cold cache.
    A run served from the cache keeps the filed record's computation time when it reproduced that record
    (same parameters and device; the same metrics, or more of them) and gives its own as ``rerun_s``;
    with no such record its time is marked ``from_cache``. Counting this process's stores, not files'
    times, keeps other jobs writing to a shared store from making a cached rerun look computed."""
    parts = _cached_parts(loaded)
    if computed:
        return {"partly_cached": True, **parts} if loaded else {}
    try:
        filed = read_record(record["artifact"], record["run"])
    except ValueError:
        filed = None
    plain = json.loads(json.dumps(record, default=str))
    same = (filed and all(filed.get(k) == plain[k] for k in ("params", "device"))
            and _extends(plain["metrics"], filed.get("metrics")))
    if same and not filed.get("from_cache") and isinstance(filed.get("wall_time_s"), (int, float)):
        kept = {k: filed[k] for k in ("partly_cached", *_PARTS_KEYS) if k in filed}
        return {"wall_time_s": filed["wall_time_s"], "rerun_s": record["wall_time_s"],
                "computed_on": filed.get("computed_on", filed.get("date")), **kept}
    return {"from_cache": True, **parts}


_PARTS_KEYS = ("cached_parts_s", "cached_parts_untimed")


def _parts(elapsed: float, loaded: Mapping[str, float | None], computed: Mapping[str, float]) -> dict[str, Any]:
    """Every stored part the run needed, loaded or computed, with its own seconds (None: stored before
    costs were kept), by address (16 hex digits), and the run's seconds outside the parts it computed.
    Summing every distinct part of a preset's records once, plus each run's seconds outside them, gives
    how long the whole preset computes from a cold cache (``reprolib.pages.status``)."""
    parts = {address[:16]: seconds for address, seconds in sorted({**loaded, **computed}.items())}
    return {"parts_s": parts, "outside_parts_s": round(max(elapsed - sum(computed.values()), 0.0), 2)}


def _cached_parts(loaded: Mapping[str, float | None]) -> dict[str, Any]:
    """The recorded seconds of the parts a run loaded instead of computing, and how many have none."""
    timed = [s for s in loaded.values() if s is not None]
    return {"cached_parts_s": round(sum(timed), 2), "cached_parts_untimed": len(loaded) - len(timed)} if loaded else {}


def _extends(new: Any, old: Any) -> bool:
    """Whether ``new`` holds everything ``old`` holds, equal (it may add keys): a rerun that reports more
    about the same computation, e.g. after a record gained a field."""
    if isinstance(old, dict):
        return isinstance(new, dict) and all(k in new and _extends(new[k], v) for k, v in old.items())
    if isinstance(old, list):
        return isinstance(new, list) and len(new) == len(old) and all(map(_extends, new, old))
    return new == old


def notebook_paths(name: str) -> tuple[Path, Path]:
    """The template (``notebooks/...``) and the executed page (``book/...``) of an artifact."""
    relative = get_artifact(name).notebook
    root = project_root()
    return root / "notebooks" / relative, root / "book" / relative


def run_notebook(
    name: str,
    preset: str = "smoke",
    overrides: Mapping[str, Any] | None = None,
    *,
    output: Path | None = None,
    kernel: str | None = None,
) -> Path:
    """Execute the artifact's notebook template with papermill into the book; returns the output path.

    The parameters are validated first, so a bad value fails here, before a kernel starts. The page is
    replaced only once it executed completely (a failed run leaves ``.<name>.partial`` beside it, with the
    error, the previous page intact, and a failure note in ``results/`` that the status page shows). On the page the template's default parameters cell is removed
    from display: papermill's injected cell after it shows the values actually used.
    """
    import nbformat
    import papermill

    resolve(name, preset, overrides)
    template, page = notebook_paths(name)
    output = output or page
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f".{output.name}.partial")  # not *.ipynb: the book never picks it up
    run = run_name(preset_name(preset), overrides)
    try:
        with warnings.catch_warnings(), _results_env():
            warnings.filterwarnings("ignore", message="The specified file .* does not end in one of", category=UserWarning)
            papermill.execute_notebook(
                str(template),
                str(partial),
                parameters={"preset": preset, "overrides": dict(overrides or {})},
                kernel_name=kernel,
                cwd=str(project_root()),
                progress_bar=False,
            )
    except Exception as err:
        write_failure(name, run, err)
        raise
    executed = nbformat.read(partial, as_version=4)
    for cell in executed.cells:
        tags = cell.metadata.setdefault("tags", [])
        if "parameters" in tags and "remove-cell" not in tags:
            tags.append("remove-cell")
    nbformat.write(executed, partial)
    os.replace(partial, output)
    clear_failure(name, run)
    return output


@contextlib.contextmanager
def _results_env():
    """The kernel papermill starts inherits ``$REPROLIB_RESULTS`` pointing at this process's results
    folder, so ``reprolib run`` files the page's record (a plain papermill run does not)."""
    before = os.environ.get("REPROLIB_RESULTS")
    os.environ["REPROLIB_RESULTS"] = str(results_root())
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("REPROLIB_RESULTS")
        else:
            os.environ["REPROLIB_RESULTS"] = before
