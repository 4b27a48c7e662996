"""Pages of the chest X-ray results: DDPP Table IV and Fig. 3, IADD Table 4 and Fig. 8.

Reads run records and published values only. The papers ran on the COVID-19 Radiography Database;
a record on any other data (offline: PneumoniaMNIST, balanced subset) is labelled a stand-in and its
numbers are shown *beside* the published ones, never compared cell for cell.
"""

from __future__ import annotations

from collections.abc import Mapping

from reprolib import paper_values, report
from reprolib.data.registry import dataset_info
from reprolib.image_grid import decode_grid
from reprolib.pages.trajectory_matching import at_least, diverged_claim
from reprolib.report import PAPER_DATASET, cited_note, fmt, markdown_table

PAPER_DATA = "covid-cxr"  # our name for the papers' database
PRINTED = {"ddpp": {"DDPP": "Ours"}, "iadd": {"Full Dataset": "Original Dataset"}}  # our name → the paper's row
SELF_SUPERVISED = ("SimSiam", "BYOL", "Cross", "SKD", "MAE", "RGMIM")  # IADD Table 4's SSL rows (cited)


def published_values(paper: str) -> list[paper_values.PaperValue]:
    """The CXR table of ``paper`` (DDPP Table IV or IADD Table 4)."""
    return list(paper_values.paper_table(paper, "table4").cells)


def _published(paper: str, method: str, ipc: int | None) -> paper_values.PaperValue | None:
    """The published cell for our ``method`` (at ``ipc`` for DDPP; IADD's table has one IPC)."""
    name = PRINTED[paper].get(method, method)
    key = {"method": name} | ({"ipc": ipc} if paper == "ddpp" else {})
    found = paper_values.paper_table(paper, "table4").select(**key)
    return found[0] if len(found) == 1 and found[0].mean is not None else None


def paper_ipc(value: paper_values.PaperValue) -> int:
    """The IPC of an IADD Table 4 row: its printed number of images over the database's classes."""
    return value.attrs["images"] // dataset_info(PAPER_DATA).num_classes


def is_paper_data(record: dict) -> bool:
    """True when the record ran on the papers' database (so its cells may be compared with theirs)."""
    return PAPER_DATASET.get(record["metrics"]["data"]["dataset"]) == PAPER_DATASET[PAPER_DATA]


def data_note(record: dict) -> str:
    """Which data the record used, and whether its numbers (or images) can be read against the paper's."""
    facts, source = record["metrics"]["data"], next(iter(record["data_source"].values()))
    (h, w), names = facts["image_size"], ", ".join(facts["classes"])
    shape = f"{len(facts['classes'])} classes ({names}) at {h}×{w}, {facts['train_size']:,} training images"
    if is_paper_data(record):
        return (f"Data: {report.source_label(source)} — the papers' database, {shape}. {source['note']} Our seeded "
                "stratified 80/20 split is not the authors' (they do not publish theirs).")
    paper = dataset_info(PAPER_DATA)
    return (f"**Stand-in data.** {report.source_label(source)}: {source['note']} It has {shape}; the papers' "
            f"COVID-19 Radiography Database has {paper.num_classes} classes at "
            f"{paper.image_size[0]}×{paper.image_size[1]}. "
            + ("These numbers are therefore **not comparable cell for cell** with the paper's, which are shown beside "
               "them as cited." if "rows" in record["metrics"] else
               "These images therefore show other X-rays, classes and resolution than the paper's figure."))


def network_label(teachers: dict) -> str:
    """The distillation / evaluation network as the record names it, e.g. 'convnet (depth 2, width 32)'."""
    options = ", ".join(f"{k} {v}" for k, v in teachers.get("arch_options", {}).items())
    return teachers["arch"] + (f" ({options})" if options else "")


def _ok(record: dict) -> list[dict]:
    return [r for r in record["metrics"]["rows"] if r.get("status") == "ok"]


def _cell(row: dict | None, published: paper_values.PaperValue | None, comparable: bool) -> str:
    if row is None:
        return "—"
    if row.get("status") != "ok":
        return str(row.get("status"))
    text = fmt(row["mean"], row["std"])
    if comparable and published is not None:
        text += f" (Δ {row['mean'] - published.mean:+.1f})"
    return text


# ---------------------------------------------------------------------------------------- DDPP Table IV


