"""The benchmark suite (bench/): reference and library paths agree, the batched trainers equal the
sequential ones, memory and precision helpers, target verdicts, the CLI, and the committed page."""

from __future__ import annotations

import dataclasses
import json
import sys

import pytest
import torch

from reprolib.records import project_root

sys.path.insert(0, str(project_root()))  # bench/ is a top-level package of the checkout, not of reprolib

from bench.cases.matching import PATHS, gradients, make_problem  # noqa: E402
from bench.fakes import random_dataset  # noqa: E402
from bench.measure import GraphMemory, peak_memory, precision, relative_difference  # noqa: E402
from bench.reference import one_model_teacher_loop  # noqa: E402
from bench.hardware import peak_for  # noqa: E402
from bench.report import PAGE, RESULTS, fast_path_targets, performance_markdown, targets  # noqa: E402
from bench.run import main, result_path, run_suite, summary  # noqa: E402
from bench.sizes import CI, MatchShape  # noqa: E402
from reprolib.distillation.trajectory import TeacherConfig, build_rule, train_teacher, train_teachers  # noqa: E402
from reprolib.distillation.trajectory.rules import RuleConfig  # noqa: E402
from reprolib.evaluation import EvalProtocol, evaluate_synthetic  # noqa: E402
from reprolib.nets import build_network  # noqa: E402
from reprolib.runtime import make_generator  # noqa: E402
from reprolib.train import TrainConfig, train_classifiers  # noqa: E402

TINY = {"depth": 1, "width": 8}
TINY_TEACHERS = TeacherConfig(arch_options=TINY, num_teachers=2, epochs=2, batch_size=32)


@pytest.fixture(scope="module")
def small_data():
    return random_dataset(10, 96, 20, torch.device("cpu"), image_size=8)


def test_reference_teacher_loop_is_the_library_teacher(small_data):
    reference = one_model_teacher_loop(small_data, TINY_TEACHERS, seed=3)
    library, _ = train_teacher(small_data, TINY_TEACHERS, seed=3)
    assert reference.shape == library.shape == (3, library.shape[1])
    torch.testing.assert_close(reference, library, rtol=1e-6, atol=1e-7)


def test_teachers_trained_together_equal_teachers_trained_alone(small_data):
    together = train_teachers(small_data, TINY_TEACHERS, [0, 1])
    for seed, (trajectory, accuracy) in zip([0, 1], together):
        alone, alone_accuracy = train_teacher(small_data, TINY_TEACHERS, seed)
        torch.testing.assert_close(trajectory, alone, rtol=1e-4, atol=1e-5)
        assert accuracy == pytest.approx(alone_accuracy, abs=100 / 20 + 1e-9)


def test_batched_evaluation_equals_sequential(digits):
    protocol = EvalProtocol(arch_options=TINY, num_eval=2, epochs=3)
    idx = torch.cat([torch.nonzero(digits.train_y == c).flatten()[:3] for c in range(10)])
    one = evaluate_synthetic(digits.train_x[idx], digits.train_y[idx], digits, protocol)
    both = evaluate_synthetic(digits.train_x[idx], digits.train_y[idx], digits, protocol, batched=True)
    assert both.accuracies == pytest.approx(one.accuracies, abs=2 * 100 / len(digits.test_y))


def test_batched_training_refuses_bad_input(small_data):
    torch.manual_seed(0)
    with_batchnorm = [build_network("convnet", 3, 10, 8, norm="batchnorm", **TINY) for _ in range(2)]
    config = TrainConfig(epochs=1)
    with pytest.raises(ValueError, match="without buffers"):
        train_classifiers(with_batchnorm, small_data.train_x, small_data.train_y, config,
                          generators=[make_generator(0), make_generator(1)])
    plain = [build_network("convnet", 3, 10, 8, **TINY) for _ in range(2)]
    with pytest.raises(ValueError, match="one generator per network"):
        train_classifiers(plain, small_data.train_x, small_data.train_y, config, generators=[make_generator(0)])


@pytest.mark.parametrize("method", ["mtt", "ddpp", "iadd"])
def test_reference_unroll_and_both_library_modes_give_the_same_gradients(method):
    shape = MatchShape("cifar10", ipc=2, syn_steps=3, batch_syn=8)
    problem = make_problem(shape, torch.device("cpu"), image_size=8, **TINY)
    rule_name = {"mtt": "mtt", "ddpp": "pruned", "iadd": "weighted"}[method]
    rule = build_rule(RuleConfig(rule_name), problem.model.num_params)
    results = {path: gradients(path, problem, rule) for path in PATHS}
    assert set(results["plain"]) == ({"images", "syn_lr", "rule_0"} if method == "iadd" else {"images", "syn_lr"})
    for path in ("reference", "memory_saving"):
        for key, grad in results["plain"].items():
            assert relative_difference(results[path][key], grad) < 1e-5, (path, key)


