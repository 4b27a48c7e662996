"""Coreset baselines (Random, Herding, K-Center, Forgetting at IPC 1/10/50) under the evaluation protocol.

These rows appear in every distillation table (DDPP Table I, IADD Table 1, GDD-SKD Table 1); the
papers cite them from the DC paper. Here they are recomputed on whatever data the preset names:
select ``ipc`` real images per class, then score them with :func:`evaluate_synthetic`.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field

import torch

from reprolib.artifacts import Artifact
from reprolib.coreset import (
    CORESET_METHODS,
    DISPLAY_NAMES,
    ForgettingTracker,
    select_forgetting,
    select_herding,
    select_kcenter,
    select_random,
)
from reprolib.data import Dataset, check_ipcs, load_dataset
from reprolib.evaluation import EvalProtocol, EvalResult, evaluate_synthetic
from reprolib.experiments.context import RunContext
from reprolib.nets import NETWORK_NAMES, build_network
from reprolib.pages import coreset_baselines as coreset_page
from reprolib.runtime import make_generator
from reprolib.train import TrainConfig, accuracy, embed, train_classifier

CODE_VERSION = 1  # bump when a change here alters the numbers, so cached artifacts are recomputed


@dataclass(frozen=True)
class FeatureModel:
    """The network trained on the full training set whose features (Herding, K-Center) and
    forgetting counts (Forgetting) drive selection."""

    arch: str = "convnet"
    arch_options: dict = field(default_factory=dict)
    train: TrainConfig = TrainConfig(epochs=30, lr=0.01, batch_size=256)


@dataclass(frozen=True)
class CoresetParams:
    datasets: tuple[str, ...] = ("digits",)
    ipcs: tuple[int, ...] = (1, 10, 50)
    methods: tuple[str, ...] = CORESET_METHODS
    feature_model: FeatureModel = FeatureModel()
    eval: EvalProtocol = EvalProtocol()
    seed: int = 0
    selections: int = 1  # draws of each randomised selection (Random; Forgetting's ties), pooled

    def validate(self) -> None:
        if not self.methods:
            raise ValueError("methods must name at least one method")
        if self.selections < 1:
            raise ValueError(f"selections must be ≥ 1, got {self.selections}")
        check_ipcs(self.datasets, self.ipcs)
        unknown = sorted(set(self.methods) - set(CORESET_METHODS))
        if unknown:
            raise ValueError(f"unknown coreset method(s) {unknown}; choose from {', '.join(CORESET_METHODS)}")
        if self.feature_model.arch.lower() not in NETWORK_NAMES:
            raise ValueError(f"unknown feature-model network {self.feature_model.arch!r}; choose one of {', '.join(NETWORK_NAMES)}")
        self.eval.validate()


def train_feature_model(data: Dataset, model: FeatureModel, seed: int, ctx: RunContext) -> tuple[torch.nn.Module, torch.Tensor, float]:
    """Train (or load from the store) the feature model; returns it, the forgetting counts and its test accuracy."""
    spec = {"data": data.spec(), "model": asdict(model), "seed": seed, "code": CODE_VERSION}

    def compute() -> dict:
        torch.manual_seed(seed)
        net = build_network(model.arch, data.channels, data.num_classes, data.image_size, **model.arch_options).to(ctx.device)
        tracker = ForgettingTracker(len(data.train_x), ctx.device)
        train_classifier(
            net, data.train_x, data.train_y, model.train, generator=make_generator(seed),
            on_batch=tracker.update, desc="feature model",
        )
        state = {k: v.cpu() for k, v in net.state_dict().items()}
        return {"state": state, "forgetting": tracker.counts().cpu(), "test_accuracy": accuracy(net, data.test_x, data.test_y)}

    found = ctx.store.cached("feature-model", spec, compute)
    net = build_network(model.arch, data.channels, data.num_classes, data.image_size, **model.arch_options)
    net.load_state_dict(found["state"])
    return net.to(ctx.device).eval(), found["forgetting"].to(ctx.device), float(found["test_accuracy"])


def select(method: str, data: Dataset, ipc: int, features: torch.Tensor | None, forgetting: torch.Tensor | None, seed: int) -> torch.Tensor:
    """Indices of the ``ipc``-per-class coreset chosen by ``method``."""
    if method == "random":
        return select_random(data.train_y, ipc, make_generator(seed))
    if method == "herding":
        return select_herding(features, data.train_y, ipc)
    if method == "k-center":
        return select_kcenter(features, data.train_y, ipc)
    if method == "forgetting":
        return select_forgetting(forgetting, data.train_y, ipc, make_generator(seed))
    raise ValueError(f"unknown coreset method {method!r}; choose from {', '.join(CORESET_METHODS)}")


def evaluate_coreset(indices: torch.Tensor, data: Dataset, protocol: EvalProtocol, seed: int, ctx: RunContext) -> EvalResult:
    """The protocol's score of the real images at ``indices`` (cached by the indices' hash)."""
    digest = hashlib.sha256(indices.cpu().numpy().tobytes()).hexdigest()
    spec = {"data": data.spec(), "indices": digest, "protocol": protocol.as_dict(), "seed": seed, "code": CODE_VERSION}

    def compute() -> dict:
        result = evaluate_synthetic(data.train_x[indices], data.train_y[indices], data, protocol, seed=seed)
        return {"accuracies": torch.tensor(result.accuracies, dtype=torch.float64), "lr": result.lr}

    found = ctx.store.cached("evaluation", spec, compute)
    return EvalResult(tuple(found["accuracies"].tolist()), float(found["lr"]))


RANDOMISED = ("random", "forgetting")  # selections that draw at random (Forgetting: among equal counts)


def coreset_result(method: str, data: Dataset, ipc: int, features: torch.Tensor | None, forgetting: torch.Tensor | None,
                   protocol: EvalProtocol, seed: int, ctx: RunContext, selections: int = 1) -> tuple[EvalResult, int]:
    """The protocol's score of ``method``'s coreset and the number of selections it pools: a randomised
    selection is drawn ``selections`` times (seeds ``seed``, ``seed + 1``, …), since one draw's luck
    dwarfs the networks' spread, and the accuracies of every draw's networks are pooled."""
    draws = selections if method in RANDOMISED else 1
    results = [evaluate_coreset(select(method, data, ipc, features, forgetting, seed + s), data, protocol, seed, ctx)
               for s in range(draws)]
    return EvalResult(tuple(a for r in results for a in r.accuracies), results[0].lr), draws


def run(params: CoresetParams, ctx: RunContext) -> dict:
    """Every (dataset, method, ipc) cell of the coreset rows, plus each feature model's test accuracy."""
    rows, sources, full_accuracy = [], {}, {}
    for name in params.datasets:
        data = load_dataset(name, device=ctx.device)
        sources[name] = data.source.as_dict()
        features = forgetting = None
        if any(m in params.methods for m in ("herding", "k-center", "forgetting")):
            net, forgetting, full_accuracy[name] = train_feature_model(data, params.feature_model, params.seed, ctx)
            features = embed(net, data.train_x)
        for method in params.methods:
            for ipc in params.ipcs:
                result, draws = coreset_result(method, data, ipc, features, forgetting, params.eval, params.seed, ctx,
                                               params.selections)
                rows.append({"dataset": name, "method": DISPLAY_NAMES[method], "ipc": ipc, **result.as_dict(),
                             "selections": draws})
                ctx.log(f"{name} {DISPLAY_NAMES[method]:<10} IPC {ipc:>3}: {result}")
    return {"data_source": sources, "metrics": {"rows": rows, "feature_model_test_accuracy": full_accuracy}}


ARTIFACTS = [
    Artifact(
        name="coreset-baselines",
        paper="shared",
        title="Coreset baselines: Random, Herding, K-Center, Forgetting",
        notebook="shared/coreset_baselines.ipynb",
        params=CoresetParams,
        run=run,
        paper_values=coreset_page.published_values,
        claims=coreset_page.claims,
        compared=coreset_page.compared,
        method_files=("reprolib/coreset.py",),
    )
]
