"""Figure pages of DDPP and IADD: distilled images, teacher–student differences and IADD's weights W.

Nothing is re-distilled here: every figure takes its sets from ``trajectory_matching.distilled_set``
with the Setting, rule options and seed of the benchmark tables at the same preset (the presets copy
the tables' settings; a test keeps them equal), so the store returns the sets the tables computed.

* Images (DDPP Fig. 2, IADD Figs. 4–5): the learned images, denormalised (inverse ZCA where used),
  stored in the record as PNG grids.
* Differences and weights (IADD Figs. 1, 6, 7): per parameter coordinate, |θ_{i+K} − θ̃_{i,J}| after the
  student's unrolled steps on the finished set (``diagnostics.parameter_differences``, a few
  teacher/start draws, cached; the figure shows their mean), beside IADD's learned W from the set's
  rule state. The record keeps reductions of these vectors (per-index envelope, quantiles, W by decile
  of difference, per-module means, rank correlations), not the vectors.
"""

from __future__ import annotations

from dataclasses import dataclass

from scipy.stats import spearmanr
from torch import Tensor

from reprolib.artifacts import Artifact
from reprolib.data import Dataset
from reprolib.distillation.synthetic import init_synthetic
from reprolib.distillation.trajectory import DistillationDiverged, DistilledSet, FlatModel, diagnostics, teacher_trajectories
from reprolib.distillation.trajectory.rules import METHOD_NAMES
from reprolib.experiments import trajectory_matching as tm
from reprolib.experiments.context import RunContext
from reprolib.image_grid import encode_grid
from reprolib.pages import trajectory_figures as page
from reprolib.runtime import make_generator

CODE_VERSION = 1  # bump when a change here alters the stored differences


@dataclass(frozen=True)
class FigureSets:
    """Which distilled sets a figure shows: the tables' settings, one method, the tables' rule options and seed."""

    settings: tuple[tm.Setting, ...] = ()
    method: str = "iadd"
    rules: tm.RuleOptions = tm.RuleOptions()
    seed: int = 0

    def validate(self) -> None:
        tm.validate_settings(self.settings, "copy the benchmark table's")
        tm.validate_methods((self.method,))
        self.rules.validate()


@dataclass(frozen=True)
class ImagesParams(FigureSets):
    max_classes: int = 0  # show the first N classes only (0 = all), for 'selected images' of many classes
    columns: int = 10  # images per grid row at IPC 1 (at IPC > 1 a row is one class)

    def validate(self) -> None:
        super().validate()
        if self.max_classes < 0 or self.columns < 1:
            raise ValueError(f"max_classes must be ≥ 0 (0 = all classes) and columns ≥ 1; got {self.max_classes}, {self.columns}")


@dataclass(frozen=True)
class DifferenceParams(FigureSets):
    probes: int = 4  # teacher/start draws averaged into the per-coordinate difference (two halves compared)
    bins: int = 200  # blocks of coordinates in the per-index plot (screen resolution)

    def validate(self) -> None:
        super().validate()
        if self.probes < 2 or self.bins < 10:
            raise ValueError(f"probes must be ≥ 2 (two halves of the draws are compared) and bins ≥ 10; "
                             f"got probes={self.probes}, bins={self.bins}")


def _sets(params: FigureSets, datasets: tm.DatasetCache, ctx: RunContext):
    """(setting, data, the stored distilled set or its divergence) for each setting of the figure."""
    for setting in params.settings:
        data = datasets(setting.dataset, setting.zca)
        try:
            found = tm.distilled_set(data, setting, params.rules.rule(params.method), params.seed, ctx)
        except DistillationDiverged as err:
            ctx.log(str(err))
            found = err
        yield setting, data, found


def _panel(setting: tm.Setting, params: FigureSets, found: DistilledSet | DistillationDiverged) -> dict:
    base = {"dataset": setting.dataset, "ipc": setting.ipc, "method": METHOD_NAMES[params.method]}
    if isinstance(found, DistillationDiverged):
        return base | {"status": "diverged", "message": str(found)}
    return base | {"status": "ok", "syn_lr": found.syn_lr, "iterations": setting.match.iterations,
                   "rule": params.rules.rule(params.method).spec()}


