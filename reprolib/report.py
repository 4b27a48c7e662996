"""Presenting results on book pages: tables of published vs reproduced numbers, provenance, figures.

Everything here reads run records and published values; nothing computes. Every reproduced number
is labelled with its preset, data source and device; every published number with its source.
"""

from __future__ import annotations

import re

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from reprolib.paper_values import PaperValue

# Our dataset names → the name the papers print. A lossy copy maps to its original, flagged.
PAPER_DATASET = {
    "mnist": "MNIST",
    "fashion-mnist": "Fashion-MNIST",
    "cifar10": "CIFAR-10",
    "cifar10-jpeg": "CIFAR-10",
    "cifar100": "CIFAR-100",
    "tinyimagenet": "Tiny ImageNet",
    "covid-cxr": "COVID-19 CXR",
}


def fmt(mean: float | None, std: float | None = None, digits: int = 1) -> str:
    if mean is None:
        return "—"
    return f"{mean:.{digits}f}" if std is None else f"{mean:.{digits}f} ± {std:.{digits}f}"


def _cell(value: Any) -> str:
    """A table cell's text: a ``|`` in it (``|Δ|``) is escaped so it never splits the row."""
    return re.sub(r"(?<!\\)\|", r"\\|", str(value))


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A GitHub/MyST markdown table. Columns empty in every row are left out (a reader sees no blank
    column); the book's stylesheet scrolls a table wider than the text column inside it."""
    rows = [list(row) for row in rows]
    keep = [i for i in range(len(headers)) if not rows or any(str(row[i]).strip() for row in rows if i < len(row))]
    lines = ["| " + " | ".join(_cell(headers[i]) for i in keep) + " |", "|" + "---|" * len(keep)]
    lines += ["| " + " | ".join(_cell(row[i]) if i < len(row) else "" for i in keep) + " |" for row in rows]
    return "\n".join(lines)


def show(markdown: str) -> None:
    """Display markdown in a notebook (plain text elsewhere)."""
    from IPython.display import Markdown, display

    display(Markdown(markdown))


def source_label(source: dict) -> str:
    """'fashion-mnist (Debian, official IDX), exact' — what a reader needs to judge a number."""
    kind = "exact copy" if source.get("exact") else "not the official data"
    return f"{source.get('label', '?')} ({kind})"


def time_text(record: dict) -> str:
    """How long the computation took, never a cache hit's time presented as the computation's; parts
    served from the cache are given with the seconds they took when they were computed, where known."""
    seconds = record.get("wall_time_s")
    if record.get("from_cache"):
        earlier = cached_parts_text(record)
        return f"{seconds} s, served from the cache ({earlier or 'computation time not known'})"
    if record.get("rerun_s") is not None:
        earlier = cached_parts_text(record)
        return (f"computed in {seconds} s ({str(record.get('computed_on', '?'))[:10]}; this rerun {record['rerun_s']} s "
                f"from the cache{'; it was computed on top of cached parts: ' + earlier if earlier else ''})")
    if record.get("partly_cached"):
        earlier = cached_parts_text(record)
        return (f"computed in {seconds} s, with parts served from the cache "
                f"({earlier or 'their earlier computation not counted'})")
    return f"computed in {seconds} s"


def cached_parts_text(record: dict) -> str:
    """'those parts took 3,120 s when computed: 3,300 s from a cold cache' ('' when no part's time is known)."""
    known, untimed = record.get("cached_parts_s") or 0, record.get("cached_parts_untimed", 0)
    if not known:
        return ""
    cold = known + (0 if record.get("from_cache") else record.get("wall_time_s") or 0)
    text = f"those parts took {known:,.0f} s when computed: {cold:,.0f} s from a cold cache"
    return text + (f", more for {untimed} part(s) computed before their time was kept" if untimed else "")


