"""The one agreement rule every page uses to compare our numbers with the published ones."""

from __future__ import annotations

from reprolib.report import Compared, agreement


def test_agreement_allows_max_of_3_points_and_2_std_and_names_the_worst_cell():
    tight, loose = {"mean": 50.0, "std": 0.5}, {"mean": 50.0, "std": 2.0}
    assert agreement([Compared("a", tight, 47.0)], "-") == (True, "1 of 1 cells within max(3 points, 2 std); largest |Δ| 3.0 at a")
    assert agreement([Compared("a", tight, 46.9), Compared("b", loose, 46.1)], "-") == (
        False, "1 of 2 cells within max(3 points, 2 std); largest |Δ| 3.9 at b")  # b: 3.9 ≤ 4 holds, a: 3.1 > 3 fails
    assert agreement([], "nothing comparable") == (None, "nothing comparable")


def test_a_like_for_like_cell_is_within_the_papers_std_or_one_point():
    ours = {"mean": 50.0, "std": 0.1}
    assert Compared("a", ours, 47.0, 3.0).within and not Compared("a", ours, 47.0, 2.9).within
    assert Compared("a", ours, 49.0).within and not Compared("a", ours, 48.9, 0.5).within  # at least 1 point
    assert Compared("a", ours, 47.0, 3.0).delta == 3.0


def test_the_scale_table_shows_every_cut_line_by_line():
    from reprolib.report import scale_rows

    paper = {"datasets": ["cifar10"], "eval": {"num_eval": 5, "epochs": 1000, "lr": 0.01},
             "settings": [{"dataset": "cifar10", "teachers": {"num_teachers": 100}}]}
    small = {"datasets": ["mnist"], "eval": {"num_eval": 3, "epochs": 1000, "lr": 0.01, "by_ipc": {50: {"epochs": 300}}},
             "settings": [{"dataset": "mnist", "teachers": {"num_teachers": 10}},
                          {"dataset": "fashion-mnist", "teachers": {"num_teachers": 10}}]}
    assert scale_rows(small, paper) == [
        ("datasets", "cifar10", "mnist"),
        ("eval.num_eval", "5", "3"),
        ("settings[].dataset", "cifar10", "mnist / fashion-mnist"),
        ("settings[].teachers.num_teachers", "100", "10"),
        ("eval.by_ipc.50.epochs", "—", "300"),
    ]
    assert scale_rows(paper, paper) == []


def test_a_page_reusing_the_classic_settings_shows_only_the_cuts_it_reads():
    """DDPP Table I borrows the classic page's DC/DSA/DM settings but learns them on its own datasets and
    IPCs with its own protocol: the classic page's datasets, IPCs and evaluation are not its cuts."""
    from reprolib.presets import resolve
    from reprolib.report import record_cuts
    from reprolib.runner import _plain

    record = {"artifact": "ddpp-table1", "params": _plain(resolve("ddpp-table1", "small"))}
    keys = [key for key, _, _ in record_cuts(record)]
    assert "classic.dsa.iterations" in keys and "eval.num_eval" in keys
    assert not [key for key in keys if key.split(".")[:2] in (["classic", "datasets"], ["classic", "ipcs"], ["classic", "eval"])]
    classic_keys = [key for key, _, _ in record_cuts({"artifact": "classic-distillation",
                                                       "params": _plain(resolve("classic-distillation", "small"))})]
    assert "datasets" in classic_keys and "eval.num_eval" in classic_keys  # the lending page's own table keeps them
