"""The training loop and the evaluation protocol on the embedded digits."""

from __future__ import annotations

import pytest
import torch

from reprolib.evaluation import EvalProtocol, evaluate_synthetic
from reprolib.nets import build_network
from reprolib.runtime import make_generator
from reprolib.train import TrainConfig, accuracy, train_classifier

TINY = {"depth": 2, "width": 16}


def test_lr_schedules():
    step = TrainConfig(epochs=10, lr=0.1)
    assert step.lr_at(4) == pytest.approx(0.1) and step.lr_at(5) == pytest.approx(0.01)
    cosine = TrainConfig(epochs=10, lr=0.1, schedule="cosine")
    assert cosine.lr_at(0) == pytest.approx(0.1) and cosine.lr_at(5) == pytest.approx(0.05)
    with pytest.raises(ValueError, match="schedule"):
        TrainConfig(epochs=1, schedule="warm")


def test_training_learns_and_is_deterministic(digits):
    def run():
        torch.manual_seed(0)
        net = build_network("convnet", 1, 10, 8, **TINY)
        train_classifier(net, digits.train_x, digits.train_y, TrainConfig(epochs=5, lr=0.05, batch_size=64, schedule="constant"),
                         generator=make_generator(0))
        return net

    a, b = run(), run()
    assert accuracy(a, digits.test_x, digits.test_y) > 80.0
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)


def test_bad_training_data_is_a_clear_error(digits):
    net = build_network("convnet", 1, 10, 8, **TINY)
    with pytest.raises(ValueError, match="one label per image"):
        train_classifier(net, digits.train_x[:5], digits.train_y[:4], TrainConfig(epochs=1), generator=make_generator(0))


def test_protocol_scores_a_small_set_and_real_images_beat_noise(digits):
    protocol = EvalProtocol(arch_options=TINY, num_eval=2, epochs=30)
    idx = torch.cat([torch.nonzero(digits.train_y == c).flatten()[:5] for c in range(10)])
    real = evaluate_synthetic(digits.train_x[idx], digits.train_y[idx], digits, protocol)
    noise = evaluate_synthetic(torch.randn_like(digits.train_x[idx]), digits.train_y[idx], digits, protocol)
    assert real.n == 2 and len(real.accuracies) == 2 and real.lr == 0.01
    assert real.mean > noise.mean + 20
    again = evaluate_synthetic(digits.train_x[idx], digits.train_y[idx], digits, protocol)
    assert again.accuracies == real.accuracies


def test_learned_lr_is_used(digits):
    protocol = EvalProtocol(arch_options=TINY, num_eval=1, epochs=2)
    result = evaluate_synthetic(digits.train_x[:20], digits.train_y[:20], digits, protocol, lr=0.003)
    assert result.lr == 0.003


def test_protocol_validation():
    with pytest.raises(ValueError, match="unknown evaluation network"):
        EvalProtocol(arch="resnet19").validate()
    with pytest.raises(ValueError, match="num_eval"):
        EvalProtocol(num_eval=0).validate()


def test_by_ipc_gives_large_sets_their_own_schedule(digits):
    protocol = EvalProtocol(arch_options=TINY, num_eval=3, epochs=2, by_ipc={5: {"num_eval": 1, "epochs": 1}})
    protocol.validate()
    assert protocol.for_ipc(5) == EvalProtocol(arch_options=TINY, num_eval=1, epochs=1)
    assert protocol.for_ipc(1) == EvalProtocol(arch_options=TINY, num_eval=3, epochs=2)
    idx = torch.cat([torch.nonzero(digits.train_y == c).flatten()[:5] for c in range(10)])
    assert evaluate_synthetic(digits.train_x[idx], digits.train_y[idx], digits, protocol).n == 1
    assert evaluate_synthetic(digits.train_x[idx[::5]], digits.train_y[idx[::5]], digits, protocol).n == 3
    assert "by_ipc" not in EvalProtocol().as_dict()  # stored evaluations keep their addresses


@pytest.mark.parametrize("by_ipc, message", [
    ({50: {"lr": 0.1}}, "may set num_eval and epochs"),
    ({50: {"epochs": 0}}, "may set num_eval and epochs"),
    ({"fifty": {"epochs": 3}}, "maps an IPC"),
    ({50: {}}, "maps an IPC"),
])
def test_by_ipc_validation(by_ipc, message):
    with pytest.raises(ValueError, match=message):
        EvalProtocol(by_ipc=by_ipc).validate()