def test_memory_saving_mode_holds_less_graph_memory():
    problem = make_problem(MatchShape("cifar10", ipc=2, syn_steps=6, batch_syn=8), torch.device("cpu"),
                           image_size=8, **TINY)
    rule = build_rule(RuleConfig("mtt"), problem.model.num_params)
    plain = peak_memory(lambda: gradients("plain", problem, rule), torch.device("cpu"))["bytes"]
    saving = peak_memory(lambda: gradients("memory_saving", problem, rule), torch.device("cpu"))["bytes"]
    assert 0 < saving < plain / 2


def test_graph_memory_counts_shared_storage_once_and_releases_it():
    tracker = GraphMemory()
    x = torch.randn(1000, requires_grad=True)
    with tracker.track():
        y = (x * x).sum() + (x * 2).sum()  # x is saved by the first product, twice
        assert tracker.current == 1000 * 4
    del y
    assert tracker.current == 0 and tracker.peak == 1000 * 4


def test_precision_modes(small_data):
    with pytest.raises(ValueError, match="unknown precision"):
        with precision("fp8", torch.device("cpu")):
            pass
    with precision("bf16", torch.device("cpu")):  # the GPU's bf16 path, exercised on the CPU
        (trajectory, _), = train_teachers(small_data, dataclasses.replace(TINY_TEACHERS, epochs=1), [0])
    assert torch.isfinite(trajectory).all()


def _result(device_type: str, speedup: float, ratio: float, overhead: float, memory: float | None) -> dict:
    """The fields of a result document that :func:`targets` reads."""
    shape = {"dataset": "cifar100", "ipc": 50, "syn_steps": 80, "batch_syn": 125,
             "memory": {"memory_saving": {"bytes": memory, "kind": "CUDA allocator peak"}}}
    check = {"what": "x", "difference": 0.0, "tolerance": 1e-4, "ok": True}
    return {"device": {"type": device_type, "cpu_count": 2, "load_average": [0.1]}, "cases": {
        "matching": {"rows": [{"reference_s": 1.0, "speedup_plain": speedup, "speedup_memory_saving": 1.0}], "shapes": [shape],
                     "checks": [check]},
        "runtime": {"rows": [{"method": "MTT", "overhead_vs_mtt": 0.0}, {"method": "IADD", "overhead_vs_mtt": overhead}]},
        "teachers": {"ratio_best_library_vs_reference": ratio, "best_library": "b", "checks": []},
        "book": {"seconds": 300.0, "returncode": 0, "limit_s": 600, "checks": []},
    }}


def test_targets_are_computed_and_gpu_targets_need_a_gpu():
    verdicts = [holds for _, holds, _ in targets(_result("cuda", 2.5, 4.0, 0.05, 30e9))]
    assert verdicts == [True, True, True, True, False, None, None]  # no book/tests verdict on a GPU
    cpu = [holds for _, holds, _ in targets(_result("cpu", 2.5, 6.0, 0.05, None))]
    assert cpu == [True, None, None, None, None, True, None]
    assert [h for _, h, _ in targets(_result("cuda", 1.5, 6.0, 0.2, 90e9))][1:5] == [False, False, False, True]


def test_a_tiny_run_writes_a_complete_result(tmp_path):
    micro = dataclasses.replace(CI, name="micro", matching=(MatchShape("cifar10", 1, 1, 2),), repeats=1,
                                runtime_ipc=1, runtime_iterations=1, runtime_steps=1, runtime_batch=2,
                                prune_n=500, prune_features=4, anneal_iterations=200)
    result = run_suite(micro, torch.device("cpu"), ["matching", "runtime", "pruning"], log=lambda _: None)
    json.dumps(result, allow_nan=False)
    assert all(c["ok"] for c in result["cases"]["matching"]["checks"])
    assert {r["method"] for r in result["cases"]["runtime"]["rows"]} == {"MTT", "DDPP", "IADD"}
    assert result_path(result, tmp_path).name.startswith("cpu-") and result_path(result, tmp_path).name.endswith("-micro.json")
    assert any("equality checks: 6/6" in line for line in summary(result))
    (tmp_path / "r.json").write_text(json.dumps(result))
    page = performance_markdown(tmp_path)
    assert "## " in page and "IADD's runtime protocol" in page and "11.5 ± 0.5" in page  # the paper's MTT time


