"""GDD-SKD training on the embedded digits: DiM's schedules (fresh pool model per epoch, learning rates
and Adam state per stage, checkpoint selection), resume after interruption, and a matching term that
lowers itself and gives a generator whose fixed set beats noise and the unmatched generator's."""

from __future__ import annotations

import statistics
from dataclasses import replace

import pytest
import torch

from reprolib.data import load_dataset
from reprolib.evaluation import EvalProtocol, evaluate_synthetic
from reprolib.generative import (
    DiMEval, GANConfig, ModelPool, PoolMember, Selection, sample_set, train_cgan, train_matching,
)
from reprolib.generative.training import _Trainer, cgan_spec, stage_settings, steps_per_epoch
from reprolib.runtime import make_generator
from reprolib.store import ArtifactStore

CPU = torch.device("cpu")
SMALL_NET = {"depth": 2, "width": 8}
TINY = GANConfig(latent_dim=16, generator_width=8, discriminator_width=8, batch_size=25, cgan_epochs=3, match_epochs=20,
                 match_batch_size=50, lr=1e-3, match_lr=1e-3, match_d_lr=1e-3, pool=(PoolMember("convnet", SMALL_NET),),
                 pool_batches=2, selection=Selection(every=0), checkpoint_every=2)
PROTOCOL = EvalProtocol(arch="convnet", arch_options=SMALL_NET, num_eval=1, epochs=40, batch_size=64)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits").subset(train_per_class=10)


class Interrupt(Exception):
    pass


def _stop_at(n: int):
    def stop(step: int) -> None:
        if step == n:
            raise Interrupt
    return stop


def test_learning_rates_per_stage_are_dims():
    config = GANConfig()
    assert (stage_settings(config).g_lr, stage_settings(config).d_lr) == (1e-4, 1e-4)
    stage2 = stage_settings(config, "kd_std", 0.01)
    assert (stage2.g_lr, stage2.d_lr, stage2.batch_size) == (5e-6, 5e-6, 64)


def test_stage_two_restores_the_stage_one_adam_state_at_its_own_learning_rates(digits, tmp_path):
    config = replace(TINY, match_lr=5e-6, match_d_lr=2e-6)
    store = ArtifactStore(tmp_path)
    train_cgan(digits, config, 0, store, CPU)
    start = store.load("gdd-cgan", cgan_spec(digits, config, 0))["selected"]
    trainer = _Trainer(digits, config, 1, CPU, stage_settings(config, "kd_std", 1.0), start)
    assert [g["lr"] for g in trainer.opt_g.param_groups] == [5e-6]
    assert [g["lr"] for g in trainer.opt_d.param_groups] == [2e-6]
    restored = trainer.opt_d.state_dict()["state"]
    assert restored and all(torch.equal(restored[k]["exp_avg"], v["exp_avg"]) for k, v in start["opt_d"]["state"].items())
    fresh = _Trainer(digits, replace(config, match_restore_adam=False), 1, CPU, stage_settings(config, "kd_std", 1.0), start)
    assert fresh.opt_d.state_dict()["state"] == {}


def test_the_fresh_pool_schedule_builds_one_new_model_per_epoch(digits):
    members = (PoolMember("convnet", SMALL_NET), PoolMember("convnet", {"depth": 1, "width": 4}))
    pool = ModelPool(members, digits, CPU, schedule="fresh_per_epoch")
    random, per_epoch, epochs = make_generator(0), 4, 5
    drawn, trained = [], None
    for step in range(epochs * per_epoch):
        index = pool.current(step % per_epoch, random)
        drawn.append(index)
        weights = next(pool.nets[index].parameters()).detach().clone()
        if trained is not None:
            # a new epoch starts from a freshly initialised model; within an epoch the same model keeps training
            assert torch.equal(weights, trained) == (step % per_epoch != 0)
        pool.train_on(index, digits.train_x[:8], digits.train_y[:8])
        trained = next(pool.nets[index].parameters()).detach().clone()
    assert pool.builds == epochs and len(pool.nets) == 1
    assert all(len(set(drawn[e * per_epoch:(e + 1) * per_epoch])) == 1 for e in range(epochs))
    assert len(set(drawn)) == 2  # both members were drawn over five epochs
    persistent = ModelPool(members, digits, CPU, schedule="persistent")
    picks = [persistent.current(step % per_epoch, random) for step in range(3 * per_epoch)]
    assert persistent.builds == 2  # built once each
    assert any(len(set(picks[e * per_epoch:(e + 1) * per_epoch])) > 1 for e in range(3))  # drawn per step


def test_the_trainer_renews_the_pool_model_at_each_epoch(digits, tmp_path):
    config = replace(TINY, match_epochs=3, pool=(PoolMember("convnet", SMALL_NET), PoolMember("convnet", {"depth": 1, "width": 4})))
    run = train_matching(digits, config, "kd_std", 1.0, 2.0, 0, ArtifactStore(tmp_path), CPU)
    per_epoch = steps_per_epoch(len(digits.train_y), config.match_batch_size)
    members = run.history["pool"].view(config.match_epochs, per_epoch)
    assert (members == members[:, :1]).all()  # one pool model per epoch


