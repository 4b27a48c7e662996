"""Running artifacts: compute and record one (``run_artifact``), or execute its notebook (``run_notebook``).

``run_artifact`` is what a notebook calls and what ``reprolib compute`` calls on a machine without
Jupyter; ``run_notebook`` is what ``reprolib run`` and ``make book`` call: papermill executes the
template into ``book/`` where the book picks it up.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reprolib.artifacts import get_artifact
from reprolib.experiments.context import RunContext
from reprolib import precision
from reprolib.presets import PresetError, preset_name, preset_precision, resolve
from reprolib.records import project_root, provenance, write_record
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
    ``results/<preset>/<name>.json`` unless ``write`` is False.
    """
    artifact = get_artifact(name)
    parameters, numerics_name = split_precision(preset, overrides)
    params = resolve(name, preset, parameters)
    ctx = context or RunContext(device=resolve_device(device))
    numerics = precision.resolve(numerics_name, ctx.device)
    seed_all(getattr(params, "seed", 0))
    start = time.perf_counter()
    with precision.use(numerics):
        outcome = artifact.run(params, ctx)
    record = {
        "artifact": name,
        "title": artifact.title,
        "paper": artifact.paper,
        "preset": preset_name(preset),
        "params": _plain(params),
        "overrides": dict(overrides or {}),
        "data_source": outcome["data_source"],
        "metrics": outcome["metrics"],
        "paper_values": [paper_value_record(v) for v in artifact.paper_values()],
        "wall_time_s": round(time.perf_counter() - start, 2),
        **provenance(device_description(ctx.device)),
        **numerics.describe(),
    }
    if write:
        write_record(record)
    return record


def split_precision(preset: str, overrides: Mapping[str, Any] | None) -> tuple[dict[str, Any], str]:
    """The artifact's parameter overrides, and the precision of the run: the ``precision`` override
    (``-p precision=fp32``) if given, else the preset's."""
    parameters = dict(overrides or {})
    chosen = parameters.pop("precision", None)
    name = preset_precision(preset) if chosen is None else chosen
    if name not in precision.PRECISIONS:
        raise PresetError(f"precision={name!r}: choose one of {', '.join(precision.PRECISIONS)}")
    return parameters, name


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
    error, and the previous page intact). On the page the template's default parameters cell is removed
    from display: papermill's injected cell after it shows the values actually used.
    """
    import nbformat
    import papermill

    resolve(name, preset, split_precision(preset, overrides)[0])
    template, page = notebook_paths(name)
    output = output or page
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f".{output.name}.partial")  # not *.ipynb: the book never picks it up
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The specified file .* does not end in one of", category=UserWarning)
        papermill.execute_notebook(
            str(template),
            str(partial),
            parameters={"preset": preset, "overrides": dict(overrides or {})},
            kernel_name=kernel,
            cwd=str(project_root()),
            progress_bar=False,
        )
    executed = nbformat.read(partial, as_version=4)
    for cell in executed.cells:
        tags = cell.metadata.setdefault("tags", [])
        if "parameters" in tags and "remove-cell" not in tags:
            tags.append("remove-cell")
    nbformat.write(executed, partial)
    os.replace(partial, output)
    return output
