"""Cross-architecture tables of trajectory matching: DDPP Table III and IADD Table 3.

The Table-I distilled sets — distilled on the setting's ConvNet, fetched from the store with the same
``trajectory_matching.distilled_set`` call and Setting as ``ddpp-table1`` / ``iadd-table1``, never
re-distilled here — are scored with the one evaluation protocol on the distillation network and on
other networks (the papers': AlexNet, VGG11, ResNet18). DSA comes from the classic-distillation
experiment (its stored set, scored with the same protocols); KIP is cited on the page.

Nothing is cached here under a spec of its own: distillations and scores go through
``trajectory_matching`` and ``classic_distillation``, whose CODE_VERSIONs cover them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from reprolib.artifacts import Artifact
from reprolib.data import Dataset, dataset_info
from reprolib.distillation.trajectory import DistillationDiverged
from reprolib.distillation.trajectory.rules import METHOD_NAMES
from reprolib.evaluation import EvalNetwork, EvalProtocol
from reprolib.experiments import classic_distillation as classic
from reprolib.experiments import trajectory_matching as tm
from reprolib.experiments.context import RunContext
from reprolib.nets import build_network
from reprolib.pages import trajectory_cross_architecture as page

PAPER_ARCHITECTURES = ("alexnet", "vgg11", "resnet18")  # the other networks of DDPP Table III / IADD Table 3


def network_problem(network: EvalNetwork, dataset: str) -> str | None:
    """Why ``network`` cannot score sets of ``dataset`` (None when it can).

    Builds it on the meta device (no memory, no compute) at the dataset's image size: a size it cannot
    pool fails there; an instance norm left with a 1×1 map normalises every channel to a constant, so
    the network would train to chance (ResNet18 on 8×8 images) — that is reported too, with the fix.
    """
    info = dataset_info(dataset)
    try:
        with torch.device("meta"):
            net = build_network(network.arch, info.channels, info.num_classes, info.image_size, **network.arch_options)
    except ValueError as err:
        return f"{network.arch} on {dataset} ({info.image_size[0]}×{info.image_size[1]}): {err}"
    collapsed = []
    hooks = [module.register_forward_pre_hook(lambda m, args, name=name: collapsed.append(name)
                                              if args[0].shape[2:].numel() == 1 else None)
             for name, module in net.named_modules()
             if isinstance(module, nn.GroupNorm) and module.num_groups == module.num_channels]
    net(torch.empty(2, info.channels, *info.image_size, device="meta"))
    for hook in hooks:
        hook.remove()
    if collapsed:
        return (f"{network.arch} on {dataset} ({info.image_size[0]}×{info.image_size[1]}): instance norm on a 1×1 map "
                f"({collapsed[0]}) outputs a constant, so the network cannot learn; use arch_options {{norm: batchnorm}}")
    return None


def check_networks(networks: Sequence[EvalNetwork], datasets: Sequence[str]) -> None:
    """ValueError naming the first network that cannot score sets of one of ``datasets``."""
    for dataset in dict.fromkeys(datasets):
        for network in networks:
            problem = network_problem(network, dataset)
            if problem:
                raise ValueError(problem)


def _row(setting: tm.Setting, method: str, distilled_on: EvalNetwork, protocol: EvalProtocol) -> dict:
    return {"dataset": setting.dataset, "ipc": setting.ipc, "method": method, "reproduced": True,
            "arch": protocol.arch, "arch_options": dict(protocol.arch_options),
            "distilled_arch": distilled_on.arch, "distilled_arch_options": dict(distilled_on.arch_options)}


def trajectory_rows(method: str, setting: tm.Setting, rules: tm.RuleOptions, protocols: Sequence[EvalProtocol],
                    data: Dataset, seed: int, ctx: RunContext) -> list[dict]:
    """One row per protocol: ``method``'s Table-I distilled set of ``setting`` (from the store) scored with it.
    A diverged distillation gives a 'diverged' row per protocol."""
    distilled_on = EvalNetwork(setting.teachers.arch, dict(setting.teachers.arch_options))
    name = METHOD_NAMES[method]
    try:
        found = tm.distilled_set(data, setting, rules.rule(method), seed, ctx)
    except DistillationDiverged as err:
        ctx.log(str(err))
        return [_row(setting, name, distilled_on, p) | {"status": "diverged", "message": str(err)} for p in protocols]
    rows = []
    for protocol in protocols:
        result = tm.evaluate_images(found.images, found.labels, found.syn_lr, data, protocol, seed, ctx)
        ctx.log(f"{setting.dataset} IPC {setting.ipc} {name} on {protocol.arch}: {result}")
        rows.append(_row(setting, name, distilled_on, protocol) | {"status": "ok", **result.as_dict()})
    return rows


def classic_rows(method: str, setting: tm.Setting, params: classic.ClassicParams, protocols: Sequence[EvalProtocol],
                 data: Dataset, ctx: RunContext) -> list[dict]:
    """One row per protocol: the classic-distillation experiment's stored ``method`` set scored with it."""
    config = params.config(method)
    distilled_on = EvalNetwork(config.arch, dict(config.arch_options))
    rows = []
    for protocol in protocols:
        result = classic.evaluate(method, data, setting.ipc, params, ctx, protocol=protocol)
        rows.append(_row(setting, classic.DISPLAY_NAMES[method], distilled_on, protocol) | {"status": "ok", **result.as_dict()})
    return rows


