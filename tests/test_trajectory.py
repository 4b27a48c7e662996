"""Trajectory matching engine: gradients, rule equivalences and semantics, checkpoints, divergence, quality."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from reprolib.augment import DSA
from reprolib.data import load_dataset
from reprolib.distillation.trajectory import (
    DistillationDiverged, FlatModel, MatchConfig, MatchingRule, PrunedRule, RuleConfig, TeacherConfig,
    WeightedRule, build_rule, distill, draw_plan, matching_gradient, teacher_trajectories,
)
from reprolib.runtime import make_generator
from reprolib.store import ArtifactStore

TINY = {"depth": 1, "width": 8}


class TinyNet(nn.Module):
    """A small smooth network (tanh) so finite differences are accurate in float64."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3, padding=1)
        self.fc = nn.Linear(3 * 4 * 4, 3)

    def forward(self, x):
        return self.fc(torch.tanh(self.conv(x)).flatten(1))


def _problem(seed=0, dsa=None, steps=4, batch=4):
    torch.manual_seed(seed)
    model = FlatModel(TinyNet().double())
    images = torch.randn(6, 1, 4, 4, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    syn_lr = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    start = model.flatten()
    target = start + 0.1 * torch.randn_like(start)
    plan = draw_plan(6, steps, batch, (4, 4), dsa, make_generator(seed))
    return model, images, labels, syn_lr, start, target, plan


def _gradient(rule, memory_saving, dsa=None):
    model, images, labels, syn_lr, start, target, plan = _problem(dsa=dsa)
    loss, stats = matching_gradient(model, images, labels, syn_lr, start, plan, dsa,
                                    lambda s: rule.loss(s, target, start), memory_saving=memory_saving)
    return loss, images.grad, syn_lr.grad, stats


def test_unrolled_gradient_matches_finite_differences():
    model, images, labels, syn_lr, start, target, plan = _problem()
    rule = MatchingRule()

    def loss_at(x):
        from reprolib.distillation.trajectory import unroll
        return rule.loss(unroll(model, x, labels, syn_lr.detach(), start, plan, None), target, start)[0]

    loss_at(images).backward()
    h = 1e-6
    for k in [0, 7, 31, 50, 95]:
        bump = torch.zeros_like(images).view(-1)
        bump[k] = h
        bump = bump.view_as(images)
        numeric = (loss_at(images.detach() + bump) - loss_at(images.detach() - bump)) / (2 * h)
        assert images.grad.view(-1)[k].item() == pytest.approx(numeric.item(), rel=1e-5, abs=1e-9)


@pytest.mark.parametrize("dsa", [None, DSA()], ids=["plain", "dsa"])
def test_memory_saving_mode_gives_the_same_gradient(dsa):
    for rule_factory in (MatchingRule, lambda: PrunedRule(0.1, "signed")):
        loss_a, gi_a, gl_a, _ = _gradient(rule_factory(), False, dsa)
        loss_b, gi_b, gl_b, _ = _gradient(rule_factory(), True, dsa)
        assert loss_a.item() == pytest.approx(loss_b.item(), rel=1e-12)
        torch.testing.assert_close(gi_a, gi_b, rtol=1e-9, atol=1e-12)
        torch.testing.assert_close(gl_a, gl_b, rtol=1e-9, atol=1e-12)


def test_weighted_with_unit_weights_equals_mtt_exactly_and_gets_a_weight_gradient():
    model, *_ = _problem()
    mtt = _gradient(MatchingRule(), False)
    rule = WeightedRule(model.num_params, lr=0.0, dtype=torch.float64)
    iadd = _gradient(rule, False)
    assert torch.equal(mtt[0], iadd[0]) and torch.equal(mtt[1], iadd[1]) and torch.equal(mtt[2], iadd[2])
    assert rule.learnables() == []  # lr 0: W stays ones
    trained = WeightedRule(model.num_params, lr=1e-4, dtype=torch.float64)
    _gradient(trained, True)
    assert trained.weights.grad is not None and trained.weights.grad.abs().sum() > 0


def test_pruned_with_zero_epsilon_on_magnitudes_equals_mtt_exactly():
    mtt = _gradient(MatchingRule(), False)
    ddpp = _gradient(PrunedRule(0.0, "magnitude"), False)
    assert torch.equal(mtt[0], ddpp[0]) and torch.equal(mtt[1], ddpp[1]) and torch.equal(mtt[2], ddpp[2])
    assert ddpp[3]["kept_fraction"] == 1.0


def test_pruned_mask_semantics():
    student = torch.tensor([1.0, 1.0, 1.0, -1.0, 0.0, 0.0, 5.0])
    target = torch.tensor([1.0, 0.05, 20.0, 1.0, 0.0, 1.0, 0.6])
    # kept: equal; ratio 0.05 < 0.1 dropped; 1/20 dropped; sign differs dropped (signed); 0/0 kept; 0/1 dropped; 0.12 kept
    assert PrunedRule(0.1, "signed").keep_mask(student, target).tolist() == [True, False, False, False, True, False, True]
    assert PrunedRule(0.1, "magnitude").keep_mask(student, target).tolist() == [True, False, False, True, True, False, True]
    assert PrunedRule(0.0, "signed").keep_mask(student, target).tolist() == [True, True, True, False, True, True, True]
    # the loss is MTT's over the kept coordinates only, numerator and denominator alike
    start = torch.tensor([2.0, 9.0, 9.0, 9.0, 3.0, 9.0, 0.6])
    rule = PrunedRule(0.1, "signed")
    loss, stats = rule.loss(student, target, start)
    keep = rule.keep_mask(student, target)
    expected = ((student - target)[keep] ** 2).sum() / ((start - target)[keep] ** 2).sum()
    assert loss.item() == pytest.approx(expected.item()) and stats["kept_fraction"] == pytest.approx(3 / 7)
    with pytest.raises(FloatingPointError, match="pruned every parameter"):
        rule.loss(torch.tensor([1.0]), torch.tensor([-1.0]), torch.tensor([0.0]))


def test_weighted_semantics_weights_multiply_student_and_target_not_the_denominator():
    rule = WeightedRule(3)
    with torch.no_grad():
        rule.weights.copy_(torch.tensor([2.0, 0.0, 1.0]))
    student, target, start = torch.tensor([1.0, 5.0, 2.0]), torch.tensor([0.0, 0.0, 1.0]), torch.tensor([1.0, 1.0, 1.0])
    loss, stats = rule.loss(student, target, start)
    assert loss.item() == pytest.approx((4.0 + 0.0 + 1.0) / (1.0 + 1.0 + 0.0))
    assert stats == {"weight_mean": 1.0, "weight_min": 0.0, "weight_max": 2.0}


def test_rule_config_validation():
    with pytest.raises(ValueError, match="unknown matching rule"):
        RuleConfig("pad").validate()
    with pytest.raises(ValueError, match="epsilon"):
        RuleConfig("pruned", epsilon=1.5).validate()
    assert RuleConfig("mtt", epsilon=0.3).spec() == RuleConfig("mtt").spec()


# ---- the engine on the embedded digits ----

TEACHERS = TeacherConfig(arch_options=TINY, num_teachers=2, epochs=4, batch_size=256)
MATCH = MatchConfig(iterations=6, syn_steps=3, expert_epochs=1, max_start_epoch=3, lr_img=10.0, lr_lr=1e-5,
                    checkpoint_every=2)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits").subset(train_per_class=20)


@pytest.fixture(scope="module")
def trajectories(digits, tmp_path_factory):
    return teacher_trajectories(digits, TEACHERS, ArtifactStore(tmp_path_factory.mktemp("teachers")))


def test_teacher_shards_snapshot_every_epoch_and_are_reused(digits, trajectories, tmp_path):
    assert len(trajectories) == 2 and trajectories.num_epochs == 4
    snaps = trajectories.trajectory(1)
    assert snaps.shape == (5, FlatModel(TEACHERS.build(digits)).num_params)
    assert not torch.equal(snaps[0], snaps[1]) and not torch.equal(trajectories.trajectory(0)[0], snaps[0])
    # a larger teacher set reuses the finished shards: teacher 1 is the same tensor
    store = trajectories.store
    bigger = teacher_trajectories(digits, dataclasses.replace(TEACHERS, num_teachers=3), store)
    assert torch.equal(bigger.trajectory(1), snaps) and len(bigger) == 3


def _distill(digits, trajectories, rule_config, checkpoint=None, on_iteration=None, match=MATCH):
    rule = build_rule(rule_config, FlatModel(TEACHERS.build(digits)).num_params)
    return distill(digits, 1, trajectories, TEACHERS, match, rule, seed=3, checkpoint=checkpoint, on_iteration=on_iteration)


@pytest.mark.parametrize("rule", [RuleConfig("mtt"), RuleConfig("weighted", lr_weight=1e-2)], ids=["mtt", "iadd"])
def test_interrupted_run_resumes_bit_exactly(digits, trajectories, tmp_path, rule):
    whole = _distill(digits, trajectories, rule)
    checkpoint = ArtifactStore(tmp_path).checkpoint("distilled-set", {"test": rule.name})

    def interrupt(iteration, stats):
        if iteration == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _distill(digits, trajectories, rule, checkpoint, interrupt)
    assert checkpoint.load()["iteration"] == 4
    resumed = _distill(digits, trajectories, rule, checkpoint)
    assert torch.equal(whole.images, resumed.images) and whole.syn_lr == resumed.syn_lr
    assert whole.history == resumed.history
    for key in whole.rule_state:
        assert torch.equal(whole.rule_state[key], resumed.rule_state[key])


class _NaNAfter(MatchingRule):
    """MTT whose loss turns NaN from the 5th call: a stand-in for a collapsing run."""

    calls = 0

    def loss(self, student, target, start):
        loss, stats = super().loss(student, target, start)
        self.calls += 1
        return (loss * float("nan") if self.calls >= 5 else loss), stats


def test_divergence_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(digits, trajectories, tmp_path):
    checkpoint = ArtifactStore(tmp_path).checkpoint("distilled-set", {"test": "nan"})
    with pytest.raises(DistillationDiverged, match=r"non-finite .* at iteration 4; the last good checkpoint \(iteration 4\)"):
        distill(digits, 1, trajectories, TEACHERS, MATCH, _NaNAfter(), seed=3, checkpoint=checkpoint)
    assert checkpoint.load()["iteration"] == 4
    exploding = dataclasses.replace(MATCH, max_loss=1e-6)
    with pytest.raises(DistillationDiverged, match="exploded"):
        _distill(digits, trajectories, RuleConfig("mtt"), match=exploding)


def test_match_config_is_checked_against_the_teachers():
    with pytest.raises(ValueError, match="exceeds the teachers"):
        MatchConfig(max_start_epoch=4, expert_epochs=2).validate(TEACHERS)
    with pytest.raises(ValueError, match="must be ≥ 1"):
        MatchConfig(syn_steps=0).validate()
