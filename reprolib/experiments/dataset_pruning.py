"""Dataset pruning by generalization influence (DP paper, Yang et al. 2023): Figs. 1–4 and Table 1.

All artifacts share one protocol (:mod:`reprolib.pruning.protocol`): a scoring network trained on all
the data gives features, forgetting counts and last-layer influences; a rule keeps part of the data;
fresh networks are retrained on it and tested (mean ± std over seeds). Everything is cached in the
artifact store, so the pages share their trained networks and an interrupted run resumes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np
import torch
from scipy.stats import spearmanr

from reprolib.artifacts import Artifact
from reprolib.coreset import select_forgetting, select_herding, select_random
from reprolib.data import DATASET_NAMES, Dataset, load_dataset
from reprolib.experiments.context import RunContext
from reprolib.nets import build_network, convnet_space
from reprolib.pages import dataset_pruning as page
from reprolib.pruning.influence import InfluenceConfig
from reprolib.pruning.protocol import ModelSpec, Pruner, ScoringSpec, train_model
from reprolib.pruning.scores import DISPLAY_NAMES, PRUNING_METHODS, keep_counts
from reprolib.runtime import make_generator
from reprolib.train import TrainConfig


@dataclass(frozen=True)
class DataChoice:
    """Which dataset, optionally a stratified subset (``train_per_class``/``test_total``; 0 = all)."""

    name: str = "digits"
    train_per_class: int = 0
    test_total: int = 0

    def validate(self) -> None:
        if self.name not in DATASET_NAMES:
            raise ValueError(f"unknown dataset {self.name!r}; choose one of {', '.join(DATASET_NAMES)}")
        if self.train_per_class < 0 or self.test_total < 0:
            raise ValueError("train_per_class and test_total must be ≥ 0 (0 keeps the whole split)")

    def load(self, ctx: RunContext) -> Dataset:
        data = load_dataset(self.name, device=ctx.device)
        if self.train_per_class or self.test_total:
            data = data.subset(self.train_per_class or None, self.test_total or None)
        return data


def _check_ratios(ratios: tuple[float, ...]) -> None:
    if not ratios or any(not 0 < r < 1 for r in ratios):
        raise ValueError(f"pruning ratios must be in (0, 1), at least one; got {list(ratios)}")


def _check_common(datasets, scoring_model: ModelSpec, retrain_model: ModelSpec, scoring: ScoringSpec, seeds: int) -> None:
    if not datasets:
        raise ValueError("datasets must name at least one dataset")
    for d in datasets:
        d.validate()
    scoring_model.validate("scoring_model")
    retrain_model.validate("retrain_model")
    scoring.validate()
    if seeds < 1:
        raise ValueError(f"seeds (retrainings per cell) must be ≥ 1; got {seeds}")


def influence_row(dataset: str, pruner: Pruner, variant: str = "corrected") -> dict:
    """What every record reports about S: ‖Σ_all S‖ against the mean ‖S_i‖, the last layer's distance
    to its optimum, the term, damping and weight decay used."""
    return {"dataset": dataset, "variant": variant, **pruner.influence_summary()}


VARIANT_LABEL = "Ours (S without weight decay)"


def _summary(values: list[float]) -> dict:
    return {"values": values, "mean": float(np.mean(values)), "std": float(np.std(values)), "n": len(values)}


def retrain_summary(data: Dataset, kept: torch.Tensor | None, model: ModelSpec, seeds: int, seed: int, ctx: RunContext,
                    curve: bool = False) -> tuple[dict, list[dict]]:
    """Test accuracy (mean ± std) of ``seeds`` fresh networks trained on the kept examples, and the runs."""
    runs = [train_model(data, model, seed + k, ctx, indices=kept, curve=curve) for k in range(seeds)]
    return _summary([float(r["test_accuracy"]) for r in runs]), runs


# ---------------------------------------------------------------- Fig. 1 / Fig. 3: accuracy vs ratio


@dataclass(frozen=True)
class RatioParams:
    """Fig. 1 (and Fig. 3 with several ``retrain_models``): accuracy vs pruning ratio per method.

    ``influence_variant``: a second influence for one extra, labelled row of Ours (the presets: S
    without the weight-decay term, as this library computed it before), so the page shows
    what the term does."""

    datasets: tuple[DataChoice, ...] = (DataChoice("cifar10"), DataChoice("cifar100"), DataChoice("tinyimagenet"))
    ratios: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
    methods: tuple[str, ...] = PRUNING_METHODS
    scoring_model: ModelSpec = ModelSpec(arch="resnet50_cifar")
    retrain_models: tuple[ModelSpec, ...] = (ModelSpec(arch="resnet50_cifar"),)
    scoring: ScoringSpec = ScoringSpec()
    influence_variant: InfluenceConfig | None = None
    seeds: int = 3
    seed: int = 0

    def validate(self) -> None:
        if self.influence_variant is not None:
            self.influence_variant.validate()
        if not self.retrain_models:
            raise ValueError("retrain_models must name at least one network")
        for model in self.retrain_models:
            _check_common(self.datasets, self.scoring_model, model, self.scoring, self.seeds)
        _check_ratios(self.ratios)
        unknown = sorted(set(self.methods) - set(PRUNING_METHODS))
        if unknown or not self.methods:
            raise ValueError(f"unknown or no pruning method(s) {unknown}; choose from {', '.join(PRUNING_METHODS)}")


def _annealing_row(dataset: str, pruner: Pruner, ratio: float, label: str) -> dict:
    """Ours' objective ‖Σ_pruned S‖ at ``ratio`` against a random pruned set of the same size."""
    groups, num_groups = pruner.groups("ours")
    found = pruner.cardinality(keep_counts(groups, ratio, num_groups), balanced=num_groups > 1)
    random_pruned = _complement(pruner.kept("random", ratio), len(groups))
    return {"dataset": dataset, "method": label, "ratio": ratio, "norm_ours": float(found["norm"]),
            "norm_random": pruner.subset_norm(random_pruned), "proposals": int(found["proposals"]),
            "accepted": int(found["accepted"]), "seconds": float(found["seconds"])}


