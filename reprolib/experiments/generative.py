"""GDD-SKD (paper 002): Table 1 (accuracy at IPC 1/10/50), Table 2 (cross-architecture at IPC 10),
Fig. 2 (synthetic images at IPC 10).

Per dataset, one conditional GAN is trained (stage 1, the "CGAN" row) and continued by each matching
rule (stage 2: "DiM", "Ours (No Stand.)", "Ours"). As in DiM's code, one batch size sets both the
stage-2 training and the evaluation (``stage2_batch_per_ipc``): the paper's batch 32/64/128 for IPC
1/10/50 are three stage-2 runs per rule. Generators are cached in the store, so the three pages at one
preset share them.

Each generator is scored by the protocols in ``protocols``, every number labelled with its protocol,
checkpoint and reading:

* ``dim`` — DiM's protocol (:mod:`reprolib.generative.dim_protocol`): new images every step, constant
  lr, test checks every 200 epochs; read as the best check (what DiM reports: selected on the test
  set) and as the accuracy after the last epoch;
* ``fixed`` — the library's protocol on a fixed set of IPC images per class (a distilled *set*, as the
  other tables score): DSA, lr ×0.1 at half, last-epoch accuracy;

at each checkpoint in ``checkpoints``: ``selected`` (DiM's best-by-test-accuracy epoch of each stage)
and ``last``.
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
    CHECKPOINTS, MATCHING_RULES, RULE_NAMES, DiMEval, GANConfig, GeneratorRun, evaluate_dim, sample_set, train_cgan,
    train_matching,
)
from reprolib.image_grid import encode_grid
from reprolib.nets import NETWORK_NAMES
from reprolib.pages import generative as page
from reprolib.train import embed

CODE_VERSION = 2  # bump when a change here alters the numbers
GENERATIVE_METHODS = ("cgan", *MATCHING_RULES)
METHOD_NAMES = {"cgan": "CGAN", **RULE_NAMES}
PROTOCOLS = ("dim", "fixed")
READINGS = {"dim": ("best_check", "last_epoch"), "fixed": ("last_epoch",)}


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


def _check_choices(what: str, chosen: tuple[str, ...], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(chosen) - set(allowed))
    if unknown or not chosen:
        raise ValueError(f"unknown or no {what} {unknown}; choose from {', '.join(allowed)}")


@dataclass(frozen=True)
class GenerativeSetup:
    """What trains the generators; shared by the three artifacts so they reuse the stored ones.

    ``stage2_batch_per_ipc`` (DiM: one ``--batch-size`` for matching and evaluation): each IPC's
    evaluation batch also trains its stage-2 generator; false: one stage-2 run at ``gan.match_batch_size``.
    ``train_per_class`` / ``test_total`` (0 = the whole split) cut every dataset of the page to a
    stratified subset, for CPU-sized presets.
    """

    gan: GANConfig = GANConfig()
    matching: Matching = Matching()
    stage2_batch_per_ipc: bool = True
    train_per_class: int = 0
    test_total: int = 0
    seed: int = 0

    def validate(self) -> None:
        if self.train_per_class < 0 or self.test_total < 0:
            raise ValueError("setup.train_per_class and setup.test_total must be ≥ 0 (0 keeps the whole split)")
        self.gan.validate()
        self.matching.validate()

    def load(self, name: str, ctx: RunContext) -> Dataset:
        data = load_dataset(name, device=ctx.device)
        if self.train_per_class or self.test_total:
            data = data.subset(self.train_per_class or None, self.test_total or None, seed=self.seed)
        return data


def train_generator(method: str, data: Dataset, setup: GenerativeSetup, ctx: RunContext, *, batch_size: int | None = None,
                    checkpoint: str = "selected") -> GeneratorRun:
    """The stage-1 generator ("cgan") or its stage-2 continuation by a matching rule (from the store);
    ``batch_size`` is the evaluation batch, which trains stage 2 when ``stage2_batch_per_ipc``."""
    if method == "cgan":
        return train_cgan(data, setup.gan, setup.seed, ctx.store, ctx.device, checkpoint=checkpoint)
    gan = replace(setup.gan, match_batch_size=batch_size) if setup.stage2_batch_per_ipc and batch_size else setup.gan
    weight = setup.matching.weight(method, data.name)
    return train_matching(data, gan, method, weight, setup.matching.tau, setup.seed, ctx.store, ctx.device,
                          checkpoint=checkpoint)


def evaluate_generator(run: GeneratorRun, data: Dataset, ipc: int, protocol: EvalProtocol, which: str, dim_eval: DiMEval,
                       seed: int, ctx: RunContext) -> dict[str, EvalResult]:
    """The generator's score under protocol ``which`` ('dim' or 'fixed'), by reading (cached)."""
    spec = {"generator": run.spec, "ipc": ipc, "protocol_name": which, "protocol": protocol.as_dict(), "seed": seed,
            "code": CODE_VERSION} | ({"dim_eval": dim_eval.as_dict()} if which == "dim" else {})

    def compute() -> dict:
        if which == "fixed":
            images, labels = sample_set(run.generator, ipc, seed)
            results = {"last_epoch": evaluate_synthetic(images, labels, data, protocol, seed=seed)}
        else:
            found = evaluate_dim(run.generator, data, protocol, dim_eval, ipc, seed)
            results = {reading: found.reading(reading) for reading in READINGS["dim"]}
        return {reading: {"accuracies": torch.tensor(r.accuracies, dtype=torch.float64), "lr": r.lr}
                for reading, r in results.items()}

    found = ctx.store.cached("gdd-evaluation", spec, compute)
    return {reading: EvalResult(tuple(r["accuracies"].tolist()), float(r["lr"])) for reading, r in found.items()}


