"""The DP paper's pages: Fig. 1 / Fig. 3 (accuracy vs pruning ratio), Fig. 2 (test-loss gap vs ε/n),
Fig. 4 (training time vs accuracy) and Table 1 (architecture search on proxy sets).

Only tables, claims and figures from run records and published values; nothing computes here. A claim
is ``(statement, holds: bool | None, evidence)``; None means not checkable at that preset.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from scipy.stats import spearmanr

from reprolib import paper_values, report
from reprolib.report import PAPER_DATASET, fmt, markdown_table

METHODS = ("Random", "Herding", "Forgetting", "GraNd", "GraNd (last layer)", "EL2N", "Influence-score", "Ours")
VARIANT = "Ours (S without weight decay)"  # the labelled comparison row: S as computed before the weight-decay term


def no_values() -> list[paper_values.PaperValue]:
    """Figs. 1 and 3 print curves only: no published numbers to compare with."""
    return []


def fig2_values() -> list[paper_values.PaperValue]:
    return paper_values.paper_table("dp", "fig2_text").select()


def fig4_values() -> list[paper_values.PaperValue]:
    return paper_values.paper_table("dp", "fig4_text").select()


def table1_values() -> list[paper_values.PaperValue]:
    return paper_values.paper_table("dp", "table1").select()


def claims_table(claims: list[tuple[str, bool | None, str]]) -> str:
    return report.claims_table(claims)


def summary(claims: list[tuple[str, bool | None, str]], record: dict) -> str:
    return report.claims_summary(claims, record)


# ---------------------------------------------------------------- Fig. 1 / Fig. 3


def _panels(record: dict) -> list[tuple[str, str]]:
    return list(dict.fromkeys((r["dataset"], r["retrain"]) for r in record["metrics"]["rows"]))


def ratio_table(record: dict) -> str:
    """Rows (dataset, retrained network, ratio), columns the methods (the variant of Ours last, not
    competing for bold); the whole-data accuracy first."""
    rows_in = record["metrics"]["rows"]
    methods = [m for m in (*METHODS, VARIANT) if any(r["method"] == m for r in rows_in)]
    competing = [m for m in methods if m != VARIANT]
    cell = {(r["dataset"], r["retrain"], r["ratio"], r["method"]): r for r in rows_in}
    full = {(f["dataset"], f["retrain"]): f for f in record["metrics"]["full_data"]}
    rows = []
    for dataset, retrain in _panels(record):
        f = full[(dataset, retrain)]
        rows.append([dataset, retrain, "0 (whole)", *([fmt(f["mean"], f["std"])] + [""] * (len(methods) - 1))])
        for ratio in sorted({r["ratio"] for r in rows_in if r["dataset"] == dataset and r["retrain"] == retrain}):
            best = max(cell[(dataset, retrain, ratio, m)]["mean"] for m in competing)
            row = [dataset, retrain, ratio]
            for m in methods:
                c = cell[(dataset, retrain, ratio, m)]
                text = fmt(c["mean"], c["std"])
                row.append(f"**{text}**" if c["mean"] == best and m != VARIANT else text)
            rows.append(row)
    return markdown_table(["Dataset", "Retrained", "Ratio", *methods], rows)


def annealing_table(record: dict) -> str:
    """The optimisation's own objective: ||Σ_pruned S|| for ours vs a random pruned set of equal size
    (each under its own S)."""
    rows = [[a["dataset"], a.get("method", "Ours"), a["ratio"], f"{a['norm_ours']:.3g}", f"{a['norm_random']:.3g}",
             f"{a['norm_random'] / max(a['norm_ours'], 1e-300):.1f}×", a["proposals"], a["accepted"], f"{a['seconds']:.1f}"]
            for a in record["metrics"].get("annealing", [])]
    return markdown_table(["Dataset", "S", "Ratio", "‖ΣS‖ ours", "‖ΣS‖ random", "random / ours", "proposals", "accepted", "seconds"], rows)


TERM_TEXT = {"weight_decay": "g_i + λθ̂", "centred": "g_i − ḡ", "cross_entropy": "g_i (no weight-decay term)"}


def influence_table(record: dict) -> str:
    """‖Σ_all S‖ against the mean single-example ‖S_i‖, per dataset and influence, and the Newton step
    ‖H⁻¹∇J(θ̂)‖ that separates the scoring network's last layer from its regularised optimum."""
    rows = [[r["dataset"], "Ours" if r["variant"] == "corrected" else r["variant"], TERM_TEXT[r["term"]],
             f"{r['sum_norm']:.3g}", f"{r['mean_norm']:.3g}", f"{r['sum_over_mean']:.1f}×",
             "—" if r["newton_step_norm"] is None else f"{r['newton_step_norm']:.3g}", f"{r['damping']:g}", f"{r['weight_decay']:g}"]
            for r in record["metrics"].get("influence", [])]
    return markdown_table(["Dataset", "S of", "gradient", "‖Σ_all S‖", "mean ‖S_i‖", "sum / mean",
                           "‖H⁻¹∇J(θ̂)‖", "damping", "weight decay"], rows)


