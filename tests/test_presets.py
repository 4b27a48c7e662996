"""Presets and parameters: built-in presets resolve; bad input fails before any compute."""

from __future__ import annotations

import pytest

from reprolib.artifacts import artifacts
from reprolib.presets import BUILTIN_PRESETS, PresetError, load_preset, merge, parse_override, resolve


@pytest.mark.parametrize("preset", BUILTIN_PRESETS)
@pytest.mark.parametrize("artifact", sorted(artifacts()))
def test_every_builtin_preset_lists_and_resolves_every_artifact(artifact, preset):
    # listed, so `reprolib run all --preset P` covers it and no artifact silently runs at its defaults
    assert artifact in load_preset(preset)["artifacts"], f"presets/{preset}/ has no entry for {artifact}"
    assert resolve(artifact, preset) is not None


def test_overrides_win_and_dotted_keys_reach_sections():
    params = resolve("coreset-baselines", "smoke", {"ipcs": [1, 2], "eval.epochs": 7, "eval": {"num_eval": 1}})
    assert params.ipcs == (1, 2)
    assert params.eval.epochs == 7 and params.eval.num_eval == 1
    assert params.eval.arch_options == {"depth": 2, "width": 32}  # untouched keys of the section stay


def test_merge_does_not_mutate_its_inputs():
    base = {"eval": {"epochs": 1, "lr": 0.1}}
    merged = merge(base, {"eval.epochs": 5})
    assert base == {"eval": {"epochs": 1, "lr": 0.1}} and merged["eval"] == {"epochs": 5, "lr": 0.1}


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"ipc": [1]}, "unknown parameter"),
        ({"ipcs": [0]}, "ipc=0 is impossible"),
        ({"ipcs": [10_000]}, "ipc=10000 is impossible"),
        ({"datasets": ["imagenet-22k"]}, "unknown dataset"),
        ({"eval.arch": "resnet19"}, "unknown evaluation network"),
        ({"eval.epochs": "many"}, "expected int"),
        ({"eval.frobnicate": 1}, "unknown parameter"),
        ({"methods": ["oracle"]}, "unknown coreset method"),
    ],
)
def test_bad_values_fail_with_a_clear_message(overrides, message):
    with pytest.raises(PresetError, match=message):
        resolve("coreset-baselines", "smoke", overrides)


def test_unknown_preset_and_artifact():
    with pytest.raises(PresetError, match="unknown preset 'huge'"):
        resolve("coreset-baselines", "huge")
    with pytest.raises(KeyError, match="unknown artifact"):
        resolve("no-such-table", "smoke")