@dataclass(frozen=True)
class Scoring:
    """Which protocols and checkpoints score each generator (see the module docstring)."""

    protocols: tuple[str, ...] = PROTOCOLS
    checkpoints: tuple[str, ...] = CHECKPOINTS
    dim_eval: DiMEval = DiMEval()

    def validate(self) -> None:
        _check_choices("protocol(s)", self.protocols, PROTOCOLS)
        _check_choices("checkpoint(s)", self.checkpoints, CHECKPOINTS)
        self.dim_eval.validate()


def generator_rows(method: str, data: Dataset, ipc: int, protocol: EvalProtocol, setup: GenerativeSetup,
                   scoring: Scoring, ctx: RunContext, **labels) -> tuple[list[dict], dict]:
    """Every (checkpoint, protocol, reading) score of one generator at one IPC; and its selection log."""
    rows, log = [], {}
    for checkpoint in scoring.checkpoints:
        run = train_generator(method, data, setup, ctx, batch_size=protocol.batch_size, checkpoint=checkpoint)
        log = {"selection": run.selection, "match_course": _match_course(run)}
        for which in scoring.protocols:
            for reading, result in evaluate_generator(run, data, ipc, protocol, which, scoring.dim_eval, setup.seed, ctx).items():
                rows.append({"dataset": data.name, "method": METHOD_NAMES[method], "ipc": ipc, "kind": "generative",
                             "protocol": which, "checkpoint": checkpoint, "reading": reading, **labels, **result.as_dict()})
                ctx.log(f"{data.name} {METHOD_NAMES[method]:<17} IPC {ipc:>3} {which}/{checkpoint}/{reading}: {result}")
    return rows, log


def _match_course(run: GeneratorRun) -> list[float]:
    """The matching term's mean per tenth of stage 2 (empty for stage 1): a compact record of its course."""
    match = run.history.get("match")
    if match is None or len(match) == 0:
        return []
    return [chunk.mean().item() for chunk in torch.tensor_split(match, min(10, len(match)))]


# --------------------------------------------------------------------------------------------- Table 1


@dataclass(frozen=True)
class Table1Params:
    datasets: tuple[str, ...] = ("mnist", "fashion-mnist", "cifar10")
    ipcs: tuple[int, ...] = (1, 10, 50)
    batch_sizes: tuple[int, ...] = (32, 64, 128)  # batch size for each IPC (paper §3.2): evaluation and stage 2
    methods: tuple[str, ...] = GENERATIVE_METHODS
    coreset_methods: tuple[str, ...] = CORESET_METHODS
    selections: int = 1  # draws of each randomised coreset selection (Random; Forgetting's ties), as on the coreset page
    classic_methods: tuple[str, ...] = ()  # DC/DSA/DM, learned as on the classic-distillation page
    classic: classic.ClassicParams = classic.ClassicParams()
    scoring: Scoring = Scoring()
    setup: GenerativeSetup = GenerativeSetup()
    feature_model: coreset.FeatureModel = coreset.FeatureModel()
    eval: EvalProtocol = EvalProtocol()

    def validate(self) -> None:
        if not self.datasets or not self.ipcs:
            raise ValueError("datasets and ipcs must each name at least one value")
        if len(self.batch_sizes) != len(self.ipcs) or min(self.batch_sizes) < 1:
            raise ValueError(f"batch_sizes gives the batch size of each IPC: {len(self.ipcs)} positive values "
                             f"for ipcs {list(self.ipcs)}, got {list(self.batch_sizes)}")
        _check_datasets(self.datasets, self.ipcs)
        _check_choices("generative method(s)", self.methods, GENERATIVE_METHODS)
        unknown = sorted(set(self.coreset_methods) - set(CORESET_METHODS))
        if unknown:
            raise ValueError(f"unknown coreset method(s) {unknown}; choose from {', '.join(CORESET_METHODS)}")
        if self.selections < 1:
            raise ValueError(f"selections must be ≥ 1, got {self.selections}")
        classic.check_reuse(self.classic_methods, self.classic, self.ipcs)
        if self.feature_model.arch.lower() not in NETWORK_NAMES:
            raise ValueError(f"unknown feature-model network {self.feature_model.arch!r}; choose one of {', '.join(NETWORK_NAMES)}")
        self.scoring.validate()
        self.setup.validate()
        self.eval.validate()


