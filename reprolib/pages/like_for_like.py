"""The like-for-like page: every cell a page computed on a dataset the paper itself used, beside the
published value (paper, ours, Δ, within the paper's ±), for each preset that has records.

Each artifact says which of its cells are comparable (``Artifact.compared``, the same cells its agreement
claim tests); this page only collects them. Generated with the status page by ``reprolib status --write
book/status.md`` as ``book/like_for_like.md``; a test checks it is current.
"""

from __future__ import annotations

from reprolib.artifacts import artifacts
from reprolib.records import PRESET_ORDER, read_records
from reprolib.report import WITHIN, Compared, fmt, markdown_table

LIKE_FILE = "like_for_like.md"  # written beside the status page; in the book's table of contents


def _ours(c: Compared) -> str:
    """'54.5 ± 4.9 (4 scores, 2 selections)': what the ± is taken over."""
    n, selections = c.ours.get("n") or 1, c.ours.get("selections", 1)
    over = [f"{n} score{'s' if n > 1 else ''}"] + ([f"{selections} selections"] if selections > 1 else [])
    return fmt(c.ours["mean"], c.ours.get("std") if n > 1 else None) + f" ({', '.join(over)})"


def _runs() -> dict[str, dict[str, dict]]:
    """Run name → artifact → record, for runs without overrides (those are not the preset's numbers)."""
    runs: dict[str, dict[str, dict]] = {p: {} for p in PRESET_ORDER}
    for name in artifacts():
        for run, record in read_records(name).items():
            if not record.get("overrides"):
                runs.setdefault(run, {})[name] = record
    return {run: found for run, found in runs.items() if found}


def _shown(run: str, pages: list[tuple[str, list[Compared]]]) -> bool:
    """The standard presets always (saying when none of their cells is comparable), other runs when they have cells."""
    return run in PRESET_ORDER or any(cells for _, cells in pages)


def _pages(records: dict[str, dict]) -> list[tuple[str, list[Compared]]]:
    """(page link, its comparable cells) for every page with a record in ``records``, in the book's order."""
    found = [(a, records[name]) for name, a in sorted(artifacts().items(), key=lambda kv: (kv[1].paper, kv[0]))
             if a.compared is not None and name in records]
    return [(f"[{a.title.split(':')[0]}]({a.notebook})", a.compared(record)) for a, record in found]


def _merged(pages: list[tuple[str, list[Compared]]]) -> list[tuple[Compared, list[str]]]:
    """One row per cell: a cell two pages share (the same run of ours, the same published value) once,
    with both pages."""
    rows: dict[tuple, tuple[Compared, list[str]]] = {}
    for page, cells in pages:
        for c in cells:
            key = (c.cell, round(c.ours["mean"], 6), c.paper)
            if key in rows:
                first, where = rows[key]
                sources = sorted({*first.source.split("; "), *c.source.split("; ")} - {""})
                rows[key] = (Compared(first.cell, first.ours, first.paper, first.paper_std, "; ".join(sources)), where + [page])
            else:
                rows[key] = (c, [page])
    return list(rows.values())


def _section(preset: str, pages: list[tuple[str, list[Compared]]]) -> str:
    rows = _merged(pages)
    if not rows:
        return f"## `{preset}`\n\nNo cell at this preset ran on a dataset of the paper's table it reproduces."
    within = sum(c.within for c, _ in rows)
    summary = markdown_table(
        ["Page", "Cells", "Within", "Largest |Δ|"],
        [[page, len(cells), sum(c.within for c in cells), f"{max(abs(c.delta) for c in cells):.1f} at {max(cells, key=lambda c: abs(c.delta)).cell}"]
         for page, cells in pages if cells])
    table = markdown_table(
        ["Cell", "Paper", "Printed in", "Ours (± over)", "Δ", "Within?", "Page"],
        [[c.cell, fmt(c.paper, c.paper_std), c.source, _ours(c), f"{c.delta:+.1f}", "yes ✓" if c.within else "no ✗",
          ", ".join(where)] for c, where in rows])
    return (f"## `{preset}`\n\n**{within} of {len(rows)} cells** are {WITHIN}. By page (a cell two pages share "
            f"counts on each):\n\n{summary}\n\nEvery cell:\n\n{table}")


def like_for_like_markdown() -> str:
    pages = {run: _pages(records) for run, records in _runs().items()}
    sections = "\n\n".join(_section(run, found) for run, found in pages.items() if _shown(run, found))
    return (
        "# Like for like\n\n"
        "Every cell a page computed on a dataset the paper itself used, beside the published value — generated "
        "from `results/` by `reprolib status --write book/status.md` (do not edit by hand). Δ = ours − paper; "
        f"*within* = {WITHIN}. (Each page's own agreement claim allows more: max(3 points, 2 std of ours).) "
        "`cifar10-jpeg` is a lossy JPEG copy of CIFAR-10 and MNIST's training images are reconstructed (see "
        "[which data is exact](intro.md)); every other input is the paper's own dataset. A cell outside the "
        "paper's ±: its page's scale table lists every cut (the paper's setting beside the preset's) and its "
        "text says which cut explains the gap, or that none does. Each page's claims and their verdicts are "
        "on the [status](status.md) page and [at a glance](claims-at-a-glance) in the introduction.\n\n"
        f"{sections or 'No page has a run record yet.'}\n"
    )
