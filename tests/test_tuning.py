"""Tuning on a validation split held out from the training set: the test set is never touched, and a
grid of labelled settings comes out as one row per point."""

from __future__ import annotations

import pytest
import torch

from reprolib.pages import trajectory_matching as page
from reprolib.presets import PresetError, resolve
from reprolib.runner import run_artifact


def test_validation_split_holds_out_part_of_every_class_of_the_training_set(digits):
    tuned = digits.validation_split(0.1, seed=0)
    assert len(tuned.train_y) + len(tuned.test_y) == len(digits.train_y)
    counts, held = torch.bincount(digits.train_y, minlength=10), torch.bincount(tuned.test_y, minlength=10)
    assert torch.equal(held, (0.1 * counts.float() + 0.5).floor().long())  # stratified
    pool = {tuple(x.flatten().tolist()) for x in digits.train_x}
    assert all(tuple(x.flatten().tolist()) in pool for x in tuned.test_x)  # scored on training images only
    assert tuned.spec() != digits.spec() and "test set unused" in tuned.source.note
    assert torch.equal(digits.validation_split(0.1, seed=0).test_x, tuned.test_x)  # a fixed split
    with pytest.raises(ValueError, match="in \\(0, 1\\)"):
        digits.validation_split(1.0)


def test_shipped_tuning_grid_resolves_to_labelled_validation_settings():
    params = resolve("ddpp-table1", "tuning/small-trajectory")
    assert params.validation == 0.1 and len({(s.ipc, s.label) for s in params.settings}) == len(params.settings)
    with pytest.raises(PresetError, match="validation is the fraction"):
        resolve("ddpp-table1", "smoke", {"validation": 1.5})


def test_a_tuning_run_scores_on_validation_and_shows_one_row_per_grid_point():
    tiny = {"arch": "convnet", "arch_options": {"depth": 1, "width": 8}}
    match = {"iterations": 2, "syn_steps": 2, "expert_epochs": 1, "max_start_epoch": 1, "lr_lr": 0.0}
    settings = [{"label": f"lr_img {lr}", "dataset": "digits", "ipc": 1, "match": {**match, "lr_img": lr},
                 "teachers": {**tiny, "num_teachers": 1, "epochs": 2}} for lr in (10.0, 100.0)]
    record = run_artifact("ddpp-table1", "smoke", {
        "settings": settings, "validation": 0.1, "methods": ["mtt"], "coreset_methods": ["random"],
        "classic_methods": [], "full_dataset_epochs": 0, "eval": {**tiny, "num_eval": 1, "epochs": 2}}, write=False)
    assert record["metrics"]["scored_on"].startswith("validation")
    assert [(r["setting"], r["method"]) for r in record["metrics"]["rows"]] == [
        ("lr_img 10.0", "Random"), ("lr_img 10.0", "MTT"), ("lr_img 100.0", "Random"), ("lr_img 100.0", "MTT")]
    table = page.ours_table(record, "ddpp", "table1")
    assert "digits · lr_img 10.0" in table and "digits · lr_img 100.0" in table and "not comparable" in table
    assert "paper" not in table.split("A tuning run")[0]


def test_validation_scores_are_never_set_against_the_papers_test_accuracies():
    row = {"dataset": "cifar10", "ipc": 1, "method": "MTT", "status": "ok", "mean": 40.0, "std": 1.0}
    tested = {"preset": "paper", "metrics": {"rows": [row]}}
    tuned = {"preset": "mine", "metrics": {"rows": [row], "scored_on": "validation (10% of the training set held out)"}}
    assert "paper 46" in page.ours_table(tested, "ddpp", "table1")
    assert "paper" not in page.ours_table(tuned, "ddpp", "table1").split("A tuning run")[0]
    agreement = {s.split(" (")[0]: (h, e) for s, h, e in page.claims(tuned, "ddpp", "table1")}
    assert agreement["Our reproduced rows agree with the published ones"] == (
        None, "a tuning run, scored on a validation (10% of the training set held out), not on the test set")
