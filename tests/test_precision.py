"""The precision setting: resolution, where it applies, cache keys, records, and the compile fallback."""

from __future__ import annotations

import hashlib

import pytest
import torch

from reprolib import precision
from reprolib.presets import PresetError, preset_precision
from reprolib.runtime import make_generator
from reprolib.store import FORMAT_VERSION, canonical_json, spec_hash
from reprolib.train import TrainConfig, accuracy, embed, predict, train_classifier


def test_resolve_names_and_errors(monkeypatch):
    assert precision.resolve("fp32", "cpu") == precision.FP32
    monkeypatch.setattr(precision, "native_bf16", lambda device: False)
    assert precision.resolve("auto", "cpu") == precision.FP32
    monkeypatch.setattr(precision, "native_bf16", lambda device: True)
    assert precision.resolve("auto", "cpu").precision == "bf16"
    monkeypatch.setenv("REPROLIB_COMPILE", "0")
    assert precision.resolve("bf16", "cpu") == precision.Numerics("bf16", compile=False)
    with pytest.raises(ValueError, match="auto, bf16, fp32"):
        precision.resolve("fp16", "cpu")


def test_context_is_scoped_and_fp32_outside():
    assert precision.current() == precision.FP32
    with precision.use("bf16") as numerics:
        assert precision.current() is numerics and numerics.precision == "bf16"
    assert precision.current() == precision.FP32


def test_cache_addresses_name_the_precision_and_fp32_keeps_the_old_address():
    spec = {"a": 1}
    # The address earlier versions computed for this spec: fp32 adds nothing to the hashed payload.
    old = hashlib.sha256(canonical_json({"kind": "x", "spec": spec, "format": FORMAT_VERSION}).encode()).hexdigest()
    fp32 = spec_hash("x", spec)
    assert fp32 == old
    with precision.use(precision.Numerics("bf16", compile=False)):
        bf16 = spec_hash("x", spec)
    with precision.use("fp32"):
        assert spec_hash("x", spec) == fp32
    assert bf16 != fp32


def test_presets_declare_their_precision():
    assert preset_precision("smoke") == "fp32"
    assert preset_precision("small") == "auto"
    assert preset_precision("paper") == "fp32"


def test_bad_precision_in_a_preset_file_is_named(tmp_path):
    bad = tmp_path / "mine.yaml"
    bad.write_text("precision: half\nartifacts: {}\n")
    with pytest.raises(PresetError, match="precision must be one of"):
        preset_precision(str(bad))


@pytest.fixture
def problem(digits):
    return digits


def _train(data, numerics):
    torch.manual_seed(0)
    from reprolib.nets import build_network

    net = build_network("convnet", data.channels, data.num_classes, data.image_size, width=16, depth=2)
    with precision.use(numerics):
        train_classifier(net, data.train_x, data.train_y, TrainConfig(epochs=3, batch_size=128),
                         generator=make_generator(0))
        return net, accuracy(net, data.test_x, data.test_y), predict(net, data.test_x), embed(net, data.test_x)


def test_bf16_training_runs_in_bf16_and_stays_close_to_fp32(problem, monkeypatch):
    seen = []
    original = torch.nn.Conv2d.forward

    def spy(self, x):
        out = original(self, x)
        seen.append(out.dtype)
        return out

    monkeypatch.setattr(torch.nn.Conv2d, "forward", spy)
    _, acc32, logits32, feats32 = _train(problem, precision.FP32)
    assert set(seen) == {torch.float32}
    seen.clear()
    _, acc16, logits16, feats16 = _train(problem, precision.Numerics("bf16", compile=False))
    assert torch.bfloat16 in seen
    assert logits16.dtype == feats16.dtype == torch.float32  # widened for everything downstream
    assert abs(acc16 - acc32) <= 5.0
    assert torch.nn.functional.cosine_similarity(logits16.flatten(), logits32.flatten(), dim=0) > 0.99


