"""Pages of the cross-architecture tables (DDPP Table III, IADD Table 3): published vs ours, claims, figure.

Reads run records and published values only. A record's rows are (dataset, IPC, method, evaluation
network); the column of the network the set was distilled on comes first, as in the papers.
"""

from __future__ import annotations

from collections import defaultdict

from reprolib import paper_values, report
from reprolib.pages.trajectory_matching import PRINTED, diverged_claim
from reprolib.report import PAPER_DATASET, cited_note, fmt, markdown_table

TABLE = "table3"
ARCH_NAMES = {"convnet": "ConvNet", "convnetd3": "ConvNetD3", "convnetd4": "ConvNetD4", "alexnet": "AlexNet",
              "vgg11": "VGG11", "resnet18": "ResNet18"}
HIGHLIGHT = "resnet18"  # where both papers say their margin is largest


NOT_COMPARABLE = "no dataset of this preset appears in the paper's table (the `paper` preset runs it)"


def published_values(paper: str) -> list[paper_values.PaperValue]:
    return list(paper_values.paper_table(paper, TABLE).cells)


def published_table(paper: str) -> str:
    """The paper's table as printed: one row per method, one column per architecture, with its sources."""
    table = paper_values.paper_table(paper, TABLE)
    archs = table.grid["architecture"]
    cells = {(v.key["method"], v.key["architecture"]): v.format() for v in table.cells}
    rows = [[m, *(cells.get((m, a), "") for a in archs)] for m in table.grid["method"]]
    where = ", ".join(f"IPC {v}" if k == "ipc" else str(v) for k, v in table.conditions.items())
    return (f"{markdown_table(['Method', *archs], rows)}\n\n{where}, distilled on the first column's network. "
            f"Sources — {cited_note(table.cells)}.")


def network_label(arch: str, options: dict) -> str:
    """'ConvNet (depth 2, width 32)', 'ResNet18 (norm batchnorm)', 'AlexNet'."""
    name = ARCH_NAMES.get(arch, arch)
    return f"{name} ({', '.join(f'{k} {v}' for k, v in options.items())})" if options else name


def _on_distillation_network(row: dict) -> bool:
    return (row["arch"], row["arch_options"]) == (row["distilled_arch"], row["distilled_arch_options"])


def _column(row: dict) -> str:
    label = network_label(row["arch"], row["arch_options"])
    return f"{label} — distilled on" if _on_distillation_network(row) else label


def _published(paper: str, row: dict) -> paper_values.PaperValue | None:
    """The paper's cell for one of our rows: same dataset and IPC as the table, the paper's network."""
    table = paper_values.paper_table(paper, TABLE)
    if PAPER_DATASET.get(row["dataset"]) != table.conditions["dataset"] or row["ipc"] != table.conditions["ipc"]:
        return None
    if _on_distillation_network(row):
        arch = table.grid["architecture"][0]
    elif row["arch_options"]:
        return None  # a variant (e.g. another norm) is not the paper's network
    else:
        arch = ARCH_NAMES.get(row["arch"])
    found = table.select(architecture=arch, method=PRINTED.get(paper, {}).get(row["method"], row["method"]))
    return found[0] if found and found[0].mean is not None else None


def _groups(record: dict) -> dict[tuple, list[dict]]:
    grouped = defaultdict(list)
    for row in record["metrics"]["rows"]:
        grouped[(row["dataset"], row["ipc"])].append(row)
    return grouped


def ours_table(record: dict, paper: str) -> str:
    """One table per (dataset, IPC): methods × networks, mean ± std and 'paper x, Δ' where comparable."""
    blocks = []
    for (dataset, ipc), rows in _groups(record).items():
        columns = list(dict.fromkeys(_column(r) for r in rows))
        methods = list(dict.fromkeys(r["method"] for r in rows))
        cells = {(r["method"], _column(r)): r for r in rows}
        lines = []
        for method in methods:
            line = [method]
            for column in columns:
                row = cells.get((method, column))
                if row is None:
                    line.append("")
                elif row["status"] != "ok":
                    line.append(row["status"])
                else:
                    text, published = fmt(row["mean"], row["std"]), _published(paper, row)
                    if published is not None:
                        text += f" (paper {published.mean:.1f}, Δ {row['mean'] - published.mean:+.1f})"
                    line.append(text)
            lines.append(line)
        blocks.append(f"**{dataset}, IPC {ipc}**\n\n{markdown_table(['Method', *columns], lines)}")
    return "\n\n".join(blocks)


