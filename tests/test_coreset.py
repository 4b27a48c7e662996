"""Coreset selection: herding is argmin, k-center is farthest-first, forgetting counts flips."""

from __future__ import annotations

import pytest
import torch

from reprolib.coreset import (
    ForgettingTracker,
    herding_order,
    kcenter_order,
    select_forgetting,
    select_herding,
    select_kcenter,
    select_random,
)
from reprolib.runtime import make_generator


def test_herding_picks_the_point_nearest_the_mean_first_then_balances():
    # 1-D features: mean 0. The first pick is the point nearest 0; the next must pull the running
    # mean back toward 0 (argmin), so it has the opposite sign of the first.
    features = torch.tensor([[-3.0], [-1.0], [0.2], [1.0], [3.0]])
    order = herding_order(features, 3).tolist()
    assert order[0] == 2
    assert features[order[1]].item() < 0
    assert len(set(order)) == 3


def test_herding_matches_brute_force_argmin():
    g = torch.Generator().manual_seed(0)
    features = torch.randn(30, 4, generator=g)
    mu = features.mean(0)
    chosen, running = [], torch.zeros(4)
    for t in range(6):
        best = min((i for i in range(30) if i not in chosen),
                   key=lambda i: ((t + 1) * mu - running - features[i]).norm().item())
        chosen.append(best)
        running += features[best]
    assert herding_order(features, 6).tolist() == chosen


def test_kcenter_is_farthest_first():
    features = torch.tensor([[0.0, 0.0], [0.1, 0.0], [10.0, 0.0], [0.0, 5.0]])
    order = kcenter_order(features, 3).tolist()
    assert order[1] == 2  # farthest from the first centre
    assert order[2] == 3


def test_forgetting_counts_flips_and_never_learned_is_most_forgettable():
    tracker = ForgettingTracker(3)
    idx = torch.arange(3)
    labels = torch.tensor([0, 0, 0])
    right, wrong = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    # example 0: right, wrong, right, wrong -> 2 forgetting events
    # example 1: right, right, right, right -> 0
    # example 2: never right -> inf
    sequences = [[right, wrong, right, wrong], [right] * 4, [wrong] * 4]
    for step in range(4):
        logits = torch.cat([sequences[i][step] for i in range(3)])
        tracker.update(idx, logits, labels)
    assert tracker.counts().tolist() == [2.0, 0.0, float("inf")]
    picks = select_forgetting(tracker.counts(), labels, 2, make_generator(0)).tolist()
    assert picks == [2, 0]


def test_selections_have_ipc_per_class_without_repeats():
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(3).repeat_interleave(10)
    features = torch.randn(30, 5, generator=g)
    counts = torch.randint(0, 4, (30,), generator=g).double()
    for idx in (
        select_random(labels, 4, make_generator(0)),
        select_herding(features, labels, 4),
        select_kcenter(features, labels, 4),
        select_forgetting(counts, labels, 4, make_generator(0)),
    ):
        assert len(idx) == 12 and len(set(idx.tolist())) == 12
        assert torch.bincount(labels[idx]).tolist() == [4, 4, 4]


def test_random_is_seeded():
    labels = torch.arange(2).repeat_interleave(50)
    assert torch.equal(select_random(labels, 5, make_generator(1)), select_random(labels, 5, make_generator(1)))
    assert not torch.equal(select_random(labels, 5, make_generator(1)), select_random(labels, 5, make_generator(2)))


@pytest.mark.parametrize("ipc", [0, 11])
def test_impossible_ipc_is_a_clear_error(ipc):
    labels = torch.arange(2).repeat_interleave(10)
    with pytest.raises(ValueError, match="ipc"):
        select_random(labels, ipc, make_generator(0))


def test_randomised_selections_are_drawn_several_times_and_pooled():
    from reprolib.runner import run_artifact

    tiny = {"arch": "convnet", "arch_options": {"depth": 1, "width": 8}}
    record = run_artifact("coreset-baselines", "smoke", {
        "ipcs": [1], "methods": ["random", "herding"], "selections": 3,
        "feature_model": {**tiny, "train": {"epochs": 1}}, "eval": {**tiny, "num_eval": 2, "epochs": 2}}, write=False)
    rows = {r["method"]: r for r in record["metrics"]["rows"]}
    assert (rows["Random"]["selections"], rows["Random"]["n"]) == (3, 6)
    assert (rows["Herding"]["selections"], rows["Herding"]["n"]) == (1, 2)  # deterministic: drawn once
    from reprolib.pages import coreset_baselines as page

    assert "over the networks of 3 independent selections pooled" in page.ours_table(record)


def test_a_cell_outside_the_papers_range_names_the_cuts_it_depends_on():
    import json

    from reprolib.pages.coreset_baselines import outside_note
    from reprolib.presets import resolve
    from reprolib.runner import _plain

    def record(preset):
        params = json.loads(json.dumps(_plain(resolve("coreset-baselines", preset))))
        rows = [{"dataset": "fashion-mnist", "ipc": 50, "method": "Herding", "mean": 60.0, "std": 0.5, "n": 1},
                {"dataset": "fashion-mnist", "ipc": 1, "method": "Random", "mean": 51.0, "std": 0.5, "n": 1}]
        return {"artifact": "coreset-baselines", "preset": preset, "params": params, "metrics": {"rows": rows},
                "precision": "bf16", "data_source": {"fashion-mnist": {"label": "fashion-mnist", "exact": True}}}

    note = outside_note(record("small"))
    [herding] = [line for line in note.splitlines() if line.startswith("- ")]  # Random IPC 1 is within the paper's ±
    assert herding.startswith("- fashion-mnist IPC 50 Herding (Δ -11.9): ")
    assert "`feature_model.train.epochs` 30 → 2" in herding and "`eval.epochs` 1000 → 150" in herding  # IPC 50's schedule
    assert "`eval.num_eval` 5 → 1" in herding and "selections" not in herding and "precision fp32 → bf16" in herding
    unexplained = outside_note({**record("paper"), "precision": "fp32"})
    assert "the cuts do not explain it" in unexplained
