"""DC and DSA: the matching distance as the original defines it, siamese augmentation inside the loop,
beating random real images on the digits, resume after interruption, the store, parameter errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from reprolib.distillation import gradient_matching as gm
from reprolib.distillation.gradient_matching import (
    DSAConfig,
    GradientMatchingConfig,
    gradient_matching,
    layer_distance,
    match_distance,
)
from reprolib.distillation.synthetic import init_synthetic
from reprolib.evaluation import EvalProtocol, evaluate_synthetic
from reprolib.experiments import classic_distillation as classic
from reprolib.experiments.context import RunContext
from reprolib.nets import build_network
from reprolib.presets import PresetError, resolve
from reprolib.runtime import make_generator
from reprolib.store import ArtifactStore

TINY = {"depth": 2, "width": 32}
PROTOCOL = EvalProtocol(arch_options=TINY, num_eval=1, epochs=100)


def _config(cls=GradientMatchingConfig, **changes):
    values = dict(iterations=8, batch_real=64, init="real", arch_options=TINY, loops={1: [1, 1], 2: [2, 2]})
    return cls(**{**values, **changes})


def test_distance_is_zero_for_identical_gradients_and_ignores_biases():
    g = torch.randn(8, 3, 3, 3)
    assert layer_distance(g, g.clone()).item() == pytest.approx(0.0, abs=1e-5)
    assert layer_distance(torch.randn(5), torch.randn(5)).item() == 0.0  # biases / norm scales: 0 as in DC
    grads = [torch.randn(8, 3, 3, 3), torch.randn(8), torch.randn(10, 32)]
    assert match_distance(grads, [x.clone() for x in grads]).item() == pytest.approx(0.0, abs=1e-5)


def test_distance_is_per_output_channel_cosine_summed():
    g_real, g_syn = torch.randn(6, 4, 3, 3), torch.randn(6, 4, 3, 3)
    rows_r, rows_s = g_real.flatten(1), g_syn.flatten(1)
    expected = (1 - F.cosine_similarity(rows_s, rows_r, dim=1)).sum()
    assert layer_distance(g_syn, g_real).item() == pytest.approx(expected.item(), rel=1e-5)
    # Invariant to a positive scale per output channel of either gradient ...
    scale = torch.rand(6, 1, 1, 1) * 10 + 0.1
    assert layer_distance(g_syn * scale, g_real).item() == pytest.approx(expected.item(), rel=1e-4)
    assert layer_distance(g_syn, g_real * scale).item() == pytest.approx(expected.item(), rel=1e-4)
    # ... but not to a rescaling inside a channel, and a sign flip of every channel gives 2 per channel.
    inside = torch.ones_like(g_syn)
    inside[:, 0] = 5.0
    assert layer_distance(g_syn * inside, g_real).item() != pytest.approx(expected.item(), rel=1e-3)
    assert layer_distance(-g_real, g_real).item() == pytest.approx(12.0, rel=1e-5)
    linear = torch.randn(10, 32)
    assert layer_distance(linear * torch.rand(10, 1) + 0.0, linear).item() == pytest.approx(0.0, abs=1e-4)


def test_distance_gradient_reaches_the_synthetic_images(digits):
    torch.manual_seed(0)
    net = build_network("convnet", 1, 10, (8, 8), **TINY)
    params = list(net.parameters())
    images = digits.train_x[:3].clone().requires_grad_(True)
    labels = torch.zeros(3, dtype=torch.long)
    g_real = [g.detach() for g in torch.autograd.grad(F.cross_entropy(net(digits.train_x[:50]), digits.train_y[:50]), params)]
    g_syn = torch.autograd.grad(F.cross_entropy(net(images), labels), params, create_graph=True)
    (grad,) = torch.autograd.grad(match_distance(g_syn, g_real), images)
    assert grad.abs().sum() > 0 and torch.isfinite(grad).all()


def test_dsa_applies_one_shared_draw_to_the_real_and_synthetic_batch(digits, monkeypatch, spy_dsa):
    monkeypatch.setattr(gm, "DSA", spy_dsa)
    gradient_matching(digits, 2, _config(DSAConfig, iterations=1, loops={2: [2, 1]}))
    siamese = [c for c in spy_dsa.calls if c and c[0][0].shared]
    assert len(siamese) == 2 * 10  # outer steps x classes
    for call in siamese:
        (real_params, n_real), (syn_params, n_syn) = call[:2]
        assert real_params is syn_params and real_params.shared
        assert n_real == 64 and n_syn == 2


def test_dc_uses_no_augmentation(digits, monkeypatch, spy_dsa):
    monkeypatch.setattr(gm, "DSA", spy_dsa)
    gradient_matching(digits, 1, _config(iterations=1))
    assert not spy_dsa.calls


@pytest.fixture(scope="module")
def random_real_accuracy(digits):
    """The protocol's accuracy of the random real images (seed 0) that the methods start from."""
    images, labels = init_synthetic(digits, 1, make_generator(0), "real")
    return evaluate_synthetic(images, labels, digits, PROTOCOL).mean


