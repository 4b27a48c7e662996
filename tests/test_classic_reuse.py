"""Pages that reuse DC/DSA/DM learn them with the classic-distillation page's parameters, so one stored
set serves every page at a preset, and they reject what those parameters cannot do before compute."""

from __future__ import annotations

import pytest

from reprolib.presets import BUILTIN_PRESETS, PresetError, resolve

REUSERS = ("ddpp-table1", "iadd-table1", "gdd-skd-table1", "gdd-skd-table2")
# Presets that leave the DC/DSA/DM rows out, as their YAML says (hours on the 2-core CPU).
WITHOUT_CLASSIC = {("gdd-skd-table1", "small"), ("gdd-skd-table2", "small")}


@pytest.mark.parametrize("preset", BUILTIN_PRESETS)
@pytest.mark.parametrize("artifact", REUSERS)
def test_reused_baselines_have_the_classic_pages_parameters(artifact, preset):
    params = resolve(artifact, preset)
    if (artifact, preset) in WITHOUT_CLASSIC:
        assert not params.classic_methods
        return
    assert params.classic_methods, f"{artifact} @ {preset} reproduces no DC/DSA/DM row"
    assert params.classic == resolve("classic-distillation", preset)


@pytest.mark.parametrize("artifact, overrides, message", [
    ("gdd-skd-table1", {"classic_methods": ["kip"]}, "unknown distillation method"),
    ("gdd-skd-table1", {"ipcs": [1, 10, 20], "batch_sizes": [32, 64, 64]}, "classic.dc: no outer/inner loop counts for IPC 20"),
    ("gdd-skd-table2", {"ipc": 20}, "classic.dsa: no outer/inner loop counts for IPC 20"),
    ("iadd-table1", {"classic": {"dm": {"iterations": 0}}}, "classic.dm"),
])
def test_what_the_classic_parameters_cannot_do_fails_before_compute(artifact, overrides, message):
    with pytest.raises(PresetError, match=message):
        resolve(artifact, "smoke", overrides)


def test_a_preset_can_learn_a_method_at_fewer_ipcs(isolated_dirs):
    """`small` learns DC and DSA only at IPC 1 (190 s per IPC-10 iteration on the CPU): their IPC-10 cells are
    absent, DM and the random reference keep every IPC."""
    from reprolib.runner import run_artifact

    tiny = {"methods": ["dc", "dm"], "ipcs_by_method": {"dc": [1]}, "dc.iterations": 1, "dm.iterations": 1,
            "eval.num_eval": 1, "eval.epochs": 1}
    rows = run_artifact("classic-distillation", "smoke", tiny, device="cpu")["metrics"]["rows"]
    assert sorted((r["method"], r["ipc"]) for r in rows) == [("DC", 1), ("DM", 1), ("DM", 10), ("Random real", 1), ("Random real", 10)]


@pytest.mark.parametrize("by_method", [{"dsa": [1]}, {"dc": [50]}, {"dc": []}])
def test_ipcs_by_method_names_a_method_and_ipcs_of_the_page(by_method):
    with pytest.raises(PresetError, match="ipcs_by_method"):
        resolve("classic-distillation", "smoke", {"methods": ["dc", "dm"], "ipcs_by_method": by_method})


def test_a_reusing_page_skips_the_ipcs_the_classic_page_does_not_learn(isolated_dirs):
    """A benchmark page reusing `ipcs_by_method: {dsa: [1]}` learns DSA at IPC 1 only; its record says why
    the IPC-10 cell is missing and the page prints that reason under the table (IPC-10 DSA costs hours)."""
    from reprolib.pages import trajectory_matching as page
    from reprolib.runner import run_artifact

    tiny = {"methods": [], "coreset_methods": [], "full_dataset_epochs": 0, "classic_methods": ["dsa", "dm"],
            "classic": {"ipcs_by_method": {"dsa": [1]}, "dsa": {"iterations": 1}, "dm": {"iterations": 1}},
            "eval": {"num_eval": 1, "epochs": 1}}
    params = resolve("ddpp-table1", "smoke", tiny)
    assert sorted({s.ipc for s in params.settings}) == [1, 10]
    record = run_artifact("ddpp-table1", "smoke", tiny, device="cpu")
    cells = sorted((r["method"], r["ipc"]) for r in record["metrics"]["rows"])
    assert cells == [("DM", 1), ("DM", 10), ("DSA", 1)]
    assert list(record["metrics"]["not_run"]) == ["DSA"]
    assert "IPC 10" in record["metrics"]["not_run"]["DSA"]
    assert "Not run at this preset: **DSA** — not learned at IPC 10" in page.ours_table(record, "ddpp", "table1")
