"""Pages of the KIP comparison tables (DDPP Table II, IADD Table 2): our row beside the cited KIP rows.

Reads run records and published values only. KIP is never run here: KIP-1024 and KIP-128 are the
papers' numbers, set beside ours where our dataset is the paper's (CIFAR-10/100, the ``paper`` preset).
"""

from __future__ import annotations

from reprolib import paper_values, report
from reprolib.pages.trajectory_cross_architecture import NOT_COMPARABLE
from reprolib.pages.trajectory_matching import PRINTED, diverged_claim, key_lines, published_table as _published_table
from reprolib.report import PAPER_DATASET, fmt, markdown_table

TABLE = "table2"
KIP = ("KIP-128", "KIP-1024")

__all__ = ["published_values", "published_table", "ours_table", "compared", "claims", "claims_table", "summary", "key_lines"]


def published_values(paper: str) -> list[paper_values.PaperValue]:
    return list(paper_values.paper_table(paper, TABLE).cells)


def published_table(paper: str) -> str:
    return _published_table(paper, TABLE)


def printed_name(paper: str, row: dict) -> str:
    """How the paper prints our row: 'Ours-128' (DDPP), 'IADD-128' (IADD)."""
    return f"{PRINTED.get(paper, {}).get(row['method'], row['method'])}-{row['width']}"


def _published(paper: str, row: dict, method: str) -> paper_values.PaperValue | None:
    """The paper's ``method`` cell at our row's dataset and IPC (None when not printed or not comparable)."""
    dataset = PAPER_DATASET.get(row["dataset"])
    if dataset is None:
        return None
    found = paper_values.paper_table(paper, TABLE).select(dataset=dataset, ipc=row["ipc"], method=method)
    return found[0] if found and found[0].mean is not None else None


def _cell(value: paper_values.PaperValue | None) -> str:
    return value.format() if value is not None else "—"


def ours_table(record: dict, paper: str) -> str:
    """One row per (dataset, IPC, method): ours, the paper's same row, and the cited KIP rows."""
    lines = []
    for r in record["metrics"]["rows"]:
        ours = fmt(r["mean"], r["std"]) if r["status"] == "ok" else r["status"]
        name = printed_name(paper, r)
        lines.append([r["dataset"], r["ipc"], f"{r['method']}-{r['width']}", f"ConvNet width {r['distilled_width']}", ours,
                      _cell(_published(paper, r, name)), *(_cell(_published(paper, r, k)) for k in KIP)])
    return markdown_table(["Dataset", "IPC", "Ours (evaluation width)", "distilled on", "ours: mean ± std",
                           "paper: same row", "KIP-128 (cited)", "KIP-1024 (cited)"], lines)


def _beats(record: dict, paper: str, kip: str, exceptions: set[tuple[str, int]]) -> tuple[bool | None, str]:
    """Ours > ``kip`` at every comparable (dataset, IPC) outside ``exceptions``."""
    checked, failing = 0, []
    for r in record["metrics"]["rows"]:
        cited = _published(paper, r, kip) if r["status"] == "ok" else None
        if cited is None or (PAPER_DATASET[r["dataset"]], r["ipc"]) in exceptions:
            continue
        checked += 1
        if r["mean"] <= cited.mean:
            failing.append(f"{r['dataset']} IPC {r['ipc']}: {r['mean']:.1f} vs {cited.mean:.1f}")
    if not checked:
        return None, f"no setting of this preset has a {kip} number (the paper's datasets run at the `paper` preset)"
    return not failing, f"{checked - len(failing)} of {checked} settings" + (f"; not above at {'; '.join(failing)}" if failing else "")


def _paper_exceptions(paper: str, ours: str, kip: str) -> set[tuple[str, int]]:
    """Settings where the paper's own row is not above ``kip`` (DDPP/IADD: CIFAR-10 IPC 1 vs KIP-1024)."""
    table = paper_values.paper_table(paper, TABLE)
    cited = {(v.key["dataset"], v.key["ipc"]): v.mean for v in table.select(method=kip) if v.mean is not None}
    return {(v.key["dataset"], v.key["ipc"]) for v in table.select(method=ours)
            if (v.key["dataset"], v.key["ipc"]) in cited and v.mean <= cited[(v.key["dataset"], v.key["ipc"])]}


def compared(record: dict, paper: str) -> list[report.Compared]:
    """Our 128-wide rows on the paper's datasets beside its own row (the like-for-like cells)."""
    return [report.Compared.of(f"{r['dataset']} IPC {r['ipc']} {r['method']}", r, v) for r in record["metrics"]["rows"]
            if r["status"] == "ok" for v in [_published(paper, r, printed_name(paper, r))] if v is not None]


def claims(record: dict, paper: str) -> list[tuple[str, bool | None, str]]:
    """The paper's KIP claims on our numbers: (statement, holds?, evidence); None = not checkable here."""
    ref = paper_values.paper_table(paper, TABLE).ref
    ours = paper_values.paper_table(paper, TABLE).grid["method"][-1]  # 'Ours-128' / 'IADD-128'
    out = []
    for kip in KIP:
        exceptions = _paper_exceptions(paper, ours, kip)
        where = "at every setting KIP reports" + (
            f", except {', '.join(f'{d} IPC {i}' for d, i in sorted(exceptions))} as in the paper" if exceptions else "")
        out.append((f"{ours} is above {kip} {where} ({ref})", *_beats(record, paper, kip, exceptions)))
    out.append((f"Our row agrees with the paper's {ours}", *report.agreement(compared(record, paper), NOT_COMPARABLE)))
    out += diverged_claim(f"{r['method']} {r['dataset']} IPC {r['ipc']}" for r in record["metrics"]["rows"]
                          if r["status"] == "diverged")
    return out


def claims_table(record: dict, paper: str) -> str:
    return report.claims_table(claims(record, paper))


def summary(record: dict, paper: str) -> str:
    return report.claims_summary(claims(record, paper), record)