def test_user_preset_file(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("artifacts:\n  coreset-baselines:\n    ipcs: [2]\n")
    assert resolve("coreset-baselines", str(path)).ipcs == (2,)
    path.write_text("artifacts: [1, 2\n")
    with pytest.raises(PresetError, match="not valid YAML"):
        resolve("coreset-baselines", str(path))
    path.write_text("artifacts:\n  coreset-baselines: 3\n")
    with pytest.raises(PresetError, match="must be a mapping"):
        resolve("coreset-baselines", str(path))


@pytest.mark.parametrize("text, expected", [("ipcs=[1,10]", ("ipcs", [1, 10])), ("eval.epochs=50", ("eval.epochs", 50)),
                                            ("datasets=[mnist]", ("datasets", ["mnist"]))])
def test_parse_override(text, expected):
    assert parse_override(text) == expected


@pytest.mark.parametrize("text", ["ipcs", "=3", "x=[1,"])
def test_parse_override_rejects_malformed(text):
    with pytest.raises(PresetError):
        parse_override(text)


def test_user_preset_folder_merges_files_and_refuses_duplicates(tmp_path):
    folder = tmp_path / "lab"
    folder.mkdir()
    (folder / "a.yaml").write_text("artifacts:\n  coreset-baselines:\n    ipcs: [3]\n")
    assert resolve("coreset-baselines", str(folder)).ipcs == (3,)
    (folder / "b.yaml").write_text("artifacts:\n  coreset-baselines:\n    ipcs: [4]\n")
    with pytest.raises(PresetError, match="given twice"):
        resolve("coreset-baselines", str(folder))


def test_same_as_borrows_another_artifacts_entry_at_the_same_preset(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("artifacts:\n"
                    "  classic-distillation: {ipcs: [1], dc: {iterations: 3, loops: {1: [1, 1]}}}\n"
                    "  ddpp-table1:\n"
                    "    settings: [{dataset: digits, ipc: 1}]\n"
                    "    classic_methods: [dc]\n"
                    "    classic: {same_as: classic-distillation, seed: 7}\n")
    params = resolve("ddpp-table1", str(path))
    assert params.classic.dc.iterations == 3 and params.classic.ipcs == (1,)  # borrowed
    assert params.classic.seed == 7  # a key beside same_as overrides the borrowed entry
    assert resolve("ddpp-table1", str(path), {"classic.dc.iterations": 5}).classic.dc.iterations == 5


@pytest.mark.parametrize("reference, message", [
    ("{same_as: no-such-page}", "same_as: unknown artifact 'no-such-page'"),
    ("{same_as: [classic-distillation]}", "same_as takes an artifact name"),
    ("{same_as: ddpp-table1}", "cycle: ddpp-table1 -> ddpp-table1"),
])
def test_same_as_rejects_unknown_targets_and_cycles(tmp_path, reference, message):
    path = tmp_path / "mine.yaml"
    path.write_text(f"artifacts:\n  ddpp-table1:\n    classic: {reference}\n")
    with pytest.raises(PresetError, match=message):
        resolve("ddpp-table1", str(path))


@pytest.mark.parametrize("text, message", [
    ("artifact:\n  coreset-baselines: {ipcs: [1]}\n", "unknown top-level key 'artifact' \\(did you mean 'artifacts'\\?\\)"),
    ("coreset-baselines:\n  ipcs: [1]\n", "unknown top-level key .coreset-baselines."),
    ("x-net: &net {arch: convnet}\n", "it has no .artifacts:. section"),
    ("artifacts:\n  coreset-baseline: {ipcs: [1]}\n", "unknown artifact 'coreset-baseline' \\(did you mean 'coreset-baselines'\\?\\)"),
    ("artifacts:\n  classic-distillation: {ipcs: [1]}\n", "does not list 'coreset-baselines'"),
    (b"artifacts:\n  coreset-baselines: {ipcs: [1]}  # caf\xe9\n", "is not UTF-8 text \\(byte 0xe9"),
])
def test_a_preset_file_it_does_not_understand_fails_before_computing(tmp_path, capsys, text, message):
    """Each of these once ran coreset-baselines at the paper's defaults (5 networks x 1000 epochs)."""
    from reprolib.cli import main

    path = tmp_path / "mine.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(PresetError, match=message):
        resolve("coreset-baselines", str(path))
    assert main(["compute", "coreset-baselines", "--preset", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err or "mine" in err
    assert not (tmp_path / "cache").exists() and not (tmp_path / "results").exists()


@pytest.mark.parametrize("override, message", [
    ("eval.lr=.nan", "eval.lr: nan is not a finite number"),
    ("eval.lr=.inf", "eval.lr: inf is not a finite number"),
    ("feature_model.train.lr=-.inf", "feature_model.train.lr: -inf is not a finite number"),
    ("eval.momentum=1.5", "eval.momentum: 1.5 is outside \\[0, 1\\)"),
    ("eval.weight_decay=-0.1", "eval.weight_decay: -0.1 is negative"),
    ("eval.arch_options.frobnicate=1", "eval.arch_options: unknown option 'frobnicate' for network 'convnet'"),
    ("feature_model.arch_options.width=big", "feature_model.arch_options: option 'width' of network 'convnet' takes an? int"),
    ("eval.arch_options.depth=2.5", "option 'depth' of network 'convnet' takes an? int"),
    ("eval.dsa_strategy=color_blur", "eval.dsa_strategy: unknown DSA group"),
    ("eval.lr=fast", "eval.lr: expected float, got 'fast' \\(str\\)"),
])
def test_bad_numbers_and_nested_options_are_named_before_computing(capsys, tmp_path, override, message):
    from reprolib.cli import main

    with pytest.raises(PresetError, match=message):
        resolve("coreset-baselines", "smoke", dict([parse_override(override)]))
    assert main(["compute", "coreset-baselines", "-p", override]) == 2
    assert "error:" in capsys.readouterr().err
    assert not (tmp_path / "cache").exists(), "nothing was computed or cached"


@pytest.mark.parametrize("artifact, overrides, message", [
    ("ddpp-table1", {"settings": [{"dataset": "digits", "ipc": 1, "teachers": {"arch_options": {"widht": 8}}}]},
     r"settings\[0\].teachers.arch_options: unknown option 'widht'"),
    ("ddpp-table1", {"settings": [{"dataset": "digits", "ipc": 1, "match": {"dsa_strategy": "blur"}}]},
     r"settings\[0\].match.dsa_strategy: unknown DSA group"),
    ("ddpp-table1", {"eval.dsa_strategy": "blur"}, r"eval.dsa_strategy: unknown DSA group"),
    ("dp-fig1", {"scoring_model.arch_options": {"width": "16"}}, r"scoring_model.arch_options: option 'width'"),
])
def test_nested_options_are_checked_in_every_table(artifact, overrides, message):
    """Teachers, matching, evaluation and pruning models: each once passed and failed only mid-run."""
    with pytest.raises(PresetError, match=message):
        resolve(artifact, "smoke", overrides)


def test_exponents_without_a_dot_are_numbers():
    """PyYAML reads 1e-4 as a string (YAML 1.1); `-p setup.gan.match_d_lr=1e-4` once failed as 'expected float'."""
    params = resolve("gdd-skd-table1", "smoke", dict([parse_override("setup.gan.match_d_lr=1e-4")]))
    assert params.setup.gan.match_d_lr == 1e-4
    assert parse_override("eval.by_ipc={10: {lr: 1e-4}}")[1] == {10: {"lr": 1e-4}}  # untyped places too
