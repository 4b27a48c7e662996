"""The GDD-SKD pages (Table 1, Table 2, Fig. 2): published values beside ours, and the paper's claims."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from reprolib import paper_values, report
from reprolib.image_grid import decode_grid
from reprolib.report import PAPER_DATASET, fmt, markdown_table

PAPER = "gdd_skd"
GENERATIVE_ROWS = ("CGAN", "DiM", "Ours (No Stand.)", "Ours")
ORDER_CLAIM = ("Ours", "Ours (No Stand.)", "DiM", "CGAN")  # the paper's ranking, best first
ELSEWHERE = ("MTT",)  # rows other artifacts reproduce (picked up by `rows_from_other_records`); DC/DSA/DM run here
ARCH_NAMES = {"convnetd3": "ConvNet3", "resnet18": "ResNet18", "alexnet": "AlexNet", "vgg11": "VGG11"}


def table1_values() -> list[paper_values.PaperValue]:
    return list(paper_values.paper_table(PAPER, "table1").cells)


def table2_values() -> list[paper_values.PaperValue]:
    return list(paper_values.paper_table(PAPER, "table2").cells)


def _published(method: str, dataset: str, ipc: int) -> paper_values.PaperValue | None:
    """The paper's Table 1 cell for our dataset (None when our data is not one of the paper's)."""
    name = PAPER_DATASET.get(dataset)
    if name is None:
        return None
    found = paper_values.paper_table(PAPER, "table1").select(method=method, dataset=name, ipc=ipc)
    return found[0] if found else None


def published_table1() -> str:
    """Table 1 as printed: a row per method, a column per (dataset, IPC)."""
    table = paper_values.paper_table(PAPER, "table1")
    columns = [(d, i) for d in table.grid["dataset"] for i in table.grid["ipc"]]
    rows = []
    for method in table.grid["method"]:
        cells = {(v.key["dataset"], v.key["ipc"]): v.format() for v in table.select(method=method)}
        rows.append([method, *(cells.get(c, "") for c in columns)])
    note = ("The Original Dataset row is one value per dataset. The paper does not say whether the rows other than "
            "its own (Ours, Ours (No Stand.)) were re-run or copied from the cited papers.")
    return markdown_table(["Method", *(f"{d} IPC {i}" for d, i in columns)], rows) + f"\n\n{note}"


def rows_from_other_records(records: Mapping[str, Mapping[str, dict]], preset: str) -> list[dict]:
    """The hook for rows reproduced by other pages: cells of MTT (``ELSEWHERE``) found in any
    artifact's record at ``preset`` (``{artifact: {preset: record}}``), labelled with that artifact."""
    found = []
    for artifact, by_preset in records.items():
        record = by_preset.get(preset)
        for row in (record or {}).get("metrics", {}).get("rows", []):
            if row.get("method") in ELSEWHERE and {"dataset", "ipc", "mean", "std"} <= set(row):
                found.append({**row, "kind": f"from {artifact}"})
    return found


def _cell(row: dict) -> str:
    text = fmt(row["mean"], row["std"])
    published = _published(row["method"], row["dataset"], row["ipc"])
    if published is not None and published.mean is not None:
        text += f" (paper {published.format()}, Δ {row['mean'] - published.mean:+.1f})"
    return text


def ours_table1(record: dict, extra: Iterable[dict] = ()) -> str:
    """Our Table 1 at one preset: rows in the paper's order; 'paper x (Δ)' where the dataset is the paper's.

    Rows the paper prints but nobody here reproduced are listed below the table as cited.
    """
    rows = [*record["metrics"]["rows"], *extra]
    columns = list(dict.fromkeys((r["dataset"], r["ipc"]) for r in rows))
    order = list(paper_values.paper_table(PAPER, "table1").grid["method"])
    methods = sorted(dict.fromkeys(r["method"] for r in rows), key=lambda m: order.index(m) if m in order else len(order))
    cells = {(r["dataset"], r["ipc"], r["method"]): r for r in rows}
    body = [[m, *(_cell(cells[(d, i, m)]) if (d, i, m) in cells else "" for d, i in columns)] for m in methods]
    cited = [m for m in order if m not in methods]
    table = markdown_table(["Method", *(f"{d} IPC {i}" for d, i in columns)], body)
    sampling = record["metrics"].get("sampling", "fixed")
    mode = ("a fixed synthetic set of IPC images per class drawn once from each generator" if sampling == "fixed"
            else "images regenerated for every minibatch (DiM's protocol)")
    borrowed = {r["method"]: r["kind"] for r in extra}
    taken = "".join(f" {m}: {k} (its own run at this preset and protocol)." for m, k in borrowed.items())
    return (f"{table}\n\nGenerative rows evaluated on {mode}.{taken} Cited only (see the published table): "
            f"{', '.join(cited) or 'none'}.")


def _means(rows: Iterable[dict], key: tuple[str, ...]) -> dict[tuple, float]:
    return {tuple(r[k] for k in key): r["mean"] for r in rows}


def _order_claim(rows: list[dict], setting: tuple[str, ...], what: str) -> tuple[str, bool | None, str]:
    """Whether Ours > Ours (No Stand.) > DiM > CGAN holds in every setting where all four ran."""
    by = _means(rows, (*setting, "method"))
    settings = sorted({k[:-1] for k in by if all((*k[:-1], m) in by for m in ORDER_CLAIM)}, key=str)
    statement = f"Ours > Ours (No Stand.) > DiM > CGAN ({what})"
    if not settings:
        return statement, None, "not all four generative rows ran"
    pairs = list(zip(ORDER_CLAIM, ORDER_CLAIM[1:]))
    chain = sum(all(by[(*s, a)] > by[(*s, b)] for a, b in pairs) for s in settings)
    detail = "; ".join(f"{a} > {b} in {sum(by[(*s, a)] > by[(*s, b)] for s in settings)}/{len(settings)}" for a, b in pairs)
    return statement, chain == len(settings), f"whole chain in {chain} of {len(settings)} settings ({detail})"


