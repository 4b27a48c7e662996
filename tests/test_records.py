"""Run records: required keys, atomic writes, every preset's record found, provenance."""

from __future__ import annotations

import json

import pytest

from reprolib import records


def _record(preset="smoke", value=1.0):
    return {"artifact": "demo", "preset": preset, "params": {}, "metrics": {"value": value}}


def test_write_and_read_every_preset(isolated_dirs):
    for preset in ("paper", "mine", "smoke"):
        records.write_record(_record(preset))
    found = records.read_records("demo")
    assert list(found) == ["smoke", "paper", "mine"]  # standard presets first, then user presets
    assert records.read_record("demo", "small") is None


def test_missing_keys_and_non_json_values_are_refused(isolated_dirs):
    with pytest.raises(ValueError, match="needs the key 'metrics'"):
        records.write_record({"artifact": "demo", "preset": "smoke", "params": {}})
    with pytest.raises(ValueError):
        records.write_record(_record(value=float("nan")))
    assert records.read_record("demo", "smoke") is None


def test_failed_write_keeps_the_previous_record(isolated_dirs, monkeypatch):
    path = records.write_record(_record(value=1.0))

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.fsync", full_disk)
    with pytest.raises(OSError, match="previous record is unchanged"):
        records.write_record(_record(value=2.0))
    assert json.loads(path.read_text())["metrics"]["value"] == 1.0
    assert not list(path.parent.glob("*.tmp"))


def test_corrupt_record_is_a_clear_error(isolated_dirs):
    path = records.write_record(_record())
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        records.read_record("demo", "smoke")


def test_provenance_names_device_versions_and_commit():
    prov = records.provenance("cpu: 2 threads")
    assert prov["device"] == "cpu: 2 threads"
    assert {"torch", "kornia", "reprolib", "python"} <= set(prov["versions"])
    assert "date" in prov and "git_commit" in prov


def test_a_run_with_overrides_is_filed_apart_from_the_presets_record(isolated_dirs, capsys):
    """`-p ipcs=[2]` once replaced results/smoke/coreset-baselines.json; now it has its own name."""
    from reprolib.cli import main

    tiny = ["-p", "methods=[random]", "-p", "eval.num_eval=1", "-p", "eval.epochs=2", "--device", "cpu"]
    assert main(["compute", "coreset-baselines", "-p", "ipcs=[1]", *tiny]) == 0
    assert main(["compute", "coreset-baselines", "-p", "ipcs=[2]", *tiny]) == 0
    found = records.read_records("coreset-baselines")
    assert len(found) == 2 and all(run.startswith("smoke+") for run in found)
    assert sorted(r["overrides"]["ipcs"] == [2] for r in found.values()) == [False, True]
    assert not (isolated_dirs / "results" / "smoke" / "coreset-baselines.json").exists()
    assert records.run_name("smoke", {}) == "smoke"
    assert records.run_name("smoke", {"ipcs": [2]}) != records.run_name("smoke", {"ipcs": [1]})
    assert main(["status"]) == 0
    assert "overrides: ipcs=[2] methods=[\"random\"]" in capsys.readouterr().out


def test_the_page_header_shows_overrides_stopped_parts_and_computation_time():
    from reprolib.report import provenance_line

    record = {**_record(), "run": "smoke+0123abcd", "overrides": {"ipcs": [2]}, "device": "cpu: 2 threads",
              "precision": "bf16", "wall_time_s": 0.4, "from_cache": True,
              "metrics": {"rows": [{"method": "IADD", "dataset": "digits", "ipc": 1, "status": "diverged",
                                    "message": "loss is nan at iteration 3\ntraceback"}]}}
    line = provenance_line(record)
    assert "overrides `ipcs=[2]`" in line and "smoke+0123abcd" in line and "precision: bf16" in line
    assert "served from the cache" in line and "computed in" not in line
    assert "IADD digits IPC 1 diverged (loss is nan at iteration 3)" in line
    assert "computed in 12.5 s" in provenance_line({**record, "from_cache": False, "wall_time_s": 12.5})