def run_ratios(params: RatioParams, ctx: RunContext) -> dict:
    rows, full, sources, annealing, influence = [], [], {}, [], []
    for choice in params.datasets:
        data = choice.load(ctx)
        sources[choice.name] = data.source.as_dict()
        pruner = Pruner(data, params.scoring_model, params.scoring, params.seed, ctx)
        influence.append(influence_row(choice.name, pruner))
        variants = []
        if params.influence_variant is not None:
            variant = Pruner(data, params.scoring_model, replace(params.scoring, influence=params.influence_variant), params.seed, ctx)
            variants.append((variant, VARIANT_LABEL))
            influence.append(influence_row(choice.name, variant, VARIANT_LABEL))
        ours = ([(pruner, DISPLAY_NAMES["ours"])] if "ours" in params.methods else []) + variants
        for model in params.retrain_models:
            whole, _ = retrain_summary(data, None, model, params.seeds, params.seed, ctx)
            full.append({"dataset": choice.name, "retrain": model.arch, "n_train": len(data.train_y), **whole})
            runs = [(pruner, m, DISPLAY_NAMES[m]) for m in params.methods] + [(v, "ours", label) for v, label in variants]
            for scorer, method, label in runs:
                for ratio in params.ratios:
                    kept = scorer.kept(method, ratio)
                    summary, _ = retrain_summary(data, kept, model, params.seeds, params.seed, ctx)
                    per_class = torch.bincount(data.train_y[kept].cpu(), minlength=data.num_classes).tolist()
                    rows.append({"dataset": choice.name, "retrain": model.arch, "method": label,
                                 "ratio": ratio, "kept": len(kept), "kept_per_class": per_class, **summary})
                    ctx.log(f"{choice.name} {model.arch} {label:<15} ratio {ratio:.1f}: {summary['mean']:.2f} ± {summary['std']:.2f}")
        annealing += [_annealing_row(choice.name, scorer, ratio, label) for scorer, label in ours for ratio in params.ratios]
    return {"data_source": sources, "metrics": {"scoring_model": params.scoring_model.arch, "rows": rows, "full_data": full,
                                                "annealing": annealing, "influence": influence,
                                                "class_balanced": [DISPLAY_NAMES[m] for m in params.scoring.class_balanced]}}


def _complement(kept: torch.Tensor, n: int) -> torch.Tensor:
    keep = torch.zeros(n, dtype=torch.bool)
    keep[kept.cpu()] = True
    return torch.nonzero(~keep).flatten()


# ---------------------------------------------------------------- Fig. 2: test-loss gap vs ε/n