def test_float64_training_is_not_narrowed(problem):
    from reprolib.nets import build_network

    torch.manual_seed(0)
    net = build_network("convnet", problem.channels, problem.num_classes, problem.image_size, width=8, depth=1).double()
    seen = []
    train_classifier(net, problem.train_x.double(), problem.train_y, TrainConfig(epochs=1, batch_size=256),
                     generator=make_generator(0), on_batch=lambda i, logits, y: seen.append(logits.dtype))
    assert set(seen) == {torch.float64}


def test_compile_failure_falls_back_to_eager_once(monkeypatch):
    monkeypatch.setattr(precision._Compiled, "broken", False)

    def failing_compile(function):
        def run(x):
            raise RuntimeError("no C compiler")
        return run

    monkeypatch.setattr(torch, "compile", failing_compile)
    net = torch.nn.Linear(4, 2)
    x = torch.randn(3, 4)
    forward = precision.Numerics("bf16", compile=True).compiled(net)
    with pytest.warns(RuntimeWarning, match="torch.compile failed"):
        out = forward(x)
    assert torch.equal(out, net(x))
    assert torch.equal(forward(x), net(x))  # no second warning: eager from now on
    assert precision.Numerics("bf16", compile=True).describe() == {"precision": "bf16", "compiled": False}


def test_a_real_error_is_not_swallowed_by_the_fallback(monkeypatch):
    monkeypatch.setattr(precision._Compiled, "broken", False)
    monkeypatch.setattr(torch, "compile", lambda function: function)
    forward = precision.Numerics("bf16", compile=True).compiled(torch.nn.Linear(4, 2))
    with pytest.raises(RuntimeError):
        forward(torch.randn(3, 5))  # wrong width: eager fails too
    assert precision._Compiled.broken is False


def test_a_run_records_its_precision_and_a_bad_one_is_refused(monkeypatch):
    from reprolib.runner import run_artifact

    monkeypatch.setenv("REPROLIB_COMPILE", "0")
    tiny = {"arch": "convnet", "arch_options": {"depth": 1, "width": 8}}
    overrides = {
        "settings": [{"dataset": "digits", "ipc": 1, "teachers": {**tiny, "num_teachers": 1, "epochs": 2},
                      "match": {"iterations": 2, "syn_steps": 2, "expert_epochs": 1, "max_start_epoch": 1}}],
        "methods": ["mtt"], "coreset_methods": ["random"], "classic_methods": [], "full_dataset_epochs": 0,
        "eval": {**tiny, "num_eval": 1, "epochs": 2}}
    bf16 = run_artifact("ddpp-table1", "smoke", {**overrides, "precision": "bf16"}, write=False)
    assert (bf16["precision"], bf16["compiled"], bf16["overrides"]["precision"]) == ("bf16", False, "bf16")
    fp32 = run_artifact("ddpp-table1", "smoke", overrides, write=False)
    assert (fp32["precision"], fp32["compiled"]) == ("fp32", False)  # smoke's own precision
    with pytest.raises(PresetError, match="precision='half'"):
        run_artifact("ddpp-table1", "smoke", {**overrides, "precision": "half"}, write=False)


def test_the_compiled_fast_path_trains_like_eager(problem, monkeypatch):
    """bf16 + torch.compile (inductor, gcc) against bf16 eager on the same seeds: same predictions to
    bf16 rounding, and the compiled graph is reused by a second network of the same architecture."""
    monkeypatch.setenv("REPROLIB_COMPILE", "1")
    monkeypatch.setattr(precision._Compiled, "broken", False)
    numerics = precision.resolve("bf16", "cpu")
    assert numerics.compile
    _, acc_c, logits_c, _ = _train(problem, numerics)
    assert not precision._Compiled.broken, "torch.compile fell back to eager"
    _, acc_e, logits_e, _ = _train(problem, precision.Numerics("bf16", compile=False))
    assert abs(acc_c - acc_e) <= 3.0
    assert torch.nn.functional.cosine_similarity(logits_c.flatten(), logits_e.flatten(), dim=0) > 0.99
