"""Classic distillation baselines DC, DSA and DM, reproduced under the library's protocol.

Every distillation table of the papers compares against DC (gradient matching), DSA (DC with siamese
augmentation) and DM (distribution matching); here they are learned on the preset's data and scored
with :func:`reprolib.evaluation.evaluate_synthetic`, next to the random real images they start from.

Other pages reuse the same hyper-parameters and cached sets::

    from reprolib.presets import resolve
    from reprolib.experiments import classic_distillation as classic

    params = resolve("classic-distillation", preset)            # or ClassicParams(...)
    images, labels, _ = classic.distill("dsa", data, 10, params, ctx)
    result = classic.evaluate("dsa", data, 10, params, ctx, protocol=my_protocol)  # EvalResult
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import ClassVar, NamedTuple

import torch

from reprolib.artifacts import Artifact
from reprolib.data import Dataset, check_ipcs, load_dataset
from reprolib.distillation.distribution_matching import DistributionMatchingConfig, distribution_matching
from reprolib.distillation.gradient_matching import NO_AUGMENT, DSAConfig, GradientMatchingConfig, gradient_matching
from reprolib.distillation.synthetic import init_synthetic
from reprolib.evaluation import EvalProtocol, EvalResult, evaluate_synthetic
from reprolib.experiments.context import RunContext
from reprolib.pages import classic_distillation as classic_page
from reprolib.runtime import device_description, make_generator

CODE_VERSION = 1  # bump when a change here or in the distillation modules alters the numbers
METHODS = ("dc", "dsa", "dm")
DISPLAY_NAMES = {"dc": "DC", "dsa": "DSA", "dm": "DM", "random": "Random real"}


def validate_methods(methods: tuple[str, ...]) -> None:
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        raise ValueError(f"unknown distillation method(s) {unknown}; choose from {', '.join(METHODS)}")


def check_reuse(methods: tuple[str, ...], params: ClassicParams, ipcs) -> None:
    """For a page that reuses these baselines: known ``methods`` whose configs in ``params`` cover the
    ``ipcs`` each is learned at (checked before compute, like every parameter)."""
    validate_methods(methods)
    for method in methods:
        try:
            params.config(method).validate(sorted({ipc for ipc in ipcs if params.learns(method, ipc)}))
        except ValueError as err:
            raise ValueError(f"classic.{method}: {err}") from err


def not_learned(methods: tuple[str, ...], params: ClassicParams, ipcs) -> dict[str, str]:
    """For a page that reuses these baselines: each of ``methods`` that ``ipcs_by_method`` keeps from some
    of ``ipcs``, with the reason (the page cites the published values there)."""
    reasons = {}
    for method in methods:
        skipped = sorted({ipc for ipc in ipcs if not params.learns(method, ipc)})
        if skipped:
            kept = ", ".join(map(str, params.ipcs_by_method[method]))
            reasons[DISPLAY_NAMES[method]] = (f"not learned at IPC {', '.join(map(str, skipped))}: this preset learns it at "
                                              f"IPC {kept} only (`ipcs_by_method`, a compute budget)")
    return reasons


@dataclass(frozen=True)
class ClassicParams:
    # What a page reusing these settings (`classic: {same_as: classic-distillation}`) does not read: it
    # learns on its own datasets and IPCs and scores with its own protocol (its scale table omits them).
    NOT_REUSED: ClassVar[tuple[str, ...]] = ("datasets", "ipcs", "methods", "random_baseline", "eval")

    datasets: tuple[str, ...] = ("digits",)
    ipcs: tuple[int, ...] = (1, 10, 50)
    methods: tuple[str, ...] = METHODS
    ipcs_by_method: dict = field(default_factory=dict)  # a method run at fewer IPCs than ``ipcs`` (a preset's budget)
    dc: GradientMatchingConfig = GradientMatchingConfig()
    dsa: DSAConfig = DSAConfig()
    dm: DistributionMatchingConfig = DistributionMatchingConfig()
    eval: EvalProtocol = EvalProtocol()
    random_baseline: bool = True  # also score the random real images DSA/DM start from
    checkpoint_every: int = 100  # outer iterations between checkpoints of a long run (0: never)
    seed: int = 0

    def validate(self) -> None:
        if not self.methods:
            raise ValueError("methods must name at least one method")
        check_ipcs(self.datasets, self.ipcs)
        validate_methods(self.methods)
        if self.dc.augment != NO_AUGMENT:
            raise ValueError(f"dc.augment is {self.dc.augment!r}: DC matches unaugmented images; set it to 'none' (DSA is the augmented method)")
        if self.dsa.augment == NO_AUGMENT:
            raise ValueError("dsa.augment is 'none': DSA needs a DSA strategy, e.g. color_crop_cutout_flip_scale_rotate")
        for method, ipcs in self.ipcs_by_method.items():
            if method not in self.methods or not ipcs or set(ipcs) - set(self.ipcs):
                raise ValueError(f"ipcs_by_method.{method} is {ipcs}: give a method of `methods` "
                                 f"({', '.join(self.methods)}) some of the IPCs in `ipcs` ({list(self.ipcs)})")
        for method in self.methods:
            try:
                self.config(method).validate(self.method_ipcs(method))
            except ValueError as err:
                raise ValueError(f"{method}: {err}") from err
        if self.checkpoint_every < 0:
            raise ValueError(f"checkpoint_every must be ≥ 0 (0 disables checkpoints), got {self.checkpoint_every}")
        self.eval.validate()

    def method_ipcs(self, method: str) -> tuple[int, ...]:
        """The IPCs this page learns ``method`` at: ``ipcs``, or fewer where ``ipcs_by_method`` says so."""
        return tuple(self.ipcs_by_method.get(method, self.ipcs))

    def learns(self, method: str, ipc: int) -> bool:
        """Whether a page reusing these settings learns ``method`` at ``ipc``: yes, unless ``ipcs_by_method``
        limits the method to other IPCs."""
        return ipc in self.ipcs_by_method.get(method, (ipc,))

    def config(self, method: str) -> GradientMatchingConfig | DistributionMatchingConfig:
        if method not in METHODS:
            raise ValueError(f"unknown distillation method {method!r}; choose from {', '.join(METHODS)}")
        return getattr(self, method)


class DistilledSet(NamedTuple):
    images: torch.Tensor
    labels: torch.Tensor
    seconds_per_iteration: float  # measured when the set was computed (see ``timed_on``)
    timed_on: str


def distill_spec(method: str, data: Dataset, ipc: int, params: ClassicParams) -> dict:
    """Everything that determines a distilled set (its store address); of ``loops`` only this IPC's."""
    config = asdict(params.config(method))
    if "loops" in config:
        config["loops"] = list(params.config(method).loops_for(ipc))
    return {"method": method, "data": data.spec(), "ipc": ipc, "config": config, "seed": params.seed, "code": CODE_VERSION}


