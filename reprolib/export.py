"""Exporting an artifact's distilled sets for use elsewhere: ``reprolib export ARTIFACT --to DIR``.

For every (setting, method) of a trajectory-matching artifact whose distilled set is in the store,
``DIR/<dataset>-ipc<N>-<method>/`` receives:

- ``images/<class>/<i>.png`` — the images in [0, 1] (normalisation or ZCA undone), one folder per class;
- ``distilled.pt`` — ``images`` (as the networks see them: normalised, or ZCA-whitened), ``labels``,
  ``syn_lr`` (the learned step size), ``mean``/``std`` and ``class_names`` (``torch.load(weights_only=True)``);
- ``provenance.json`` — what made it: artifact, preset, overrides, setting, method, data source, commit.

Nothing is computed: a set that is not in the store is named, with the command that makes it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from reprolib.store import atomic_torch_save, atomic_write_bytes


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "class"


def _png(pixels: torch.Tensor) -> bytes:
    """One image in [0, 1] (C, H, W) as PNG bytes (grey for one channel)."""
    import io

    array = (pixels.clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
    image = Image.fromarray(array[0] if array.shape[0] == 1 else np.transpose(array, (1, 2, 0)))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def write_set(folder: Path, images: torch.Tensor, labels: torch.Tensor, syn_lr: float | None, data,
              provenance: Mapping[str, Any]) -> Path:
    """Write one distilled set (``images`` as the networks see them) as PNG class folders, a .pt and a JSON."""
    shown = data.denormalise(images.detach().float())
    names = [_slug(str(c)) for c in data.class_names]
    counts: dict[int, int] = {}
    for pixels, label in zip(shown, labels.tolist()):
        index = counts[label] = counts.get(label, -1) + 1
        atomic_write_bytes(folder / "images" / names[label] / f"{index}.png", _png(pixels))
    atomic_torch_save(folder / "distilled.pt", {
        "images": images.detach().cpu(), "labels": labels.detach().cpu(), "syn_lr": syn_lr,
        "mean": list(data.mean), "std": list(data.std),
        "class_names": [str(c) for c in data.class_names]})
    atomic_write_bytes(folder / "provenance.json", json.dumps(dict(provenance), indent=1, default=str).encode() + b"\n")
    return folder


def export_artifact(name: str, preset: str, overrides: Mapping[str, Any], to: Path, device: str = "cpu") -> list[Path]:
    """Every stored distilled set of artifact ``name`` at ``preset`` + ``overrides`` into ``to``."""
    from reprolib.experiments import trajectory_matching as tm
    from reprolib.experiments.context import RunContext
    from reprolib.presets import preset_name, resolve
    from reprolib.records import git_commit, run_name
    from reprolib.runner import _plain
    from reprolib.runtime import resolve_device

    params = resolve(name, preset, overrides)
    settings = getattr(params, "settings", None) or ([params.setting] if hasattr(params, "setting") else [])
    if not settings or not hasattr(params, "rules"):
        raise ValueError(f"{name} has no distilled sets to export: export takes a trajectory-matching artifact "
                         "(ddpp-table1, iadd-table1, ddpp-table4, …)")
    ctx = RunContext(device=resolve_device(device))
    datasets, written, missing = tm.DatasetCache(ctx), [], []
    for setting in settings:
        data = datasets(setting.dataset, setting.zca)
        for method in params.methods:
            rule = params.rules.rule(method)
            spec = tm.distilled_spec(data, setting, rule, params.seed)
            if not ctx.store.exists("distilled-set", spec):
                missing.append(f"{setting.dataset} IPC {setting.ipc} {method}")
                continue
            found = tm.distilled_set(data, setting, rule, params.seed, ctx)
            provenance = {"artifact": name, "preset": preset_name(preset), "overrides": dict(overrides),
                          "run": run_name(preset_name(preset), overrides), "method": method,
                          "setting": _plain(setting), "data_source": data.source.as_dict(),
                          "normalised_as": "ZCA-whitened" if setting.zca else "(x - mean) / std",
                          "git_commit": git_commit()}
            folder = Path(to) / _slug(f"{setting.dataset.rsplit('/', 1)[-1]}-ipc{setting.ipc}-{method}")
            written.append(write_set(folder, found.images, found.labels, found.syn_lr, data, provenance))
    if missing and not written:
        command = " ".join([f"reprolib compute {name} --preset {preset}", *(f"-p '{k}={json.dumps(v)}'" for k, v in overrides.items())])
        raise FileNotFoundError(f"no distilled set of {name} at {preset_name(preset)} is in the store "
                                f"({', '.join(missing)}): make them with `{command}`")
    return written


def write_example_folder(folder: Path, classes: int = 3, per_class: int = 40) -> Path:
    """A small image-folder dataset to try ``folder:PATH`` on: the first ``classes`` digits of
    scikit-learn's embedded set as 8x8 grey PNGs, ``train/<digit>/`` and ``test/<digit>/`` (3 to 1)."""
    from reprolib.data import load_dataset

    data = load_dataset("digits")
    for split, x, y in (("train", data.train_x, data.train_y), ("test", data.test_x, data.test_y)):
        keep = per_class if split == "train" else max(1, per_class // 3)
        for c in range(classes):
            for i, pixels in enumerate(data.denormalise(x[y == c][:keep])):
                atomic_write_bytes(Path(folder) / split / f"digit{c}" / f"{i}.png", _png(pixels))
    return Path(folder)