def variant_margins(record: dict) -> list[dict]:
    """Ours − Random (points) per (dataset, network, ratio), with the corrected S and without the term."""
    cell = {(r["dataset"], r["retrain"], r["ratio"], r["method"]): r["mean"] for r in record["metrics"]["rows"]}
    return [{"dataset": d, "retrain": n, "ratio": r, "corrected": cell[(d, n, r, "Ours")] - cell[(d, n, r, "Random")],
             "uncorrected": cell[(d, n, r, VARIANT)] - cell[(d, n, r, "Random")]}
            for d, n, r, m in sorted(cell) if m == VARIANT and (d, n, r, "Ours") in cell and (d, n, r, "Random") in cell]


def variant_table(record: dict) -> str:
    """What the weight-decay term does to Fig. 1: Ours − Random with each S, side by side."""
    rows = [[v["dataset"], v["retrain"], v["ratio"], f"{v['uncorrected']:+.2f}", f"{v['corrected']:+.2f}"]
            for v in variant_margins(record)]
    return markdown_table(["Dataset", "Retrained", "Ratio", "Ours − Random, S without the term", "Ours − Random, corrected S"], rows)


def class_spread_table(record: dict) -> str:
    """The fewest and most examples any class keeps, per method and ratio: a rule that empties a class
    cannot be retrained into a good classifier, whatever its scores mean (first retraining network only)."""
    rows_in = [r for r in record["metrics"]["rows"] if "kept_per_class" in r]
    if not rows_in:
        return "(This record predates the kept-per-class counts; rerun it to see them.)"
    first: dict[str, str] = {}  # dataset -> its first retraining network
    for dataset, retrain in _panels(record):
        first.setdefault(dataset, retrain)
    rows_in = [r for r in rows_in if first[r["dataset"]] == r["retrain"]]
    methods = [m for m in (*METHODS, VARIANT) if any(r["method"] == m for r in rows_in)]
    cell = {(r["dataset"], r["ratio"], r["method"]): r["kept_per_class"] for r in rows_in}
    rows = [[dataset, ratio, *(f"{min(cell[k])}–{max(cell[k])}" if (k := (dataset, ratio, m)) in cell else "" for m in methods)]
            for dataset, ratio in dict.fromkeys((r["dataset"], r["ratio"]) for r in rows_in)]
    return markdown_table(["Dataset", "Ratio", *methods], rows)


def class_balance_note(record: dict) -> str:
    balanced = record["metrics"].get("class_balanced", [])
    return ("Class-balanced (each class keeps the same fraction): " + (", ".join(balanced) if balanced else "none")
            + "; every other rule, Ours included, prunes the whole set without a class constraint, as the paper describes.")


def _seed_noise(rows: list[dict]) -> str:
    """The evaluation noise beside a difference: the largest std over retraining seeds, or that one seed
    measures none."""
    if not rows:
        return ""
    if max(r.get("n", 1) for r in rows) < 2:
        return " (one retraining seed: its spread is not measured)"
    return f" (std over retraining seeds up to {max(r['std'] or 0.0 for r in rows):.2f})"