@dataclass(frozen=True)
class GapParams:
    """Fig. 2: generalization-guaranteed pruning at several ε (fractions of the norm a random half
    of the data attains), and random pruning of the same size; test-loss gap vs ε/n.

    ``max_ratio``: Eq. 3 prunes at most this fraction. With an influence that sums to zero over the
    data, Eq. 3 over the whole range (1.0) is degenerate — pruning everything meets any ε — and
    ``f(m) = f(n − m)``, so the largest meaningful range is half the data."""

    datasets: tuple[DataChoice, ...] = (DataChoice("cifar10"), DataChoice("cifar100"))
    epsilon_fractions: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3)
    max_ratio: float = 0.5
    scoring_model: ModelSpec = ModelSpec(arch="resnet50_cifar")
    retrain_model: ModelSpec = ModelSpec(arch="resnet50_cifar")
    scoring: ScoringSpec = ScoringSpec()
    seeds: int = 3
    seed: int = 0

    def validate(self) -> None:
        _check_common(self.datasets, self.scoring_model, self.retrain_model, self.scoring, self.seeds)
        if not self.epsilon_fractions or any(f <= 0 for f in self.epsilon_fractions):
            raise ValueError(f"epsilon_fractions must be > 0, at least one; got {list(self.epsilon_fractions)}")
        if not 0 < self.max_ratio <= 1:
            raise ValueError(f"max_ratio must be in (0, 1]; got {self.max_ratio}")


def run_gap(params: GapParams, ctx: RunContext) -> dict:
    rows, sources, influence = [], {}, []
    for choice in params.datasets:
        data = choice.load(ctx)
        sources[choice.name] = data.source.as_dict()
        n = len(data.train_y)
        pruner = Pruner(data, params.scoring_model, params.scoring, params.seed, ctx)
        influence.append(influence_row(choice.name, pruner))
        whole = [train_model(data, params.retrain_model, params.seed + k, ctx) for k in range(params.seeds)]
        half = _complement(pruner.kept("random", 0.5), n)
        scale = pruner.subset_norm(half)
        for fraction in params.epsilon_fractions:
            epsilon = fraction * scale
            found = pruner.generalization(epsilon, max_pruned=int(params.max_ratio * n))
            m = int(found["pruned"].numel())
            if m >= n:  # degenerate: ||Σ_all S|| ≤ ε, so Eq. 3 prunes everything and nothing can be retrained
                rows.append({"dataset": choice.name, "method": "Ours", "epsilon_target": epsilon, "epsilon": float(found["norm"]),
                             "epsilon_over_n": float(found["norm"]) / n, "pruned": m, "ratio": 1.0, "degenerate": True})
                ctx.log(f"{choice.name} ε={epsilon:.3g}: degenerate (‖Σ_all S‖ = {found['norm']:.3g} ≤ ε)")
                continue
            random_pruned = torch.randperm(n, generator=make_generator(params.seed))[:m].sort().values
            for method, pruned, eps in (("Ours", found["pruned"], float(found["norm"])),
                                        ("Random", random_pruned, pruner.subset_norm(random_pruned))):
                kept = _complement(pruned, n).to(data.device)
                runs = [train_model(data, params.retrain_model, params.seed + k, ctx, indices=kept) for k in range(params.seeds)]
                gaps = [float(r["test_loss"]) - float(w["test_loss"]) for r, w in zip(runs, whole)]
                rows.append({"dataset": choice.name, "method": method, "epsilon_target": epsilon, "epsilon": eps,
                             "epsilon_over_n": eps / n, "pruned": m, "ratio": m / n, "gap": _summary(gaps),
                             "accuracy": _summary([float(r["test_accuracy"]) for r in runs]), "degenerate": False})
            ctx.log(f"{choice.name} ε={epsilon:.3g}: pruned {m} ({m / n:.0%})")
    return {"data_source": sources, "metrics": {"rows": rows, "influence": influence}}


# ---------------------------------------------------------------- Fig. 4: training time vs accuracy


@dataclass(frozen=True)
class EfficiencyParams:
    """Fig. 4: per-epoch (training seconds, test accuracy) for the whole data and pruned subsets."""

    dataset: DataChoice = DataChoice("cifar10")
    ratios: tuple[float, ...] = (0.2, 0.4, 0.6)
    methods: tuple[str, ...] = ("ours",)
    scoring_model: ModelSpec = ModelSpec(arch="resnet50_cifar")
    retrain_model: ModelSpec = ModelSpec(arch="resnet50_cifar")
    scoring: ScoringSpec = ScoringSpec()
    seeds: int = 1
    seed: int = 0

    def validate(self) -> None:
        _check_common((self.dataset,), self.scoring_model, self.retrain_model, self.scoring, self.seeds)
        _check_ratios(self.ratios)
        unknown = sorted(set(self.methods) - set(PRUNING_METHODS))
        if unknown or not self.methods:
            raise ValueError(f"unknown or no pruning method(s) {unknown}; choose from {', '.join(PRUNING_METHODS)}")