def ddpp_table(record: dict) -> str:
    """Rows: IPC. Our MTT / DDPP beside the paper's (COVID-19, cited); Δ only on the paper's database."""
    rows = record["metrics"]["rows"]
    methods = list(dict.fromkeys(r["method"] for r in rows if r["ipc"] is not None))
    cells = {(r["ipc"], r["method"]): r for r in rows}
    classes, comparable = len(record["metrics"]["data"]["classes"]), is_paper_data(record)
    lines = []
    for ipc in dict.fromkeys(r["ipc"] for r in rows if r["ipc"] is not None):
        published = [_published("ddpp", m, ipc) for m in methods]
        lines.append([ipc, ipc * classes, *(_cell(cells.get((ipc, m)), p, comparable) for m, p in zip(methods, published)),
                      *(p.format() if p else "—" for p in published)])
    headers = ["IPC", "images", *(f"{m} (ours)" for m in methods), *(f"{m} (paper, COVID-19 CXR)" for m in methods)]
    return markdown_table(headers, lines) + f"\n\nPaper columns — {cited_note(published_values('ddpp'))}."


def ddpp_figure(records: Mapping[str, dict]):
    """Accuracy vs IPC: ours per preset (solid) and the paper's on the COVID-19 database (dashed)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    plt.close(fig)  # returned for glue/display, not shown a second time
    ipcs = {v.key["ipc"] for v in published_values("ddpp")}
    colour = {"MTT": "C0", "DDPP": "C1", "IADD": "C2"}
    for marker, (preset, record) in zip("osD^v", records.items()):
        for method in dict.fromkeys(r["method"] for r in _ok(record)):
            ours, means, stds = zip(*sorted((r["ipc"], r["mean"], r["std"]) for r in _ok(record) if r["method"] == method))
            ipcs |= set(ours)
            ax.errorbar(ours, means, yerr=stds, marker=marker, capsize=3, color=colour.get(method),
                        label=f"{method} — ours, {preset} ({record['metrics']['data']['dataset']})")
    for method in ("MTT", "DDPP"):
        printed = PRINTED["ddpp"].get(method, method)
        values = sorted((v.key["ipc"], v.mean) for v in published_values("ddpp") if v.key["method"] == printed)
        ax.plot(*zip(*values), linestyle="--", marker="x", color=colour[method],
                label=f"{method} — paper, COVID-19 CXR (cited)")
    ax.set_xscale("log")
    ax.set_xticks(sorted(ipcs), labels=[str(i) for i in sorted(ipcs)])
    ax.set_xlabel("images per class (IPC)")
    ax.set_ylabel("test accuracy (%)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def ddpp_table4_claims(record: dict) -> list[tuple[str, bool | None, str]]:
    """DDPP Table IV's claims checked on our numbers: (statement, holds?, evidence); None = not checkable."""
    out = [("DDPP ≥ MTT at every IPC (DDPP Table IV)", *at_least(record, "DDPP", "MTT")),
           ("Accuracy rises with IPC: the largest IPC above the smallest for each method (DDPP Table IV)",
            *_rises_with_ipc(record))]
    return out + [_agreement(record, "ddpp"), *_diverged(record)]


def _rises_with_ipc(record: dict) -> tuple[bool | None, str]:
    by = {(r["method"], r["ipc"]): r["mean"] for r in _ok(record) if r["ipc"] is not None}
    ends = {m: (min(i for n, i in by if n == m), max(i for n, i in by if n == m)) for m, _ in by}
    ends = {m: (low, high) for m, (low, high) in ends.items() if low < high}
    if not ends:
        return None, "needs two IPCs of one method"
    return (all(by[(m, high)] > by[(m, low)] for m, (low, high) in ends.items()),
            "; ".join(f"{m}: IPC {low} {by[(m, low)]:.1f} → IPC {high} {by[(m, high)]:.1f}" for m, (low, high) in ends.items()))


# ------------------------------------------------------------------------------------------ IADD Table 4


def iadd_published_table() -> str:
    """IADD Table 4 as printed, with which rows the paper cites from other work."""
    lines = [[v.key["method"], f"{v.attrs['images']:,}", v.key["structure"], f"{v.format()} %",
              "cited" if v.cited_from else "run by the authors"] for v in published_values("iadd")]
    return (markdown_table(["Method", "Images", "Structure", "Accuracy", "Row"], lines)
            + f"\n\nSources — {cited_note(published_values('iadd'))}.")


def iadd_table(record: dict) -> str:
    """Our rows (MTT, DDPP, IADD at the table's IPC, and the whole training set) beside the paper's."""
    classes, train_size = len(record["metrics"]["data"]["classes"]), record["metrics"]["data"]["train_size"]
    network, comparable = network_label(record["params"]["settings"][0]["teachers"]), is_paper_data(record)
    lines = []
    for r in record["metrics"]["rows"]:
        published = _published("iadd", r["method"], None)
        if comparable and published is not None and r["ipc"] is not None and r["ipc"] != paper_ipc(published):
            published = None  # another IPC than the paper's: not comparable
        images = train_size if r["ipc"] is None else r["ipc"] * classes
        lines.append([PRINTED["iadd"].get(r["method"], r["method"]), r["ipc"] or "all", f"{images:,}", network,
                      _cell(r, published, comparable),
                      f"{published.format()} % ({published.attrs['images']:,} images, {published.key['structure']})"
                      if published else "—"])
    return markdown_table(["Method", "IPC", "Images", "Network", "Accuracy (ours, %)", "Paper (COVID-19 CXR)"], lines)


