"""GDD-SKD (paper 002): Table 1 (accuracy at IPC 1/10/50), Table 2 (cross-architecture at IPC 10),
Fig. 2 (synthetic images at IPC 10).

Per dataset, one conditional GAN is trained (stage 1, the "CGAN" row) and continued by each matching
rule (stage 2: "DiM", "Ours (No Stand.)", "Ours"); generators are cached in the store, so the three
pages at one preset share them. Each generator becomes a training set by :mod:`reprolib.generative.sampling`
(a fixed set of IPC images per class by default, or DiM's regenerate-every-batch protocol) and is
scored by the one evaluation protocol with the paper's batch size for each IPC (32/64/128 for 1/10/50).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch

from reprolib.artifacts import Artifact
from reprolib.coreset import CORESET_METHODS, DISPLAY_NAMES
from reprolib.data import Dataset, check_ipcs, dataset_info, load_dataset
from reprolib.evaluation import EvalNetwork, EvalProtocol, EvalResult, evaluate_synthetic
from reprolib.experiments import classic_distillation as classic
from reprolib.experiments import coreset_baselines as coreset
from reprolib.experiments.context import RunContext
from reprolib.generative import (
    MATCHING_RULES, RULE_NAMES, SAMPLING_MODES, GANConfig, GeneratorRun, evaluate_regenerating, sample_set,
    train_cgan, train_matching,
)
from reprolib.image_grid import encode_grid
from reprolib.nets import NETWORK_NAMES
from reprolib.pages import generative as page
from reprolib.train import embed

CODE_VERSION = 1  # bump when a change here alters the numbers
GENERATIVE_METHODS = ("cgan", *MATCHING_RULES)
METHOD_NAMES = {"cgan": "CGAN", **RULE_NAMES}


@dataclass(frozen=True)
class Matching:
    """The matching term's weight λ and temperature τ (paper: λ 0.01, 0.001 for MNIST; τ 2; DiM 0.01)."""

    tau: float = 2.0
    lambda_skd: float = 0.01
    lambda_skd_by_dataset: dict = field(default_factory=lambda: {"mnist": 0.001})
    lambda_dim: float = 0.01

    def validate(self) -> None:
        weights = [self.lambda_skd, self.lambda_dim, *self.lambda_skd_by_dataset.values()]
        if self.tau <= 0 or any(w < 0 for w in weights):
            raise ValueError(f"matching.tau must be > 0 and every λ ≥ 0; got {self}")

    def weight(self, rule: str, dataset: str) -> float:
        if rule == "dim":
            return self.lambda_dim
        return self.lambda_skd_by_dataset.get(dataset, self.lambda_skd)


def _check_datasets(datasets: tuple[str, ...], ipcs: tuple[int, ...]) -> None:
    check_ipcs(datasets, ipcs)
    for name in datasets:
        info = dataset_info(name)
        if info.image_size[0] != info.image_size[1]:
            raise ValueError(f"{name}: the generator makes square images, not {info.image_size}")


def _check_methods(methods: tuple[str, ...]) -> None:
    unknown = sorted(set(methods) - set(GENERATIVE_METHODS))
    if unknown or not methods:
        raise ValueError(f"unknown or no generative method(s) {unknown}; choose from {', '.join(GENERATIVE_METHODS)}")


def _check_sampling(sampling: str) -> None:
    if sampling not in SAMPLING_MODES:
        raise ValueError(f"unknown sampling {sampling!r}; choose 'fixed' (a distilled set, default) or 'regenerate' (DiM's protocol)")


@dataclass(frozen=True)
class GenerativeSetup:
    """What trains the generators; shared by the three artifacts so they reuse the stored ones."""

    gan: GANConfig = GANConfig()
    matching: Matching = Matching()
    seed: int = 0

    def validate(self) -> None:
        self.gan.validate()
        self.matching.validate()