def _curve_row(label: str, ratio: float, runs: list[dict]) -> dict:
    seconds = np.mean([r["curve_seconds"].numpy() for r in runs], axis=0)
    acc = np.mean([r["curve_accuracy"].numpy() for r in runs], axis=0)
    return {"method": label, "ratio": ratio, "seconds": seconds.tolist(), "accuracy": acc.tolist(),
            "final": _summary([float(r["test_accuracy"]) for r in runs]),
            "train_seconds": float(seconds[-1]) if len(seconds) else 0.0}  # training only, evaluation excluded


def run_efficiency(params: EfficiencyParams, ctx: RunContext) -> dict:
    data = params.dataset.load(ctx)
    pruner = Pruner(data, params.scoring_model, params.scoring, params.seed, ctx)
    _, runs = retrain_summary(data, None, params.retrain_model, params.seeds, params.seed, ctx, curve=True)
    rows = [_curve_row("Whole dataset", 0.0, runs)]
    for method in params.methods:
        for ratio in params.ratios:
            _, runs = retrain_summary(data, pruner.kept(method, ratio), params.retrain_model, params.seeds, params.seed, ctx, curve=True)
            rows.append(_curve_row(DISPLAY_NAMES[method], ratio, runs))
    return {"data_source": {params.dataset.name: data.source.as_dict()},
            "metrics": {"rows": rows, "influence": [influence_row(params.dataset.name, pruner)]}}


# ---------------------------------------------------------------- Table 1: NAS on proxy sets


@dataclass(frozen=True)
class NasParams:
    """Table 1: rank ConvNets of the 720-space on 100-image-per-class proxies and on the whole data.

    ``architectures`` = 0 trains all 720; a smaller number samples that many (seeded) among those of
    width ≤ ``max_width`` (0 = any) that fit the image size."""

    dataset: DataChoice = DataChoice("cifar10")
    images_per_class: int = 100
    architectures: int = 0
    max_width: int = 0
    methods: tuple[str, ...] = ("random", "herding", "forgetting", "ours")
    scoring_model: ModelSpec = ModelSpec(arch="resnet18_cifar")
    search_train: TrainConfig = TrainConfig(epochs=100, lr=0.01, batch_size=128, schedule="cosine")
    top: int = 10
    scoring: ScoringSpec = ScoringSpec()
    seed: int = 0

    def validate(self) -> None:
        _check_common((self.dataset,), self.scoring_model, self.scoring_model, self.scoring, 1)
        if not 0 <= self.architectures <= len(convnet_space()):
            raise ValueError(f"architectures must be between 0 (all) and {len(convnet_space())}; got {self.architectures}")
        if self.max_width < 0:
            raise ValueError(f"max_width must be ≥ 0 (0 = any width); got {self.max_width}")
        if self.images_per_class < 1 or self.top < 2:
            raise ValueError("images_per_class must be ≥ 1 and top ≥ 2 (a rank correlation needs two models)")
        if self.architectures and self.top > self.architectures:
            raise ValueError(f"top={self.top} exceeds the {self.architectures} architectures sampled")
        allowed = ("random", "herding", "forgetting", "ours")
        unknown = sorted(set(self.methods) - set(allowed))
        if unknown or not self.methods:
            raise ValueError(f"unknown or no proxy method(s) {unknown}; choose from {', '.join(allowed)}")


def _proxy(method: str, pruner: Pruner, ipc: int, seed: int) -> torch.Tensor:
    """``ipc`` examples per class: coreset selections, or ours (the kept part of cardinality pruning)."""
    labels = pruner.data.train_y
    if method == "random":
        return select_random(labels, ipc, make_generator(seed))
    if method == "herding":
        return select_herding(pruner.last_layer()[0], labels, ipc)
    if method == "forgetting":
        return select_forgetting(pruner.full["forgetting"].to(labels.device), labels, ipc, make_generator(seed))
    return pruner.kept_ours([ipc] * pruner.data.num_classes, balanced=True)  # Table 1's proxies: ipc per class


