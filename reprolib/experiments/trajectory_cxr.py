"""Chest X-ray (CXR) results of DDPP and IADD: DDPP Table IV, IADD Table 4, DDPP Fig. 3 and IADD Fig. 8.

Both papers distil the COVID-19 Radiography Database (4 classes, 112x112, ConvNetD5, 100 teachers).
The tables reproduce MTT, DDPP and IADD (and IADD's "Original Dataset" row) with the shared
trajectory-matching functions; the figures show real images beside the *same* stored distilled sets
(a figure's setting equals a table's, so the store returns the table's set: nothing is re-distilled).
Offline, PneumoniaMNIST (balanced subset, 2 classes, 28x28) stands in for the COVID-19 database; the
pages say so and never put its numbers under the paper's dataset name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from reprolib.artifacts import Artifact
from reprolib.data import Dataset
from reprolib.data.registry import FOLDER_PREFIX
from reprolib.distillation.trajectory import DistillationDiverged
from reprolib.distillation.trajectory.rules import METHOD_NAMES
from reprolib.evaluation import EvalProtocol
from reprolib.experiments import trajectory_matching as tm
from reprolib.experiments.context import RunContext
from reprolib.image_grid import encode_grid
from reprolib.pages import trajectory_cxr as page
from reprolib.runtime import make_generator

CXR_DATASETS = ("covid-cxr", "pneumoniamnist", "pneumoniamnist-subset")
"""The papers' database and its offline stand-ins (the subset ships with the package); ``folder:PATH`` (a user's own CXR folder) is also accepted."""


def check_cxr_dataset(name: str) -> None:
    if name not in CXR_DATASETS and not name.startswith(FOLDER_PREFIX):
        raise ValueError(f"the chest X-ray pages run on {' or '.join(CXR_DATASETS)} (or {FOLDER_PREFIX}PATH of a "
                         f"chest X-ray image folder), not {name!r}: set the setting's dataset to one of them")


def dataset_facts(data: Dataset) -> dict:
    """What the pages need to label the data: classes (row labels, images per IPC) and sizes."""
    return {"dataset": data.name, "classes": list(data.class_names), "image_size": list(data.image_size),
            "train_size": len(data.train_y), "test_size": len(data.test_y)}


# ---------------------------------------------------------------------------------------------- tables


@dataclass(frozen=True)
class CxrTableParams:
    """One CXR dataset at one or more IPCs; the rows are ``methods`` per IPC and, when
    ``full_dataset_epochs`` > 0, the whole training set ("Original Dataset")."""

    settings: tuple[tm.Setting, ...] = ()
    methods: tuple[str, ...] = ("mtt", "ddpp")
    rules: tm.RuleOptions = tm.RuleOptions()
    eval: EvalProtocol = EvalProtocol()
    full_dataset_epochs: int = 0  # 0: no "Original Dataset" row
    seed: int = 0

    def validate(self) -> None:
        tm.validate_settings(self.settings)
        datasets = {s.dataset for s in self.settings}
        if len(datasets) > 1:
            raise ValueError(f"a CXR table is one dataset, got settings on {sorted(datasets)}: keep one")
        ipcs = [s.ipc for s in self.settings]
        if len(set(ipcs)) != len(ipcs):
            raise ValueError(f"each IPC may appear once in settings, got {ipcs}")
        for setting in self.settings:
            check_cxr_dataset(setting.dataset)
        tm.validate_methods(self.methods)
        if self.full_dataset_epochs < 0:
            raise ValueError(f"full_dataset_epochs must be ≥ 0 (0 skips the row), got {self.full_dataset_epochs}")
        self.rules.validate()
        self.eval.validate()


def run_table(params: CxrTableParams, ctx: RunContext) -> dict:
    """Every method at every IPC (distilled sets from / into the shared store), then the full-data row."""
    datasets, rows = tm.DatasetCache(ctx), []
    for setting in params.settings:
        data = datasets(setting.dataset, setting.zca)
        rows += [tm.trajectory_row(m, setting, params.rules, params.eval, data, params.seed, ctx) for m in params.methods]
    if params.full_dataset_epochs:
        first = params.settings[0]
        data = datasets(first.dataset, first.zca)
        rows.append(tm.full_dataset_row(data, first, first.protocol(params.eval), params.full_dataset_epochs,
                                        params.seed, ctx))
    return {"data_source": {data.name: data.source.as_dict()},
            "metrics": {"rows": rows, "data": dataset_facts(data)}}


# --------------------------------------------------------------------------------------------- figures


@dataclass(frozen=True)
class CxrImagesParams:
    """Real images beside the distilled sets of ``methods`` at ``setting`` (the tables' setting)."""

    setting: tm.Setting = tm.Setting("covid-cxr", 20)
    methods: tuple[str, ...] = ("ddpp",)
    rules: tm.RuleOptions = tm.RuleOptions()
    per_class: int = 5  # images shown per class, real and distilled (≤ IPC)
    reference_images: int = 200  # real test images whose nearest training image calibrates "different"
    seed: int = 0

    def validate(self) -> None:
        check_cxr_dataset(self.setting.dataset)
        self.setting.validate()
        tm.validate_methods(self.methods)
        if not self.methods:
            raise ValueError("methods must name at least one distillation method to show")
        if not 1 <= self.per_class <= self.setting.ipc:
            raise ValueError(f"per_class must be between 1 and the setting's IPC ({self.setting.ipc}), "
                             f"got {self.per_class}")
        if self.reference_images < 1:
            raise ValueError(f"reference_images must be ≥ 1, got {self.reference_images}")
        self.rules.validate()


def nearest_rmse(queries: Tensor, pool: Tensor, chunk: int = 2048) -> Tensor:
    """Per query image, the root-mean-square pixel difference to its nearest image in ``pool`` (same shape)."""
    flat = queries.flatten(1).to(pool.device, torch.float32)
    best = torch.full((len(flat),), math.inf, device=pool.device)
    for start in range(0, len(pool), chunk):
        distances = torch.cdist(flat, pool[start:start + chunk].flatten(1).float())
        best = torch.minimum(best, distances.min(dim=1).values)
    return best.cpu() / math.sqrt(flat.shape[1])


def nearest_training_rmse(images: Tensor, data: Dataset, chunk: int = 2048) -> Tensor:
    """``nearest_rmse`` against the training set, both in display space ([0, 1] pixels)."""
    shown = data.denormalise(images.to(data.device))
    best = torch.full((len(images),), math.inf)
    for start in range(0, len(data.train_x), chunk):
        best = torch.minimum(best, nearest_rmse(shown, data.denormalise(data.train_x[start:start + chunk])))
    return best


def per_class(images: Tensor, labels: Tensor, num_classes: int, k: int) -> Tensor:
    """The first ``k`` images of every class, class-ordered (what an image grid with a row per class shows)."""
    return torch.cat([images[labels == c][:k] for c in range(num_classes)])


def distance_summary(rmse: Tensor) -> dict:
    return {"median": float(rmse.median()), "min": float(rmse.min()), "n": len(rmse)}


def run_images(params: CxrImagesParams, ctx: RunContext) -> dict:
    """Image grids (rows = classes) of real training images and of each method's stored distilled set,
    and how far each distilled image is from its nearest real training image (vs real test images)."""
    setting, k = params.setting, params.per_class
    data = tm.DatasetCache(ctx)(setting.dataset, setting.zca)
    generator = make_generator(params.seed + 1)  # apart from the stream that drew the synthetic images' start
    real = torch.cat([data.images_of_class(c, k, generator=generator) for c in range(data.num_classes)])
    test = data.test_x[torch.randperm(len(data.test_x), generator=generator)[:params.reference_images].to(data.device)]
    panels = [{"kind": "real", "label": "Real", "png": encode_grid(data.denormalise(real), k)}]
    for method in params.methods:
        name = METHOD_NAMES[method]
        try:
            found = tm.distilled_set(data, setting, params.rules.rule(method), params.seed, ctx)
        except DistillationDiverged as err:
            panels.append({"kind": "distilled", "label": name, "status": "diverged", "message": str(err)})
            continue
        shown = data.denormalise(per_class(found.images, found.labels, data.num_classes, k).to(data.device))
        panels.append({"kind": "distilled", "label": name, "status": "ok", "png": encode_grid(shown, k),
                       "nearest_rmse": distance_summary(nearest_training_rmse(found.images, data))})
    reference = distance_summary(nearest_training_rmse(test, data))
    return {"data_source": {data.name: data.source.as_dict()},
            "metrics": {"panels": panels, "reference_nearest_rmse": reference, "ipc": setting.ipc, "per_class": k,
                        "data": dataset_facts(data)}}


ARTIFACTS = [
    Artifact(
        name="ddpp-table4",
        paper="ddpp",
        title="DDPP Table IV: chest X-rays at IPC 1/5/10/20, DDPP vs MTT",
        notebook="ddpp/table4_cxr.ipynb",
        params=CxrTableParams,
        run=run_table,
        paper_values=lambda: page.published_values("ddpp"),
        claims=page.ddpp_table4_claims,
        compared=lambda record: page.compared(record, "ddpp"),
        method_files=tm.METHOD_FILES,
    ),
    Artifact(
        name="iadd-table4",
        paper="iadd",
        title="IADD Table 4: COVID-19 detection (MTT, DDPP, IADD and the original dataset reproduced)",
        notebook="iadd/table4_covid.ipynb",
        params=CxrTableParams,
        run=run_table,
        paper_values=lambda: page.published_values("iadd"),
        claims=page.iadd_table4_claims,
        compared=lambda record: page.compared(record, "iadd"),
        method_files=tm.METHOD_FILES,
    ),
    Artifact(
        name="ddpp-fig3",
        paper="ddpp",
        title="DDPP Fig. 3: real and distilled chest X-rays",
        notebook="ddpp/fig3_cxr_images.ipynb",
        params=CxrImagesParams,
        run=run_images,
        paper_values=lambda: [],
        claims=page.images_claims,
        method_files=tm.METHOD_FILES,
    ),
    Artifact(
        name="iadd-fig8",
        paper="iadd",
        title="IADD Fig. 8: real and distilled chest X-rays",
        notebook="iadd/fig8_cxr_images.ipynb",
        params=CxrImagesParams,
        run=run_images,
        paper_values=lambda: [],
        claims=page.images_claims,
        method_files=tm.METHOD_FILES,
    ),
]
