"""The GDD-SKD pages (Table 1, Table 2, Fig. 2): published values beside ours, and the paper's claims."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from reprolib import paper_values, report
from reprolib.image_grid import decode_grid
from reprolib.pages import coreset_baselines as coreset_page
from reprolib.report import PAPER_DATASET, fmt, markdown_table

PAPER = "gdd_skd"
GENERATIVE_ROWS = ("CGAN", "DiM", "Ours (No Stand.)", "Ours")
ORDER_CLAIM = ("Ours", "Ours (No Stand.)", "DiM", "CGAN")  # the paper's ranking, best first
ELSEWHERE = ("MTT",)  # rows other artifacts reproduce (picked up by `rows_from_other_records`); DC/DSA/DM run here
ARCH_NAMES = {"convnetd3": "ConvNet3", "resnet18_dim": "ResNet18", "alexnet": "AlexNet", "vgg11": "VGG11"}  # DiM's ResNet18


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


PROCEDURE = (
    ("Evaluation", "`scoring.protocols`: `dim` = DiM's protocol (new latents and random labels every step, "
     "`10·IPC // batch + 1` steps per epoch, colour + crop, constant lr 0.01, test checks every 200 of 1000 epochs; "
     "read as the best check and as the last epoch); `fixed` = a fixed set of IPC images per class scored like every "
     "other distilled set (DSA, lr ×0.1 at half, last epoch)"),
    ("Pool schedule", "`gan.pool_schedule: fresh_per_epoch` — a freshly initialised pool model per epoch, trained on "
     "`gan.pool_batches: 16` real batches augmented by `gan.pool_augment: color_crop` before every generator step"),
    ("Stage-2 learning rates", "`gan.match_lr` = `gan.match_d_lr` = 5e-6 for generator and discriminator, "
     "`gan.match_restore_adam: true` (the stage-1 Adam state is restored)"),
    ("Batch size 32/64/128", "`setup.stage2_batch_per_ipc: true` — as in DiM's code one batch size sets the matching and "
     "the evaluation batch, so each IPC's batch trains its own stage-2 generator (three stage-2 runs per rule)"),
    ("Checkpoint selection", "`gan.selection` (every 10 epochs, DiM's protocol at IPC 50 with one ConvNet) and "
     "`scoring.checkpoints: [selected, last]`: stage 2 starts from the selected stage-1 checkpoint, and both the "
     "selected and the last generator are scored"),
    ("Matching augmentation", "`gan.match_augment: color_crop_cutout`, one draw applied to the real and the generated batch"),
    ("Generator", "`gan.generator_convs: [3, 1, 0]` — DiM's layout (3,559,363 parameters at 32 px, 3,286,921 at 28 px)"),
    ("Small ones", "`gan.discriminator_slope: 0.01`, `gan.gan_images: signed` ([−1, 1]), `gan.update_order: g_then_d` "
     "(generator first, then the discriminator on new fakes of random labels), `gan.pool_resnet_layout: by_dataset` "
     "(DiM's 64–512, 7×7-stem ResNets for MNIST/Fashion-MNIST), Table 2's ResNet18 = `resnet18_dim`"),
)

DECLINED = (
    ("The paper's ± is over five trainings", "ours is over the evaluation networks of one trained generator per "
     "configuration (`n` in every row): five complete GAN trainings per (rule, batch size) would multiply the "
     "dominant cost by five. The spread of our numbers therefore leaves out the generator's training noise."),
    ("DiM normalises the matching stage's [−1, 1] images with the dataset's mean/std", "its pool models see "
     "`(2x − 1 − mean)/std` where its evaluation sees `(x − mean)/std`; every classifier here sees the latter. "
     "It is an affine change of the input that the BatchNorm pool networks largely absorb, and reads as an oversight."),
    ("DiM tests its MNIST/Fashion-MNIST evaluation networks on images normalised by 0.5/0.5", "while training them on "
     "images normalised by the dataset's mean/std; our test images are normalised as the training images."),
    ("DiM's pool also has ResNet10-AP and ResNet18-AP", "GDD-SKD states its pool as {ConvNet3, ResNet10, ResNet18}; we "
     "follow the paper."),
)


def procedure_notes() -> str:
    """DiM's procedure point by point (the parameter that sets each, at DiM's value at `paper`) and what is declined."""
    done = "\n".join(f"{i}. **{name}.** {text}." for i, (name, text) in enumerate(PROCEDURE, 1))
    declined = "\n".join(f"- **{name}:** {text}" for name, text in DECLINED)
    return f"{done}\n\n**Declined, with the reason:**\n\n{declined}"


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


# How each generative number was made: (protocol, checkpoint, reading), see reprolib.experiments.generative.
PAPER_READING = ("dim", "selected", "best_check")  # what DiM (and so GDD-SKD's Table 1) reports
HONEST_READING = ("dim", "last", "last_epoch")  # the same protocol with no choice made on the test set
FIXED_READING = ("fixed", "last", "last_epoch")
PROTOCOL_NAMES = {"dim": "DiM's protocol (new images every step)", "fixed": "fixed set of IPC images per class"}
READING_NAMES = {"best_check": "best of the test checks", "last_epoch": "after the last epoch"}


def row_label(row: dict) -> str:
    """A row's method with, for generative rows, the protocol/checkpoint/reading that made it."""
    return row["method"] + (f" [{'/'.join(reading_of(row))}]" if row.get("kind") == "generative" or "reading" in row else "")