def claims_table1(record: dict) -> list[tuple[str, bool | None, str]]:
    rows = [r for r in record["metrics"]["rows"]]
    out = [_order_claim([r for r in rows if r["method"] in ORDER_CLAIM], ("dataset", "ipc"), "every dataset and IPC")]
    by = _means(rows, ("dataset", "ipc", "method"))
    pairs = [(d, i) for d, i, m in by if m == "Ours" and (d, i, "Random") in by]
    statement = "Ours beats Random selection at every IPC (as in the paper's table)"
    if pairs:
        wins = sum(by[(d, i, "Ours")] > by[(d, i, "Random")] for d, i in pairs)
        out.append((statement, wins == len(pairs), f"{wins} of {len(pairs)} (dataset, IPC) settings"))
    else:
        out.append((statement, None, "Ours or Random did not run"))
    compared = [(f"{r['dataset']} IPC {r['ipc']} {r['method']}", r, p.mean) for r in rows if r["method"] in GENERATIVE_ROWS
                for p in [_published(r["method"], r["dataset"], r["ipc"])] if p is not None and p.mean is not None]
    out.append(("Our generative rows agree with the paper's (|Δ| ≤ max(3 points, 2 std))",
                *report.agreement(compared, "no dataset at this preset is one of the paper's")))
    return out


def claims_markdown(claims: list[tuple[str, bool | None, str]]) -> str:
    return report.claims_table(claims)


def summary(claims: list[tuple[str, bool | None, str]], record: dict) -> str:
    return report.claims_summary(claims, record)


# --------------------------------------------------------------------------------------------- Table 2


def arch_label(row: dict) -> str:
    name = ARCH_NAMES.get(row["architecture"], row["architecture"])
    options = row.get("arch_options") or {}
    return name + (f" ({', '.join(f'{k} {v}' for k, v in options.items())})" if options else "")


def _published2(row: dict) -> paper_values.PaperValue | None:
    """The paper's Table 2 cell, only for CIFAR-10 and the paper's architecture at its full size."""
    if PAPER_DATASET.get(row["dataset"]) != "CIFAR-10" or row["architecture"] not in ARCH_NAMES or row.get("arch_options"):
        return None
    found = paper_values.paper_table(PAPER, "table2").select(method=row["method"], architecture=ARCH_NAMES[row["architecture"]])
    return found[0] if found else None


def published_table2() -> str:
    table = paper_values.paper_table(PAPER, "table2")
    rows = [[m, *(table.get(method=m, architecture=a).format() for a in table.grid["architecture"])] for m in table.grid["method"]]
    return markdown_table(["Method", *table.grid["architecture"]], rows)


def ours_table2(record: dict) -> str:
    rows = record["metrics"]["rows"]
    archs = list(dict.fromkeys(arch_label(r) for r in rows))
    cells = {(r["method"], arch_label(r)): r for r in rows}
    body = []
    for method in dict.fromkeys(r["method"] for r in rows):
        line = [method]
        for a in archs:
            r = cells[(method, a)]
            p = _published2(r)
            line.append(fmt(r["mean"], r["std"]) + (f" (paper {p.format()}, Δ {r['mean'] - p.mean:+.1f})" if p else ""))
        body.append(line)
    dataset, ipc = rows[0]["dataset"], rows[0]["ipc"]
    return markdown_table(["Method", *archs], body) + f"\n\n{dataset}, IPC {ipc}, {record['metrics']['sampling']} sampling."


def claims_table2(record: dict) -> list[tuple[str, bool | None, str]]:
    rows = record["metrics"]["rows"]
    by = {(r["method"], arch_label(r)): r["mean"] for r in rows}
    archs = list(dict.fromkeys(arch_label(r) for r in rows))
    out = []
    for better, worse, statement in (("Ours", "Ours (No Stand.)", "Standardisation helps on every architecture"),
                                     ("Ours", "DiM", "Ours beats DiM on every architecture")):
        both = [a for a in archs if (better, a) in by and (worse, a) in by]
        if not both:
            out.append((statement, None, f"{better} or {worse} did not run"))
            continue
        wins = [a for a in both if by[(better, a)] > by[(worse, a)]]
        out.append((statement, len(wins) == len(both),
                    f"{len(wins)} of {len(both)} architectures" + (f" (not on {', '.join(a for a in both if a not in wins)})" if len(wins) < len(both) else "")))
    return out


# --------------------------------------------------------------------------------------------- Fig. 2


def figure2(records: Mapping[str, dict]):
    """The stored image grids: one panel per (preset, dataset, method); a row per class."""
    import matplotlib.pyplot as plt

    panels = [(preset, image) for preset, record in records.items() for image in record["metrics"]["images"]]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.9), squeeze=False)
    plt.close(fig)  # returned for glue/display, not shown a second time
    for ax, (preset, image) in zip(axes[0], panels):
        ax.imshow(decode_grid(image["png"]), interpolation="nearest")
        ax.set_title(f"{image['dataset']} · {image['method']} · {preset}", fontsize=9)
        ax.set_yticks([])
        ax.set_xticks([])
        ax.set_ylabel("one row per class")
    fig.tight_layout()
    return fig