def ratio_claims(record: dict) -> list[tuple[str, bool | None, str]]:
    rows = [r for r in record["metrics"]["rows"] if r["method"] != VARIANT]
    cell = {(r["dataset"], r["retrain"], r["ratio"], r["method"]): r["mean"] for r in rows}
    noise = _seed_noise(rows)
    methods = {r["method"] for r in rows}
    if "Ours" not in methods or len(methods) < 2:
        return [("Ours surpasses the baselines", None, "ours or the baselines were not run")]
    out = []
    settings = sorted({(d, n, r) for d, n, r, _ in cell})
    highest = [(d, n, r) for d, n, r in settings if r == max(x[2] for x in settings if x[:2] == (d, n))]
    others = sorted(methods - {"Ours"})
    beats = lambda s: all(cell[(*s, "Ours")] >= cell[(*s, m)] for m in others)  # noqa: E731
    wins = [s for s in highest if beats(s)]
    margins = [cell[(*s, "Ours")] - max(cell[(*s, m)] for m in others) for s in highest]
    out.append(("Ours is the best method at the highest pruning ratio (the paper: the gap grows with the ratio)",
                len(wins) == len(highest),
                f"{len(wins)} of {len(highest)} panels; margin over the best baseline {', '.join(f'{m:+.2f}' for m in margins)} points"
                + noise))
    every = [s for s in settings if beats(s)]
    out.append(("Ours surpasses every baseline at every ratio (the paper: 'consistently surpasses')",
                len(every) == len(settings), f"{len(every)} of {len(settings)} (dataset, network, ratio) settings"))
    if "Random" in methods:
        vs_random = [cell[(*s, "Ours")] - cell[(*s, "Random")] for s in settings]
        out.append(("Ours is not worse than Random at any ratio", min(vs_random) >= 0,
                     f"ours − random from {min(vs_random):+.2f} to {max(vs_random):+.2f} points" + noise))
    annealing = record["metrics"].get("annealing", [])
    if annealing:
        mine = [a for a in annealing if a.get("method", "Ours") == "Ours"]
        factor = min(a["norm_random"] / max(a["norm_ours"], 1e-300) for a in mine)
        out.append(("The annealed pruned set has a smaller summed influence ‖ΣS‖ than a random one of the same size",
                    factor > 1, f"random/ours ratio at least {factor:.1f}× over {len(mine)} ratios"))
    return out


def ratio_figure(records: dict[str, dict]):
    """Accuracy vs pruning ratio per method; one panel per (preset, dataset, retrained network)."""
    import matplotlib.pyplot as plt

    panels = [(p, d, n) for p, r in records.items() for d, n in _panels(r)]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.4 * len(panels), 3.5), squeeze=False)
    plt.close(fig)
    for ax, (preset, dataset, retrain) in zip(axes[0], panels):
        rows = [r for r in records[preset]["metrics"]["rows"] if r["dataset"] == dataset and r["retrain"] == retrain]
        for k, method in enumerate((*METHODS, VARIANT)):
            mine = sorted((r["ratio"], r["mean"], r["std"]) for r in rows if r["method"] == method)
            if mine:
                ratio, mean, std = zip(*mine)
                ax.errorbar(ratio, mean, yerr=std, marker="o", ms=3, capsize=2, label=method,
                            color=f"C{METHODS.index('Ours')}" if method == VARIANT else f"C{k}",
                            ls=":" if method == VARIANT else "-", lw=2.2 if method in ("Ours", VARIANT) else 1.0)
        full = next(f for f in records[preset]["metrics"]["full_data"] if f["dataset"] == dataset and f["retrain"] == retrain)
        ax.axhline(full["mean"], color="k", ls="--", lw=0.8, label="whole dataset")
        ax.set_xlabel("pruning ratio")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"{dataset} · {retrain} · {preset}", fontsize=9)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------- Fig. 2


def _retrained(record: dict) -> list[dict]:
    """The Fig. 2 rows that were retrained (the degenerate ones, where Eq. 3 prunes everything, were not)."""
    return [r for r in record["metrics"]["rows"] if not r.get("degenerate")]


def gap_table(record: dict) -> str:
    rows = [[r["dataset"], r["method"], f"{r['epsilon_target']:.3g}", f"{r['pruned']} ({r['ratio']:.0%})",
             f"{r['epsilon']:.3g}", f"{r['epsilon_over_n']:.2e}",
             "degenerate: ‖Σ_all S‖ ≤ ε" if r.get("degenerate") else f"{r['gap']['mean']:+.4f} ± {r['gap']['std']:.4f}",
             "—" if r.get("degenerate") else fmt(r["accuracy"]["mean"], r["accuracy"]["std"])] for r in record["metrics"]["rows"]]
    return markdown_table(["Dataset", "Method", "ε target", "Pruned", "‖ΣS‖ attained", "ε/n", "Test-loss gap", "Test acc. (%)"], rows)


def _pairs(record: dict) -> list[tuple[dict, dict]]:
    by = defaultdict(dict)
    for r in _retrained(record):
        by[(r["dataset"], r["epsilon_target"])][r["method"]] = r
    return [(v["Ours"], v["Random"]) for v in by.values() if "Ours" in v and "Random" in v and v["Ours"]["pruned"] > 0]