def reading_of(row: dict) -> tuple[str, str, str]:
    """A generative row's (protocol, checkpoint, reading); other rows are fixed sets scored at their last epoch."""
    return row.get("protocol", "fixed"), row.get("checkpoint", "last"), row.get("reading", "last_epoch")


def reading_label(reading: tuple[str, str, str]) -> str:
    protocol, checkpoint, which = reading
    label = f"{PROTOCOL_NAMES[protocol]}; {checkpoint} generator checkpoint; accuracy {READING_NAMES[which]}"
    if reading == PAPER_READING:
        label += " — as DiM reports it"
    if checkpoint == "selected" or which == "best_check":
        label += " (chosen on the test set: inflated)"
    return label


TEST_SELECTION_NOTE = (
    "DiM picks each stage's generator checkpoint by test accuracy and reports the best of its test checks: "
    "both choices are made on the test set, so those numbers are optimistic. The last-checkpoint, "
    "last-epoch numbers make no choice on the test set.")


def _cell(row: dict) -> str:
    text = fmt(row["mean"], row["std"])
    published = _published(row["method"], row["dataset"], row["ipc"])
    if published is not None and published.mean is not None:
        text += f" (paper {published.format()}, Δ {row['mean'] - published.mean:+.1f})"
    return text


def _grid(rows: list[dict], columns: list[tuple], methods: list[str]) -> str:
    cells = {(r["dataset"], r["ipc"], r["method"]): r for r in rows}
    body = [[m, *(_cell(cells[(d, i, m)]) if (d, i, m) in cells else "" for d, i in columns)] for m in methods]
    return markdown_table(["Method", *(f"{d} IPC {i}" for d, i in columns)], body)


