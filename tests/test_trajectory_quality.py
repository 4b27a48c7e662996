"""At smoke scale on the embedded digits, MTT, DDPP and IADD distilled sets (IPC 1) beat random real images."""

from __future__ import annotations

import pytest

from reprolib.data import load_dataset
from reprolib.distillation.synthetic import init_synthetic
from reprolib.distillation.trajectory import FlatModel, MatchConfig, RuleConfig, TeacherConfig, build_rule, distill, teacher_trajectories
from reprolib.evaluation import EvalProtocol, evaluate_synthetic
from reprolib.runtime import make_generator
from reprolib.store import ArtifactStore

NET = {"depth": 2, "width": 16}
TEACHERS = TeacherConfig(arch_options=NET, num_teachers=2, epochs=8, batch_size=128)
MATCH = MatchConfig(iterations=30, syn_steps=8, expert_epochs=2, max_start_epoch=4, lr_img=100.0, lr_lr=1e-5)
PROTOCOL = EvalProtocol(arch_options=NET, num_eval=2, epochs=60)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    data = load_dataset("digits").subset(train_per_class=60)
    trajectories = teacher_trajectories(data, TEACHERS, ArtifactStore(tmp_path_factory.mktemp("quality")))
    images, labels = init_synthetic(data, 1, make_generator(5))  # random real images, one per class
    random_real = evaluate_synthetic(images, labels, data, PROTOCOL, seed=1).mean
    return data, trajectories, random_real


@pytest.mark.parametrize("rule", [RuleConfig("mtt"), RuleConfig("pruned"), RuleConfig("weighted")], ids=["mtt", "ddpp", "iadd"])
def test_distilled_ipc1_beats_random_real_images(setup, rule):
    data, trajectories, random_real = setup
    matcher = build_rule(rule, FlatModel(TEACHERS.build(data)).num_params)
    result = distill(data, 1, trajectories, TEACHERS, MATCH, matcher, seed=5)
    distilled = evaluate_synthetic(result.images, result.labels, data, PROTOCOL, lr=result.syn_lr, seed=1).mean
    assert distilled > random_real + 3.0, (distilled, random_real)
