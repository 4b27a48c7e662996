"""Figure pages of DDPP / IADD: the difference diagnostics, parameters, preset sharing with the tables, pages."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from reprolib.distillation.trajectory import FlatModel, MatchConfig, diagnostics
from reprolib.experiments import trajectory_figures as figures
from reprolib.experiments import trajectory_matching as tm
from reprolib.experiments.context import RunContext
from reprolib.nets import build_network
from reprolib.pages import trajectory_figures as page
from reprolib.presets import PresetError, resolve
from reprolib.store import ArtifactStore

FIGURES = ("ddpp-fig2", "iadd-fig1", "iadd-fig4", "iadd-fig5", "iadd-fig6", "iadd-fig7")


class FakeTrajectories:
    """Two teachers of 5 epochs (6 random snapshots) each, over a network's coordinates."""

    def __init__(self, num_params: int):
        generator = torch.Generator().manual_seed(1)
        self.snapshots = [torch.randn(6, num_params, generator=generator) * 0.1 for _ in range(2)]

    def __len__(self):
        return len(self.snapshots)

    def trajectory(self, index):
        return self.snapshots[index]


def _problem():
    torch.manual_seed(0)
    model = FlatModel(build_network("convnet", 1, 3, (8, 8), depth=1, width=4))
    images, labels = torch.randn(6, 1, 8, 8), torch.tensor([0, 0, 1, 1, 2, 2])
    config = MatchConfig(iterations=1, syn_steps=3, expert_epochs=2, max_start_epoch=3, dsa=False)
    return model, images, labels, FakeTrajectories(model.num_params), config


def test_differences_have_one_nonnegative_row_per_draw_and_are_reproducible():
    model, images, labels, trajectories, config = _problem()
    draws = diagnostics.parameter_differences(model, images, labels, 0.01, trajectories, config, (8, 8), probes=3, seed=5)
    assert draws.shape == (3, model.num_params) and bool((draws >= 0).all())
    again = diagnostics.parameter_differences(model, images, labels, 0.01, trajectories, config, (8, 8), probes=3, seed=5)
    assert torch.equal(draws, again)


def test_with_a_zero_step_size_the_difference_is_the_teachers_own_move():
    """The student does not move, so each draw is |θ_{i+K} − θ_i| for some teacher and start epoch i."""
    model, images, labels, trajectories, config = _problem()
    draws = diagnostics.parameter_differences(model, images, labels, 0.0, trajectories, config, (8, 8), probes=4)
    moves = [(t[i + config.expert_epochs] - t[i]).abs() for t in trajectories.snapshots for i in range(config.max_start_epoch)]
    assert all(any(torch.allclose(row, move) for move in moves) for row in draws)


def test_difference_parameters_are_checked():
    model, images, labels, trajectories, config = _problem()
    with pytest.raises(ValueError, match="probes must be ≥ 1"):
        diagnostics.parameter_differences(model, images, labels, 0.01, trajectories, config, (8, 8), probes=0)
    long = dataclasses.replace(config, max_start_epoch=4)  # 4 + 2 epochs > the 5 the fakes have
    with pytest.raises(ValueError, match="exceeds the teachers' 5 epochs"):
        diagnostics.parameter_differences(model, images, labels, 0.01, trajectories, long, (8, 8))


def test_module_slices_tile_the_flat_vector_in_network_order():
    model = FlatModel(build_network("convnet", 1, 3, (8, 8), depth=2, width=4))
    slices = diagnostics.module_slices(model)
    assert [kind for _, kind, _ in slices] == ["Conv2d", "GroupNorm", "Conv2d", "GroupNorm", "Linear"]
    assert slices[0][2].start == 0 and slices[-1][2].stop == model.num_params
    assert all(a[2].stop == b[2].start for a, b in zip(slices, slices[1:]))