def provenance_line(record: dict) -> str:
    """The header of a run on a page: what ran (preset, overrides), on what data, where, how long, when."""
    from reprolib.records import overrides_text, stopped_parts

    sources = "; ".join(source_label(s) for s in record.get("data_source", {}).values())
    commit = str(record.get("git_commit") or "unknown")[:12]
    what = f"preset **{record['preset']}**"
    if record.get("overrides"):
        what += f" with overrides `{overrides_text(record['overrides'])}` (filed as `{record.get('run', '?')}`)"
    how = f"device: {record.get('device', '?')}"
    if record.get("precision"):
        how += f" · precision: {record['precision']}"
    line = f"{what} · data: {sources} · {how} · {time_text(record)} · {str(record.get('date', '?'))[:10]} · commit `{commit}`"
    stopped = stopped_parts(record)
    if stopped:
        line += "\n\n**Not finished in this run:** " + "; ".join(stopped) + "."
    if record.get("preset") == "small" and record.get("artifact"):
        line += "\n\n" + scale_table(record)
    return line


def _flatten(value: Any, prefix: str = "") -> dict[str, str]:
    """Parameters as ``{dotted.path: text}``; a list of mappings (settings) becomes one row per key with
    the distinct values over its entries (``settings[].teachers.epochs``)."""
    if isinstance(value, dict):
        out: dict[str, str] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        values: dict[str, list[str]] = {}
        for entry in value:
            for key, text in _flatten(entry, f"{prefix}[]").items():
                values.setdefault(key, [])
                if text not in values[key]:
                    values[key].append(text)
        return {key: " / ".join(texts) for key, texts in values.items()}
    if isinstance(value, list):
        return {prefix: ", ".join(map(str, value)) if value else "none"}
    return {prefix: str(value)}


def scale_rows(params: dict, paper_params: dict) -> list[tuple[str, str, str]]:
    """(parameter, paper, this run) for every parameter whose value differs from the paper preset's."""
    ours, paper = _flatten(params), _flatten(paper_params)
    keys = list(dict.fromkeys([*paper, *ours]))
    return [(key, paper.get(key, "—"), ours.get(key, "—")) for key in keys if paper.get(key) != ours.get(key)]


def record_cuts(record: dict) -> list[tuple[str, str, str]]:
    """:func:`scale_rows` of a run record against its artifact's ``paper`` preset, less the parameters
    the page never reads (raises PresetError when that preset cannot be resolved)."""
    from reprolib.artifacts import get_artifact
    from reprolib.presets import resolve
    from reprolib.runner import _plain

    rows = scale_rows(record.get("params", {}), _plain(resolve(record["artifact"], "paper")))
    unread = _unread_params(get_artifact(record["artifact"]).params)
    return [row for row in rows if not any(row[0] == key or row[0].startswith(key + ".") for key in unread)]


def _unread_params(params_type: type) -> list[str]:
    """Dotted names of the parameters a page carries but never reads: the fields of a borrowed section
    (a default declaring ``NOT_REUSED``) that describe the lending page's own table."""
    return [f"{f.name}.{name}" for f in fields(params_type) for name in getattr(f.default, "NOT_REUSED", ())]


def scale_table(record: dict) -> str:
    """The cuts a CPU-sized run made: the ``paper`` preset's setting beside the record's, line by line
    (only the parameters that differ)."""
    from reprolib.presets import PresetError

    try:
        rows = record_cuts(record)
    except PresetError as err:
        return f"**Scale:** the paper preset cannot be compared ({err})."
    if not rows:
        return "**Scale:** the paper's setting, unchanged."
    table = markdown_table(["parameter", "paper preset", f"this run ({record['preset']})"],
                           [(f"`{k}`", p, o) for k, p, o in rows])
    return f"**Scale: the paper's setting beside this run's** (parameters that differ)\n\n{table}"


def difference(ours: dict, other: dict) -> str:
    """'+0.5 (std 3.1 / 3.5)': a difference of two rows' means beside each one's spread over its networks,
    so a reader sees whether the difference is larger than the evaluation noise."""
    return f"{ours['mean'] - other['mean']:+.1f} (std {ours['std']:.1f} / {other['std']:.1f})"


def not_run_note(reasons: dict[str, str], names: dict[str, str] | None = None) -> str:
    """The parts of the paper a record left out, and why ('' when none)."""
    if not reasons:
        return ""
    names = names or {}
    return "Not run at this preset: " + "; ".join(f"**{names.get(k, k)}** — {why}" for k, why in reasons.items()) + "."


