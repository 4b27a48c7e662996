"""KIP (DDPP Table II, IADD Table 2) and cross-architecture (DDPP Table III, IADD Table 3) artifacts:
parameters checked before compute, the Table-I sets reused, rows per network, claims from records."""

from __future__ import annotations

import pytest
import torch

from reprolib.distillation.trajectory import DistillationDiverged, DistilledSet
from reprolib.evaluation import EvalProtocol
from reprolib.experiments import trajectory_cross_architecture as xa
from reprolib.experiments import trajectory_kip as kip
from reprolib.experiments import trajectory_matching as tm
from reprolib.experiments.context import RunContext
from reprolib.pages import trajectory_cross_architecture as xa_page
from reprolib.pages import trajectory_kip as kip_page
from reprolib.presets import PresetError, resolve


@pytest.mark.parametrize("preset", ["smoke", "small", "paper"])
@pytest.mark.parametrize("paper", ["ddpp", "iadd"])
def test_presets_score_the_table1_sets(preset, paper):
    """Same settings, rules (and, except smoke's cheaper cross-architecture evaluation, protocol) as Table I,
    so the store hands these pages Table I's distilled sets instead of distilling again."""
    table1 = resolve(f"{paper}-table1", preset)
    for table in ("table2", "table3"):
        params = resolve(f"{paper}-{table}", preset)
        assert all(setting in table1.settings for setting in params.settings)
        assert params.rules == table1.rules
        if not (table == "table3" and preset == "smoke"):
            assert params.eval == table1.eval
    assert resolve(f"{paper}-table2", preset).methods == (paper,)
    if paper == "iadd":
        assert resolve("iadd-table3", preset).classic == resolve("classic-distillation", preset)


def test_small_says_why_it_has_no_dsa_row():
    """`small` learns DSA at IPC 1 only (an IPC-10 set costs hours on the CPU) and Table 3 is IPC 10: the
    page's note names DSA and the reason instead of leaving the row silently empty."""
    reasons = xa.not_run(resolve("iadd-table3", "small"))
    assert "not learned at IPC 10" in reasons["DSA"]
    assert "**DSA** — not learned at IPC 10" in xa_page.not_run_note({"metrics": {"not_run": reasons}})
    assert "DSA" not in xa.not_run(resolve("iadd-table3", "smoke"))


@pytest.mark.parametrize("artifact, overrides, message", [
    ("ddpp-table3", {"architectures": [{"arch": "vgg11"}]}, "cannot be pooled 5 times"),
    ("ddpp-table3", {"architectures": [{"arch": "resnet18"}]}, "instance norm on a 1×1 map"),
    ("ddpp-table3", {"architectures": []}, "at least one network"),
    ("ddpp-table3", {"architectures": [{"arch": "lenet"}]}, "unknown network"),
    ("ddpp-table3", {"methods": ["pad"]}, "unknown trajectory-matching method"),
    ("iadd-table3", {"classic_methods": ["kip"]}, "unknown distillation method"),
    ("iadd-table3", {"classic": {"dsa": {"arch_options": {"depth": 3}}}}, "distilled on the same network"),
    ("ddpp-table2", {"width": 0}, "width must be a positive integer"),
    ("ddpp-table2", {"settings": [{"dataset": "digits", "ipc": 1, "teachers": {"arch": "alexnet"}}]}, "ConvNet's width"),
    ("iadd-table2", {"settings": []}, "at least one"),
])
def test_bad_parameters_fail_before_compute(artifact, overrides, message):
    with pytest.raises(PresetError, match=message):
        resolve(artifact, "smoke", overrides)


def test_network_problems_by_image_size():
    assert all(xa.network_problem(xa.EvalNetwork(arch), "cifar10") is None for arch in xa.PAPER_ARCHITECTURES)
    assert xa.network_problem(xa.EvalNetwork("resnet18", {"norm": "batchnorm"}), "digits") is None
    assert "vgg11" in xa.not_run(resolve("ddpp-table3", "smoke"))
    assert xa.not_run(resolve("ddpp-table3", "paper")) == {}


def test_width_protocol_keeps_table1_protocol_when_the_width_matches():
    small = resolve("ddpp-table2", "small").settings[0]  # ConvNet of the default width 128
    base = EvalProtocol(num_eval=1)
    assert kip.width_protocol(small, base, 128) == small.protocol(base)  # same spec → Table I's cached score
    assert kip.width_protocol(small, base, 1024).arch_options == {"width": 1024}
    smoke = resolve("ddpp-table2", "smoke").settings[0]  # depth 2, width 32
    assert kip.width_protocol(smoke, base, 128).arch_options == {"depth": 2, "width": 128}


def test_trajectory_rows_score_the_stored_set_on_every_network(digits, monkeypatch, tmp_path):
    setting = resolve("ddpp-table3", "smoke").settings[0]
    idx = torch.cat([torch.nonzero(digits.train_y == c)[:1, 0] for c in range(digits.num_classes)])
    asked = []

    def stored(data, s, rule, seed, ctx):
        asked.append((s, rule.name))
        return DistilledSet(digits.train_x[idx], digits.train_y[idx], 0.01, {})

    monkeypatch.setattr(tm, "distilled_set", stored)
    base = EvalProtocol(num_eval=1, epochs=2)
    protocols = [setting.protocol(base), xa.EvalNetwork("convnet", {"depth": 1, "width": 8}).protocol(base)]
    rows = xa.trajectory_rows("ddpp", setting, tm.RuleOptions(), protocols, digits, 0, RunContext())
    assert asked == [(setting, "pruned")]  # Table I's call: same setting and rule
    assert [(r["arch_options"], r["status"], r["n"]) for r in rows] == [({"depth": 2, "width": 32}, "ok", 1),
                                                                          ({"depth": 1, "width": 8}, "ok", 1)]
    assert rows[0]["distilled_arch_options"] == {"depth": 2, "width": 32} and rows[0]["method"] == "DDPP"

    def diverged(*args):
        raise DistillationDiverged("loss nan at iteration 3")

    monkeypatch.setattr(tm, "distilled_set", diverged)
    rows = xa.trajectory_rows("mtt", setting, tm.RuleOptions(), protocols, digits, 0, RunContext())
    assert [r["status"] for r in rows] == ["diverged", "diverged"] and "nan" in rows[0]["message"]