def _grid_columns(count: int, wanted: int) -> int:
    """The widest row of at most ``wanted`` images that divides ``count`` evenly."""
    return max(c for c in range(1, min(wanted, count) + 1) if count % c == 0)


def change_from_init(data: Dataset, found: DistilledSet, setting: tm.Setting, seed: int) -> float:
    """Mean over images of ‖x − x₀‖ / ‖x₀‖: how far the learned images moved from the real images they
    started from (x₀ redrawn exactly as the engine draws it: ``init_synthetic`` with the run's seed first)."""
    start, _ = init_synthetic(data, setting.ipc, make_generator(seed), setting.match.init)
    start, images = start.detach().flatten(1).cpu(), found.images.flatten(1)
    return float(((images - start).norm(dim=1) / start.norm(dim=1)).mean())


def images_panel(data: Dataset, found: DistilledSet, ipc: int, params: ImagesParams) -> dict:
    """The set's images (first ``max_classes`` classes) as a PNG grid: a row per class, or rows of classes at IPC 1."""
    shown = min(params.max_classes or data.num_classes, data.num_classes)
    pixels = data.denormalise(found.images[: shown * ipc].to(data.device))
    columns = ipc if ipc > 1 else _grid_columns(shown, params.columns)
    return {"classes": list(data.class_names[:shown]), "num_classes": data.num_classes, "columns": columns,
            "image_size": list(data.image_size), "png": encode_grid(pixels, columns)}


def run_images(params: ImagesParams, ctx: RunContext) -> dict:
    datasets, panels = tm.DatasetCache(ctx), []
    for setting, data, found in _sets(params, datasets, ctx):
        panel = _panel(setting, params, found)
        if panel["status"] == "ok":
            panel |= images_panel(data, found, setting.ipc, params)
            panel["change_from_init"] = change_from_init(data, found, setting, params.seed)
        panels.append(panel)
    return {"data_source": datasets.sources(), "metrics": {"panels": panels}}


def difference_draws(data: Dataset, setting: tm.Setting, params: DifferenceParams, found: DistilledSet,
                     ctx: RunContext) -> Tensor:
    """``[probes, P]``: |θ_{i+K} − θ̃_{i,J}| per draw and coordinate for the stored set (cached with the set's spec)."""
    spec = tm.distilled_spec(data, setting, params.rules.rule(params.method), params.seed) | {
        "probes": params.probes, "figure_code": CODE_VERSION}

    def compute() -> dict:
        trajectories = teacher_trajectories(data, setting.teachers, ctx.store, params.seed)
        model = FlatModel(setting.teachers.build(data).to(ctx.device))
        draws = diagnostics.parameter_differences(
            model, found.images.to(ctx.device), found.labels.to(ctx.device), found.syn_lr, trajectories,
            setting.match, data.image_size, probes=params.probes, seed=params.seed)
        return {"draws": draws.cpu()}

    return ctx.store.cached("parameter-difference", spec, compute)["draws"]


def _sig(values: list[float], digits: int = 4) -> list[float]:
    """Rounded to ``digits`` significant digits, so records stay small."""
    return [float(f"{v:.{digits}g}") for v in values]


def _spearman(a: Tensor, b: Tensor) -> float | None:
    """Rank correlation of two vectors (None when one is constant, e.g. W untrained)."""
    if a.unique().numel() < 2 or b.unique().numel() < 2:
        return None
    return float(spearmanr(a.numpy(), b.numpy()).statistic)