def _coreset_rows(params: Table1Params, data: Dataset, ctx: RunContext) -> list[dict]:
    """The coreset rows under this table's fixed-set protocol (batch size per IPC), via the coreset-baselines code."""
    features = forgetting = None
    if any(m != "random" for m in params.coreset_methods):
        net, forgetting, _ = coreset.train_feature_model(data, params.feature_model, params.setup.seed, ctx)
        features = embed(net, data.train_x)
    rows = []
    for method in params.coreset_methods:
        for ipc, batch in zip(params.ipcs, params.batch_sizes):
            result, draws = coreset.coreset_result(method, data, ipc, features, forgetting, replace(params.eval, batch_size=batch),
                                                   params.setup.seed, ctx, params.selections)
            rows.append({"dataset": data.name, "method": DISPLAY_NAMES[method], "ipc": ipc, "kind": "coreset",
                         "protocol": "fixed", **result.as_dict(), "selections": draws})
    return rows


def _classic_rows(params: Table1Params, data: Dataset, ctx: RunContext) -> list[dict]:
    """DC/DSA/DM under this table's fixed-set protocol, their sets shared with the classic-distillation page
    (so ``data`` is the whole dataset, even when ``setup`` cuts the generators' data to a subset)."""
    rows = []
    for method in params.classic_methods:
        for ipc, batch in zip(params.ipcs, params.batch_sizes):
            protocol = replace(params.eval, batch_size=batch)
            result = classic.evaluate(method, data, ipc, params.classic, ctx, protocol=protocol)
            rows.append({"dataset": data.name, "method": classic.DISPLAY_NAMES[method], "ipc": ipc,
                         "kind": "distillation", "protocol": "fixed", **result.as_dict()})
    return rows


def run_table1(params: Table1Params, ctx: RunContext) -> dict:
    """Every (dataset, method, IPC) cell: coreset rows, DC/DSA/DM and the four generative rows."""
    rows, sources, logs = [], {}, {}
    for name in params.datasets:
        data = params.setup.load(name, ctx)
        sources[name] = data.source.as_dict()
        rows += _coreset_rows(params, data, ctx) + _classic_rows(params, load_dataset(name, device=ctx.device), ctx)
        for method in params.methods:
            for ipc, batch in zip(params.ipcs, params.batch_sizes):
                protocol = replace(params.eval, batch_size=batch)
                found, log = generator_rows(method, data, ipc, protocol, params.setup, params.scoring, ctx)
                rows += found
                logs[f"{name}/{method}/batch {batch}"] = log
    return {"data_source": sources, "metrics": {"rows": rows, "generators": logs}}


# --------------------------------------------------------------------------------------------- Table 2


@dataclass(frozen=True)
class Table2Params:
    dataset: str = "cifar10"
    ipc: int = 10
    batch_size: int = 64
    methods: tuple[str, ...] = MATCHING_RULES
    classic_methods: tuple[str, ...] = ()  # the paper's table has DSA
    classic: classic.ClassicParams = classic.ClassicParams()
    # DiM's evaluation networks: its ResNet18 is the BatchNorm 32–256 one (``resnet18_dim``)
    architectures: tuple[EvalNetwork, ...] = tuple(EvalNetwork(a) for a in ("convnetd3", "resnet18_dim", "alexnet", "vgg11"))
    scoring: Scoring = Scoring()
    setup: GenerativeSetup = GenerativeSetup()
    eval: EvalProtocol = EvalProtocol()

    def validate(self) -> None:
        _check_datasets((self.dataset,), (self.ipc,))
        _check_choices("generative method(s)", self.methods, GENERATIVE_METHODS)
        if not self.architectures or self.batch_size < 1:
            raise ValueError("architectures must name at least one network and batch_size must be ≥ 1")
        for a in self.architectures:
            if a.arch.lower() not in NETWORK_NAMES:
                raise ValueError(f"unknown evaluation network {a.arch!r}; choose one of {', '.join(NETWORK_NAMES)}")
        classic.check_reuse(self.classic_methods, self.classic, (self.ipc,))
        self.scoring.validate()
        self.setup.validate()
        self.eval.validate()


