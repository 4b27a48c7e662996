"""The one agreement rule every page uses to compare our numbers with the published ones."""

from __future__ import annotations

from reprolib.report import agreement


def test_agreement_allows_max_of_3_points_and_2_std_and_names_the_worst_cell():
    tight, loose = {"mean": 50.0, "std": 0.5}, {"mean": 50.0, "std": 2.0}
    assert agreement([("a", tight, 47.0)], "-") == (True, "1 of 1 cells within max(3 points, 2 std); largest |Δ| 3.0 at a")
    assert agreement([("a", tight, 46.9), ("b", loose, 46.1)], "-") == (
        False, "1 of 2 cells within max(3 points, 2 std); largest |Δ| 3.9 at b")  # b: 3.9 ≤ 4 holds, a: 3.1 > 3 fails
    assert agreement([], "nothing comparable") == (None, "nothing comparable")


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
