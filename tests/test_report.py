"""The one agreement rule every page uses to compare our numbers with the published ones."""

from __future__ import annotations

from reprolib.report import agreement


def test_agreement_allows_max_of_3_points_and_2_std_and_names_the_worst_cell():
    tight, loose = {"mean": 50.0, "std": 0.5}, {"mean": 50.0, "std": 2.0}
    assert agreement([("a", tight, 47.0)], "-") == (True, "1 of 1 cells within max(3 points, 2 std); largest |Δ| 3.0 at a")
    assert agreement([("a", tight, 46.9), ("b", loose, 46.1)], "-") == (
        False, "1 of 2 cells within max(3 points, 2 std); largest |Δ| 3.9 at b")  # b: 3.9 ≤ 4 holds, a: 3.1 > 3 fails
    assert agreement([], "nothing comparable") == (None, "nothing comparable")