def test_reductions_summarise_every_coordinate():
    values = torch.arange(10, dtype=torch.float64)
    env = diagnostics.envelope(values, 3)
    assert env["start"] == [0, 4, 7] and env["min"] == [0, 4, 7] and env["max"] == [3, 6, 9] and env["mean"][0] == 1.5
    q = diagnostics.quantiles(values, 5)
    assert q["value"][0] == 0 and q["value"][-1] == 9
    bins = diagnostics.ranked_bins(-values, {"v": values}, bins=2)  # lowest key first: the largest values
    assert [b["v"] for b in bins] == [7.0, 2.0] and bins[0]["key"] < bins[1]["key"]


@pytest.mark.parametrize("artifact, overrides, message", [
    ("iadd-fig6", {"probes": 1}, "probes must be ≥ 2"),
    ("iadd-fig6", {"method": "pad"}, "unknown trajectory-matching method"),
    ("iadd-fig1", {"settings": []}, "settings must name at least one"),
    ("iadd-fig5", {"max_classes": -1}, "max_classes must be ≥ 0"),
    ("ddpp-fig2", {"rules": {"epsilon": 2.0}}, "epsilon"),
    ("iadd-fig4", {"settings": [{"dataset": "digits", "ipc": 500}]}, "impossible for digits"),
])
def test_bad_parameters_fail_before_compute(artifact, overrides, message):
    with pytest.raises(PresetError, match=message):
        resolve(artifact, "smoke", overrides)


@pytest.mark.parametrize("preset", ["smoke", "small", "paper"])
def test_figures_use_the_tables_settings_so_the_store_shares_their_sets(preset):
    """A figure setting with the (dataset, IPC) of its paper's table must equal the table's; only IPC 50
    (not in the smoke/small tables) may be the figure's own."""
    for name in FIGURES:
        figure = resolve(name, preset)
        table = resolve("ddpp-table1" if name.startswith("ddpp") else "iadd-table1", preset)
        assert figure.method in table.methods and figure.rules == table.rules and figure.seed == table.seed, name
        ours = {(s.dataset, s.ipc): s for s in table.settings}
        for setting in figure.settings:
            if (setting.dataset, setting.ipc) in ours:
                assert setting == ours[(setting.dataset, setting.ipc)], f"{name} @ {preset}: {setting.dataset} IPC {setting.ipc}"
            else:
                assert setting.ipc == 50 and preset != "paper", f"{name} @ {preset}: {setting.dataset} IPC {setting.ipc} is not the table's"


TINY = {"settings": [{"dataset": "digits", "ipc": 1,
                      "teachers": {"arch": "convnet", "arch_options": {"depth": 1, "width": 8}, "num_teachers": 1, "epochs": 3},
                      "match": {"iterations": 2, "syn_steps": 2, "expert_epochs": 1, "max_start_epoch": 2, "lr_lr": 0.0}}]}


def test_figures_reuse_the_stored_set_and_record_w_and_differences(tmp_path, monkeypatch):
    params = resolve("iadd-fig6", "smoke", TINY)
    ctx = RunContext(device=torch.device("cpu"), store=ArtifactStore(tmp_path / "store"))
    setting = params.settings[0]
    data = tm.DatasetCache(ctx)(setting.dataset, setting.zca)
    stored = tm.distilled_set(data, setting, params.rules.rule("iadd"), params.seed, ctx)  # as the table does
    monkeypatch.setattr(tm, "distill", lambda *a, **k: pytest.fail("the figure distilled again"))
    panel = figures.run_differences(params, ctx)["metrics"]["panels"][0]
    assert panel["status"] == "ok" and panel["probes"] == params.probes
    assert panel["weight_min"] == pytest.approx(float(stored.rule_state["weights"].min()))
    assert len(panel["deciles"]) == 10 and sum(m["size"] for m in panel["modules"]) == panel["num_params"]
    images = figures.run_images(resolve("iadd-fig4", "smoke", TINY), ctx)["metrics"]["panels"][0]
    assert images["status"] == "ok" and len(images["classes"]) == 10 and images["change_from_init"] > 0