def _fits(options: dict, data: Dataset, max_width: int) -> bool:
    """Whether a ConvNet of the space is within the width limit and can be built for the images."""
    if max_width and options["width"] > max_width:
        return False
    try:
        build_network("convnet", data.channels, data.num_classes, data.image_size, **options)
    except ValueError:
        return False
    return True


def run_nas(params: NasParams, ctx: RunContext) -> dict:
    data = params.dataset.load(ctx)
    space = convnet_space()
    eligible = [k for k, options in enumerate(space) if _fits(options, data, params.max_width)]
    if params.architectures:
        if params.architectures > len(eligible):
            raise ValueError(f"only {len(eligible)} architectures fit {data.name} with max_width={params.max_width}; asked {params.architectures}")
        picks = torch.randperm(len(eligible), generator=make_generator(params.seed))[: params.architectures].sort().values
        chosen = [eligible[k] for k in picks.tolist()]
    else:
        chosen = eligible
    pruner = Pruner(data, params.scoring_model, params.scoring, params.seed, ctx)
    proxies = {"Whole dataset": None}
    for method in params.methods:
        proxies[DISPLAY_NAMES[method]] = _proxy(method, pruner, params.images_per_class, params.seed)
    scores: dict[str, list[float]] = {}
    minutes: dict[str, float] = {}
    for label, kept in proxies.items():
        began = time.perf_counter()
        scores[label] = []
        for k in chosen:
            model = ModelSpec(arch="convnet", arch_options=space[k], train=params.search_train, crop_padding=0, flip=False)
            scores[label].append(float(train_model(data, model, params.seed, ctx, indices=kept)["test_accuracy"]))
        minutes[label] = (time.perf_counter() - began) / 60
    whole = np.array(scores["Whole dataset"])
    rows = []
    for label, kept in proxies.items():
        proxy = np.array(scores[label])
        top = np.argsort(-proxy, kind="stable")[: params.top]
        rho = spearmanr(proxy[top], whole[top]).statistic if len(set(proxy[top])) > 1 else float("nan")
        best = int(np.argmax(proxy))
        rows.append({"method": label, "best_architecture": space[chosen[best]], "best_whole_accuracy": float(whole[best]),
                     "spearman_top": float(rho), "minutes": minutes[label],
                     "images": len(data.train_y) if kept is None else len(kept)})
    return {"data_source": {params.dataset.name: data.source.as_dict()},
            "metrics": {"architectures_trained": len(chosen), "space_size": len(space), "eligible": len(eligible), "rows": rows,
                        "influence": [influence_row(params.dataset.name, pruner)],
                        "note": "minutes include only networks not already in the artifact store"}}


# The method (influence + annealing) and the baselines' scores, named on every DP page.
METHOD_FILES = ("reprolib/pruning/influence.py", "reprolib/pruning/annealing.py", "reprolib/pruning/scores.py")

ARTIFACTS = [
    Artifact(name="dp-fig1", paper="dp", title="DP Fig. 1: test accuracy vs pruning ratio, seven methods",
             notebook="dp/fig1_pruning_ratio.ipynb", params=RatioParams, run=run_ratios, paper_values=page.no_values, claims=page.ratio_claims,
             method_files=METHOD_FILES),
    Artifact(name="dp-fig2", paper="dp", title="DP Fig. 2: test-loss gap vs ε/n, ours vs random",
             notebook="dp/fig2_generalization_gap.ipynb", params=GapParams, run=run_gap, paper_values=page.fig2_values, claims=page.gap_claims,
             method_files=METHOD_FILES),
    Artifact(name="dp-fig3", paper="dp", title="DP Fig. 3: prune with a small SENet, retrain larger networks",
             notebook="dp/fig3_unseen_architectures.ipynb", params=RatioParams, run=run_ratios, paper_values=page.no_values, claims=page.ratio_claims,
             method_files=METHOD_FILES),
    Artifact(name="dp-fig4", paper="dp", title="DP Fig. 4: training time vs accuracy",
             notebook="dp/fig4_training_efficiency.ipynb", params=EfficiencyParams, run=run_efficiency, paper_values=page.fig4_values, claims=page.efficiency_claims,
             method_files=METHOD_FILES),
    Artifact(name="dp-table1", paper="dp", title="DP Table 1: architecture search on pruned proxy sets",
             notebook="dp/table1_nas.ipynb", params=NasParams, run=run_nas, paper_values=page.table1_values, claims=page.nas_claims,
             method_files=METHOD_FILES),
]