def train_generator(method: str, data: Dataset, setup: GenerativeSetup, ctx: RunContext) -> GeneratorRun:
    """The stage-1 generator ("cgan") or its stage-2 continuation by a matching rule (from the store)."""
    if method == "cgan":
        return train_cgan(data, setup.gan, setup.seed, ctx.store, ctx.device)
    weight = setup.matching.weight(method, data.name)
    return train_matching(data, setup.gan, method, weight, setup.matching.tau, setup.seed, ctx.store, ctx.device)


def evaluate_generator(run: GeneratorRun, data: Dataset, ipc: int, protocol: EvalProtocol, sampling: str, seed: int,
                       ctx: RunContext) -> EvalResult:
    """The protocol's score of ``ipc`` images per class from the generator (cached)."""
    spec = {"generator": run.spec, "ipc": ipc, "sampling": sampling, "protocol": protocol.as_dict(), "seed": seed,
            "code": CODE_VERSION}

    def compute() -> dict:
        if sampling == "fixed":
            images, labels = sample_set(run.generator, ipc, seed)
            result = evaluate_synthetic(images, labels, data, protocol, seed=seed)
        else:
            result = evaluate_regenerating(run.generator, data, protocol, ipc, seed)
        return {"accuracies": torch.tensor(result.accuracies, dtype=torch.float64), "lr": result.lr}

    found = ctx.store.cached("gdd-evaluation", spec, compute)
    return EvalResult(tuple(found["accuracies"].tolist()), float(found["lr"]))


# --------------------------------------------------------------------------------------------- Table 1


@dataclass(frozen=True)
class Table1Params:
    datasets: tuple[str, ...] = ("mnist", "fashion-mnist", "cifar10")
    ipcs: tuple[int, ...] = (1, 10, 50)
    batch_sizes: tuple[int, ...] = (32, 64, 128)  # evaluation batch size for each IPC (paper §3.2)
    methods: tuple[str, ...] = GENERATIVE_METHODS
    coreset_methods: tuple[str, ...] = CORESET_METHODS
    classic_methods: tuple[str, ...] = ()  # DC/DSA/DM, learned as on the classic-distillation page
    classic: classic.ClassicParams = classic.ClassicParams()
    sampling: str = "fixed"
    setup: GenerativeSetup = GenerativeSetup()
    feature_model: coreset.FeatureModel = coreset.FeatureModel()
    eval: EvalProtocol = EvalProtocol()

    def validate(self) -> None:
        if not self.datasets or not self.ipcs:
            raise ValueError("datasets and ipcs must each name at least one value")
        if len(self.batch_sizes) != len(self.ipcs) or min(self.batch_sizes) < 1:
            raise ValueError(f"batch_sizes gives the evaluation batch size of each IPC: {len(self.ipcs)} positive values "
                             f"for ipcs {list(self.ipcs)}, got {list(self.batch_sizes)}")
        _check_datasets(self.datasets, self.ipcs)
        _check_methods(self.methods)
        _check_sampling(self.sampling)
        unknown = sorted(set(self.coreset_methods) - set(CORESET_METHODS))
        if unknown:
            raise ValueError(f"unknown coreset method(s) {unknown}; choose from {', '.join(CORESET_METHODS)}")
        classic.check_reuse(self.classic_methods, self.classic, self.ipcs)
        if self.feature_model.arch.lower() not in NETWORK_NAMES:
            raise ValueError(f"unknown feature-model network {self.feature_model.arch!r}; choose one of {', '.join(NETWORK_NAMES)}")
        self.setup.validate()
        self.eval.validate()