def test_a_cached_rerun_keeps_the_computation_time(isolated_dirs):
    from reprolib.report import time_text
    from reprolib.runner import run_artifact

    tiny = {"ipcs": [1], "methods": ["random"], "eval.num_eval": 1, "eval.epochs": 2}
    first = run_artifact("coreset-baselines", "smoke", tiny, device="cpu")
    again = run_artifact("coreset-baselines", "smoke", tiny, device="cpu")
    assert "from_cache" not in first and again["wall_time_s"] == first["wall_time_s"]
    assert again["rerun_s"] <= first["wall_time_s"]
    (isolated_dirs / "results").rename(isolated_dirs / "elsewhere")  # a hot cache, no filed record
    served = run_artifact("coreset-baselines", "smoke", tiny, device="cpu")
    assert served["from_cache"] is True and served["cached_parts_untimed"] == 0
    assert f"those parts took {served['cached_parts_s']:,.0f} s when computed" in time_text(served)


def test_a_run_that_computes_on_top_of_cached_parts_says_so(isolated_dirs):
    """A page recomputed after a parameter change once showed minutes for an hour's work (its GANs came
    from the cache): such a run is marked ``partly_cached`` and its header says the cached parts are not counted."""
    from reprolib.pages.status import _minutes
    from reprolib.report import time_text
    from reprolib.runner import run_artifact

    tiny = {"ipcs": [1], "methods": ["herding"], "feature_model.train.epochs": 1, "eval.num_eval": 1, "eval.epochs": 2}
    first = run_artifact("coreset-baselines", "smoke", tiny, device="cpu")
    assert "partly_cached" not in first and "from_cache" not in first
    more = run_artifact("coreset-baselines", "smoke", {**tiny, "eval.epochs": 3}, device="cpu")  # same feature model
    assert more["partly_cached"] is True and "from_cache" not in more
    assert more["cached_parts_s"] > 0 and more["cached_parts_untimed"] == 0  # the feature model's seconds, kept
    cold = more["wall_time_s"] + more["cached_parts_s"]
    assert f"{cold:,.0f} s from a cold cache" in time_text(more) and _minutes(more).endswith("min from the cache")
    untimed = {**more, "cached_parts_s": 0, "cached_parts_untimed": 1}  # parts stored before costs were kept
    assert "earlier computation not counted" in time_text(untimed) and _minutes(untimed).endswith("+ parts from the cache")


def test_the_whole_preset_counts_a_part_two_pages_share_once(isolated_dirs):
    """Issue 13 item 7: how long a whole preset computes from a cold cache. Each record lists every stored
    part it needed with its seconds; a part two runs share is counted once, plus each run's other work."""
    import pytest

    from reprolib.pages.status import whole_preset
    from reprolib.runner import run_artifact

    tiny = {"ipcs": [1], "methods": ["herding"], "feature_model.train.epochs": 1, "eval.num_eval": 1, "eval.epochs": 2}
    first = run_artifact("coreset-baselines", "smoke", tiny, device="cpu")
    more = run_artifact("coreset-baselines", "smoke", {**tiny, "eval.epochs": 3}, device="cpu")  # same feature model
    shared = set(first["parts_s"]) & set(more["parts_s"])
    assert shared and all(first["parts_s"][a] == more["parts_s"][a] for a in shared)
    assert sum(first["parts_s"].values()) + first["outside_parts_s"] == pytest.approx(first["wall_time_s"], abs=0.05)
    parts = {**first["parts_s"], **more["parts_s"]}
    whole = whole_preset([first, more])
    assert (whole.parts, whole.untimed) == (len(parts), 0) and whole.parts < len(first["parts_s"]) + len(more["parts_s"])
    assert whole.seconds == pytest.approx(sum(parts.values()) + first["outside_parts_s"] + more["outside_parts_s"])
    # in compute order the shared feature model counts on the first page only
    new = sum(s for a, s in more["parts_s"].items() if a not in first["parts_s"])
    assert whole.pages == (("coreset-baselines", pytest.approx(sum(first["parts_s"].values()) + first["outside_parts_s"])),
                           ("coreset-baselines", pytest.approx(new + more["outside_parts_s"])))
    assert whole_preset([first, {k: v for k, v in more.items() if k != "parts_s"}]) is None  # an older record: not known


def test_another_job_writing_to_the_shared_store_does_not_make_a_cached_rerun_look_computed(isolated_dirs, monkeypatch):
    import dataclasses

    import reprolib.runner as runner
    from reprolib.artifacts import get_artifact
    from reprolib.store import ArtifactStore

    tiny = {"ipcs": [1], "methods": ["random"], "eval.num_eval": 1, "eval.epochs": 2}
    first = runner.run_artifact("coreset-baselines", "smoke", tiny, device="cpu")
    artifact = get_artifact("coreset-baselines")

    def meanwhile_another_job_stores(params, ctx):  # a sweep's other job writes to the shared store
        ArtifactStore.default().save("other-job", {"k": 1}, {"x": 1})
        return artifact.run(params, ctx)

    monkeypatch.setattr(runner, "get_artifact", lambda name: dataclasses.replace(artifact, run=meanwhile_another_job_stores))
    again = runner.run_artifact("coreset-baselines", "smoke", tiny, device="cpu")
    assert again["wall_time_s"] == first["wall_time_s"] and "rerun_s" in again