# ---- pages, on small fake records ----

CONVNET = {"arch": "convnet", "arch_options": {}}


def _xrow(method, arch, mean, dataset="cifar10", options=None):
    return {"dataset": dataset, "ipc": 10, "method": method, "arch": arch, "arch_options": options or {},
            "distilled_arch": "convnet", "distilled_arch_options": {}, "status": "ok", "mean": mean, "std": 0.5}


def _cross_record(gains_on_resnet=5.0):
    rows = []
    for arch, mtt in [("convnet", 64.0), ("alexnet", 34.0), ("vgg11", 50.0), ("resnet18", 46.0)]:
        bonus = gains_on_resnet if arch == "resnet18" else 1.0
        rows += [_xrow("MTT", arch, mtt), _xrow("DDPP", arch, mtt + bonus), _xrow("IADD", arch, mtt + bonus + 1.0)]
    return {"preset": "paper", "metrics": {"rows": rows, "not_run": {}}}


def _verdicts(claims):
    return {s.split(" (")[0]: h for s, h, _ in claims}


def test_cross_architecture_claims_and_tables():
    checks = _verdicts(xa_page.claims(_cross_record(), "iadd"))
    assert checks["IADD ≥ MTT on every architecture"] is True and checks["IADD ≥ DDPP on every architecture"] is True
    assert checks["IADD's margin over MTT is largest on ResNet18"] is True
    assert checks["IADD's margin over DDPP is largest on ResNet18"] is False  # +1 everywhere: a tie is not "largest"
    ddpp = _verdicts(xa_page.claims(_cross_record(gains_on_resnet=-1.0), "ddpp"))
    assert ddpp["DDPP ≥ MTT on every architecture"] is False
    assert ddpp["DDPP's margin over MTT is largest on ResNet18"] is False
    table = xa_page.ours_table(_cross_record(), "ddpp")
    assert "ConvNet — distilled on" in table and "paper 65.4" in table  # DDPP prints itself as "Ours"
    assert "ResNet18" in xa_page.published_table("iadd") and "ResNet" in xa_page.published_table("ddpp")
    import matplotlib.figure

    assert isinstance(xa_page.figure({"paper": _cross_record()}, "iadd"), matplotlib.figure.Figure)


def test_cross_architecture_claims_on_other_data_are_not_checkable():
    record = {"preset": "smoke", "metrics": {"rows": [
        _xrow("MTT", "convnet", 80.0, "digits"), _xrow("DDPP", "convnet", 81.0, "digits"),
        {**_xrow("DDPP", "resnet18", 0.0, "digits", {"norm": "batchnorm"}), "status": "diverged"},
    ], "not_run": {"vgg11": "vgg11 on digits (8×8): cannot be pooled"}}}
    checks = _verdicts(xa_page.claims(record, "ddpp"))
    assert checks["DDPP ≥ MTT on every architecture"] is True
    assert checks["DDPP's margin over MTT is largest on ResNet18"] is None
    assert checks["Our reproduced cells agree with the published ones"] is None
    assert checks["Every distillation ran to the end"] is False
    assert "VGG11" in xa_page.not_run_note(record) and "ResNet18 (norm batchnorm)" in xa_page.ours_table(record, "ddpp")


def _krow(dataset, ipc, mean, method="DDPP"):
    return {"dataset": dataset, "ipc": ipc, "method": method, "status": "ok", "mean": mean, "std": 0.3,
            "width": 128, "distilled_width": 128}


def test_kip_claims_compare_with_the_cited_kip_rows():
    record = {"preset": "paper", "metrics": {"rows": [
        _krow("cifar10", 1, 46.0), _krow("cifar10", 10, 65.0), _krow("cifar10", 50, 71.5),
        _krow("cifar100", 1, 24.0), _krow("cifar100", 10, 43.0), _krow("cifar100", 50, 48.0),
    ]}}
    claims = kip_page.claims(record, "ddpp")
    assert "except CIFAR-10 IPC 1" in claims[1][0]  # derived from the published table, not typed
    checks = _verdicts(claims)
    assert checks["Ours-128 is above KIP-128 at every setting KIP reports"] is True
    assert checks["Ours-128 is above KIP-1024 at every setting KIP reports, except CIFAR-10 IPC 1 as in the paper"] is True
    assert checks["Our row agrees with the paper's Ours-128"] is True
    low = {"preset": "paper", "metrics": {"rows": [_krow("cifar100", 10, 30.0, "IADD")]}}
    assert _verdicts(kip_page.claims(low, "iadd"))["IADD-128 is above KIP-128 at every setting KIP reports"] is False
    table = kip_page.ours_table(record, "ddpp")
    assert "DDPP-128" in table and "57.6" in table  # CIFAR-10 IPC 10 KIP-128, cited
    digits = {"preset": "smoke", "metrics": {"rows": [_krow("digits", 1, 85.0)]}}
    assert all(h is None for _, h, _ in kip_page.claims(digits, "ddpp"))
