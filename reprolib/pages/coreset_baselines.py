"""The coreset-baselines page: the papers' Random / Herding / K-Center / Forgetting rows beside ours."""

from __future__ import annotations

from collections import defaultdict

from reprolib import paper_values, report
from reprolib.coreset import CORESET_METHODS, DISPLAY_NAMES
from reprolib.report import cited_note, fmt, markdown_table, published_cell

METHODS = tuple(DISPLAY_NAMES[m] for m in CORESET_METHODS)


def published_values() -> list[paper_values.PaperValue]:
    """Every coreset cell of every paper table indexed by dataset and IPC."""
    found = []
    for method in METHODS:
        found += [v for v in paper_values.find(method=method) if {"dataset", "ipc"} <= set(v.key)]
    return found


def _by_key(values) -> dict[tuple, list]:
    grouped = defaultdict(list)
    for v in values:
        grouped[(v.key["dataset"], v.key["ipc"], v.key["method"])].append(v)
    return grouped


def published_table() -> str:
    """Rows (dataset, IPC), columns the four methods; identical values from several papers merged."""
    values = published_values()
    grouped = _by_key(values)
    keys = sorted({(d, i) for d, i, _ in grouped}, key=lambda k: (k[0], k[1]))
    rows = [[d, i, *(published_cell(grouped.get((d, i, m), [])) for m in METHODS)] for d, i in keys]
    table = markdown_table(["Dataset", "IPC", *METHODS], rows)
    return f"{table}\n\nSources the papers give for these rows — {cited_note(values)}."


def comparison_rows(record: dict) -> list[dict]:
    """Our cells with the published value and Δ = ours − published where the dataset is the same."""
    return report.with_published(record["metrics"]["rows"])


def compared(record: dict) -> list[report.Compared]:
    """Our cells on the papers' own datasets beside the published values (the like-for-like cells)."""
    return report.comparable_cells(comparison_rows(record))


def ours_table(record: dict) -> str:
    """Rows (dataset, IPC), columns the methods: ours, and 'paper x (Δ)' where comparable."""
    cells = {(r["dataset"], r["ipc"], r["method"]): r for r in comparison_rows(record)}
    keys = sorted({(d, i) for d, i, _ in cells}, key=lambda k: (k[0], k[1]))
    methods = [m for m in METHODS if any(k[2] == m for k in cells)]
    rows = []
    for d, i in keys:
        row = [d, i]
        for m in methods:
            c = cells.get((d, i, m))
            if c is None:
                row.append("")
                continue
            row.append(fmt(c["mean"], c["std"]) + report.comparison_text(c))
        rows.append(row)
    table = markdown_table(["Dataset", "IPC", *methods], rows)
    return f"{table}\n\n{spread_note(record)}"


def spread_note(record: dict) -> str:
    """What each ± is taken over, and what Δ is."""
    return f"{spread_text(record['metrics']['rows'])}. Where the paper's dataset is ours: Δ = ours − paper, {report.WITHIN}."


def spread_text(rows: list[dict]) -> str:
    """What each ± is taken over: the evaluation networks, and for randomised selections the draws too."""
    pooled = sorted({r["method"] for r in rows if r.get("selections", 1) > 1})
    note = "± is the std over the evaluation networks"
    if pooled:
        counts = sorted({r["selections"] for r in rows if r["method"] in pooled})
        note += (f"; for {', '.join(pooled)} (selections drawn at random) over the networks of "
                 f"{' / '.join(map(str, counts))} independent selections pooled")
    return note


# The parameters each rule's cell depends on (dotted prefixes of the record's parameters): a cut of one of
# them can explain a cell outside the paper's ±; a cut of another cannot.
_SCOPE = {"Random": ("eval.", "selections"), "Herding": ("eval.", "feature_model."),
          "K-Center": ("eval.", "feature_model."), "Forgetting": ("eval.", "feature_model.", "selections")}


