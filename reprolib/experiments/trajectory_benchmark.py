"""Benchmark tables of trajectory matching: DDPP Table I and IADD Table 1.

Rows: the coreset baselines (recomputed with the coreset-baselines experiment's functions), DC, DSA
and DM (learned by the classic-distillation experiment with its own parameters — in the presets
``classic: {same_as: classic-distillation}`` — so both pages share one stored set per cell), MTT, DDPP
and IADD (reproduced on the shared engine) and the full training set, all scored with the table's
protocol. Methods not reproduced (CAFE, EGM, DCC, …) are cited from the papers on the page.
"""

from __future__ import annotations

from dataclasses import dataclass

from reprolib.artifacts import Artifact
from reprolib.experiments import classic_distillation as classic
from reprolib.experiments import coreset_baselines as coreset
from reprolib.experiments import trajectory_matching as tm
from reprolib.experiments.context import RunContext
from reprolib.evaluation import EvalProtocol
from reprolib.pages import trajectory_matching as page


@dataclass(frozen=True)
class BenchmarkParams:
    settings: tuple[tm.Setting, ...] = ()
    methods: tuple[str, ...] = ("mtt", "ddpp")
    coreset_methods: tuple[str, ...] = ("random", "forgetting", "herding")
    classic_methods: tuple[str, ...] = ()  # any of dc, dsa, dm
    classic: classic.ClassicParams = classic.ClassicParams()
    rules: tm.RuleOptions = tm.RuleOptions()
    feature_model: coreset.FeatureModel = coreset.FeatureModel()
    eval: EvalProtocol = EvalProtocol()
    full_dataset_epochs: int = 0  # 0: no "Full Dataset" row
    validation: float = 0.0  # > 0: score on this fraction of the training set, held out — for tuning
    seed: int = 0

    def validate(self) -> None:
        tm.validate_settings(self.settings)
        tm.validate_methods(self.methods)
        tm.validate_coreset_methods(self.coreset_methods)
        classic.check_reuse(self.classic_methods, self.classic, [s.ipc for s in self.settings])
        if not 0 <= self.validation < 1:
            raise ValueError(f"validation is the fraction of the training set held out for tuning, in [0, 1); got {self.validation}")
        if self.full_dataset_epochs < 0:
            raise ValueError(f"full_dataset_epochs must be ≥ 0 (0 skips the row), got {self.full_dataset_epochs}")
        self.rules.validate()
        self.eval.validate()


def run(params: BenchmarkParams, ctx: RunContext) -> dict:
    """Every row of the benchmark for every setting; the distilled sets go through the shared store."""
    datasets, rows, features, full_done = tm.DatasetCache(ctx, params.validation), [], {}, set()
    for setting in params.settings:
        first = len(rows)
        data = datasets(setting.dataset, setting.zca)
        protocol = setting.protocol(params.eval)
        rows += tm.coreset_rows(data, setting, params.coreset_methods, params.feature_model, protocol,
                                params.seed, ctx, features)
        for method in params.classic_methods:  # on the data as DC/DSA/DM define it: never ZCA-whitened
            if not params.classic.learns(method, setting.ipc):
                continue
            plain = datasets(setting.dataset, zca=False)
            result = classic.evaluate(method, plain, setting.ipc, params.classic, ctx, protocol=protocol)
            rows.append({"dataset": setting.dataset, "ipc": setting.ipc, "method": classic.DISPLAY_NAMES[method],
                         "reproduced": True, "status": "ok", **result.as_dict()})
        for method in params.methods:
            rows.append(tm.trajectory_row(method, setting, params.rules, params.eval, data, params.seed, ctx))
        if params.full_dataset_epochs and setting.dataset not in full_done:
            rows.append(tm.full_dataset_row(data, setting, protocol, params.full_dataset_epochs, params.seed, ctx))
            full_done.add(setting.dataset)
        if setting.label:
            rows[first:] = [row | {"setting": setting.label} for row in rows[first:]]
    sources = datasets.sources()
    split = f"validation ({params.validation:.0%} of the training set held out)" if params.validation else "test"
    not_run = classic.not_learned(params.classic_methods, params.classic, [s.ipc for s in params.settings])
    return {"data_source": sources, "metrics": {"rows": rows, "scored_on": split, "not_run": not_run}}


ARTIFACTS = [
    Artifact(
        name="ddpp-table1",
        paper="ddpp",
        title="DDPP Table I: benchmark on CIFAR-10/100 (coreset rows, MTT, DDPP, full dataset)",
        notebook="ddpp/table1_benchmark.ipynb",
        params=BenchmarkParams,
        run=run,
        paper_values=lambda: page.published_values("ddpp", "table1"),
        claims=lambda record: page.claims(record, "ddpp", "table1"),
        compared=lambda record: page.compared(record, "ddpp", "table1"),
        method_files=tm.METHOD_FILES,
    ),
    Artifact(
        name="iadd-table1",
        paper="iadd",
        title="IADD Table 1: benchmark on CIFAR-10/100 and Tiny ImageNet (MTT, DDPP, IADD reproduced)",
        notebook="iadd/table1_benchmark.ipynb",
        params=BenchmarkParams,
        run=run,
        paper_values=lambda: page.published_values("iadd", "table1"),
        claims=lambda record: page.claims(record, "iadd", "table1"),
        compared=lambda record: page.compared(record, "iadd", "table1"),
        method_files=tm.METHOD_FILES,
    ),
]