def _panel(dataset="cifar10", ipc=1, top_drop=1e-3, middle_drop=1e-5, halves=0.8, w=True):
    modules = [{"module": "features.0", "type": "Conv2d", "start": 0, "size": 5, "difference_mean": 2.0, "difference_max": 3.0},
               {"module": "classifier", "type": "Linear", "start": 5, "size": 5, "difference_mean": 1.0, "difference_max": 2.0}]
    deciles = [{"key": k, "drop": middle_drop} for k in range(9)] + [{"key": 9, "drop": top_drop}]
    panel = {"dataset": dataset, "ipc": ipc, "method": "IADD", "status": "ok", "num_params": 10, "probes": 4,
             "spearman_halves": halves, "modules": modules, "deciles": deciles,
             "quantiles": {"q": [0.0, 0.1, 0.5, 0.9, 1.0], "difference": [0.0, 1.0, 2.0, 5.0, 9.0]},
             "profile": {"start": [0, 5], "difference_mean": [2, 1], "difference_min": [0, 0], "difference_max": [3, 2]},
             "rule": {"name": "weighted", "lr_weight": 1e-4, "momentum_weight": 0.5}, "loss_sum": 10.0}
    if w:
        panel |= {"spearman_difference_weight": -0.5, "weight_min": 0.9, "weight_max": 1.0, "weight_mean": 0.99,
                  "weight_drop_sum": 1e-3}
        panel["profile"] |= {"drop_mean": [1e-3, 0], "drop_min": [0, 0], "drop_max": [2e-3, 0]}
    return panel


def _verdicts(claims):
    return [holds for _, holds, _ in claims]


def test_difference_claims_follow_the_record():
    record = {"preset": "paper", "metrics": {"panels": [_panel(), _panel(ipc=10)]}}
    assert _verdicts(page.difference_claims(record, "iadd-fig6")) == [True, True, True, True]
    flat = {"preset": "paper", "metrics": {"panels": [_panel(top_drop=1e-6, halves=0.1)]}}
    assert _verdicts(page.difference_claims(flat, "iadd-fig6"))[:2] == [False, False]
    mtt = {"preset": "paper", "metrics": {"panels": [_panel(w=False), {"dataset": "cifar10", "ipc": 10, "method": "MTT",
                                                                        "status": "diverged", "message": "boom"}]}}
    assert _verdicts(page.difference_claims(mtt, "iadd-fig1")) == [True, False]  # the last: a diverged set
    assert "no W" in page.difference_table(mtt) and "diverged" in page.difference_key_lines(mtt)[1]


def test_difference_figures_have_a_panel_per_set_and_a_w_column_only_with_w():
    records = {"smoke": {"preset": "smoke", "metrics": {"panels": [_panel()]}},
               "paper": {"preset": "paper", "metrics": {"panels": [_panel(w=False)]}}}
    fig = page.per_dimension_figure(records)
    assert len(fig.axes) == 4 and fig.axes[0].get_xlabel().startswith("parameter index")
    assert len(page.weight_analysis_figure(records).axes) == 2
    assert len(page.weight_analysis_figure({"paper": records["paper"]}).axes) == 1


def test_image_claims_compare_ipc_1_with_ipc_10():
    panels = [{"dataset": "cifar10", "ipc": ipc, "method": "IADD", "status": "ok", "change_from_init": change}
              for ipc, change in ((1, 0.5), (10, 0.2))]
    record = {"preset": "paper", "metrics": {"panels": panels}}
    assert _verdicts(page.images_claims(record, "iadd-fig4")) == [True, None]
    panels[0]["change_from_init"] = 0.1
    assert _verdicts(page.images_claims(record, "iadd-fig4")) == [False, None]
    assert _verdicts(page.images_claims({"preset": "paper", "metrics": {"panels": panels[:1]}}, "iadd-fig4")) == [None, None]
    assert _verdicts(page.images_claims(record, "iadd-fig5")) == [None]
