"""DiM's evaluation protocol: its steps per epoch, fresh images and labels every step, best-of-checks
and last-epoch readings, and DiM's chained augmentation."""

from __future__ import annotations

import pytest
import torch

from reprolib.augment import DSA
from reprolib.data import load_dataset
from reprolib.evaluation import EvalProtocol
from reprolib.generative import ChainedAugment, DiMEval, Generator, batches_per_epoch, evaluate_dim
from reprolib.runtime import make_generator


@pytest.mark.parametrize("ipc, batch, steps", [
    (1, 32, 1), (1, 64, 1), (1, 128, 1),
    (10, 32, 4), (10, 64, 2), (10, 128, 1),
    (50, 32, 16), (50, 64, 8), (50, 128, 4),
])
def test_steps_per_epoch_are_dims(ipc, batch, steps):
    """DiM's validate(): ``for batch_idx in range(10 * args.ipc // args.batch_size + 1)``."""
    assert batches_per_epoch(ipc, batch) == steps


def test_every_step_generates_new_images_of_random_labels_and_both_readings_are_kept():
    data = load_dataset("digits").subset(train_per_class=5, test_total=100)
    torch.manual_seed(0)
    generator = Generator(1, 10, 8, latent_dim=16, width=4)
    calls: list[torch.Tensor] = []
    generator.register_forward_hook(lambda module, inputs, output: calls.append(inputs[0][:, :10].argmax(1)))
    protocol = EvalProtocol(arch="convnet", arch_options={"depth": 1, "width": 4}, num_eval=2, epochs=4, batch_size=32)
    result = evaluate_dim(generator, data, protocol, DiMEval(test_every=2), ipc=10)
    assert len(calls) == 2 * 4 * batches_per_epoch(10, 32)  # networks × epochs × steps, one generation per step
    assert all(len(labels) == 32 for labels in calls)
    assert not torch.equal(calls[0], calls[1])  # random labels, drawn anew every step
    assert len(result.best) == len(result.last) == 2
    assert all(b >= last for b, last in zip(result.best, result.last))
    assert result.reading("best_check").accuracies == result.best and result.reading("last_epoch").accuracies == result.last


def test_evaluation_without_a_test_check_fails_clearly():
    data = load_dataset("digits").subset(train_per_class=5, test_total=100)
    generator = Generator(1, 10, 8, latent_dim=16, width=4)
    with pytest.raises(ValueError, match="no test check"):
        evaluate_dim(generator, data, EvalProtocol(epochs=10), DiMEval(test_every=20), ipc=1)


def test_chained_augmentation_applies_every_group_in_turn():
    """DiM's DiffAug('color_crop') applies colour and then crop; DSA would pick one of them."""
    x = torch.randn(6, 3, 8, 8, generator=make_generator(0))
    ours = ChainedAugment("color_crop")(x, make_generator(1))
    g = make_generator(1)
    expected = DSA("crop")(DSA("color")(x, g), g)
    torch.testing.assert_close(ours, expected)
    real, fake = ChainedAugment("color_crop_cutout").siamese(x, x.clone(), generator=make_generator(2))
    torch.testing.assert_close(real, fake)  # one draw for both batches
    assert (real == 0).flatten(1).any(1).all()  # cutout zeroed a square in every image


def test_the_tables_coreset_rows_draw_random_selections_as_the_coreset_page_does(digits):
    """GDD-SKD Table 1's Random row once scored a single draw while the coreset page pooled several."""
    from reprolib.experiments import generative as experiment
    from reprolib.experiments.context import RunContext

    tiny = EvalProtocol(arch="convnet", arch_options={"depth": 1, "width": 8}, num_eval=2, epochs=2)
    params = lambda n: experiment.Table1Params(datasets=("digits",), ipcs=(1,), batch_sizes=(32,),  # noqa: E731
                                               coreset_methods=("random",), selections=n, eval=tiny)
    one, = experiment._coreset_rows(params(1), digits, RunContext())
    three, = experiment._coreset_rows(params(3), digits, RunContext())
    assert (one["selections"], one["n"]) == (1, 2) and (three["selections"], three["n"]) == (3, 6)
    assert three["accuracies"][:2] == one["accuracies"]  # the first draw is the single-draw row
    with pytest.raises(ValueError, match="selections"):
        params(0).validate()