def distill(method: str, data: Dataset, ipc: int, params: ClassicParams, ctx: RunContext) -> DistilledSet:
    """The ``method`` ('dc', 'dsa', 'dm') synthetic set of ``ipc`` images per class, from the store or
    learned (checkpointed every ``params.checkpoint_every`` iterations, resumed after an interruption)."""
    params.config(method).validate([ipc])
    spec = distill_spec(method, data, ipc, params)
    checkpoint = ctx.store.checkpoint("distilled-set", spec)

    def compute() -> dict:
        learn = distribution_matching if method == "dm" else gradient_matching
        ctx.log(f"{data.name} {DISPLAY_NAMES[method]} IPC {ipc}: learning the synthetic set")
        outcome = learn(data, ipc, params.config(method), seed=params.seed, checkpoint=checkpoint,
                        checkpoint_every=params.checkpoint_every)
        return {"images": outcome.images.cpu(), "labels": outcome.labels.cpu(),
                "seconds_per_iteration": outcome.seconds_per_iteration, "timed_on": device_description(ctx.device)}

    found = ctx.store.cached("distilled-set", spec, compute)
    checkpoint.clear()
    return DistilledSet(found["images"].to(ctx.device), found["labels"].to(ctx.device),
                        float(found["seconds_per_iteration"]), str(found["timed_on"]))


def _score(images: torch.Tensor, labels: torch.Tensor, data: Dataset, protocol: EvalProtocol, seed: int,
           ctx: RunContext) -> EvalResult:
    """The protocol's score of a small set, cached by the set's content."""
    digest = hashlib.sha256(images.detach().cpu().numpy().tobytes() + labels.cpu().numpy().tobytes()).hexdigest()
    spec = {"data": data.spec(), "set": digest, "protocol": protocol.as_dict(), "seed": seed, "code": CODE_VERSION}

    def compute() -> dict:
        result = evaluate_synthetic(images, labels, data, protocol, seed=seed)
        return {"accuracies": torch.tensor(result.accuracies, dtype=torch.float64), "lr": result.lr}

    found = ctx.store.cached("evaluation", spec, compute)
    return EvalResult(tuple(found["accuracies"].tolist()), float(found["lr"]))


def evaluate(method: str, data: Dataset, ipc: int, params: ClassicParams, ctx: RunContext,
             protocol: EvalProtocol | None = None) -> EvalResult:
    """Score ``method``'s distilled set (``'random'``: the random real images of the same seed) with
    ``protocol`` (default ``params.eval``; pass another for cross-architecture tables)."""
    protocol = protocol or params.eval
    if method == "random":
        images, labels = init_synthetic(data, ipc, make_generator(params.seed), "real")
    else:
        images, labels, _, _ = distill(method, data, ipc, params, ctx)
    return _score(images, labels, data, protocol, params.seed, ctx)


def run(params: ClassicParams, ctx: RunContext) -> dict:
    """Every (dataset, method, ipc) cell, with the random-real reference and the time per iteration."""
    rows, sources = [], {}
    for name in params.datasets:
        data = load_dataset(name, device=ctx.device)
        sources[name] = data.source.as_dict()
        methods = (("random",) if params.random_baseline else ()) + tuple(params.methods)
        for method in methods:
            for ipc in params.ipcs if method == "random" else params.method_ipcs(method):
                result = evaluate(method, data, ipc, params, ctx)
                row = {"dataset": name, "method": DISPLAY_NAMES[method], "ipc": ipc, **result.as_dict()}
                if method != "random":
                    distilled = distill(method, data, ipc, params, ctx)
                    row.update(iterations=params.config(method).iterations,
                               seconds_per_iteration=distilled.seconds_per_iteration, timed_on=distilled.timed_on)
                rows.append(row)
                ctx.log(f"{name} {DISPLAY_NAMES[method]:<11} IPC {ipc:>3}: {result}")
    return {"data_source": sources, "metrics": {"rows": rows}}


ARTIFACTS = [
    Artifact(
        name="classic-distillation",
        paper="shared",
        title="Classic distillation baselines: DC, DSA, DM",
        notebook="shared/classic_distillation.ipynb",
        params=ClassicParams,
        run=run,
        paper_values=classic_page.published_values,
        claims=classic_page.claims,
        compared=classic_page.compared,
        method_files=("reprolib/distillation/gradient_matching.py", "reprolib/distillation/distribution_matching.py"),
    )
]
