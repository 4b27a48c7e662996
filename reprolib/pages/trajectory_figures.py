"""Pages of the DDPP / IADD figures: distilled images (DDPP Fig. 2, IADD Figs. 4–5) and the teacher–student
differences with IADD's learned weights W (IADD Figs. 1, 6, 7).

Reads run records only (the figures print no numbers, so there are no published values to put beside
ours). A claim is ``(statement, holds: bool | None, evidence)``; the papers state these claims in words,
so each check says how we read it and with which threshold.
"""

from __future__ import annotations

from collections.abc import Mapping

from reprolib import report
from reprolib.image_grid import decode_grid
from reprolib.pages.trajectory_matching import diverged_claim
from reprolib.report import markdown_table

# How we read the papers' words (our thresholds, said on the pages).
CONSISTENT = 0.5  # "parameters differ in matching difficulty": two halves of the draws rank coordinates alike (ρ ≥ 0.5)
VISIBLE_SPREAD = 0.01  # "the weights vary across dimensions": max W − min W ≥ 0.01 (W starts at 1)
TOP, MODERATE = (9,), (4, 5)  # deciles of the difference: the largest 10% vs the middle 40–60%
DIFFERENCE = r"$|\theta_{i+K} - \tilde{\theta}_{i,J}|$"  # axis label (matplotlib mathtext)


def _ok(record: dict) -> list[dict]:
    return [p for p in record["metrics"]["panels"] if p["status"] == "ok"]


def _label(panel: dict) -> str:
    return f"{panel['dataset']} IPC {panel['ipc']} {panel['method']}"


def _diverged_claim(record: dict) -> list[tuple[str, bool | None, str]]:
    return diverged_claim(_label(p) for p in record["metrics"]["panels"] if p["status"] != "ok")


def claims_table(claims: list[tuple[str, bool | None, str]]) -> str:
    return report.claims_table(claims)


def summary(claims: list[tuple[str, bool | None, str]], record: dict) -> str:
    return report.claims_summary(claims, record)


# ---------------------------------------------------------------- distilled images


def images_table(record: dict) -> str:
    """What each grid shows: the set, classes shown, learned step size, how far the images moved."""
    rows = []
    for p in record["metrics"]["panels"]:
        if p["status"] != "ok":
            rows.append([p["dataset"], p["ipc"], p["method"], "diverged", "", "", p.get("message", "")])
            continue
        shown = f"{len(p['classes'])} of {p['num_classes']}"
        rows.append([p["dataset"], p["ipc"], p["method"], shown, p["iterations"], f"{p['syn_lr']:.4g}",
                     f"{p['change_from_init']:.3f}"])
    return markdown_table(["Dataset", "IPC", "Method", "Classes shown", "Iterations", "learned lr α",
                           "‖x − x₀‖ / ‖x₀‖ (mean)"], rows)


def images_claims(record: dict, figure: str) -> list[tuple[str, bool | None, str]]:
    """DDPP Fig. 2 / IADD Fig. 4: IPC-1 images are more abstract than IPC-10 ones; IADD Fig. 5: textures."""
    if figure == "iadd-fig5":
        return [("Higher resolution gives clearer textures and visible details (IADD Fig. 5, Tiny ImageNet vs CIFAR-100)",
                 None, "a visual judgement: see the figure")] + _diverged_claim(record)
    by = {(p["dataset"], p["ipc"]): p["change_from_init"] for p in _ok(record)}
    pairs = [(d, by[(d, 1)], by[(d, 10)]) for d, i in by if i == 1 and (d, 10) in by]
    if pairs:
        holds = all(one > ten for _, one, ten in pairs)
        evidence = "; ".join(f"{d}: {one:.3f} at IPC 1 vs {ten:.3f} at IPC 10" for d, one, ten in pairs)
    else:
        holds, evidence = None, "no dataset has both IPC 1 and IPC 10"
    return [
        ("IPC-1 images are more abstract than IPC-10 ones (our proxy: they move further from the real images "
         "they started from, mean ‖x − x₀‖ / ‖x₀‖)", holds, evidence),
        ("IPC-10 images are more diverse within a class (different colours and forms)", None,
         "a visual judgement: see the figure"),
    ] + _diverged_claim(record)