def not_run_note(record: dict) -> str:
    """The papers' architectures (and reused classic methods) this record leaves out, and why."""
    return (report.not_run_note(record["metrics"].get("not_run", {}), ARCH_NAMES)
            or "Every architecture of the paper was run.")


# ---- claims ----

def _ok_rows(rows: list[dict]) -> dict[tuple[str, str], dict]:
    """(method, column) → row, over the rows that ran to the end."""
    return {(r["method"], _column(r)): r for r in rows if r["status"] == "ok"}


def _means(rows: list[dict]) -> dict[tuple[str, str], float]:
    return {key: row["mean"] for key, row in _ok_rows(rows).items()}


def _at_least(record: dict, better: str, worse: str) -> tuple[bool | None, str]:
    """Whether ``better`` ≥ ``worse`` on every network where both ran; the evidence gives each shortfall
    beside the two rows' spread over their evaluation networks."""
    compared, below = 0, []
    for (dataset, ipc), rows in _groups(record).items():
        ok = _ok_rows(rows)
        for (method, column), row in ok.items():
            if method == better and (worse, column) in ok:
                compared += 1
                if row["mean"] < ok[(worse, column)]["mean"]:
                    below.append(f"{dataset} IPC {ipc} {column}: {report.difference(row, ok[(worse, column)])}")
    if not compared:
        return None, f"no network has both {better} and {worse} (or one diverged)"
    return not below, f"{compared - len(below)} of {compared} networks" + (f"; below on {'; '.join(below)}" if below else "")


def _gains(means: dict[tuple[str, str], float], better: str, worse: str) -> dict[str, float]:
    return {column: mean - means[(worse, column)] for (method, column), mean in means.items()
            if method == better and (worse, column) in means}


def _largest_on_highlight(record: dict, better: str, worse: str) -> tuple[bool | None, str]:
    """Whether ``better``'s margin over ``worse`` is largest on ResNet18, per (dataset, IPC)."""
    verdicts, evidence = [], []
    for (dataset, ipc), rows in _groups(record).items():
        columns = {_column(r): r["arch"] for r in rows}
        gains = _gains(_means(rows), better, worse)
        if len(gains) < 2 or HIGHLIGHT not in {columns[c] for c in gains}:
            continue
        top = max(gains, key=gains.get)
        verdicts.append(columns[top] == HIGHLIGHT)
        evidence.append(f"{dataset} IPC {ipc}: " + ", ".join(f"{c} {g:+.1f}" for c, g in gains.items()))
    if not verdicts:
        return None, f"no run has {better} and {worse} on ResNet18 and another network"
    return all(verdicts), "; ".join(evidence)


def _paper_gain_text(paper: str, better: str, worse: str) -> str:
    """'+3.1 on ResNet18, at most +0.8 elsewhere', from the published table."""
    table = paper_values.paper_table(paper, TABLE)
    printed = PRINTED.get(paper, {})
    gains = {a: table.get(architecture=a, method=printed.get(better, better)).mean
             - table.get(architecture=a, method=printed.get(worse, worse)).mean for a in table.grid["architecture"]}
    highlight = table.grid["architecture"][-1]
    others = max(g for a, g in gains.items() if a != highlight)
    return f"paper: {gains[highlight]:+.1f} on {highlight}, at most {others:+.1f} elsewhere"


def compared(record: dict, paper: str) -> list[report.Compared]:
    """Our cells on the paper's dataset beside the published ones (the like-for-like cells)."""
    out = []
    for row in record["metrics"]["rows"]:
        published = _published(paper, row) if row["status"] == "ok" else None
        if published is not None:
            out.append(report.Compared.of(f"{row['dataset']} IPC {row['ipc']} {row['method']} on {_column(row)}", row, published))
    return out