def ours_table1(record: dict, extra: Iterable[dict] = ()) -> str:
    """Our Table 1 at one preset: one table per way of scoring the generators (labelled), rows in the
    paper's order, 'paper x (Δ)' where the dataset is the paper's. The fixed-set table also has the
    coreset, DC/DSA/DM and borrowed rows. Rows nobody here reproduced are listed as cited."""
    columns = list(dict.fromkeys((r["dataset"], r["ipc"]) for r in record["metrics"]["rows"]))
    extra = [r for r in extra if (r["dataset"], r["ipc"]) in columns]
    rows = [*record["metrics"]["rows"], *extra]
    order = list(paper_values.paper_table(PAPER, "table1").grid["method"])
    rank = lambda m: order.index(m) if m in order else len(order)  # noqa: E731
    generative = [r for r in rows if r.get("kind") == "generative"]
    readings = sorted(dict.fromkeys(reading_of(r) for r in generative), key=lambda k: (k[0], k[1] != "selected", k[2]))
    parts = []
    for reading in readings:
        chosen = [r for r in rows if reading_of(r) == reading and (r.get("kind") == "generative" or reading == FIXED_READING)]
        methods = sorted(dict.fromkeys(r["method"] for r in chosen), key=rank)
        parts.append(f"**{reading_label(reading)}**\n\n{_grid(chosen, columns, methods)}")
    if FIXED_READING not in readings:
        others = [r for r in rows if r.get("kind") != "generative"]
        if others:
            methods = sorted(dict.fromkeys(r["method"] for r in others), key=rank)
            parts.append(f"**Other rows: {PROTOCOL_NAMES['fixed']}**\n\n{_grid(others, columns, methods)}")
    cited = [m for m in order if m not in {r["method"] for r in rows}]
    borrowed = {r["method"]: r["kind"] for r in extra}
    taken = "".join(f" {m}: {k} (its own run at this preset and protocol)." for m, k in borrowed.items())
    coresets = [r for r in rows if r.get("kind") == "coreset"]
    spread = f" Coreset rows: {coreset_page.spread_text(coresets)}." if coresets else ""
    return ("\n\n".join(parts) + f"\n\n{TEST_SELECTION_NOTE}{taken}{spread} "
            f"Cited only (see the published table): {', '.join(cited) or 'none'}.")


def _means(rows: Iterable[dict], key: tuple[str, ...]) -> dict[tuple, float]:
    return {tuple(r[k] for k in key): r["mean"] for r in rows}


def _gaps_text(pairs: list[tuple[dict, dict]]) -> str:
    """The range of the differences better − worse over (better row, worse row) pairs, with the largest std
    over networks of either side beside it: the evaluation noise a claim's differences are read against."""
    gaps = [better["mean"] - worse["mean"] for better, worse in pairs]
    noise = max(r["std"] or 0.0 for pair in pairs for r in pair)
    return f"by {min(gaps):+.1f} to {max(gaps):+.1f} points (std over networks up to {noise:.1f})"


def _order_claim(rows: list[dict], setting: tuple[str, ...], what: str) -> tuple[str, bool | None, str]:
    """Whether Ours > Ours (No Stand.) > DiM > CGAN holds in every setting where all four ran."""
    cells = {tuple(r[k] for k in (*setting, "method")): r for r in rows}
    by = {k: r["mean"] for k, r in cells.items()}
    settings = sorted({k[:-1] for k in by if all((*k[:-1], m) in by for m in ORDER_CLAIM)}, key=str)
    statement = f"Ours > Ours (No Stand.) > DiM > CGAN ({what})"
    if not settings:
        return statement, None, "not all four generative rows ran"
    pairs = list(zip(ORDER_CLAIM, ORDER_CLAIM[1:]))
    chain = sum(all(by[(*s, a)] > by[(*s, b)] for a, b in pairs) for s in settings)

    detail = "; ".join(f"{a} > {b} in {sum(by[(*s, a)] > by[(*s, b)] for s in settings)}/{len(settings)}, "
                       f"{_gaps_text([(cells[(*s, a)], cells[(*s, b)]) for s in settings])}" for a, b in pairs)
    return statement, chain == len(settings), f"whole chain in {chain} of {len(settings)} settings ({detail})"


SHORT_READINGS = {PAPER_READING: "DiM's protocol as DiM reports it", HONEST_READING: "DiM's protocol, no test-set choice",
                  FIXED_READING: "fixed set, last checkpoint"}