def run_table2(params: Table2Params, ctx: RunContext) -> dict:
    """Each generator (and DSA's set) at IPC 10 scored by every architecture (trained on it, tested on real data)."""
    data = params.setup.load(params.dataset, ctx)
    protocols = [(a, a.protocol(params.eval, batch_size=params.batch_size)) for a in params.architectures]
    rows, logs = [], {}
    whole = load_dataset(params.dataset, device=ctx.device)  # DSA's set is the classic page's, learned on the whole split
    for method in params.classic_methods:
        for a, protocol in protocols:
            result = classic.evaluate(method, whole, params.ipc, params.classic, ctx, protocol=protocol)
            rows.append({"dataset": data.name, "method": classic.DISPLAY_NAMES[method], "architecture": a.arch,
                         "arch_options": dict(a.arch_options), "ipc": params.ipc, "protocol": "fixed", **result.as_dict()})
    for method in params.methods:
        for a, protocol in protocols:
            found, logs[method] = generator_rows(method, data, params.ipc, protocol, params.setup, params.scoring, ctx,
                                                 architecture=a.arch, arch_options=dict(a.arch_options))
            rows += found
    return {"data_source": {data.name: data.source.as_dict()}, "metrics": {"rows": rows, "generators": logs}}


# --------------------------------------------------------------------------------------------- Fig. 2


@dataclass(frozen=True)
class Fig2Params:
    datasets: tuple[str, ...] = ("mnist", "fashion-mnist", "cifar10")
    ipc: int = 10
    batch_size: int = 64  # the IPC's batch size: it trained the stage-2 generator shown
    methods: tuple[str, ...] = ("kd_std",)
    checkpoint: str = "selected"
    setup: GenerativeSetup = GenerativeSetup()

    def validate(self) -> None:
        if not self.datasets:
            raise ValueError("datasets must name at least one dataset")
        _check_datasets(self.datasets, (self.ipc,))
        _check_choices("generative method(s)", self.methods, GENERATIVE_METHODS)
        _check_choices("checkpoint", (self.checkpoint,), CHECKPOINTS)
        self.setup.validate()


def run_fig2(params: Fig2Params, ctx: RunContext) -> dict:
    """IPC images per class of each generator, stored in the record as PNG grids (rows = classes)."""
    sources, images = {}, []
    for name in params.datasets:
        data = params.setup.load(name, ctx)
        sources[name] = data.source.as_dict()
        for method in params.methods:
            run = train_generator(method, data, params.setup, ctx, batch_size=params.batch_size, checkpoint=params.checkpoint)
            generated, _ = sample_set(run.generator, params.ipc, params.setup.seed)
            pixels = data.denormalise(generated)
            images.append({"dataset": name, "method": METHOD_NAMES[method], "ipc": params.ipc, "checkpoint": params.checkpoint,
                           "classes": list(data.class_names), "png": encode_grid(pixels, params.ipc)})
    return {"data_source": sources, "metrics": {"images": images}}


# GDD-SKD's two training stages: the losses (standardised-logit self-distillation), the loop and the GAN.
METHOD_FILES = ("reprolib/generative/losses.py", "reprolib/generative/training.py", "reprolib/generative/gan.py")

ARTIFACTS = [
    Artifact(name="gdd-skd-table1", paper="gdd_skd", title="GDD-SKD Table 1: accuracy at IPC 1/10/50",
             notebook="gdd_skd/table1.ipynb", params=Table1Params, run=run_table1, paper_values=page.table1_values,
             claims=page.claims_table1, compared=page.compared_table1,
             method_files=METHOD_FILES),
    Artifact(name="gdd-skd-table2", paper="gdd_skd", title="GDD-SKD Table 2: cross-architecture accuracy at IPC 10",
             notebook="gdd_skd/table2.ipynb", params=Table2Params, run=run_table2, paper_values=page.table2_values,
             claims=page.claims_table2, method_files=METHOD_FILES),
    Artifact(name="gdd-skd-fig2", paper="gdd_skd", title="GDD-SKD Fig. 2: synthetic images at IPC 10",
             notebook="gdd_skd/fig2.ipynb", params=Fig2Params, run=run_fig2, paper_values=lambda: [],
             method_files=METHOD_FILES),
]