def test_fast_path_runs_every_row_against_fp32(tmp_path, monkeypatch):
    """The fast-path case at a tiny size (bf16 eager: compiling would take minutes): every row timed in both
    paths, deviations small, DSA's share a fraction, and the page shows the rows and the CPU targets."""
    monkeypatch.setenv("REPROLIB_COMPILE", "0")
    micro = dataclasses.replace(CI, name="micro", matching=(MatchShape("cifar10", 1, 1, 2),), repeats=1,
                                teacher_images=4, eval_nets=1, eval_epochs=1, eval_test_images=4, fast_batch=2,
                                fast_steps=1, fast_eval_ipcs=(1,), dm_real_per_class=2, gan_batch=2,
                                gan_pool=("convnetd3",))
    result = run_suite(micro, torch.device("cpu"), ["fast_path"], log=lambda _: None)
    json.dumps(result, allow_nan=False)
    case = result["cases"]["fast_path"]
    assert case["fast_path"] == {"precision": "bf16", "compiled": False, "label": "bf16 autocast",
                                 "compile_fell_back": False}
    rows = {r["key"]: r for r in case["rows"]}
    assert set(rows) == {"convnet_32", "convnet_28", "teacher_epoch", "evaluation_1", "dm_embedding", "gan_generator",
                         "gan_discriminator", "gan_pool_convnetd3", "gan_pool", "matching"}
    assert all(r["fp32_s"] > 0 and r["fast_s"] > 0 and r["speedup"] == r["fp32_s"] / r["fast_s"] for r in rows.values())
    assert rows["convnet_32"]["deviation"]["value"] < 0.05 and rows["dm_embedding"]["deviation"]["value"] < 0.05
    assert rows["matching"]["deviation"]["value"] == 0  # the trajectory engine ignores the precision setting
    assert 0.9 < rows["matching"]["bf16_autocast"]["gradient_cosine"] <= 1
    assert 0 < rows["teacher_epoch"]["dsa"]["share_fast"] < 1
    assert set(case["memory_format_faster"].values()) <= {"contiguous", "channels_last"}
    (tmp_path / "r.json").write_text(json.dumps(result))
    page = performance_markdown(tmp_path)
    assert "Fast path: bf16 autocast + torch.compile" in page and "CPU target: a whole teacher epoch" in page


def test_fast_path_verdicts_need_a_cpu_with_native_bf16():
    def result(device_type: str, native: bool, speedup: float) -> dict:
        rows = [{"key": key, "case": f"x, {key}", "speedup": speedup, "target": target, "peak_fraction_fast": 0.4,
                 "peak_fraction_target": 0.3} for key, target in (("convnet_32", 5), ("teacher_epoch", 4),
                                                                   ("evaluation_10", 4), ("evaluation_50", 4))]
        return {"device": {"type": device_type}, "cases": {"fast_path": {"native_bf16": native, "rows": rows}}}

    assert [h for _, h, _ in fast_path_targets(result("cpu", True, 6.0))] == [True, True, True]
    assert [h for _, h, _ in fast_path_targets(result("cpu", True, 4.5))] == [False, True, True]
    assert [h for _, h, _ in fast_path_targets(result("cpu", False, 6.0))] == [None] * 3
    assert [h for _, h, _ in fast_path_targets(result("cuda", True, 6.0))] == [None] * 3


def test_bf16_peak_is_the_measured_bf16_rate_without_a_vendor_figure():
    cpu = {"vendor_peak_flops": {}, "measured_matmul_fp32_flops": 3e11, "measured_matmul_bf16_flops": 1.5e12}
    assert peak_for(cpu, "bf16") == (1.5e12, "measured bf16 matmul")
    assert peak_for(cpu, "fp32") == (3e11, "measured fp32 matmul")
    assert peak_for(cpu | {"vendor_peak_flops": {"bf16": 9e14}}, "bf16") == (9e14, "vendor bf16 peak")


def test_cli_rejects_unknown_cases_and_sizes(capsys):
    assert main(["run", "--only", "teacher"]) == 2
    assert "unknown benchmark case" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--size", "huge"])


def test_performance_page_is_current():
    assert any(RESULTS.glob("*.json")), "bench/results/ holds no result: run `python -m bench run --size ci`"
    assert PAGE.read_text() == performance_markdown(), \
        "book/performance.md is stale: run `python -m bench report --write book/performance.md`"


def test_the_parity_section_gives_each_measurement_its_verdict(tmp_path):
    import json

    from bench.parity import verdicts
    from bench.report import parity_section

    result = {"device": {"description": "cpu: 2 threads", "name": "Xeon"},
              "setting": {"dataset": "fashion-mnist", "ipc": 10, "teachers": {"count": 2, "config": {"epochs": 2}}},
              "parts": {"evaluation": {"fp32": {"mean": 70.0, "std": 0.5, "seconds": 800},
                                       "bf16": {"mean": 69.0, "std": 0.4, "seconds": 200}},
                        "teachers": {"fp32": {"accuracies": [80.0, 81.0], "mean": 80.5, "seconds": 600},
                                     "bf16": {"accuracies": [80.2, 81.0], "mean": 80.6, "seconds": 150}}}}
    result["verdicts"] = verdicts(result)
    assert result["verdicts"]["evaluation"]["holds"] is False  # |Δ| = 1.0 > one std (0.5)
    assert result["verdicts"]["teachers"]["holds"] is True and result["verdicts"]["teachers"]["speedup"] == 4.0
    (tmp_path / "cpu.json").write_text(json.dumps(result))
    page = parity_section(tmp_path)
    assert "| -1.00 | one std | does not hold ✗ | 4.00× |" in page and "| +0.10 | 0.5 points | holds ✓ |" in page