def compared_table1(record: dict) -> list[report.Compared]:
    """Our generative rows scored as DiM reports them, on the paper's datasets, beside its cells (the
    like-for-like cells; the coreset rows are the coreset page's)."""
    return [report.Compared.of(f"{r['dataset']} IPC {r['ipc']} {r['method']} ({SHORT_READINGS[PAPER_READING]})", r, p)
            for r in record["metrics"]["rows"] if r["method"] in ORDER_CLAIM and reading_of(r) == PAPER_READING
            for p in [_published(r["method"], r["dataset"], r["ipc"])] if p is not None and p.mean is not None]


def claims_table1(record: dict) -> list[tuple[str, bool | None, str]]:
    rows = record["metrics"]["rows"]
    generative = [r for r in rows if r["method"] in ORDER_CLAIM]
    out = [_order_claim([r for r in generative if reading_of(r) == reading], ("dataset", "ipc"), f"every dataset and IPC; {name}")
           for reading, name in SHORT_READINGS.items()]
    fixed = [r for r in rows if reading_of(r) == FIXED_READING]
    by = _means(fixed, ("dataset", "ipc", "method"))
    pairs = [(d, i) for d, i, m in by if m == "Ours" and (d, i, "Random") in by]
    statement = "Ours beats Random selection at every IPC (both scored as fixed sets)"
    if pairs:
        wins = sum(by[(d, i, "Ours")] > by[(d, i, "Random")] for d, i in pairs)
        out.append((statement, wins == len(pairs), f"{wins} of {len(pairs)} (dataset, IPC) settings"))
    else:
        out.append((statement, None, "Ours (fixed set) or Random did not run"))
    out.append(("Our generative rows, scored as DiM reports, agree with the paper's (|Δ| ≤ max(3 points, 2 std))",
                *report.agreement(compared_table1(record),
                                  "no dataset at this preset is one of the paper's, or DiM's protocol did not run")))
    return out


def claims_markdown(claims: list[tuple[str, bool | None, str]]) -> str:
    return report.claims_table(claims)


def summary(claims: list[tuple[str, bool | None, str]], record: dict) -> str:
    return report.claims_summary(claims, record)


# The parameters that set each point of PROCEDURE (1-based; a key also covers its sub-keys).
POINT_PARAMETERS = {
    "setup.gan.pool_schedule": 2, "setup.gan.pool_batches": 2, "setup.gan.pool_augment": 2,
    "setup.gan.match_lr": 3, "setup.gan.match_d_lr": 3, "setup.gan.match_restore_adam": 3,
    "setup.stage2_batch_per_ipc": 4, "setup.gan.selection": 5, "setup.gan.match_augment": 6,
    "setup.gan.generator_convs": 7, "setup.gan.discriminator_slope": 8, "setup.gan.gan_images": 8,
    "setup.gan.update_order": 8, "setup.gan.pool_resnet_layout": 8,
}
EFFECT_READINGS = (PAPER_READING, HONEST_READING, FIXED_READING)


def _sets_point(key: str) -> int | None:
    """The point of DiM's procedure that the override ``key`` changes, if any."""
    return next((point for name, point in POINT_PARAMETERS.items() if key == name or key.startswith(name + ".")), None)


def changed_points(run: dict) -> list[int]:
    """The points of DiM's procedure that ``run``'s overrides change (empty for a preset's own run)."""
    return sorted({point for key in run.get("overrides") or {} if (point := _sets_point(key))})


def _cell_key(row: dict) -> tuple:
    """What makes two rows the same cell of Table 1: dataset, method, IPC and how the number was read."""
    return row["dataset"], row["method"], row["ipc"], reading_of(row)