def iadd_table4_claims(record: dict) -> list[tuple[str, bool | None, str]]:
    """IADD Table 4's claims checked on our numbers: (statement, holds?, evidence); None = not checkable."""
    out = [("IADD ≥ MTT (IADD Table 4)", *at_least(record, "IADD", "MTT")),
           ("IADD ≥ DDPP (IADD Table 4)", *at_least(record, "IADD", "DDPP")),
           _close_to_original(record), _beats_self_supervised(record), _agreement(record, "iadd")]
    return out + _diverged(record)


def _close_to_original(record: dict) -> tuple[str, bool | None, str]:
    """Paper: IADD's 80 images lose little against the whole training set; we allow the paper's gap + 2 points."""
    iadd, original = _published("iadd", "IADD", None), _published("iadd", "Full Dataset", None)
    allowed = original.mean - iadd.mean + 2.0
    statement = (f"IADD's distilled set comes close to the original dataset (paper: {iadd.mean} vs {original.mean}; "
                 f"we test a gap ≤ {allowed:.1f} points)")
    means = {r["method"]: r["mean"] for r in _ok(record)}
    if not {"IADD", "Full Dataset"} <= set(means):
        return statement, None, "needs both the IADD and the Original Dataset rows"
    gap = means["Full Dataset"] - means["IADD"]
    return statement, gap <= allowed, f"gap {gap:.1f} points ({means['IADD']:.1f} vs {means['Full Dataset']:.1f})"


def _beats_self_supervised(record: dict) -> tuple[str, bool | None, str]:
    """Paper: IADD at IPC 20 beats every (cited) self-supervised method trained on 42 real images per class."""
    best = max((v for v in published_values("iadd") if v.key["method"] in SELF_SUPERVISED), key=lambda v: v.mean)
    statement = (f"IADD beats the best self-supervised method on 1% of the real data "
                 f"(paper: {_published('iadd', 'IADD', None).mean} vs {best.key['method']} {best.mean}, cited)")
    iadd = next((r for r in _ok(record) if r["method"] == "IADD"), None)
    if not is_paper_data(record):
        return statement, None, "the self-supervised rows are cited on the COVID-19 database; ours ran on a stand-in"
    if iadd is None:
        return statement, None, "no IADD row (or it diverged)"
    return statement, iadd["mean"] > best.mean, f"ours {iadd['mean']:.1f} vs {best.key['method']} {best.mean} (cited)"


# ------------------------------------------------------------------------------------------ shared checks


def compared(record: dict, paper: str) -> list[report.Compared]:
    """Our cells beside the published ones — on the papers' database only (none on a stand-in)."""
    if not is_paper_data(record):
        return []
    dataset = record["metrics"]["data"]["dataset"]
    return [report.Compared.of(f"{dataset} {r['method']}, IPC {r['ipc'] or 'all'}", r, published) for r in _ok(record)
            for published in [_published(paper, r["method"], r["ipc"])]
            if published is not None and (paper == "ddpp" or r["ipc"] in (None, paper_ipc(published)))]


def _agreement(record: dict, paper: str) -> tuple[str, bool | None, str]:
    """Our reproduced cells within max(3 points, 2 std) of the published ones — on the papers' database only."""
    statement = "Our reproduced cells agree with the published ones (within max(3 points, 2 std))"
    if not is_paper_data(record):
        return statement, None, f"ours ran on {record['metrics']['data']['dataset']}, a stand-in: not comparable cell for cell"
    return statement, *report.agreement(compared(record, paper), "no reproduced cell has a published counterpart")


def _diverged(record: dict) -> list[tuple[str, bool | None, str]]:
    rows = record["metrics"].get("rows") or record["metrics"].get("panels", [])
    diverged = [f"{r.get('method', r.get('label'))} IPC {r.get('ipc', record['metrics'].get('ipc'))}" for r in rows
                if r.get("status") == "diverged"]
    return diverged_claim(diverged)


def key_lines(record: dict) -> list[str]:
    """One line per table row, for the regression-checked cell."""
    return [f"{record['preset']} {r['dataset']} IPC {r['ipc'] or 'all'} {r['method']:<12} "
            f"{fmt(r['mean'], r['std']) if r.get('status') == 'ok' else r.get('status')}"
            for r in record["metrics"]["rows"]]