def _cell_cuts(cuts: list[tuple[str, str, str]], method: str, ipc: int) -> list[str]:
    """The differences from the paper preset that a (method, IPC) cell depends on, with the evaluation
    schedule as it applies at that IPC (``eval.by_ipc`` folded into ``eval.*``)."""
    schedule = {k.removeprefix(f"eval.by_ipc.{ipc}."): ours for k, _, ours in cuts if k.startswith(f"eval.by_ipc.{ipc}.")}
    paper_of = {k: paper for k, paper, _ in cuts}
    out = []
    for key, paper, ours in cuts:
        if key.startswith("eval.by_ipc.") or not key.startswith(_SCOPE.get(method, ("eval.",))):
            continue
        name = key.removeprefix("eval.")
        ours = schedule.pop(name, ours) if key.startswith("eval.") else ours
        if ours != paper:
            out.append(f"`{key}` {paper} → {ours}")
    out += [f"`eval.{name}` {paper_of.get(f'eval.{name}', '—')} → {ours}" for name, ours in schedule.items()]
    return out


def outside_note(record: dict) -> str:
    """For every cell outside the paper's ±: the settings of this run that differ from the paper preset's
    and that the cell depends on, or that none does (then the cuts cannot explain it)."""
    outside = [r for r in comparison_rows(record) if r["within"] is False]
    if not outside:
        return ""
    from reprolib.presets import PresetError

    try:
        cuts = report.record_cuts(record)
    except (PresetError, KeyError):
        return ""
    lines = []
    for r in outside:
        mine = _cell_cuts(cuts, r["method"], r["ipc"])
        source = record.get("data_source", {}).get(r["dataset"], {})
        if source and not source.get("exact", True):
            mine.append(f"data: {source.get('label', r['dataset'])} (not an exact copy)")
        if record.get("precision", "fp32") != "fp32":
            mine.append(f"precision fp32 → {record['precision']}")
        why = "; ".join(mine) if mine else "no setting it depends on differs from the paper's: the cuts do not explain it"
        lines.append(f"- {r['dataset']} IPC {r['ipc']} {r['method']} (Δ {r['delta']:+.1f}): {why}")
    return ("**Cells outside the paper's ±**, with the settings they depend on that differ from the paper's "
            "(paper → this run), i.e. the cuts that can explain them:\n\n" + "\n".join(lines))


def claims(record: dict) -> list[tuple[str, bool | None, str]]:
    """The checks this page makes: (statement, holds?, evidence). None = not checkable at this preset."""
    rows = comparison_rows(record)
    out = []
    holds, evidence = report.agreement(compared(record), "no dataset at this preset appears in the papers' tables")
    out.append(("Recomputed coreset rows agree with the published ones" + (report.TOLERANCE if holds is not None else ""),
                holds, evidence))
    by = {(r["dataset"], r["ipc"], r["method"]): r["mean"] for r in rows}
    pairs = [(d, i) for d, i, m in by if m == "Random" and (d, i, "Herding") in by and i <= 10]
    if pairs:
        wins = sum(by[(d, i, "Herding")] > by[(d, i, "Random")] for d, i in pairs)
        out.append(("Herding beats Random at IPC ≤ 10 (as in every published table)", wins == len(pairs),
                    f"{wins} of {len(pairs)} (dataset, IPC) settings"))
    return out


def claims_table(record: dict) -> str:
    return report.claims_table(claims(record))


def figure(records: dict[str, dict]):
    """Accuracy vs IPC per method, one panel per (preset, dataset); published values as crosses."""
    import matplotlib.pyplot as plt

    panels = [(p, d) for p, r in records.items() for d in dict.fromkeys(x["dataset"] for x in r["metrics"]["rows"])]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False)
    plt.close(fig)  # returned for glue/display, not shown a second time by the inline backend
    for ax, (preset, dataset) in zip(axes[0], panels):
        rows = [r for r in comparison_rows(records[preset]) if r["dataset"] == dataset]
        for k, method in enumerate(METHODS):
            mine = sorted((r["ipc"], r["mean"], r["std"], r["published"]) for r in rows if r["method"] == method)
            if not mine:
                continue
            ipc, mean, std, published = zip(*mine)
            ax.errorbar(ipc, mean, yerr=std, marker="o", capsize=3, label=method, color=f"C{k}")
            shown = [(i, p) for i, p in zip(ipc, published) if p is not None]
            if shown:
                ax.scatter(*zip(*shown), marker="x", s=60, color=f"C{k}")
        ax.set_xscale("log")
        ax.set_xlabel("images per class (IPC)")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"{dataset} · preset {preset}")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def summary(record: dict) -> str:
    return report.claims_summary(claims(record), record)