def test_a_rerun_that_reports_more_of_the_same_computation_keeps_its_time():
    from reprolib.runner import _extends

    old = {"rows": [{"mean": 50.0, "n": 2}], "note": "x"}
    assert _extends({"rows": [{"mean": 50.0, "n": 2, "kept_per_class": [5, 5]}], "note": "x"}, old)
    assert not _extends({"rows": [{"mean": 50.1, "n": 2}], "note": "x"}, old)
    assert not _extends({"rows": [{"mean": 50.0, "n": 2}, {"mean": 1.0}], "note": "x"}, old)
    assert not _extends({"rows": [{"mean": 50.0}], "note": "x"}, old)


def test_a_kernel_with_no_results_folder_shows_the_record_without_filing_it(isolated_dirs, monkeypatch):
    import sys
    import types

    from reprolib.runner import run_artifact

    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    monkeypatch.delenv("REPROLIB_RESULTS")
    monkeypatch.setattr(records, "project_root", lambda: isolated_dirs / "checkout")
    record = run_artifact("coreset-baselines", "smoke", {"ipcs": [1], "methods": ["random"], "eval.num_eval": 1,
                                                          "eval.epochs": 2}, device="cpu")
    assert not (isolated_dirs / "checkout").exists()
    assert records.read_records("coreset-baselines") == {record["run"]: record}


def test_a_failed_page_is_noted_for_the_status_page_and_cleared_by_success(isolated_dirs):
    from reprolib.pages.status import status_markdown

    class PapermillExecutionError(Exception):
        ename, evalue = "DatasetNotFoundError", "PneumoniaMNIST not found"

    records.write_record(_record())
    records.write_failure("coreset-baselines", "smoke", PapermillExecutionError("long traceback"))
    assert records.read_failures("coreset-baselines")["smoke"]["message"] == "PneumoniaMNIST not found"
    assert "last execution failed (DatasetNotFoundError: PneumoniaMNIST not found); no page" in status_markdown()
    records.clear_failure("coreset-baselines", "smoke")
    assert records.read_failures("coreset-baselines") == {}


def test_claims_at_a_glance_gives_each_claim_its_verdict_per_preset(isolated_dirs):
    """One row per claim, a column per preset that has records, words for every verdict; a run with
    overrides is not the preset's and stays out."""
    from reprolib.pages.status import glance_markdown
    from reprolib.records import project_root

    committed = json.loads((project_root() / "results" / "smoke" / "coreset-baselines.json").read_text())
    better, worse = json.loads(json.dumps(committed)), json.loads(json.dumps(committed))
    for row in better["metrics"]["rows"]:  # Herding beats Random
        row["mean"] = 90.0 if row["method"] == "Herding" else 10.0
    for row in worse["metrics"]["rows"]:  # Herding no longer beats Random
        row["mean"] = 10.0
    records.write_record(better)
    records.write_record(worse | {"preset": "paper", "run": "paper"})
    records.write_record(worse | {"run": "smoke+abc", "overrides": {"ipcs": [1]}})
    lines = glance_markdown().splitlines()
    assert "| Page | Claim | `smoke` | `paper` |" in lines and "No page has run at `small` yet" in lines[0]
    herding = [line for line in lines if line.startswith("| [Coreset baselines](shared/coreset_baselines.ipynb) | Herding beats")]
    assert herding == ["| [Coreset baselines](shared/coreset_baselines.ipynb) | Herding beats Random at IPC ≤ 10 "
                       "(as in every published table) | holds ✓ | does not hold ✗ |"]
    assert not any("ddpp" in line for line in lines)  # pages with no record have no rows