@dataclass(frozen=True)
class CrossArchParams:
    settings: tuple[tm.Setting, ...] = ()  # the Table-I settings whose distilled sets are scored (paper: CIFAR-10 IPC 10)
    methods: tuple[str, ...] = ("mtt", "ddpp")
    classic_methods: tuple[str, ...] = ()  # e.g. ("dsa",): reproduced with the classic-distillation experiment
    classic: classic.ClassicParams = classic.ClassicParams()
    architectures: tuple[EvalNetwork, ...] = tuple(EvalNetwork(a) for a in PAPER_ARCHITECTURES)  # besides the distillation network
    rules: tm.RuleOptions = tm.RuleOptions()
    eval: EvalProtocol = EvalProtocol()
    seed: int = 0

    def validate(self) -> None:
        tm.validate_settings(self.settings)
        if not self.architectures:
            raise ValueError("architectures must name at least one network besides the distillation network, "
                             f"e.g. [{{arch: {PAPER_ARCHITECTURES[0]}}}]")
        tm.validate_methods(self.methods)
        classic.check_reuse(self.classic_methods, self.classic, [s.ipc for s in self.settings])
        for method in self.classic_methods:
            config = self.classic.config(method)
            for setting in self.settings:
                if (config.arch, config.arch_options) != (setting.teachers.arch, setting.teachers.arch_options):
                    raise ValueError(
                        f"classic.{method} distils on {config.arch} {config.arch_options} but the {setting.dataset} "
                        f"setting on {setting.teachers.arch} {setting.teachers.arch_options}: a cross-architecture "
                        "row needs every method distilled on the same network; set classic."
                        f"{method}.arch / arch_options to the setting's")
        check_networks(self.architectures, [s.dataset for s in self.settings])
        self.rules.validate()
        self.eval.validate()

    def protocols(self, setting: tm.Setting) -> list[EvalProtocol]:
        """The distillation network's protocol (Table I's), then one per other architecture."""
        return [setting.protocol(self.eval), *(n.protocol(self.eval) for n in self.architectures)]


def not_run(params: CrossArchParams) -> dict[str, str]:
    """The papers' architectures this run leaves out, and the classic methods it does not learn at some
    IPC, with the reason (shown on the page)."""
    chosen = {n.arch for n in params.architectures}
    reasons = {}
    for arch in PAPER_ARCHITECTURES:
        if arch not in chosen:
            problems = [network_problem(EvalNetwork(arch), s.dataset) for s in params.settings]
            reasons[arch] = next((p for p in problems if p), "not in this preset's architectures")
    return reasons | classic.not_learned(params.classic_methods, params.classic, [s.ipc for s in params.settings])


def run(params: CrossArchParams, ctx: RunContext) -> dict:
    """Every method's Table-I set of every setting scored on the distillation network and each architecture."""
    datasets, rows = tm.DatasetCache(ctx), []
    for setting in params.settings:
        data = datasets(setting.dataset, setting.zca)
        protocols = params.protocols(setting)
        for method in params.classic_methods:  # on the data as DC/DSA/DM define it: never ZCA-whitened
            if not params.classic.learns(method, setting.ipc):
                continue
            rows += classic_rows(method, setting, params.classic, protocols, datasets(setting.dataset, zca=False), ctx)
        for method in params.methods:
            rows += trajectory_rows(method, setting, params.rules, protocols, data, params.seed, ctx)
    sources = datasets.sources()
    return {"data_source": sources, "metrics": {"rows": rows, "not_run": not_run(params)}}


ARTIFACTS = [
    Artifact(
        name="ddpp-table3",
        paper="ddpp",
        title="DDPP Table III: cross-architecture generalisation (ConvNet → AlexNet, VGG11, ResNet18)",
        notebook="ddpp/table3_cross_architecture.ipynb",
        params=CrossArchParams,
        run=run,
        paper_values=lambda: page.published_values("ddpp"),
        claims=lambda record: page.claims(record, "ddpp"),
        compared=lambda record: page.compared(record, "ddpp"),
        method_files=tm.METHOD_FILES,
    ),
    Artifact(
        name="iadd-table3",
        paper="iadd",
        title="IADD Table 3: cross-architecture generalisation (ConvNetD3 → AlexNet, VGG11, ResNet18)",
        notebook="iadd/table3_cross_architecture.ipynb",
        params=CrossArchParams,
        run=run,
        paper_values=lambda: page.published_values("iadd"),
        claims=lambda record: page.claims(record, "iadd"),
        compared=lambda record: page.compared(record, "iadd"),
        method_files=tm.METHOD_FILES,
    ),
]
