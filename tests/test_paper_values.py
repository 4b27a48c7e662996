"""Tests for reprolib.paper_values: the transcribed paper tables are complete, well-formed and match the papers."""

import os
import re
from pathlib import Path

import pytest

from reprolib import paper_values as pv
from reprolib.paper_values import _build_table

ALL_TABLES = [(p, t) for p in pv.papers() for t in pv.tables(p)]


# ----------------------------------------------------------------------------- structure


def test_papers_and_info():
    assert pv.papers() == ["ddpp", "dp", "gdd_skd", "iadd"]
    assert pv.tables("ddpp") == ["table1", "table2", "table3", "table4"]
    assert pv.tables("iadd") == ["table1", "table2", "table3", "table4", "runtime_text"]
    assert pv.tables("gdd_skd") == ["table1", "table2"]
    assert pv.tables("dp") == ["table1", "fig4_text", "fig2_text"]
    info = pv.paper_info("ddpp")
    assert info["year"] == 2023 and info["authors"][0] == "Guang Li"
    assert info["source_files"] == ["000_e09e5294176d2948.txt", "003_4c745b4be345bbb4.txt"]
    assert pv.paper_info("dp")["venue"].startswith("ICLR 2023")


@pytest.mark.parametrize("paper,table", ALL_TABLES)
def test_table_complete_and_well_formed(paper, table):
    t = pv.paper_table(paper, table)
    assert t.missing() == []
    keys = [tuple(c.key[a] for a in t.axes) for c in t.cells]
    assert len(keys) == len(set(keys))
    for c in t.cells:
        assert c.std is None or c.std >= 0
        if c.mean is None:
            assert c.std is None and c.note
        if "accuracy" in c.metric and c.mean is not None:
            assert 0 <= c.mean <= 100, c.source
        assert c.paper == paper and c.table == table and c.ref == t.ref


def test_cell_counts():
    counts = {(p, t): len(pv.paper_table(p, t).cells) for p, t in ALL_TABLES}
    assert counts == {
        ("ddpp", "table1"): 54, ("ddpp", "table2"): 18, ("ddpp", "table3"): 12, ("ddpp", "table4"): 8,
        ("iadd", "table1"): 112, ("iadd", "table2"): 18, ("iadd", "table3"): 20, ("iadd", "table4"): 14,
        ("iadd", "runtime_text"): 3,
        ("gdd_skd", "table1"): 144, ("gdd_skd", "table2"): 28,
        ("dp", "table1"): 20, ("dp", "fig4_text"): 2, ("dp", "fig2_text"): 2,
    }


# ----------------------------------------------------------------------------- spot checks against the papers


def _val(paper, table, **key):
    c = pv.paper_table(paper, table).get(**key)
    return c.mean, c.std


def test_ddpp_spot_checks():
    assert _val("ddpp", "table1", dataset="CIFAR-100", ipc=50, method="Ours") == (48.4, 0.3)
    assert _val("ddpp", "table1", dataset="CIFAR-10", ipc=1, method="MTT") == (46.3, 0.8)
    assert _val("ddpp", "table1", dataset="CIFAR-10", ipc=50, method="Forgetting") == (23.3, 1.1)
    assert _val("ddpp", "table1", dataset="CIFAR-100", ipc=10, method="Ours") == (43.1, 0.3)
    for ipc in (1, 10, 50):  # multirow column, repeated per IPC
        assert _val("ddpp", "table1", dataset="CIFAR-10", ipc=ipc, method="Full Dataset") == (84.8, 0.1)
    assert _val("ddpp", "table2", dataset="CIFAR-10", ipc=1, method="KIP-1024") == (49.9, None)
    assert _val("ddpp", "table2", dataset="CIFAR-100", ipc=50, method="KIP-128") == (None, None)
    assert _val("ddpp", "table3", architecture="ResNet", method="Ours") == (51.8, 1.1)
    assert _val("ddpp", "table3", architecture="ResNet18", method="MTT") == (46.4, 0.6)  # 000's label
    assert _val("ddpp", "table4", ipc=20, method="MTT") == (82.7, 0.5)
    assert _val("ddpp", "table4", ipc=1, method="Ours") == (54.2, 3.7)


def test_ddpp_garbled_row_matches_readme():
    """papers/README.md lists the CIFAR-100 IPC=50 row that PDF extraction scattered in paper 000."""
    readme = {"Random": (30.0, 0.4), "Forgetting": (30.5, 0.3), "Herding": (33.7, 0.5), "DSA": (42.8, 0.4),
              "DM": (43.6, 0.4), "CAFE": (42.9, 0.2), "MTT": (47.7, 0.2), "Ours": (48.4, 0.3)}
    t = pv.paper_table("ddpp", "table1")
    got = {c.key["method"]: (c.mean, c.std) for c in t.select(dataset="CIFAR-100", ipc=50)}
    assert got == {**readme, "Full Dataset": (56.2, 0.3)}