def _coreset_rows(params: Table1Params, data: Dataset, ctx: RunContext) -> list[dict]:
    """The coreset rows under this table's protocol (batch size per IPC), via the coreset-baselines code."""
    features = forgetting = None
    if any(m != "random" for m in params.coreset_methods):
        net, forgetting, _ = coreset.train_feature_model(data, params.feature_model, params.setup.seed, ctx)
        features = embed(net, data.train_x)
    rows = []
    for method in params.coreset_methods:
        for ipc, batch in zip(params.ipcs, params.batch_sizes):
            indices = coreset.select(method, data, ipc, features, forgetting, params.setup.seed)
            result = coreset.evaluate_coreset(indices, data, replace(params.eval, batch_size=batch), params.setup.seed, ctx)
            rows.append({"dataset": data.name, "method": DISPLAY_NAMES[method], "ipc": ipc, "kind": "coreset", **result.as_dict()})
    return rows


def _classic_rows(params: Table1Params, data: Dataset, ctx: RunContext) -> list[dict]:
    """DC/DSA/DM under this table's protocol, their sets shared with the classic-distillation page."""
    rows = []
    for method in params.classic_methods:
        for ipc, batch in zip(params.ipcs, params.batch_sizes):
            protocol = replace(params.eval, batch_size=batch)
            result = classic.evaluate(method, data, ipc, params.classic, ctx, protocol=protocol)
            rows.append({"dataset": data.name, "method": classic.DISPLAY_NAMES[method], "ipc": ipc,
                         "kind": "distillation", **result.as_dict()})
    return rows


def run_table1(params: Table1Params, ctx: RunContext) -> dict:
    """Every (dataset, method, IPC) cell: coreset rows, DC/DSA/DM and the four generative rows."""
    rows, sources, histories = [], {}, {}
    for name in params.datasets:
        data = load_dataset(name, device=ctx.device)
        sources[name] = data.source.as_dict()
        rows += _coreset_rows(params, data, ctx) + _classic_rows(params, data, ctx)
        for method in params.methods:
            run = train_generator(method, data, params.setup, ctx)
            histories[f"{name}/{method}"] = {k: v.tolist() for k, v in run.history.items() if k == "match"}
            for ipc, batch in zip(params.ipcs, params.batch_sizes):
                protocol = replace(params.eval, batch_size=batch)
                result = evaluate_generator(run, data, ipc, protocol, params.sampling, params.setup.seed, ctx)
                rows.append({"dataset": name, "method": METHOD_NAMES[method], "ipc": ipc, "kind": "generative",
                             "sampling": params.sampling, **result.as_dict()})
                ctx.log(f"{name} {METHOD_NAMES[method]:<17} IPC {ipc:>3}: {result}")
    metrics = {"rows": rows, "sampling": params.sampling, "matching_history": histories}
    return {"data_source": sources, "metrics": metrics}


# --------------------------------------------------------------------------------------------- Table 2


@dataclass(frozen=True)
class Table2Params:
    dataset: str = "cifar10"
    ipc: int = 10
    batch_size: int = 64
    methods: tuple[str, ...] = MATCHING_RULES
    classic_methods: tuple[str, ...] = ()  # the paper's table has DSA
    classic: classic.ClassicParams = classic.ClassicParams()
    architectures: tuple[EvalNetwork, ...] = tuple(EvalNetwork(a) for a in ("convnetd3", "resnet18", "alexnet", "vgg11"))
    sampling: str = "fixed"
    setup: GenerativeSetup = GenerativeSetup()
    eval: EvalProtocol = EvalProtocol()

    def validate(self) -> None:
        _check_datasets((self.dataset,), (self.ipc,))
        _check_methods(self.methods)
        _check_sampling(self.sampling)
        if not self.architectures or self.batch_size < 1:
            raise ValueError("architectures must name at least one network and batch_size must be ≥ 1")
        for a in self.architectures:
            if a.arch.lower() not in NETWORK_NAMES:
                raise ValueError(f"unknown evaluation network {a.arch!r}; choose one of {', '.join(NETWORK_NAMES)}")
        classic.check_reuse(self.classic_methods, self.classic, (self.ipc,))
        self.setup.validate()
        self.eval.validate()


