"""The GDD-SKD page's table of what each point of DiM's procedure changes (runs with overrides)."""

from __future__ import annotations

from reprolib.pages import generative as page


def _row(method: str, mean: float, protocol: str = "dim", checkpoint: str = "last", reading: str = "last_epoch") -> dict:
    return {"dataset": "fashion-mnist", "method": method, "ipc": 10, "kind": "generative", "protocol": protocol,
            "checkpoint": checkpoint, "reading": reading, "mean": mean, "std": 1.0, "n": 2}


def _run(overrides: dict, rows: list[dict]) -> dict:
    return {"preset": "small", "overrides": overrides, "metrics": {"rows": rows}}


def test_a_run_that_changes_a_point_is_shown_beside_its_presets_run_cell_by_cell():
    runs = {
        "small": _run({}, [_row("Ours", 70.0), _row("DiM", 68.0), _row("Ours", 72.0, "fixed")]),
        "small+aaaa": _run({"ipcs": [10], "methods": ["kd_std"], "setup.gan.pool_schedule": "persistent",
                            "setup.gan.pool_batches": 1}, [_row("Ours", 66.5), _row("Ours", 71.0, "fixed")]),
        "small+bbbb": _run({"ipcs": [10]}, [_row("Ours", 10.0)]),  # restricts cells only: not a point
    }
    assert page.changed_points(runs["small+aaaa"]) == [2]
    assert page.changed_points(runs["small+bbbb"]) == [] == page.changed_points(runs["small"])
    table = page.point_effects(runs)
    lines = [line for line in table.splitlines() if "Fashion-MNIST Ours IPC 10" in line]
    assert len(lines) == 2, table
    assert "`setup.gan.pool_schedule=persistent` `setup.gan.pool_batches=1`" in lines[0]
    assert "ipcs" not in table and "10.0" not in table
    assert lines[0].rstrip(" |").endswith("-3.5") and lines[1].rstrip(" |").endswith("-1.0")


def test_no_point_run_means_no_table_and_nested_keys_name_their_point():
    assert page.point_effects({"small": _run({}, [_row("Ours", 70.0)])}) == ""
    assert page.changed_points(_run({"setup.gan.selection.every": 5}, [])) == [5]


def test_the_ranking_claim_gives_each_gap_with_the_networks_spread():
    ranked = {"Ours": 70.0, "Ours (No Stand.)": 69.5, "DiM": 69.8, "CGAN": 60.0}  # No Stand. below DiM
    rows = [_row(m, v, "dim", "selected", "best_check") for m, v in ranked.items()]
    statement, holds, detail = page.claims_table1({"metrics": {"rows": rows}})[0]
    assert statement.startswith("Ours > Ours (No Stand.) > DiM > CGAN") and holds is False
    assert "whole chain in 0 of 1" in detail
    assert "Ours (No Stand.) > DiM in 0/1, by -0.3 to -0.3 points (std over networks up to 1.0)" in detail
    rows[1]["mean"] = 69.9
    assert page.claims_table1({"metrics": {"rows": rows}})[0][1] is True


def test_the_cross_architecture_claims_give_each_gap_with_the_networks_spread():
    rows = [{**_row(m, v, "fixed"), "architecture": a} for m, v, a in
            (("Ours", 70.0, "convnetd3"), ("Ours (No Stand.)", 70.5, "convnetd3"), ("DiM", 69.0, "convnetd3"),
             ("Ours", 60.0, "vgg11"), ("Ours (No Stand.)", 59.0, "vgg11"), ("DiM", 58.0, "vgg11"))]
    claims = {s: (h, d) for s, h, d in page.claims_table2({"metrics": {"rows": rows}})}
    assert claims["Standardisation helps on every architecture (fixed set, last checkpoint)"] == (
        False, "1 of 2 architectures (not on ConvNet3), by -0.5 to +1.0 points (std over networks up to 1.0)")
    assert claims["Ours beats DiM on every architecture (fixed set, last checkpoint)"][0] is True


def test_point_runs_are_listed_in_the_order_of_the_points():
    runs = {"small": _run({}, [_row("Ours", 70.0)]),
            "small+0000": _run({"setup.gan.generator_convs": [1, 1]}, [_row("Ours", 67.0)]),
            "small+ffff": _run({"setup.gan.pool_batches": 1}, [_row("Ours", 69.0)])}
    points = [line.split("|")[1].strip() for line in page.point_effects(runs).splitlines()[2:]]
    assert points == ["2", "7"]
