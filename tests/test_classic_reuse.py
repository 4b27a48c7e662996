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