def run_table2(params: Table2Params, ctx: RunContext) -> dict:
    """Each generator's (and DSA's) IPC-10 set scored by every architecture (trained on it, tested on real data)."""
    data = load_dataset(params.dataset, device=ctx.device)
    protocols = [(a, a.protocol(params.eval, batch_size=params.batch_size)) for a in params.architectures]
    rows = []
    for method in params.classic_methods:
        for a, protocol in protocols:
            result = classic.evaluate(method, data, params.ipc, params.classic, ctx, protocol=protocol)
            rows.append({"dataset": data.name, "method": classic.DISPLAY_NAMES[method], "architecture": a.arch,
                         "arch_options": dict(a.arch_options), "ipc": params.ipc, **result.as_dict()})
    for method in params.methods:
        run = train_generator(method, data, params.setup, ctx)
        for a, protocol in protocols:
            result = evaluate_generator(run, data, params.ipc, protocol, params.sampling, params.setup.seed, ctx)
            rows.append({"dataset": data.name, "method": METHOD_NAMES[method], "architecture": a.arch,
                         "arch_options": dict(a.arch_options), "ipc": params.ipc, "sampling": params.sampling, **result.as_dict()})
            ctx.log(f"{METHOD_NAMES[method]:<17} {a.arch:<12}: {result}")
    return {"data_source": {data.name: data.source.as_dict()}, "metrics": {"rows": rows, "sampling": params.sampling}}


# --------------------------------------------------------------------------------------------- Fig. 2


@dataclass(frozen=True)
class Fig2Params:
    datasets: tuple[str, ...] = ("mnist", "fashion-mnist", "cifar10")
    ipc: int = 10
    methods: tuple[str, ...] = ("kd_std",)
    setup: GenerativeSetup = GenerativeSetup()

    def validate(self) -> None:
        if not self.datasets:
            raise ValueError("datasets must name at least one dataset")
        _check_datasets(self.datasets, (self.ipc,))
        _check_methods(self.methods)
        self.setup.validate()


def run_fig2(params: Fig2Params, ctx: RunContext) -> dict:
    """IPC images per class of each generator, stored in the record as PNG grids (rows = classes)."""
    sources, images = {}, []
    for name in params.datasets:
        data = load_dataset(name, device=ctx.device)
        sources[name] = data.source.as_dict()
        for method in params.methods:
            run = train_generator(method, data, params.setup, ctx)
            generated, _ = sample_set(run.generator, params.ipc, params.setup.seed)
            pixels = data.denormalise(generated)
            images.append({"dataset": name, "method": METHOD_NAMES[method], "ipc": params.ipc,
                           "classes": list(data.class_names), "png": encode_grid(pixels, params.ipc)})
    return {"data_source": sources, "metrics": {"images": images}}


# GDD-SKD's two training stages: the losses (standardised-logit self-distillation), the loop and the GAN.
METHOD_FILES = ("reprolib/generative/losses.py", "reprolib/generative/training.py", "reprolib/generative/gan.py")

ARTIFACTS = [
    Artifact(name="gdd-skd-table1", paper="gdd_skd", title="GDD-SKD Table 1: accuracy at IPC 1/10/50",
             notebook="gdd_skd/table1.ipynb", params=Table1Params, run=run_table1, paper_values=page.table1_values,
             claims=page.claims_table1, method_files=METHOD_FILES),
    Artifact(name="gdd-skd-table2", paper="gdd_skd", title="GDD-SKD Table 2: cross-architecture accuracy at IPC 10",
             notebook="gdd_skd/table2.ipynb", params=Table2Params, run=run_table2, paper_values=page.table2_values,
             claims=page.claims_table2, method_files=METHOD_FILES),
    Artifact(name="gdd-skd-fig2", paper="gdd_skd", title="GDD-SKD Fig. 2: synthetic images at IPC 10",
             notebook="gdd_skd/fig2.ipynb", params=Fig2Params, run=run_fig2, paper_values=lambda: [],
             method_files=METHOD_FILES),
]