def images_figure(records: Mapping[str, dict]):
    """One grid per (preset, set): a row per class (IPC > 1) or rows of classes in order (IPC 1)."""
    import matplotlib.pyplot as plt

    panels = [(preset, p) for preset, record in records.items() for p in _ok(record)]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 4.0), squeeze=False)
    plt.close(fig)  # returned for glue/display, not shown twice
    for ax, (preset, p) in zip(axes[0], panels):
        ax.imshow(decode_grid(p["png"]), interpolation="nearest")
        ax.set_title(f"{_label(p)} · {preset}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel(f"{p['columns']} images per row" if p["ipc"] == 1 else f"{p['ipc']} images per class")
        ax.set_ylabel("classes in order" if p["ipc"] == 1 else "one row per class")
    fig.tight_layout()
    return fig


def images_key_lines(record: dict) -> list[str]:
    return [f"{record['preset']} {_label(p)}: " + (f"{len(p['classes'])} classes shown, {p['columns']} per row"
                                                   if p["status"] == "ok" else p["status"])
            for p in record["metrics"]["panels"]]


# ---------------------------------------------------------------- differences and weights


def _quantile(panel: dict, q: float) -> float:
    qs = panel["quantiles"]
    return qs["difference"][min(range(len(qs["q"])), key=lambda k: abs(qs["q"][k] - q))]


def _rho(value: float | None) -> str:
    return "—" if value is None else f"{value:+.2f}"


def _mean_drop(panel: dict, deciles: tuple[int, ...]) -> float:
    return sum(panel["deciles"][k]["drop"] for k in deciles) / len(deciles)


def _drop_budget(panel: dict) -> str:
    """Σ_x(1 − W_x) beside 2·lr/(1 − momentum)·Σ_t L_t: since ∂L/∂W_x = 2·W_x·d_x²/‖θ_i − θ_{i+K}‖², the
    gradient's sum over coordinates is ≤ 2L while W ≤ 1, which caps the total decrease SGD can make."""
    rule = panel["rule"]
    bound = 2 * rule["lr_weight"] / (1 - rule["momentum_weight"]) * panel["loss_sum"]
    return f"{panel['weight_drop_sum']:.2e} / {bound:.2e}"


def difference_table(record: dict) -> str:
    """Per set: the spread of |θ_{i+K} − θ̃_{i,J}| and, with W, its range, rank correlation and decrease by decile."""
    rows = []
    for p in _ok(record):
        p10, p50, p90 = (_quantile(p, q) for q in (0.1, 0.5, 0.9))
        line = [p["dataset"], p["ipc"], p["method"], f"{p['num_params']:,}", p["probes"],
                f"{p10:.2e} / {p50:.2e} / {p90:.2e}", f"{p90 / p10:.1f}" if p10 > 0 else "∞", _rho(p["spearman_halves"])]
        if "weight_min" in p:
            line += [f"{p['weight_min']:.7f} … {p['weight_max']:.7f}", _rho(p["spearman_difference_weight"]),
                     f"{_mean_drop(p, TOP):.2e} vs {_mean_drop(p, MODERATE):.2e}", _drop_budget(p)]
        else:
            line += ["no W (not IADD)", "", "", ""]
        rows.append(line)
    return markdown_table(["Dataset", "IPC", "Method", "Parameters", "Draws", "abs. difference p10 / median / p90",
                           "p90 / p10", "ρ between halves of the draws", "W min … max", "Spearman ρ(difference, W)",
                           "mean 1 − W: top 10% vs middle 40–60% of difference", "Σ(1 − W) / its bound"], rows)


def modules_table(record: dict) -> str:
    """Per set and module (weight and bias together): mean absolute difference and, with W, mean and max 1 − W."""
    rows = []
    for p in _ok(record):
        for m in p["modules"]:
            drop = f"{m['drop_mean']:.2e} (max {m['drop_max']:.2e})" if "drop_mean" in m else "—"
            rows.append([_label(p), f"{m['module']} ({m['type']})", f"{m['size']:,}", f"{m['difference_mean']:.3e}", drop])
    return markdown_table(["Set", "Module", "Parameters", "mean abs. difference", "mean 1 − W"], rows)


def _largest_module_is_first_or_last(panel: dict) -> bool:
    means = [m["difference_mean"] for m in panel["modules"]]
    return means.index(max(means)) in (0, len(means) - 1)


def _every(panels: list[dict], test, evidence) -> tuple[bool, str]:
    """(the test holds for every set, the evidence set by set)."""
    return all(test(p) for p in panels), "; ".join(f"{_label(p)}: {evidence(p)}" for p in panels)


def difference_claims(record: dict, figure: str) -> list[tuple[str, bool | None, str]]:
    """IADD Fig. 1: parameters differ in matching difficulty; Figs. 6–7: W drops where the difference is large,
    visibly, and the mismatch peaks in the first/last layers."""
    panels = _ok(record)
    if not panels:
        return _diverged_claim(record)
    out = [("Parameters differ in how hard they are to match: some coordinates' teacher–student difference is low, "
            f"others' high (IADD Sec. 1, Fig. 1; we test that this is a property of the coordinate, not noise: two "
            f"halves of the teacher/start draws rank the coordinates alike, Spearman ρ ≥ {CONSISTENT:g})",
            *_every(panels, lambda p: (p["spearman_halves"] or 0) >= CONSISTENT,
                    lambda p: f"ρ = {_rho(p['spearman_halves'])} between halves of {p['probes']} draws, "
                              f"abs. difference p90/p10 = {_quantile(p, 0.9) / max(_quantile(p, 0.1), 1e-30):.1f}"))]
    if figure == "iadd-fig1":
        return out + _diverged_claim(record)
    weighted = [p for p in panels if "weight_min" in p]
    if not weighted:
        return out + [("IADD's weights are in the record", False, "these sets have no W: run the figure with method iadd")]
    out += [
        ("Weights of coordinates with considerable differences decrease, those with moderate differences stay high "
         "(IADD Sec. 4.3; we test: mean 1 − W larger in the top 10% of difference than in the middle 40–60%, "
         "and a negative Spearman ρ between difference and W)",
         *_every(weighted, lambda p: _mean_drop(p, TOP) > _mean_drop(p, MODERATE) and (p["spearman_difference_weight"] or 0) < 0,
                 lambda p: f"1 − W {_mean_drop(p, TOP):.2e} (top 10%) vs {_mean_drop(p, MODERATE):.2e} (middle), "
                           f"ρ = {_rho(p['spearman_difference_weight'])}")),
        (f"The learned weights vary visibly across coordinates (our reading of the spread in Figs. 6–7 b, d, f; "
         f"we test max W − min W ≥ {VISIBLE_SPREAD:g})",
         *_every(weighted, lambda p: p["weight_max"] - p["weight_min"] >= VISIBLE_SPREAD,
                 lambda p: f"max W − min W = {p['weight_max'] - p['weight_min']:.2e}")),
        ("The mismatch is most prominent in the early and late layers (IADD Sec. 4.3; we test: the module with the "
         "largest mean absolute difference is the first or the last)",
         *_every(panels, _largest_module_is_first_or_last,
                 lambda p: "largest mean absolute difference in " + max(p["modules"], key=lambda m: m["difference_mean"])["module"])),
    ]
    return out + _diverged_claim(record)


def _module_marks(ax, panel: dict) -> None:
    for m in panel["modules"][1:]:
        ax.axvline(m["start"], color="0.6", lw=0.6, ls=":")


def per_dimension_figure(records: Mapping[str, dict]):
    """The papers' layout: per set, |θ_{i+K} − θ̃_{i,J}| over the parameter index (a) and, with W, 1 − W (b).
    Each coordinate block shows its mean (line) and min–max range (band); dotted lines separate modules."""
    import matplotlib.pyplot as plt

    panels = [(preset, p) for preset, record in records.items() for p in _ok(record)]
    if not panels:
        return None
    columns = 2 if any("drop_mean" in p["profile"] for _, p in panels) else 1
    fig, axes = plt.subplots(len(panels), columns, figsize=(5.2 * columns, 2.3 * len(panels)), squeeze=False)
    plt.close(fig)
    for row, (preset, p) in zip(axes, panels):
        prof = p["profile"]
        series = [("difference", DIFFERENCE, "C0"), ("drop", "1 − W", "C3")]
        for ax, (name, ylabel, color) in zip(row, series):
            if f"{name}_mean" not in prof:
                ax.text(0.5, 0.5, "no W: this set is not IADD's", ha="center", va="center", transform=ax.transAxes)
                ax.set_axis_off()
                continue
            x = [*prof["start"], p["num_params"]]  # each block drawn up to the next one's start
            low, high, mean = ([*prof[f"{name}_{k}"], prof[f"{name}_{k}"][-1]] for k in ("min", "max", "mean"))
            ax.fill_between(x, low, high, step="post", color=color, alpha=0.25, lw=0)
            ax.step(x, mean, where="post", color=color, lw=0.8)
            _module_marks(ax, p)
            ax.set_xlim(0, p["num_params"])
            ax.set_ylabel(ylabel)
            ax.set_title(f"{_label(p)} · {preset}", fontsize=9)
            ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
        for ax in row:
            ax.set_xlabel("parameter index (flattened network)")
    fig.tight_layout()
    return fig


def weight_analysis_figure(records: Mapping[str, dict]):
    """Left: the sorted difference (quantiles, log scale) of every set. Right (sets with W): mean 1 − W per
    decile of the difference — IADD's claim is that it rises with the difference."""
    import matplotlib.pyplot as plt

    panels = [(preset, p) for preset, record in records.items() for p in _ok(record)]
    if not panels:
        return None
    weighted = [(preset, p) for preset, p in panels if "weight_min" in p]
    fig, axes = plt.subplots(1, 2 if weighted else 1, figsize=(10 if weighted else 5.2, 3.4), squeeze=False)
    plt.close(fig)
    ax = axes[0][0]
    for k, (preset, p) in enumerate(panels):
        ax.plot([100 * q for q in p["quantiles"]["q"]], p["quantiles"]["difference"], color=f"C{k}", label=f"{_label(p)} · {preset}")
    ax.set_yscale("log")
    ax.set_xlabel("coordinates sorted by difference (percentile)")
    ax.set_ylabel(DIFFERENCE)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    if weighted:
        ax = axes[0][1]
        for k, (preset, p) in enumerate(panels):
            if "weight_min" in p:
                ax.plot(range(1, 11), [d["drop"] for d in p["deciles"]], marker="o", ms=3, color=f"C{k}",
                        label=f"{_label(p)} · {preset}")
        ax.set_yscale("log")
        ax.set_xticks(range(1, 11))
        ax.set_xlabel("decile of |difference| (1 = smallest)")
        ax.set_ylabel("mean 1 − W (decrease from 1)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def difference_key_lines(record: dict) -> list[str]:
    lines = []
    for p in record["metrics"]["panels"]:
        if p["status"] != "ok":
            lines.append(f"{record['preset']} {_label(p)}: {p['status']}")
            continue
        text = f"{record['preset']} {_label(p)}: {p['num_params']} parameters, {p['probes']} draws, {len(p['modules'])} modules"
        if "weight_min" in p:
            text += f", W below 1 at {sum(d['drop'] > 0 for d in p['deciles'])} of 10 deciles"
        lines.append(text)
    return lines