def code_line(artifact: str) -> str:
    """A page's "code" line: the experiment module that runs it, the files of the method it reproduces and
    its notebook template, as repository paths (the book links each to the repository when it is built
    with one, see book/_ext/repository_links.py; elsewhere they stay plain paths)."""
    from reprolib.artifacts import get_artifact

    found = get_artifact(artifact)
    methods = ", ".join(f"`{path}`" for path in found.method_files)
    return f"**Code**: experiment `{found.experiment_file}` · method {methods} · page `notebooks/{found.notebook}`"


def rerun_commands(artifact: str, notebook: str, preset: str = "small") -> str:
    """The two ways to regenerate a page, as a markdown code block."""
    return (
        "```bash\n"
        f"reprolib run {artifact} --preset {preset}            # executes the page into book/\n"
        f"reprolib compute {artifact} --preset {preset}        # the same computation without Jupyter\n"
        f"papermill notebooks/{notebook} out.ipynb -p preset {preset}\n"
        "```"
    )


def published_cell(values: Sequence[PaperValue]) -> str:
    """One table cell from the published values for the same key across papers.

    Identical values printed by several papers collapse into one; differing ones are each labelled.
    """
    shown: dict[str, list[str]] = {}
    for v in values:
        shown.setdefault(v.format(), []).append(v.paper_label)
    if len(shown) <= 1:
        return next(iter(shown), "—")
    return " / ".join(f"{value} ({', '.join(labels)})" for value, labels in shown.items())


def cited_note(values: Iterable[PaperValue]) -> str:
    """Per paper and table: whether it says these numbers were taken from other papers."""
    status: dict[str, set[str]] = {}
    for v in values:
        known = v.cited_from and not v.cited_from.startswith("unclear")
        status.setdefault(f"{v.paper_label} {v.ref}", set()).add(
            "taken from the original papers" if known else "not said whether re-run or copied" if v.cited_from else "run by the authors"
        )
    return "; ".join(f"{where}: {', '.join(sorted(s))}" for where, s in sorted(status.items()))


def paper_value_record(v: PaperValue) -> dict:
    """A published value as run-record data, with its human-readable source."""
    return {"paper": v.paper, "table": v.table, "key": v.key, "mean": v.mean, "std": v.std,
            "cited_from": v.cited_from, "source": v.source}


# Verdicts in words, with a symbol beside that every text font has (emoji render as empty boxes without an emoji font).
CLAIM_MARKS = {True: "holds ✓", False: "does not hold ✗", None: "not checkable —"}
CLAIM_VERDICTS = {True: "holds", False: "does not hold", None: "is not checkable here"}


def claims_table(claims: Iterable[tuple[str, bool | None, str]]) -> str:
    """The page's checks as a table: statement, verdict in our numbers, evidence."""
    return markdown_table(["Claim", "Our numbers", "Evidence"], [(s, CLAIM_MARKS[h], e) for s, h, e in claims])


def claims_summary(claims: Iterable[tuple[str, bool | None, str]], record: dict) -> str:
    """One sentence for a page's text: how each check came out at the record's preset."""
    told = "; ".join(f"{re.sub(r' [(][^()]*[)]$', '', s).rstrip('.')} — {CLAIM_VERDICTS[h]}" for s, h, _ in claims)
    return f"at preset {record['preset']}: {told}."


TOLERANCE = " (|Δ| ≤ max(3 points, 2 std))"  # how claim statements name agreement's tolerance


@dataclass(frozen=True)
class Compared:
    """One of our cells beside the published value it reproduces on the paper's own dataset: a
    like-for-like cell. Pages test their agreement claim on these, and the like-for-like page lists them."""

    cell: str  # 'fashion-mnist IPC 1 Random', with the reading where a page scores a row several ways
    ours: Mapping[str, Any]  # our row: mean, std, n (and selections where the row draws at random)
    paper: float
    paper_std: float | None = None
    source: str = ""  # where the papers print it: 'DDPP Table I; IADD Table 1'

    @classmethod
    def of(cls, cell: str, ours: Mapping[str, Any], value: PaperValue) -> Compared:
        return cls(cell, ours, value.mean, value.std, f"{value.paper_label or value.paper} {value.ref}")

    @property
    def delta(self) -> float:
        """Ours − paper."""
        return self.ours["mean"] - self.paper

    @property
    def within(self) -> bool:
        """Whether Δ is :data:`WITHIN`."""
        return within_published(self.delta, self.paper_std)


