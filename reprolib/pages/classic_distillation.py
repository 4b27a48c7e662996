"""The classic-distillation page: the papers' DC / DSA / DM rows beside ours, with the time per iteration."""

from __future__ import annotations

from collections import defaultdict

from reprolib import paper_values, report
from reprolib.report import cited_note, fmt, markdown_table, published_cell

METHODS = ("DC", "DSA", "DM")
RANDOM = "Random real"


def published_values() -> list[paper_values.PaperValue]:
    """Every DC / DSA / DM cell of every paper table (per-dataset tables and cross-architecture ones)."""
    found = []
    for method in METHODS:
        found += paper_values.find(method=method)
    return found


def published_table() -> str:
    """Rows (dataset, IPC), columns the three methods; identical values from several papers merged."""
    values = [v for v in published_values() if {"dataset", "ipc"} <= set(v.key)]
    grouped = defaultdict(list)
    for v in values:
        grouped[(v.key["dataset"], v.key["ipc"], v.key["method"])].append(v)
    keys = sorted({(d, i) for d, i, _ in grouped})
    rows = [[d, i, *(published_cell(grouped.get((d, i, m), [])) for m in METHODS)] for d, i in keys]
    table = markdown_table(["Dataset", "IPC", *METHODS], rows)
    return f"{table}\n\nSources the papers give for these rows — {cited_note(values)}."


def published_cross_architecture_table() -> str:
    """The cross-architecture cells (distilled with ConvNet, CIFAR-10 IPC 10, evaluated on other networks)."""
    values = [v for v in published_values() if "architecture" in v.key]
    grouped = defaultdict(list)
    for v in values:
        grouped[(v.key["architecture"], v.key["method"])].append(v)
    rows = [[a, m, published_cell(vs), ", ".join(sorted({f"{v.paper_label} {v.ref}" for v in vs}))]
            for (a, m), vs in sorted(grouped.items())]
    return markdown_table(["Evaluation network", "Method", "Published (CIFAR-10, IPC 10)", "Table"], rows)


def comparison_rows(record: dict) -> list[dict]:
    """Our cells with the published value and Δ = ours − published where the dataset is the same."""
    return report.with_published(record["metrics"]["rows"])


def compared(record: dict) -> list[report.Compared]:
    """Our cells on the papers' own datasets beside the published values (the like-for-like cells)."""
    return report.comparable_cells(comparison_rows(record))


def ours_table(record: dict) -> str:
    """Rows (dataset, IPC), columns Random real + the methods: ours, and 'paper x (Δ)' where comparable."""
    cells = {(r["dataset"], r["ipc"], r["method"]): r for r in comparison_rows(record)}
    keys = sorted({(d, i) for d, i, _ in cells})
    methods = [m for m in (RANDOM, *METHODS) if any(k[2] == m for k in cells)]
    rows = []
    for d, i in keys:
        row = [d, i]
        for m in methods:
            c = cells.get((d, i, m))
            text = "" if c is None else fmt(c["mean"], c["std"])
            if c is not None and c["published"] is not None:
                text += f" (paper {c['published']:.1f}, Δ {c['delta']:+.1f})"
            row.append(text)
        rows.append(row)
    return markdown_table(["Dataset", "IPC", *methods], rows)


def timing_table(record: dict) -> str:
    """Seconds per outer iteration (one random network) of each learned set, and where it was timed."""
    rows = [[r["dataset"], r["method"], r["ipc"], r["iterations"], f"{r['seconds_per_iteration']:.3f}", r["timed_on"]]
            for r in record["metrics"]["rows"] if "seconds_per_iteration" in r]
    return markdown_table(["Dataset", "Method", "IPC", "Iterations", "s / iteration", "Timed on"], rows)


def claims(record: dict) -> list[tuple[str, bool | None, str]]:
    """The checks this page makes: (statement, holds?, evidence). None = not checkable at this preset."""
    rows = comparison_rows(record)
    by = {(r["dataset"], r["ipc"], r["method"]): r["mean"] for r in rows}
    out = []
    pairs = [(d, i, m) for d, i, m in by if m in METHODS and (d, i, RANDOM) in by]
    if pairs:
        wins = [p for p in pairs if by[p] > by[(p[0], p[1], RANDOM)]]
        out.append(("Every distilled set beats the random real images it is compared with", len(wins) == len(pairs),
                    f"{len(wins)} of {len(pairs)} (dataset, IPC, method) cells"))
    dsa_dc = [(d, i) for d, i, m in by if m == "DSA" and (d, i, "DC") in by and i >= 10]
    if dsa_dc:
        wins = sum(by[(d, i, "DSA")] > by[(d, i, "DC")] for d, i in dsa_dc)
        out.append(("DSA beats DC at IPC ≥ 10 (as in every published table)", wins == len(dsa_dc),
                    f"{wins} of {len(dsa_dc)} (dataset, IPC) settings"))
    holds, evidence = report.agreement(compared(record), "no dataset at this preset appears in the papers' tables")
    out.append(("Reproduced DC/DSA/DM agree with the published values" + (report.TOLERANCE if holds is not None else ""),
                holds, evidence))
    return out


def claims_table(record: dict) -> str:
    return report.claims_table(claims(record))


def summary(record: dict) -> str:
    return report.claims_summary(claims(record), record)
