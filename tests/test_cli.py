"""The command line: listing data, computing records, status, and clear errors on bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from reprolib.cli import main


@pytest.mark.parametrize(
    "argv, message",
    [
        (["compute", "no-such-table"], "unknown artifact 'no-such-table'"),
        (["compute", "coreset-baselines", "--preset", "huge"], "unknown preset 'huge'"),
        (["compute", "coreset-baselines", "-p", "ipcs=[0]"], "ipc=0 is impossible"),
        (["compute", "coreset-baselines", "-p", "ipcs"], "write key=value"),
        (["compute", "coreset-baselines", "-p", "colour=red"], "unknown parameter"),
        (["run", "all", "-p", "ipcs=[100000]"], "impossible"),
    ],
)
def test_bad_input_exits_nonzero_with_a_message_and_computes_nothing(argv, message, capsys, isolated_dirs):
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (isolated_dirs / "results").exists()
    assert not (isolated_dirs / "cache").exists()


def test_compute_writes_a_record_and_status_reports_it(capsys, isolated_dirs):
    argv = ["compute", "coreset-baselines", "-p", "ipcs=[1]", "-p", "methods=[random]",
            "-p", "eval.num_eval=1", "-p", "eval.epochs=5", "--device", "cpu"]
    assert main(argv) == 0
    [path] = (isolated_dirs / "results").glob("smoke+*/coreset-baselines.json")  # filed apart: it has overrides
    record = json.loads(path.read_text())
    assert record["preset"] == "smoke" and record["device"].startswith("cpu")
    assert record["data_source"]["digits"]["exact"] is True
    assert {"versions", "git_commit", "wall_time_s", "date", "params"} <= set(record)
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert "coreset-baselines" in out and "smoke" in out


def test_status_write_writes_the_status_page_and_the_intros_claims_table(isolated_dirs, capsys):
    from reprolib.pages.like_for_like import like_for_like_markdown
    from reprolib.pages.status import glance_markdown, status_markdown, times_markdown

    page = isolated_dirs / "book" / "status.md"
    page.parent.mkdir()
    assert main(["status", "--write", str(page)]) == 0
    assert page.read_text() == status_markdown()
    assert (page.parent / "at_a_glance.md").read_text() == glance_markdown()
    assert (page.parent / "time_per_preset.md").read_text() == times_markdown()
    assert (page.parent / "like_for_like.md").read_text() == like_for_like_markdown()
    assert main(["status"]) == 0 and "small: 0 of" in capsys.readouterr().out  # the terminal gives the times too


def test_data_lists_every_dataset(capsys):
    assert main(["data"]) == 0
    out = capsys.readouterr().out
    assert "digits" in out and "cifar100" in out


def test_python_dash_m_entry_point():
    run = subprocess.run([sys.executable, "-m", "reprolib", "--help"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "compute" in run.stdout


def _named_datasets(value) -> set[str]:
    """Every registered dataset name among a parameter tree's strings."""
    from reprolib.data import DATASET_NAMES

    if isinstance(value, dict):
        return set().union(*map(_named_datasets, value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*map(_named_datasets, value)) if value else set()
    return {value} if value in DATASET_NAMES else set()


def test_smoke_needs_no_data_folder_and_no_network(tmp_path, monkeypatch):
    """The README's `make book` on a fresh machine: every dataset `smoke` names ships with the package."""
    from reprolib.artifacts import artifacts
    from reprolib.data import load_dataset
    from reprolib.presets import resolve
    from reprolib.runner import _plain

    monkeypatch.delenv("REPROLIB_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    named = set().union(*(_named_datasets(_plain(resolve(name, "smoke"))) for name in artifacts()))
    assert "pneumoniamnist-subset" in named
    for name in sorted(named):
        source = load_dataset(name, download=False).source
        assert source.location.startswith(("sklearn", "reprolib/")), (name, source.location)
    subset = load_dataset("pneumoniamnist-subset", download=False).source
    assert "subset" in subset.label and not subset.exact and "CC BY 4.0" in subset.note


def test_a_partial_list_entry_merges_with_the_presets_entry():
    """`settings=[{dataset, ipc}]` once dropped the preset's teachers and matching (100 teachers x 50 epochs)."""
    from reprolib.presets import PresetError, resolve

    preset = resolve("iadd-table1", "smoke")
    mine = resolve("iadd-table1", "smoke", {"settings": [{"dataset": "digits", "ipc": 10}]})
    assert [s.ipc for s in mine.settings] == [10]
    assert (mine.settings[0].teachers, mine.settings[0].match) == (preset.settings[0].teachers, preset.settings[0].match)
    indexed = resolve("iadd-table1", "smoke", {"settings.1.teachers.epochs": 7})
    assert indexed.settings[1].teachers.epochs == 7 and indexed.settings[0] == preset.settings[0]
    extra = [{"dataset": "digits", "ipc": 1}] * (len(preset.settings) + 1)
    with pytest.raises(PresetError, match="missing match, teachers"):
        resolve("iadd-table1", "smoke", {"settings": extra})
    with pytest.raises(PresetError, match="list has 2 entries"):
        resolve("iadd-table1", "smoke", {"settings.7.ipc": 1})


def test_methods_limits_every_row_family():
    from reprolib.presets import resolve

    only = resolve("iadd-table1", "smoke", {"methods": ["iadd"]})
    assert (only.methods, only.coreset_methods, only.classic_methods) == (("iadd",), (), ())
    mixed = resolve("iadd-table1", "smoke", {"methods": ["iadd", "herding", "dm"]})
    assert (mixed.methods, mixed.coreset_methods, mixed.classic_methods) == (("iadd",), ("herding",), ("dm",))


def test_a_run_far_above_the_presets_cost_needs_yes(capsys, isolated_dirs):
    big = ["-p", "settings.0.teachers.num_teachers=100", "-p", "settings.0.teachers.epochs=50"]
    assert main(["compute", "iadd-table1", *big]) == 2
    err = capsys.readouterr().err
    assert "expected cost" in err and "teacher image-epochs" in err and "--yes" in err
    assert not (isolated_dirs / "cache").exists()


def test_folder_datasets_are_named_in_help_and_in_the_unknown_dataset_error(capsys):
    with pytest.raises(SystemExit):
        main(["compute", "--help"])
    assert "folder:PATH" in capsys.readouterr().out
    assert main(["compute", "coreset-baselines", "-p", "datasets=[imagenet]"]) == 2
    assert "folder:PATH for your own images" in capsys.readouterr().err


def test_the_cli_prints_a_method_that_did_not_finish(monkeypatch, capsys, isolated_dirs):
    from reprolib import sweep

    record = {"artifact": "iadd-table1", "preset": "smoke", "wall_time_s": 2.28, "device": "cpu: 2 threads",
              "metrics": {"rows": [{"method": "IADD", "dataset": "digits", "ipc": 1, "status": "diverged",
                                    "message": "loss exceeded max_loss"}]}}
    monkeypatch.setattr(sweep, "run_artifact", lambda *args, **kwargs: record)
    assert main(["compute", "iadd-table1"]) == 0
    err = capsys.readouterr().err
    assert "NOT FINISHED: IADD digits IPC 1 diverged (loss exceeded max_loss)" in err


def test_your_own_folder_in_two_commands_then_export(tmp_path, capsys, isolated_dirs):
    """compute on folder:PATH with a partial settings entry, then export PNG class folders + .pt + JSON."""
    import torch

    from reprolib.export import write_example_folder

    folder = write_example_folder(tmp_path / "mine", classes=3, per_class=12)
    params = ["-p", f'settings=[{{dataset: "folder:{folder}", ipc: 2}}]', "-p", "methods=[ddpp]",
              "-p", "eval.num_eval=1", "-p", "eval.epochs=2"]
    assert main(["compute", "ddpp-table1", *params, "--device", "cpu"]) == 0
    [filed] = (isolated_dirs / "results").glob("smoke+*/ddpp-table1.json")
    assert [r["method"] for r in json.loads(filed.read_text())["metrics"]["rows"]] == ["DDPP", "Full Dataset"]
    assert main(["export", "ddpp-table1", *params, "--to", str(tmp_path / "out")]) == 0
    [exported] = (tmp_path / "out").iterdir()
    assert sorted(p.name for p in (exported / "images").iterdir()) == ["digit0", "digit1", "digit2"]
    assert len(list((exported / "images" / "digit1").glob("*.png"))) == 2
    tensors = torch.load(exported / "distilled.pt", weights_only=True)
    assert tensors["images"].shape == (6, 1, 8, 8) and tensors["labels"].tolist() == [0, 0, 1, 1, 2, 2]
    provenance = json.loads((exported / "provenance.json").read_text())
    assert provenance["method"] == "ddpp" and provenance["data_source"]["dataset"].startswith("folder:")
    capsys.readouterr()
    assert main(["export", "ddpp-table1", *params, "-p", "seed=5", "--to", str(tmp_path / "none")]) == 2
    assert "reprolib compute ddpp-table1" in capsys.readouterr().err