@pytest.mark.parametrize("cls", [GradientMatchingConfig, DSAConfig], ids=["DC", "DSA"])
def test_beats_random_real_images_on_digits_at_ipc1(digits, random_real_accuracy, cls):
    learned = gradient_matching(digits, 1, _config(cls), seed=0)
    assert learned.images.shape == (10, 1, 8, 8) and learned.seconds_per_iteration > 0
    assert evaluate_synthetic(learned.images, learned.labels, digits, PROTOCOL).mean > random_real_accuracy + 5


class Interrupted(Exception):
    pass


class InterruptAfterFirstSave:
    """A checkpoint that stores the first state and then fails, like a job killed after a checkpoint."""

    def __init__(self, checkpoint):
        self.checkpoint, self.saves = checkpoint, 0

    def load(self):
        return self.checkpoint.load()

    def save(self, state):
        self.checkpoint.save(state)
        self.saves += 1
        raise Interrupted


def test_resume_after_interruption_gives_the_same_set(digits, tmp_path):
    config = _config(DSAConfig, iterations=3, loops={2: [2, 1]})
    whole = gradient_matching(digits, 2, config, seed=3)
    checkpoint = ArtifactStore(tmp_path / "store").checkpoint("distilled-set", {"test": 1})
    flaky = InterruptAfterFirstSave(checkpoint)
    with pytest.raises(Interrupted):
        gradient_matching(digits, 2, config, seed=3, checkpoint=flaky, checkpoint_every=2)
    assert flaky.saves == 1 and checkpoint.load()["iteration"] == 2
    resumed = gradient_matching(digits, 2, config, seed=3, checkpoint=checkpoint, checkpoint_every=2)
    assert torch.equal(resumed.images, whole.images)


def test_distill_goes_through_the_store(digits, tmp_path, monkeypatch):
    params = resolve("classic-distillation", "smoke", {"dc.iterations": 2, "checkpoint_every": 1})
    ctx = RunContext(device=torch.device("cpu"), store=ArtifactStore(tmp_path / "store"))
    first = classic.distill("dc", digits, 1, params, ctx)
    monkeypatch.setattr(classic, "gradient_matching", lambda *a, **k: pytest.fail("recomputed a cached set"))
    again = classic.distill("dc", digits, 1, params, ctx)
    assert torch.equal(first.images, again.images) and first.labels.tolist() == list(range(10))
    assert ctx.store.checkpoint("distilled-set", classic.distill_spec("dc", digits, 1, params)).load() is None


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"dc.augment": "color_crop"}, "DC matches unaugmented images"),
        ({"dsa.augment": "none"}, "DSA needs a DSA strategy"),
        ({"ipcs": [3]}, "no outer/inner loop counts for IPC 3"),
        ({"methods": ["kip"]}, "unknown distillation method"),
        ({"dsa.augment": "color_blur"}, "unknown DSA group"),
        ({"dc.lr_img": 0}, "lr_img and lr_net must be > 0"),
        ({"dm.init": "zeros"}, "unknown synthetic init"),
    ],
)
def test_bad_parameters_fail_before_compute(overrides, message):
    with pytest.raises(PresetError, match=message):
        resolve("classic-distillation", "smoke", overrides)