def point_effects(runs: Mapping[str, dict]) -> str:
    """Every run that changes a point of DiM's procedure (``changed_points``) beside its preset's own run,
    cell by cell: what that point moves, with each side's std over evaluation networks. Empty: no such run."""
    body = []
    for run in sorted(runs.values(), key=changed_points):  # in the order of the points
        points = changed_points(run)
        base = runs.get(run["preset"])
        if not points or base is None:
            continue
        reference = {_cell_key(r): r for r in base["metrics"]["rows"] if r.get("kind") == "generative"}
        changes = " ".join(f"`{key}={value}`" for key, value in run["overrides"].items() if _sets_point(key))
        for row in run["metrics"]["rows"]:
            before = reference.get(_cell_key(row))
            if row.get("kind") != "generative" or reading_of(row) not in EFFECT_READINGS or before is None:
                continue
            body.append([", ".join(map(str, points)), changes,
                         f"{PAPER_DATASET.get(row['dataset'], row['dataset'])} {row['method']} IPC {row['ipc']}",
                         SHORT_READINGS[reading_of(row)], fmt(before["mean"], before["std"]), fmt(row["mean"], row["std"]),
                         f"{row['mean'] - before['mean']:+.1f}"])
    if not body:
        return ""
    return markdown_table(["Point", "Changed to", "Cell", "Scored by", "DiM's procedure",
                           "With the change", "Δ"], body)


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
    """One table per way of scoring (labelled); the DSA row sits in the fixed-set table."""
    rows = record["metrics"]["rows"]
    archs = list(dict.fromkeys(arch_label(r) for r in rows))
    readings = sorted(dict.fromkeys(reading_of(r) for r in rows if "reading" in r), key=lambda k: (k[0], k[1] != "selected", k[2]))
    parts = []
    for reading in readings:
        chosen = [r for r in rows if reading_of(r) == reading]
        cells = {(r["method"], arch_label(r)): r for r in chosen}
        body = []
        for method in dict.fromkeys(r["method"] for r in chosen):
            line = [method]
            for a in archs:
                r = cells.get((method, a))
                p = _published2(r) if r else None
                line.append("" if r is None else fmt(r["mean"], r["std"]) + (f" (paper {p.format()}, Δ {r['mean'] - p.mean:+.1f})" if p else ""))
            body.append(line)
        parts.append(f"**{reading_label(reading)}**\n\n{markdown_table(['Method', *archs], body)}")
    dataset, ipc = rows[0]["dataset"], rows[0]["ipc"]
    return "\n\n".join(parts) + f"\n\n{dataset}, IPC {ipc}. {TEST_SELECTION_NOTE}"


def claims_table2(record: dict) -> list[tuple[str, bool | None, str]]:
    out = []
    for reading, name in SHORT_READINGS.items():
        rows = [r for r in record["metrics"]["rows"] if reading_of(r) == reading]
        cells = {(r["method"], arch_label(r)): r for r in rows}
        by = {k: r["mean"] for k, r in cells.items()}
        archs = list(dict.fromkeys(arch_label(r) for r in rows))
        for better, worse, statement in (("Ours", "Ours (No Stand.)", "Standardisation helps on every architecture"),
                                         ("Ours", "DiM", "Ours beats DiM on every architecture")):
            statement = f"{statement} ({name})"
            both = [a for a in archs if (better, a) in by and (worse, a) in by]
            if not both:
                out.append((statement, None, f"{better} or {worse} did not run"))
                continue
            wins = [a for a in both if by[(better, a)] > by[(worse, a)]]
            gaps = _gaps_text([(cells[(better, a)], cells[(worse, a)]) for a in both])
            missed = f" (not on {', '.join(a for a in both if a not in wins)})" if len(wins) < len(both) else ""
            out.append((statement, len(wins) == len(both), f"{len(wins)} of {len(both)} architectures{missed}, {gaps}"))
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
        checkpoint = f" · {image['checkpoint']}" if "checkpoint" in image else ""
        ax.set_title(f"{image['dataset']} · {image['method']}{checkpoint} · {preset}", fontsize=9)
        ax.set_yticks([])
        ax.set_xticks([])
        ax.set_ylabel("one row per class")
    fig.tight_layout()
    return fig