def claims(record: dict, paper: str) -> list[tuple[str, bool | None, str]]:
    """The paper's cross-architecture claims checked on our numbers: (statement, holds?, evidence)."""
    ref = paper_values.paper_table(paper, TABLE).ref
    own = "DDPP" if paper == "ddpp" else "IADD"
    rivals = ("MTT",) if paper == "ddpp" else ("MTT", "DDPP")
    out = [(f"{own} ≥ {rival} on every architecture ({own} {ref})", *_at_least(record, own, rival)) for rival in rivals]
    out += [(f"{own}'s margin over {rival} is largest on ResNet18 ({_paper_gain_text(paper, own, rival)})",
             *_largest_on_highlight(record, own, rival)) for rival in rivals]
    out.append(("Our reproduced cells agree with the published ones", *report.agreement(compared(record, paper), NOT_COMPARABLE)))
    out += diverged_claim(sorted({f"{r['method']} {r['dataset']} IPC {r['ipc']}" for r in record["metrics"]["rows"]
                                  if r["status"] == "diverged"}))
    return out


def claims_table(record: dict, paper: str) -> str:
    return report.claims_table(claims(record, paper))


def summary(record: dict, paper: str) -> str:
    return report.claims_summary(claims(record, paper), record)


def key_lines(record: dict) -> list[str]:
    """One line per (method, network), for the regression-checked cell."""
    lines = []
    for r in record["metrics"]["rows"]:
        value = fmt(r["mean"], r["std"]) if r["status"] == "ok" else r["status"]
        lines.append(f"{record['preset']} {r['dataset']} IPC {r['ipc']} {r['method']:<5} {_column(r):<40} {value}")
    return lines


# ---- figure ----

COLORS = {"DSA": "C0", "KIP": "C1", "MTT": "C2", "DDPP": "C3", "IADD": "C4"}  # the same colour in every panel


def _bars(ax, columns: list[str], methods: list[str], value) -> None:
    """Grouped bars: one group per network, one bar per method; ``value(method, column)`` → (mean, std) or None."""
    width = 0.8 / max(len(methods), 1)
    for k, method in enumerate(methods):
        found = [(j, value(method, column)) for j, column in enumerate(columns) if value(method, column) is not None]
        if found:
            positions, values = zip(*found)
            ax.bar([j + (k - (len(methods) - 1) / 2) * width for j in positions], [v[0] for v in values], width,
                   yerr=[v[1] or 0 for v in values], capsize=2, color=COLORS.get(method), label=method)
    ax.set_xticks(range(len(columns)), [c.replace(" — ", "\n") for c in columns], fontsize=7)
    ax.set_ylim(0, 100)
    ax.set_ylabel("test accuracy (%)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, ncol=len(methods), loc="upper center")


def figure(records: dict[str, dict], paper: str):
    """The paper's table and each preset's runs as grouped bars (mean ± std over the evaluation networks)."""
    import matplotlib.pyplot as plt

    panels = [(preset, key, rows) for preset, record in records.items() for key, rows in _groups(record).items()]
    fig, axes = plt.subplots(1, 1 + len(panels), figsize=(4.6 * (1 + len(panels)), 3.6), squeeze=False)
    plt.close(fig)
    table = paper_values.paper_table(paper, TABLE)
    ours_name = {printed: name for name, printed in PRINTED.get(paper, {}).items()}  # DDPP prints itself "Ours"
    published = {(ours_name.get(v.key["method"], v.key["method"]), v.key["architecture"]): (v.mean, v.std)
                 for v in table.cells}
    methods = [ours_name.get(m, m) for m in table.grid["method"]]
    _bars(axes[0][0], table.grid["architecture"], methods, lambda m, c: published.get((m, c)))
    axes[0][0].set_title(f"{table.cells[0].paper_label} {table.ref} (published), {table.conditions['dataset']} IPC "
                         f"{table.conditions['ipc']}", fontsize=9)
    for ax, (preset, (dataset, ipc), rows) in zip(axes[0][1:], panels):
        ours = {(r["method"], _column(r)): (r["mean"], r["std"]) for r in rows if r["status"] == "ok"}
        _bars(ax, list(dict.fromkeys(_column(r) for r in rows)), list(dict.fromkeys(r["method"] for r in rows)),
              lambda m, c: ours.get((m, c)))
        ax.set_title(f"ours: {dataset} IPC {ipc} · preset {preset}", fontsize=9)
    fig.tight_layout()
    return fig