def test_iadd_spot_checks():
    assert _val("iadd", "table1", dataset="CIFAR-10", ipc=10, method="IADD") == (66.7, 0.8)
    assert _val("iadd", "table1", dataset="Tiny ImageNet", ipc=10, method="MTT") == (23.2, 0.2)
    assert _val("iadd", "table1", dataset="CIFAR-100", ipc=50, method="DC") == (29.7, 0.3)
    assert _val("iadd", "table1", dataset="CIFAR-100", ipc=50, method="EGM") == (None, None)
    assert _val("iadd", "table1", dataset="CIFAR-10", ipc=1, method="CAFE + DSA") == (31.6, 0.8)
    assert _val("iadd", "table1", dataset="Tiny ImageNet", ipc=1, method="Original Dataset") == (37.6, 0.4)
    assert pv.paper_table("iadd", "table1").select(dataset="Tiny ImageNet", ipc=50) == []
    assert _val("iadd", "table2", dataset="CIFAR-100", ipc=1, method="IADD-128") == (25.2, None)
    assert _val("iadd", "table3", architecture="AlexNet", method="IADD") == (36.5, 1.1)
    assert _val("iadd", "table3", architecture="ConvNetD3", method="DSA") == (52.1, 0.4)
    t4 = pv.paper_table("iadd", "table4")
    assert t4.get(method="Original Dataset").mean == 88.9
    assert t4.get(method="Original Dataset").attrs == {"images": 16933}
    assert t4.get(method="From Scratch", structure="ViT-Base").mean == 41.3
    rt = pv.paper_table("iadd", "runtime_text")
    assert [(c.key["method"], c.mean, c.std) for c in rt.cells] == [
        ("MTT", 11.5, 0.5), ("DDPP", 12.5, 0.5), ("IADD", 13.0, 0.5)]
    assert rt.metric == "seconds" and rt.get(method="IADD").format() == "13.0 ± 0.5"


def test_gdd_skd_spot_checks():
    assert _val("gdd_skd", "table1", dataset="MNIST", ipc=1, method="Ours") == (97.9, 0.2)
    assert _val("gdd_skd", "table1", dataset="Fashion MNIST", ipc=50, method="DiM") == (89.8, 0.1)
    assert _val("gdd_skd", "table1", dataset="Fashion-MNIST", ipc=50, method="DiM") == (89.8, 0.1)  # alias
    assert _val("gdd_skd", "table1", dataset="CIFAR-10", ipc=10, method="Ours (No Stand.)") == (67.3, 0.5)
    assert _val("gdd_skd", "table1", dataset="MNIST", ipc=10, method="KIP") == (97.5, 0.0)
    assert _val("gdd_skd", "table1", dataset="CIFAR-10", ipc=1, method="K-Center") == (21.5, 1.3)
    assert _val("gdd_skd", "table1", dataset="MNIST", ipc=50, method="Original Dataset") == (99.6, 0.0)
    assert _val("gdd_skd", "table2", architecture="VGG11", method="Ours") == (69.2, 0.1)
    assert _val("gdd_skd", "table2", architecture="ConvNet3", method="Ours (No Stand.)") == (67.3, 0.5)
    assert _val("gdd_skd", "table2", architecture="AlexNet", method="FRePo") == (61.9, 0.7)


def test_dp_spot_checks():
    t = pv.paper_table("dp", "table1")
    assert t.get(quantity="Performance (%)", method="Ours").mean == 85.7
    assert t.get(quantity="Correlation", method="Ours").mean == 0.94
    assert t.get(quantity="Correlation", method="Whole Dataset").format() == "1.00"
    assert t.get(quantity="Time cost (min)", method="Whole Dataset").format() == "3029"
    assert t.get(quantity="Storage (imgs)", method="Whole Dataset").mean == 50000
    assert t.metric_of(t.get(quantity="Correlation", method="Random")) == "spearman"
    f4 = pv.paper_table("dp", "fig4_text")
    assert f4.get(quantity="test accuracy drop (%)").mean == 1.3
    assert f4.get(quantity="test accuracy drop (%)").key["ratio"] == 0.4


# ----------------------------------------------------------------------------- provenance


def test_cited_rows_carry_cited_from():
    for p, name in ALL_TABLES:
        t = pv.paper_table(p, name)
        for c in t.cells:
            names = [v for v in c.key.values() if v in t.cited]
            assert (c.cited_from is not None) == bool(names), c.source
            if names:
                assert c.cited_from == t.cited[names[0]]
    assert pv.paper_table("ddpp", "table1").get(dataset="CIFAR-10", ipc=10, method="Ours").cited_from is None
    assert "[41]" in pv.paper_table("iadd", "table1").get(dataset="CIFAR-10", ipc=1, method="DC").cited_from
    assert all(c.cited_from is None for t in pv.tables("dp") for c in pv.paper_table("dp", t).cells)


def test_source_and_format():
    c = pv.paper_table("ddpp", "table1").get(dataset="CIFAR-10", ipc=10, method="MTT")
    assert c.format() == "65.3 ± 0.7"
    assert c.source.startswith("DDPP Table I, CIFAR-10, IPC 10, MTT (cited by the paper from: unclear")
    assert pv.paper_table("ddpp", "table2").get(dataset="CIFAR-10", ipc=1, method="Ours-128").format() == "46.4"
    assert pv.paper_table("ddpp", "table2").get(dataset="CIFAR-100", ipc=50, method="KIP-1024").format() == "—"