# ----------------------------------------------------------------------------- figures: real vs distilled


def images_claims(record: dict) -> list[tuple[str, bool | None, str]]:
    """DDPP Sec. III-D / IADD Sec. 4.5: the distilled images look different from the real ones (anonymity).

    Tested as: each distilled image is on median at least as far (RMS pixel difference) from its nearest
    real training image as a real test image is — i.e. no closer to a training X-ray than a new patient's.
    """
    reference = record["metrics"]["reference_nearest_rmse"]["median"]
    panels = [p for p in record["metrics"]["panels"] if p["kind"] == "distilled" and p.get("status") == "ok"]
    statement = ("Distilled images differ from the real ones: median distance to the nearest real training image "
                 "≥ a real test image's (DDPP Sec. III-D, IADD Sec. 4.5)")
    if not panels:
        return [(statement, None, "no distilled set (diverged)"), *_diverged(record)]
    far = [p["nearest_rmse"]["median"] >= reference for p in panels]
    evidence = "; ".join(f"{p['label']}: {p['nearest_rmse']['median']:.3f}" for p in panels)
    return [(statement, all(far), f"{evidence} vs real test images {reference:.3f} (RMS, pixels in [0, 1])"),
            *_diverged(record)]


def distance_table(record: dict) -> str:
    """Distance of each shown set to its nearest real training image (RMS pixel difference, [0, 1] scale)."""
    m = record["metrics"]
    lines = [[p["label"] + " (distilled)", p["nearest_rmse"]["n"], f"{p['nearest_rmse']['median']:.3f}",
              f"{p['nearest_rmse']['min']:.3f}"] for p in m["panels"] if p.get("status") == "ok" and p["kind"] == "distilled"]
    r = m["reference_nearest_rmse"]
    lines.append(["Real test images (reference)", r["n"], f"{r['median']:.3f}", f"{r['min']:.3f}"])
    return markdown_table(["Images", "n", "median distance to nearest training image", "min"], lines)


def images_caption(record: dict, preset: str) -> str:
    """Preset, data source and IPC of one record's row of image grids."""
    m, source = record["metrics"], next(iter(record["data_source"].values()))
    return (f"Preset **{preset}** · data: {report.source_label(source)} · distilled at IPC {m['ipc']} "
            f"({m['per_class']} of {m['ipc']} shown per class; real images drawn at random from the training set) · "
            f"network {network_label(record['params']['setting']['teachers'])}")


def images_figure(records: Mapping[str, dict]):
    """One row per preset: real images (left) then each method's distilled set; a row per class in each grid."""
    import matplotlib.pyplot as plt

    rows = list(records.items())
    width = max(len(r["metrics"]["panels"]) for _, r in rows)
    classes = max(len(r["metrics"]["data"]["classes"]) for _, r in rows)
    per_class = max(r["metrics"]["per_class"] for _, r in rows)
    fig, axes = plt.subplots(len(rows), width, squeeze=False,
                             figsize=(0.75 * per_class * width + 1.5, (0.75 * classes + 0.8) * len(rows)))
    plt.close(fig)  # returned for glue/display, not shown a second time
    for line, (preset, record) in zip(axes, rows):
        m = record["metrics"]
        for ax, panel in zip(line, m["panels"]):
            ax.set_xticks([])
            if panel.get("status", "ok") != "ok":
                ax.text(0.5, 0.5, "diverged", ha="center", va="center", transform=ax.transAxes)
                ax.set_yticks([])
            else:
                grid = decode_grid(panel["png"])
                ax.imshow(grid, cmap="gray", interpolation="nearest")
                size = grid.shape[0] / len(m["data"]["classes"])
                ax.set_yticks([(c + 0.5) * size for c in range(len(m["data"]["classes"]))], labels=m["data"]["classes"])
            what = "real training images" if panel["kind"] == "real" else f"{panel['label']} distilled, IPC {m['ipc']}"
            ax.set_title(f"{what}\n{preset} · {m['data']['dataset']}", fontsize=9)
        for ax in line[len(m["panels"]):]:
            ax.axis("off")
    fig.tight_layout()
    return fig


def image_lines(record: dict) -> list[str]:
    """The regression-checked summary of a figure record (what was shown, not pixel values)."""
    m = record["metrics"]
    return [f"{record['preset']} {m['data']['dataset']} {p['label'] if p['kind'] == 'distilled' else 'real'} images: "
            f"{m['per_class']} per class x {len(m['data']['classes'])} classes, {p.get('status', 'ok')}" for p in m["panels"]]