def gap_claims(record: dict) -> list[tuple[str, bool | None, str]]:
    pairs = _pairs(record)
    if not pairs:
        return [("Optimisation-based pruning has a smaller ε than random", None, "no ε pruned any example")]
    factors = [r["epsilon"] / max(o["epsilon"], 1e-300) for o, r in pairs]
    smaller_gap = sum(o["gap"]["mean"] <= r["gap"]["mean"] for o, r in pairs)
    out = [
        ("At equal pruned size, ours attains an ε more than an order of magnitude below random's",
         min(factors) > 10, f"random/ours ε ratio {min(factors):.1f}× to {max(factors):.1f}× over {len(pairs)} sizes"),
        ("Ours has a smaller test-loss gap than random pruning of the same size",
         smaller_gap == len(pairs), f"{smaller_gap} of {len(pairs)} sizes"),
    ]
    points = [(r["epsilon_over_n"], r["gap"]["mean"]) for r in _retrained(record) if r["pruned"] > 0]
    if len(points) >= 3:
        rho = spearmanr(*zip(*points)).statistic
        out.append(("The test-loss gap grows with ε (strong correlation, as the paper observes)",
                    bool(rho > 0.5), f"Spearman ρ(ε/n, gap) = {rho:.2f} over {len(points)} points"))
    published = {v.key["dataset"]: v.mean for v in fig2_values()}
    comparable = [(o, published[PAPER_DATASET[o["dataset"]]]) for o, _ in pairs if PAPER_DATASET.get(o["dataset"]) in published]
    if comparable:
        within = all(abs(o["gap"]["mean"]) < 10 * p for o, p in comparable)
        out.append(("Ours' estimated gap is of order 10⁻³ on CIFAR (paper, Sec. 5)", within,
                    ", ".join(f"{o['gap']['mean']:+.1e}" for o, _ in comparable)))
    else:
        out.append(("Ours' gap is of order 10⁻³ on CIFAR-10/100 (paper, Sec. 5)", None, "no CIFAR data at this preset"))
    return out


def gap_figure(records: dict[str, dict]):
    """|test-loss gap| vs ε/n (log-log), ours and random, with the line gap = ε/n."""
    import matplotlib.pyplot as plt

    panels = [(p, d) for p, r in records.items() for d in dict.fromkeys(x["dataset"] for x in r["metrics"]["rows"])]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.4 * len(panels), 3.5), squeeze=False)
    plt.close(fig)
    for ax, (preset, dataset) in zip(axes[0], panels):
        rows = [r for r in _retrained(records[preset]) if r["dataset"] == dataset and r["pruned"] > 0]
        for k, method in enumerate(("Random", "Ours")):
            pts = sorted((r["epsilon_over_n"], abs(r["gap"]["mean"]), r["gap"]["std"]) for r in rows if r["method"] == method)
            if pts:
                x, y, e = zip(*pts)
                ax.errorbar(x, y, yerr=e, marker="o", ls="", capsize=2, label=method, color=f"C{6 if method == 'Ours' else 0}")
        xs = [r["epsilon_over_n"] for r in rows]
        if xs:
            line = np.geomspace(min(xs), max(xs), 20)
            ax.plot(line, line, "k--", lw=0.8, label="theory: gap = ε/n")
        ax.set_xscale("log")
        ax.set_yscale("symlog", linthresh=1e-4)
        ax.set_xlabel("ε / n")
        ax.set_ylabel("|test loss gap|")
        ax.set_title(f"{dataset} · {preset}", fontsize=9)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------- Fig. 4


def _published(table_values, **key) -> float | None:
    found = [v.mean for v in table_values if all(v.key.get(k) == x for k, x in key.items())]
    return found[0] if found else None


def efficiency_rows(record: dict) -> list[dict]:
    """Each run with its accuracy drop and training-time fraction relative to the whole dataset."""
    rows = record["metrics"]["rows"]
    whole = next(r for r in rows if r["ratio"] == 0)
    return [{**r, "drop": whole["final"]["mean"] - r["final"]["mean"],
             "time_fraction": r["train_seconds"] / whole["train_seconds"]} for r in rows]


def efficiency_table(record: dict) -> str:
    rows = [[r["method"], r["ratio"], fmt(r["final"]["mean"], r["final"]["std"]), f"{r['drop']:+.2f}",
             f"{r['train_seconds']:.1f}", f"{r['time_fraction']:.2f}"] for r in efficiency_rows(record)]
    return markdown_table(["Method", "Pruning ratio", "Test acc. (%)", "Drop vs whole (points)", "Training s", "Time / whole"], rows)