# ----------------------------------------------------------------------------- API behaviour


def test_get_errors_are_helpful():
    t = pv.paper_table("ddpp", "table1")
    with pytest.raises(KeyError, match=r"ipc.*\[1, 10, 50\]"):
        t.get(dataset="CIFAR-10", ipc=2, method="Ours")
    with pytest.raises(KeyError, match="give all axes"):
        t.get(dataset="CIFAR-10")
    with pytest.raises(KeyError, match="unknown field"):
        t.get(datset="CIFAR-10", ipc=1, method="Ours")
    with pytest.raises(KeyError, match="ddpp"):
        pv.paper_table("nope", "table1")
    with pytest.raises(KeyError, match="table1"):
        pv.paper_table("ddpp", "table9")


def test_select_with_lists_and_conditions():
    t = pv.paper_table("ddpp", "table1")
    assert len(t.select(method=["Ours", "MTT"], ipc=(1, 10))) == 8
    assert len(pv.paper_table("ddpp", "table3").select(dataset="CIFAR-10")) == 12
    assert pv.paper_table("ddpp", "table3").select(dataset="CIFAR-100") == []


def test_find_across_papers():
    found = pv.find("MTT", dataset="CIFAR-10", ipc=10)
    where = {(c.paper, c.table) for c in found}
    assert {("ddpp", "table1"), ("ddpp", "table3"), ("iadd", "table1"), ("iadd", "table3"),
            ("gdd_skd", "table1"), ("gdd_skd", "table2")} <= where
    assert {c.mean for c in found if c.table == "table1"} == {65.3}
    assert all(c.key["method"] == "MTT" for c in found)
    assert {c.paper for c in pv.find(dataset="Tiny ImageNet")} == {"iadd"}


def _table(**over):
    t = {"title": "t", "ref": "Table X", "metric": "test_accuracy_percent", "axes": ["method"],
         "grid": {"method": ["A", "B"]}, "cells": [{"method": "A", "mean": 1.0}, {"method": "B", "mean": 2.0}]}
    t.update(over)
    return t


@pytest.mark.parametrize("over,msg", [
    ({"cells": [{"method": "A", "mean": 1.0}, {"method": "A", "mean": 2.0}]}, "duplicate"),
    ({"cells": [{"method": "C", "mean": 1.0}]}, "not in grid"),
    ({"cells": [{"mean": 1.0}]}, "missing axis"),
    ({"cells": [{"method": "A", "mean": "1.0"}]}, "mean must be a number"),
    ({"cells": [{"method": "A", "mean": 1.0, "std": -1}]}, "std must be"),
    ({"cells": [{"method": "A", "mean": None}]}, "null mean needs a note"),
    ({"cited": {"Z": "somewhere"}}, "cited row"),
])
def test_validation_names_the_problem(over, msg):
    with pytest.raises(ValueError, match=msg) as e:
        _build_table("x", "X", "x.yaml", "tableX", _table(**over), {})
    assert "x.yaml: table 'tableX'" in str(e.value)


# ----------------------------------------------------------------------------- every number is in the paper text


def _papers_dir():
    root = Path(__file__).resolve().parents[1]
    for d in (os.environ.get("REPROLIB_PAPERS_DIR"), root / "shared" / "papers", root.parent / "shared" / "papers"):
        if d and Path(d, "README.md").is_file():
            return Path(d)
    return None


def _normalized(text):
    """Paper text with LaTeX/markup '±' variants unified and no spaces around '±'."""
    text = text.replace(r"$\pm$", "±").replace(r"{\pm}", "±").replace(r"\pm", "±")
    return re.sub(r"\s*±\s*", "±", text)


def _number(x, decimals):
    s = f"{x:.{decimals}f}" if decimals is not None else str(x)
    return re.escape(s)


@pytest.mark.skipif(_papers_dir() is None, reason="paper text files not available")
@pytest.mark.parametrize("paper", ["ddpp", "iadd", "gdd_skd", "dp"])
def test_every_number_appears_in_each_source_file(paper):
    """Guards against typos: each transcribed mean(±std) occurs verbatim in every source copy of the paper.

    Cells whose printed form differs from the number (10^3, 'halves', O(10^-3), an extraction garble)
    say so in their note and are skipped.
    """
    texts = [_normalized((_papers_dir() / f).read_text()) for f in pv.paper_info(paper)["source_files"]]
    skip = re.compile(r"printed as|stated in words|order of magnitude|Extracted as", re.I)
    checked = 0
    for name in pv.tables(paper):
        for c in pv.paper_table(paper, name).cells:
            if c.mean is None or (c.note and skip.search(c.note)):
                continue
            pat = r"(?<![\d.])" + _number(c.mean, c.decimals)
            pat += ("±" + _number(c.std, c.decimals)) if c.std is not None else ""
            pat += r"(?![\d])"
            for text in texts:
                assert re.search(pat, text), f"{c.source}: {c.format()} not found in the paper text"
            checked += 1
    assert checked > 0