def agreement(compared: Iterable[Compared], none: str) -> tuple[bool | None, str]:
    """Whether our cells agree with the published means: every |Δ| ≤ max(3 points, 2 std of ours), the
    one tolerance of every page's claim. ``none``: the evidence when nothing is comparable (then the claim
    is not checkable)."""
    deltas = [(c.cell, c.delta, max(3.0, 2 * c.ours["std"])) for c in compared]
    if not deltas:
        return None, none
    within = sum(abs(delta) <= tolerance for _, delta, tolerance in deltas)
    label, delta, _ = max(deltas, key=lambda d: abs(d[1]))
    return within == len(deltas), (f"{within} of {len(deltas)} cells within max(3 points, 2 std); "
                                   f"largest |Δ| {abs(delta):.1f} at {label}")


def _printed(dataset: str, ipc: int, method: str) -> list[PaperValue]:
    """Every printed cell for one of our (dataset, IPC, method), in every paper that prints it."""
    from reprolib import paper_values

    paper_name = PAPER_DATASET.get(dataset)
    return [v for v in paper_values.find(method=method, dataset=paper_name, ipc=ipc) if v.mean is not None] if paper_name else []


def published_mean(dataset: str, ipc: int, method: str) -> float | None:
    """The published mean for one of our datasets, when every paper printing it agrees (else None)."""
    means = {v.mean for v in _printed(dataset, ipc, method)}
    return means.pop() if len(means) == 1 else None


def published_std(dataset: str, ipc: int, method: str) -> float | None:
    """The published ± for one of our datasets, when every paper printing it agrees (else None)."""
    stds = {v.std for v in _printed(dataset, ipc, method) if v.std is not None}
    return stds.pop() if len(stds) == 1 else None


def published_source(dataset: str, ipc: int, method: str) -> str:
    """Where the papers print it: 'DDPP Table I; GDD-SKD Table 1'."""
    return "; ".join(sorted({f"{v.paper_label or v.paper} {v.ref}" for v in _printed(dataset, ipc, method)}))


WITHIN = "within the paper's ± (or 1 point)"


def within_published(delta: float, std: float | None) -> bool:
    """The per-cell test of a like-for-like comparison: |Δ| ≤ the paper's ± (at least 1 point)."""
    return abs(delta) <= max(std or 0.0, 1.0)


def comparison_text(row: dict) -> str:
    """' (paper 51.4 ± 3.8, Δ +0.6, within ✓)' for a row of :func:`with_published`; '' without a published value."""
    if row.get("published") is None:
        return ""
    verdict = "within ✓" if row["within"] else "outside ✗"
    return f" (paper {fmt(row['published'], row.get('published_std'))}, Δ {row['delta']:+.1f}, {verdict})"


def comparable_cells(rows: Iterable[dict]) -> list[Compared]:
    """The rows of :func:`with_published` that have a published mean."""
    return [Compared(f"{r['dataset']} IPC {r['ipc']} {r['method']}", r, r["published"], r["published_std"],
                     r["published_source"]) for r in rows if r["published"] is not None]


def with_published(rows: Iterable[dict]) -> list[dict]:
    """Rows with ``dataset``, ``ipc``, ``method``, ``mean`` plus the published mean and ±, Δ = ours −
    published, and whether Δ is :data:`WITHIN` (:func:`within_published`)."""
    out = []
    for row in rows:
        published = published_mean(row["dataset"], row["ipc"], row["method"])
        std = published_std(row["dataset"], row["ipc"], row["method"])
        delta = None if published is None else row["mean"] - published
        out.append({**row, "published": published, "published_std": std, "delta": delta,
                    "published_source": published_source(row["dataset"], row["ipc"], row["method"]),
                    "within": None if delta is None else within_published(delta, std)})
    return out
