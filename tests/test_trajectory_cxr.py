"""Chest X-ray pages (DDPP Table IV / Fig. 3, IADD Table 4 / Fig. 8): parameters, shared sets, pages."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reprolib import paper_values
from reprolib.experiments import trajectory_cxr as cxr
from reprolib.experiments import trajectory_matching as tm
from reprolib.experiments.context import RunContext
from reprolib.pages import trajectory_cxr as page
from reprolib.presets import PresetError, build, resolve

TINY = {"teachers": {"arch": "convnet", "arch_options": {"depth": 1, "width": 8}, "num_teachers": 1, "epochs": 2},
        "match": {"iterations": 2, "syn_steps": 2, "expert_epochs": 1, "max_start_epoch": 1, "checkpoint_every": 1}}


@pytest.mark.parametrize("artifact, overrides, message", [
    ("ddpp-table4", {"settings": [{"dataset": "digits", "ipc": 1}]}, "chest X-ray pages run on"),
    ("ddpp-table4", {"settings": [{"dataset": "pneumoniamnist", "ipc": 1}] * 2}, "each IPC may appear once"),
    ("ddpp-table4", {"settings": [{"dataset": "pneumoniamnist", "ipc": 1}, {"dataset": "covid-cxr", "ipc": 5}]},
     "a CXR table is one dataset"),
    ("ddpp-table4", {"settings": []}, "settings must name at least one"),
    ("ddpp-table4", {"methods": ["pad"]}, "unknown trajectory-matching method"),
    ("iadd-table4", {"full_dataset_epochs": -1}, "full_dataset_epochs must be ≥ 0"),
    ("iadd-table4", {"settings": [{"dataset": "pneumoniamnist", "ipc": 5000}]}, "impossible for pneumoniamnist"),
    ("ddpp-fig3", {"per_class": 21}, "per_class must be between 1 and the setting's IPC"),
    ("iadd-fig8", {"methods": []}, "methods must name at least one"),
    ("iadd-fig8", {"reference_images": 0}, "reference_images must be ≥ 1"),
    ("iadd-fig8", {"setting": {"dataset": "cifar10", "ipc": 1}}, "chest X-ray pages run on"),
])
def test_bad_parameters_fail_before_compute(artifact, overrides, message):
    with pytest.raises(PresetError, match=message):
        resolve(artifact, "smoke", overrides)


@pytest.mark.parametrize("preset", ["smoke", "small", "paper"])
def test_figures_name_a_table_setting_so_the_store_returns_the_tables_sets(preset):
    ddpp, iadd = resolve("ddpp-table4", preset), resolve("iadd-table4", preset)
    for figure, table in ((resolve("ddpp-fig3", preset), ddpp), (resolve("iadd-fig8", preset), iadd)):
        assert figure.setting in table.settings and figure.setting in ddpp.settings
        assert (figure.rules, figure.seed) == (table.rules, table.seed) == (ddpp.rules, ddpp.seed)
    shipped = {"paper": "covid-cxr", "small": "pneumoniamnist", "smoke": "pneumoniamnist-subset"}
    assert {s.dataset for s in ddpp.settings} == {shipped[preset]}


def test_paper_preset_follows_the_papers():
    ddpp, iadd = resolve("ddpp-table4", "paper"), resolve("iadd-table4", "paper")
    assert [s.ipc for s in ddpp.settings] == paper_values.paper_table("ddpp", "table4").grid["ipc"]
    assert [s.ipc for s in iadd.settings] == [page.paper_ipc(page._published("iadd", "IADD", None))]
    for s in ddpp.settings:
        assert (s.teachers.arch, s.teachers.num_teachers, s.teachers.epochs, s.match.iterations) == ("convnetd5", 100, 50, 5000)
        assert s.match.init == "noise"  # DDPP preprint: "the distilled CXR images are generated from noise"
    assert (ddpp.rules.epsilon, iadd.rules.lr_weight) == (0.1, 1e-4)


def test_nearest_rmse_is_the_rms_pixel_distance_to_the_closest_image():
    pool = torch.rand(7, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    queries = torch.stack([pool[3], pool[5] + 0.25])
    found = cxr.nearest_rmse(queries, pool, chunk=2)
    assert found[0] == pytest.approx(0.0, abs=1e-6)
    assert found[1] <= 0.25 + 1e-6
    assert torch.allclose(found, cxr.nearest_rmse(queries, pool, chunk=100))


def test_per_class_takes_the_first_images_of_each_class_in_class_order():
    labels = torch.tensor([1, 0, 1, 0, 1, 0])
    images = torch.arange(6.0).view(6, 1, 1, 1)
    assert cxr.per_class(images, labels, 2, 2).flatten().tolist() == [1.0, 3.0, 0.0, 2.0]


@pytest.fixture
def tiny_cxr(tmp_path, monkeypatch):
    """A 2-class 28x28 PneumoniaMNIST-format file (12 train images per class), as $REPROLIB_DATA."""
    rng = np.random.default_rng(0)
    arrays = {}
    for split, per_class in (("train", 12), ("val", 1), ("test", 5)):
        labels = np.repeat([0, 1], per_class)
        base = np.where(labels[:, None, None] == 0, 60, 190)
        arrays[f"{split}_images"] = np.clip(base + rng.integers(-40, 40, (len(labels), 28, 28)), 0, 255).astype(np.uint8)
        arrays[f"{split}_labels"] = labels.reshape(-1, 1).astype(np.uint8)
    (tmp_path / "data" / "medmnist").mkdir(parents=True)
    np.savez(tmp_path / "data" / "medmnist" / "pneumoniamnist.npz", **arrays)
    monkeypatch.setenv("REPROLIB_DATA", str(tmp_path / "data"))


def test_tables_and_figures_share_one_distilled_set(tiny_cxr, monkeypatch):
    settings = [{"dataset": "pneumoniamnist", "ipc": ipc, **TINY} for ipc in (1, 2)]
    params = build(cxr.CxrTableParams, {"settings": settings, "methods": ["mtt", "iadd"], "full_dataset_epochs": 1,
                                        "eval": {"num_eval": 2, "epochs": 2}}, "test")
    params.validate()
    ctx = RunContext(device=torch.device("cpu"))
    record = cxr.run_table(params, ctx)
    rows = record["metrics"]["rows"]
    assert [(r["ipc"], r["method"]) for r in rows] == [(1, "MTT"), (1, "IADD"), (2, "MTT"), (2, "IADD"), (None, "Full Dataset")]
    assert all(r["status"] == "ok" and r["n"] == 2 for r in rows)
    assert record["metrics"]["data"]["classes"] == ["normal", "pneumonia"]

    def no_distilling(*args, **kwargs):
        raise AssertionError("the figure re-distilled a set the table had stored")

    monkeypatch.setattr(tm, "distill", no_distilling)
    figure = build(cxr.CxrImagesParams, {"setting": settings[1], "methods": ["iadd"], "per_class": 2,
                                         "reference_images": 4}, "test")
    figure.validate()
    images = cxr.run_images(figure, ctx)["metrics"]
    assert [p["kind"] for p in images["panels"]] == ["real", "distilled"]
    assert images["panels"][1]["nearest_rmse"]["n"] == 4 and images["reference_nearest_rmse"]["n"] == 4
    assert all(p["png"] for p in images["panels"])


def _record(rows, dataset="pneumoniamnist", classes=("normal", "pneumonia")):
    return {"preset": "paper", "params": {"settings": [{"teachers": {"arch": "convnetd5", "arch_options": {}}}]},
            "data_source": {dataset: {"label": dataset, "exact": dataset == "covid-cxr", "note": "A note."}},
            "metrics": {"rows": rows, "data": {"dataset": dataset, "classes": list(classes), "image_size": [28, 28],
                                               "train_size": 100, "test_size": 20}}}


def _row(method, ipc, mean, dataset="pneumoniamnist"):
    return {"dataset": dataset, "ipc": ipc, "method": method, "status": "ok", "mean": mean, "std": 0.5}


def test_stand_in_records_are_labelled_and_never_compared_cell_for_cell():
    record = _record([_row("MTT", 1, 70.0), _row("DDPP", 1, 72.0), _row("MTT", 20, 80.0), _row("DDPP", 20, 79.0)])
    assert "Stand-in data" in page.data_note(record) and "not comparable cell for cell" in page.data_note(record)
    table = page.ddpp_table(record)
    assert "Δ" not in table and "| 20 | 40 | 80.0 ± 0.5 | 79.0 ± 0.5 |" in table
    claims = {s.split(" (")[0]: h for s, h, _ in page.ddpp_table4_claims(record)}
    assert claims["DDPP ≥ MTT at every IPC"] is False
    assert claims["Accuracy rises with IPC: the largest IPC above the smallest for each method"] is True
    assert claims["Our reproduced cells agree with the published ones"] is None


def test_records_on_the_papers_database_are_compared_with_the_paper():
    published = {v.key["method"]: v.mean for v in page.published_values("iadd")}
    rows = [_row("MTT", 20, published["MTT"], "covid-cxr"), _row("DDPP", 20, published["DDPP"] + 1, "covid-cxr"),
            _row("IADD", 20, published["IADD"] - 10, "covid-cxr"),
            {**_row("Full Dataset", None, published["Original Dataset"], "covid-cxr"), "ipc": None}]
    record = _record(rows, "covid-cxr", ("COVID", "Lung_Opacity", "Normal", "Viral Pneumonia"))
    assert "Stand-in" not in page.data_note(record)
    assert "(Δ +1.0)" in page.iadd_table(record) and "| all | 100 |" in page.iadd_table(record)
    claims = {s.split(" (")[0]: h for s, h, _ in page.iadd_table4_claims(record)}
    assert claims["IADD ≥ MTT"] is False and claims["IADD's distilled set comes close to the original dataset"] is False
    assert claims["IADD beats the best self-supervised method on 1% of the real data"] is False  # 75.2 < RGMIM 77.1
    assert claims["Our reproduced cells agree with the published ones"] is False


def test_images_claim_compares_distilled_with_real_test_images():
    def record(distilled_median):
        panel = {"kind": "distilled", "label": "IADD", "status": "ok",
                 "nearest_rmse": {"median": distilled_median, "min": 0.0, "n": 40}}
        return {"metrics": {"panels": [{"kind": "real", "label": "Real"}, panel], "ipc": 20,
                            "reference_nearest_rmse": {"median": 0.08, "min": 0.05, "n": 200}}}

    assert page.images_claims(record(0.02))[0][1] is False
    assert page.images_claims(record(0.12))[0][1] is True
    diverged = record(0.0)
    diverged["metrics"]["panels"][1] = {"kind": "distilled", "label": "IADD", "status": "diverged"}
    assert [h for _, h, _ in page.images_claims(diverged)] == [None, False]