def difference_panel(model: FlatModel, draws: Tensor, weights: Tensor | None, bins: int) -> dict:
    """Reductions of the mean difference over the draws (and of W's decrease 1 − W, when the set has W),
    and how consistently the draws' two halves rank the coordinates."""
    difference = draws.mean(0)
    vectors = {"difference": difference.double()} | ({} if weights is None else {"drop": 1 - weights.double()})
    profile = {"start": diagnostics.envelope(difference, bins)["start"]}
    for name, vector in vectors.items():
        profile |= {f"{name}_{k}": _sig(v) for k, v in diagnostics.envelope(vector, bins).items() if k != "start"}
    modules = []
    for module, kind, span in diagnostics.module_slices(model):
        row = {"module": module, "type": kind, "start": span.start, "size": span.stop - span.start}
        for name, vector in vectors.items():
            row |= {f"{name}_mean": float(vector[span].mean()), f"{name}_max": float(vector[span].max())}
        modules.append(row)
    quantiles = diagnostics.quantiles(difference)
    ranked = diagnostics.ranked_bins(difference, {k: v for k, v in vectors.items() if k != "difference"}, bins=10)
    panel = {"num_params": model.num_params, "probes": len(draws), "profile": profile, "modules": modules,
             "spearman_halves": _spearman(draws[0::2].mean(0), draws[1::2].mean(0)),
             "quantiles": {"q": _sig(quantiles["q"]), "difference": _sig(quantiles["value"])},
             "deciles": [{k: float(f"{v:.6g}") for k, v in row.items()} for row in ranked]}
    if weights is not None:
        panel |= {"spearman_difference_weight": _spearman(difference, weights),
                  "weight_drop_sum": float(vectors["drop"].sum()),
                  "weight_min": float(weights.min()), "weight_max": float(weights.max()),
                  "weight_mean": float(weights.double().mean())}
    return panel


def run_differences(params: DifferenceParams, ctx: RunContext) -> dict:
    datasets, panels = tm.DatasetCache(ctx), []
    for setting, data, found in _sets(params, datasets, ctx):
        panel = _panel(setting, params, found)
        if panel["status"] == "ok":
            model = FlatModel(setting.teachers.build(data))
            draws = difference_draws(data, setting, params, found, ctx)
            panel |= {"loss_sum": sum(found.history["loss"]),
                      **difference_panel(model, draws, found.rule_state.get("weights"), params.bins)}
        panels.append(panel)
    return {"data_source": datasets.sources(), "metrics": {"panels": panels}}


def _artifact(name: str, paper: str, title: str, notebook: str, params: type) -> Artifact:
    images = params is ImagesParams
    return Artifact(name=name, paper=paper, title=title, notebook=notebook, params=params,
                    run=run_images if images else run_differences, paper_values=lambda: [],  # figures print no numbers
                    claims=lambda record: (page.images_claims if images else page.difference_claims)(record, name),
                    method_files=tm.METHOD_FILES + (() if images else ("reprolib/distillation/trajectory/diagnostics.py",)))


ARTIFACTS = [
    _artifact("ddpp-fig2", "ddpp", "DDPP Fig. 2: distilled CIFAR-10 images at IPC 1 and 10",
              "ddpp/fig2_distilled_images.ipynb", ImagesParams),
    _artifact("iadd-fig1", "iadd", "IADD Fig. 1: per-dimension teacher–student parameter difference",
              "iadd/fig1_differences.ipynb", DifferenceParams),
    _artifact("iadd-fig4", "iadd", "IADD Fig. 4: distilled CIFAR-10 images at IPC 1 and 10",
              "iadd/fig4_distilled_images.ipynb", ImagesParams),
    _artifact("iadd-fig5", "iadd", "IADD Fig. 5: distilled CIFAR-100 and Tiny ImageNet images at IPC 1",
              "iadd/fig5_distilled_images.ipynb", ImagesParams),
    _artifact("iadd-fig6", "iadd", "IADD Fig. 6: differences and learned weights W at IPC 1, 10 and 50",
              "iadd/fig6_weights_by_ipc.ipynb", DifferenceParams),
    _artifact("iadd-fig7", "iadd", "IADD Fig. 7: differences and learned weights W across datasets at IPC 1",
              "iadd/fig7_weights_by_dataset.ipynb", DifferenceParams),
]