def test_capped_epochs_shorten_the_stage_and_still_draw_from_the_whole_split(digits, tmp_path):
    """``epoch_steps``: each epoch stops after that many batches (a fresh pool model per such epoch), and
    the next epoch's batches come from a new permutation of every training image, not a fixed subset."""
    config = replace(TINY, epoch_steps=1, match_epochs=4, pool=(PoolMember("convnet", SMALL_NET), PoolMember("convnet", {"depth": 1, "width": 4})))
    assert steps_per_epoch(len(digits.train_y), config.batch_size, config.epoch_steps) == 1
    assert steps_per_epoch(len(digits.train_y), config.batch_size, 1000) == steps_per_epoch(len(digits.train_y), config.batch_size)
    trainer = _Trainer(digits, config, 0, CPU, stage_settings(config), None)
    seen = set()
    for step in range(12):
        trainer.step(step)
        seen |= set(trainer.order[: config.batch_size].tolist())
    assert len(trainer.history["d_loss"]) == 12 and len(seen) > config.batch_size * 2
    run = train_matching(digits, config, "kd_std", 1.0, 2.0, 0, ArtifactStore(tmp_path), CPU)
    assert len(run.history["match"]) == config.match_epochs  # one step per epoch, a pool model each
    with pytest.raises(ValueError, match="epoch_steps"):
        replace(TINY, epoch_steps=-1).validate()


def test_selection_scores_every_few_epochs_and_keeps_the_best(digits, tmp_path):
    selection = Selection(every=1, ipc=2, eval=EvalProtocol(arch="convnet", arch_options=SMALL_NET, num_eval=1, epochs=2),
                          dim_eval=DiMEval(test_every=1))
    config = replace(TINY, selection=selection)
    store = ArtifactStore(tmp_path)
    selected = train_cgan(digits, config, 0, store, CPU)
    last = train_cgan(digits, config, 0, store, CPU, checkpoint="last")
    epochs = [row[0] for row in selected.selection]
    assert epochs == [1.0, 2.0, 3.0]
    scores = [row[1] for row in selected.selection]
    best = scores.index(max(scores))
    same = all(torch.equal(a, b) for a, b in zip(selected.generator.state_dict().values(), last.generator.state_dict().values()))
    assert same == (best == len(scores) - 1)


def test_interrupted_stages_resume_to_the_uninterrupted_result(digits, tmp_path):
    whole = train_matching(digits, replace(TINY, match_epochs=2), "dim", 1.0, 2.0, 0, ArtifactStore(tmp_path / "a"), CPU)
    store = ArtifactStore(tmp_path / "b")
    with pytest.raises(Interrupt):
        train_cgan(digits, TINY, 0, store, CPU, on_step=_stop_at(5))
    saved = store.checkpoint("gdd-cgan", cgan_spec(digits, TINY, 0)).load()
    assert saved is not None and saved["steps"] == 4
    with pytest.raises(Interrupt):
        train_matching(digits, replace(TINY, match_epochs=2), "dim", 1.0, 2.0, 0, store, CPU, on_step=_stop_at(3))
    resumed = train_matching(digits, replace(TINY, match_epochs=2), "dim", 1.0, 2.0, 0, store, CPU)
    for key, value in whole.generator.state_dict().items():
        assert torch.equal(value, resumed.generator.state_dict()[key]), key
    assert torch.equal(whole.history["g_loss"], resumed.history["g_loss"])
    assert store.checkpoint("gdd-cgan", cgan_spec(digits, TINY, 0)).load() is None  # cleared once stored


def test_matching_lowers_the_matching_term_and_the_generator_beats_noise(tmp_path):
    """Stage 2 with the matching term (λ 10) against the same stage without it (λ 0), same seed."""
    data = load_dataset("digits")
    config = replace(TINY, cgan_epochs=6, match_epochs=5)  # 3 CGAN epochs left the generator at noise level on an AMD EPYC
    store = ArtifactStore(tmp_path)
    plain, matched = (train_matching(data, config, "kd_std", weight, 2.0, 0, store, CPU) for weight in (0.0, 10.0))
    assert len(matched.history["match"]) == config.match_epochs * steps_per_epoch(len(data.train_y), config.match_batch_size)
    assert statistics.fmean(matched.history["match"][-40:].tolist()) < statistics.fmean(plain.history["match"][-40:].tolist())
    images, labels = sample_set(matched.generator, 10, seed=0)
    assert images.shape == (100, 1, 8, 8) and torch.equal(labels, torch.arange(10).repeat_interleave(10))
    noise = torch.randn(images.shape, generator=make_generator(1))
    ours = evaluate_synthetic(images, labels, data, PROTOCOL).mean
    assert ours > evaluate_synthetic(noise, labels, data, PROTOCOL).mean + 5
    assert ours > evaluate_synthetic(*sample_set(plain.generator, 10, seed=0), data, PROTOCOL).mean + 5