def test_the_like_for_like_page_lists_each_cell_on_the_papers_data_once_with_every_page_showing_it(isolated_dirs):
    """Cells on a paper's own dataset get paper, ours, Δ and within the paper's ±; a cell that two pages
    share (the same run, the same published value) is one row naming both pages; digits cells are none."""
    from reprolib.pages.like_for_like import like_for_like_markdown
    from reprolib.records import project_root

    smoke = json.loads((project_root() / "results" / "smoke" / "coreset-baselines.json").read_text())
    small = json.loads(json.dumps(smoke)) | {"preset": "small", "run": "small"}
    small["metrics"]["rows"] = [{"dataset": "fashion-mnist", "method": "Random", "ipc": 1, "mean": 52.0, "std": 0.9, "n": 4,
                                 "selections": 2},  # GDD-SKD Table 1 prints 51.4 ± 3.8
                                {"dataset": "fashion-mnist", "method": "Herding", "ipc": 1, "mean": 60.0, "std": 0.0, "n": 1}]  # 67.0 ± 1.9
    table1 = json.loads((project_root() / "results" / "small" / "ddpp-table1.json").read_text())
    table1["metrics"]["rows"] = [r for r in table1["metrics"]["rows"] if (r["dataset"], r["ipc"], r["method"]) == ("cifar10-jpeg", 1, "DM")]
    iadd = json.loads(json.dumps(table1)) | {"artifact": "iadd-table1"}
    for record in (smoke, small, table1, iadd):
        records.write_record(record)
    text = like_for_like_markdown()
    assert "## `smoke`\n\nNo cell at this preset ran on a dataset of the paper's table it reproduces." in text
    assert "**2 of 3 cells** are within the paper's ± (or 1 point)" in text
    lines = text.splitlines()
    assert "| fashion-mnist IPC 1 Random | 51.4 ± 3.8 | GDD-SKD Table 1 | 52.0 ± 0.9 (4 scores, 2 selections) | +0.6 | yes ✓ | " \
           "[Coreset baselines](shared/coreset_baselines.ipynb) |" in lines
    assert "| fashion-mnist IPC 1 Herding | 67.0 ± 1.9 | GDD-SKD Table 1 | 60.0 (1 score) | -7.0 | no ✗ | " \
           "[Coreset baselines](shared/coreset_baselines.ipynb) |" in lines
    dm = [line for line in lines if line.startswith("| cifar10-jpeg IPC 1 DM |")]
    assert len(dm) == 1 and "[DDPP Table I](ddpp/table1_benchmark.ipynb), [IADD Table 1](iadd/table1_benchmark.ipynb)" in dm[0]
    assert "| DDPP Table I; IADD Table 1 |" in dm[0]


def test_the_status_page_sums_each_presets_measured_computation_time(isolated_dirs):
    from reprolib.artifacts import artifacts
    from reprolib.pages.status import _minutes, preset_totals

    a, b, c = sorted(artifacts())[:3]
    records.write_record({**_record("small"), "artifact": a, "wall_time_s": 1800.0})
    records.write_record({**_record("small"), "artifact": b, "wall_time_s": 600.0})
    records.write_record({**_record("small"), "artifact": c, "wall_time_s": 0.4, "from_cache": True})
    smoke, small, paper = preset_totals()
    total = len(artifacts())
    assert small == (f"**small**: 3 of {total} pages have a record; their computations took 40 min in all on the devices "
                     "their records name (a prerequisite shared by several pages counts on the page that computed it); "
                     "1 served from the cache, time not known.")
    assert smoke == f"**smoke**: 0 of {total} pages have a record." and paper.startswith("**paper**: 0 of")
    assert [_minutes(records.read_record(name, "small")) for name in (a, c)] == ["30.0 min", "not known (served from the cache)"]
    d, e = sorted(artifacts())[3:5]  # a page computed on top of another's cached parts, and one served whole
    records.write_record({**_record("small"), "artifact": d, "wall_time_s": 120.0, "partly_cached": True,
                          "cached_parts_s": 1680.0, "cached_parts_untimed": 0})
    records.write_record({**_record("small"), "artifact": e, "wall_time_s": 0.4, "from_cache": True,
                          "cached_parts_s": 600.0, "cached_parts_untimed": 0})
    small = preset_totals()[1]
    assert small.startswith(f"**small**: 5 of {total} pages have a record; their computations took 42 min in all")
    assert small.endswith("1 served from the cache, time not known; from a cold cache, page by page (shared "
                          "prerequisites counted on every page that uses them), 4 pages took 80 min, the longest 30 min.")
    records.write_record({**_record("small"), "artifact": sorted(artifacts())[5], "wall_time_s": 60.0, "partly_cached": True})
    assert ("1 served from the cache, time not known; 1 computed on top of parts from the cache whose time is not "
            "known; from a cold cache") in preset_totals()[1]
    assert [_minutes(records.read_record(name, "small")) for name in (d, e)] == [
        "2.0 min + 28.0 min from the cache", "10.0 min, earlier (served from the cache)"]