def efficiency_claims(record: dict) -> list[tuple[str, bool | None, str]]:
    values = fig4_values()
    drop_paper = _published(values, quantity="test accuracy drop (%)")
    time_paper = _published(values, quantity="convergence time (fraction of whole-dataset)")
    at = [r for r in efficiency_rows(record) if r["method"] == "Ours" and abs(r["ratio"] - 0.4) < 1e-9]
    if not at:
        return [("Pruning 40% halves the training time for a 1.3-point drop", None, "ratio 0.4 with Ours was not run")]
    r = at[0]
    on_cifar = PAPER_DATASET.get(next(iter(record["data_source"]))) == "CIFAR-10"
    return [
        (f"Pruning 40% with Ours cuts the training time to about {time_paper} of the whole-data run (≤ {time_paper + 0.1:.1f})",
         (r["time_fraction"] <= time_paper + 0.1) if on_cifar else None,
         f"time fraction {r['time_fraction']:.2f} (training seconds of the same schedule)" + ("" if on_cifar else "; not CIFAR-10")),
        (f"…at an accuracy drop of about {drop_paper} points (≤ {drop_paper + 1.0:.1f} allowed)",
         (r["drop"] <= drop_paper + 1.0) if on_cifar else None,
         f"drop {r['drop']:+.2f} points" + ("" if on_cifar else " (not CIFAR-10: the paper's number does not apply)")),
    ]


def efficiency_figure(records: dict[str, dict]):
    """Test accuracy vs training seconds, one curve per pruning ratio; one panel per preset."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(records), figsize=(4.6 * len(records), 3.5), squeeze=False)
    plt.close(fig)
    for ax, (preset, record) in zip(axes[0], records.items()):
        for k, r in enumerate(record["metrics"]["rows"]):
            label = "whole dataset" if r["ratio"] == 0 else f"{r['method']}, prune {r['ratio']:.0%}"
            ax.plot(r["seconds"], r["accuracy"], marker=".", label=label, color=f"C{k}")
        ax.set_xlabel("training time (s)")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"{next(iter(record['data_source']))} · {preset}", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------- Table 1


def nas_table(record: dict) -> str:
    """Ours per proxy; the published value beside it only when our data is the paper's (CIFAR-10)."""
    values = table1_values() if PAPER_DATASET.get(next(iter(record["data_source"]))) == "CIFAR-10" else []
    rows = []
    for r in record["metrics"]["rows"]:
        method = "Whole Dataset" if r["method"] == "Whole dataset" else r["method"]
        acc, rho = _published(values, method=method, quantity="Performance (%)"), _published(values, method=method, quantity="Correlation")
        rows.append([r["method"], f"{r['best_whole_accuracy']:.1f}" + (f" (paper {acc})" if acc is not None else ""),
                     ("—" if r["spearman_top"] != r["spearman_top"] else f"{r['spearman_top']:.2f}") + (f" (paper {rho})" if rho is not None else ""),
                     f"{r['minutes']:.2f}", r["images"]])
    return markdown_table(["Proxy", "Best-selected architecture's whole-data acc. (%)", "Spearman, top models", "Minutes (this run)", "Images"], rows)


def nas_claims(record: dict) -> list[tuple[str, bool | None, str]]:
    rows = {r["method"]: r for r in record["metrics"]["rows"]}
    if "Ours" not in rows:
        return [("Ours selects the best architecture", None, "the Ours proxy was not run")]
    proxies = [m for m in rows if m not in ("Whole dataset",)]
    best_acc = max(rows[m]["best_whole_accuracy"] for m in proxies)
    finite = [m for m in proxies if rows[m]["spearman_top"] == rows[m]["spearman_top"]]
    out = [("The Ours proxy selects the architecture with the best whole-data accuracy among proxies",
            rows["Ours"]["best_whole_accuracy"] >= best_acc,
            ", ".join(f"{m} {rows[m]['best_whole_accuracy']:.1f}" for m in proxies))]
    if "Ours" in finite:
        out.append(("The Ours proxy has the highest rank correlation with the whole-data ranking (top models)",
                    rows["Ours"]["spearman_top"] >= max(rows[m]["spearman_top"] for m in finite),
                    ", ".join(f"{m} {rows[m]['spearman_top']:.2f}" for m in finite)))
    out.append((f"Searched {record['metrics']['architectures_trained']} of the {record['metrics']['space_size']} ConvNets",
                None if record["metrics"]["architectures_trained"] < record["metrics"]["space_size"] else True,
                "a sample of the space at this preset" if record["metrics"]["architectures_trained"] < record["metrics"]["space_size"] else "the whole space"))
    return out
