"""The status page (every artifact × preset: whether it ran, on what, whether the claims hold, how long
it took), the intro's at-a-glance table (every claim × preset: its verdict) and the time per preset.

All are generated from the registry and ``results/`` by ``reprolib status --write book/status.md`` (the
table and the times beside the page, as ``book/at_a_glance.md`` and ``book/time_per_preset.md``, which
the intro and the status page include); tests check they are current.
"""

from __future__ import annotations

from dataclasses import dataclass

from reprolib.artifacts import Artifact, artifacts
from reprolib.records import PRESET_ORDER, overrides_text, read_failures, read_records, stopped_parts
from reprolib.report import CLAIM_MARKS, markdown_table


def _data(record: dict) -> str:
    sources = record.get("data_source", {}).values()
    return "; ".join(f"{s.get('label', '?')} ({'exact' if s.get('exact') else 'not exact'})" for s in sources)


def _claims(artifact, record: dict) -> str:
    found = artifact.claims(record) if artifact.claims else []
    return "; ".join(CLAIM_MARKS[holds] for _, holds, _ in found) or "none checked"


def _run(name: str, record: dict | None) -> str:
    if record is None or not record.get("overrides"):
        return name
    return f"{record['preset']} with `{overrides_text(record['overrides'])}`"


def _status(record: dict | None, failure: dict | None) -> str:
    text = "not run" if record is None else "ran"
    stopped = stopped_parts(record) if record else []
    if stopped:
        text += f" (not finished: {'; '.join(stopped)})"
    if failure:
        shown = "the previous page is shown" if record else "no page"
        text += f"; last execution failed ({failure.get('error')}: {failure.get('message')}); {shown}"
    return text


def _computed_seconds(record: dict) -> float | None:
    """The record's computation time, or None when it was served from the cache (time not known)."""
    seconds = record.get("wall_time_s")
    return None if record.get("from_cache") or not isinstance(seconds, (int, float)) else float(seconds)


def _cold_seconds(record: dict) -> float | None:
    """The record's time from a cold cache: its own computation plus the recorded seconds of the parts it
    loaded; None when a part's time is not known."""
    own = 0.0 if record.get("from_cache") else _computed_seconds(record)
    if own is None or record.get("cached_parts_untimed") or (record.get("partly_cached") and "cached_parts_s" not in record):
        return None
    return own + (record.get("cached_parts_s") or 0.0) or None


def _hours(seconds: float) -> str:
    """'7 h 05 min', or '42 min' under an hour."""
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def _minutes(record: dict) -> str:
    seconds, cold = _computed_seconds(record), _cold_seconds(record)
    if seconds is None:
        return f"{cold / 60:.1f} min, earlier (served from the cache)" if cold else "not known (served from the cache)"
    if not record.get("partly_cached"):
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 60:.1f} min + " + (f"{(cold - seconds) / 60:.1f} min from the cache" if cold else "parts from the cache")


@dataclass(frozen=True)
class PresetTime:
    """How long computing every page of a preset takes from a cold cache."""

    seconds: float  # every distinct stored part once, plus each run's work outside the parts
    parts: int  # distinct stored parts
    untimed: int  # parts stored before costs were kept: not counted
    pages: tuple[tuple[str, float], ...]  # (page, seconds) in order, each part counted on the first page needing it

    @property
    def longest(self) -> tuple[str, float]:
        return max(self.pages, key=lambda page: page[1])


def whole_preset(records: list[dict]) -> PresetTime | None:
    """How long computing every page of a preset takes from a cold cache (``make book PRESET=…``, page
    execution and the HTML build aside), with ``records`` in ``reprolib compute all`` order: every distinct
    stored part once, on the first page that needs it, plus each run's work outside the parts. None unless
    every record lists its parts."""
    if not records or any("parts_s" not in r for r in records):
        return None
    seen: dict[str, float | None] = {}
    pages = []
    for r in records:
        new = {address: s for address, s in r["parts_s"].items() if address not in seen}
        seen.update(new)
        pages.append((r["artifact"], sum(s for s in new.values() if s is not None) + r["outside_parts_s"]))
    return PresetTime(seconds=sum(s for _, s in pages), parts=len(seen), untimed=sum(s is None for s in seen.values()),
                      pages=tuple(pages))


def preset_totals() -> list[str]:
    """Per standard preset: how many pages have a record and how long their computations took in all
    (each record's own computation time, as its page header gives it; cache-served runs not counted),
    and, where every part's time is known, how long each page takes from a cold cache."""
    runs = [read_records(name) for name in artifacts()]
    lines = []
    for preset in PRESET_ORDER:
        records = [found[preset] for found in runs if preset in found]
        times = [(_computed_seconds(r), _cold_seconds(r)) for r in records]  # (own, from a cold cache)
        timed = [own for own, _ in times if own is not None]
        cold = [whole for _, whole in times if whole is not None]
        text = f"**{preset}**: {len(records)} of {len(runs)} pages have a record"
        whole = whole_preset(records) if len(records) == len(runs) else None
        if whole:
            page, longest = whole.longest
            text += (f"; computing all of them from a cold cache (`make book PRESET={preset}` less executing the "
                     f"pages and building the HTML) takes {_hours(whole.seconds)} on the devices their records name: "
                     f"every one of the {whole.parts} stored parts they need computed once, plus each page's work "
                     f"outside them"
                     + (f" ({whole.untimed} parts stored before their time was kept are not counted)" if whole.untimed else "")
                     + f"; in `reprolib compute all` order, each part counted on the first page that needs it, the longest "
                     f"page is {page} ({_hours(longest)})")
        if timed and not whole:
            text += (f"; their computations took {sum(timed) / 60:.0f} min in all on the devices their records name "
                     f"(a prerequisite shared by several pages counts on the page that computed it)")
        unknown = sum(own is None and whole is None for own, whole in times)
        if unknown:
            text += f"; {unknown} served from the cache, time not known"
        partly = sum(own is not None and whole is None for own, whole in times)
        if partly:
            text += f"; {partly} computed on top of parts from the cache whose time is not known"
        if any(r.get("cached_parts_s") for r in records):
            text += (f"; from a cold cache, page by page (shared prerequisites counted on every page that uses "
                     f"them), {len(cold)} pages took {sum(cold) / 60:.0f} min, the longest {max(cold) / 60:.0f} min")
        lines.append(text + ".")
    return lines


def status_rows() -> list[list[str]]:
    """One row per artifact and standard preset (plus any user preset that has records)."""
    rows = []
    for name, artifact in _by_paper():
        runs, failures = read_records(name), read_failures(name)
        page = f"[{artifact.title}]({artifact.notebook})"
        for run in dict.fromkeys([*PRESET_ORDER, *runs, *failures]):
            record, failure = runs.get(run), failures.get(run)
            if record is None:
                rows.append([page, artifact.paper, run, _status(None, failure), "", "", "", "", ""])
                continue
            rows.append([
                page, artifact.paper, _run(run, record), _status(record, failure), _data(record),
                f"{record.get('device', '?')} · {record.get('precision', 'fp32')}",
                f"{str(record.get('date', '?'))[:10]} · `{str(record.get('git_commit') or '?')[:10]}`",
                _minutes(record), _claims(artifact, record),
            ])
    return rows


def status_markdown() -> str:
    table = markdown_table(["Artifact", "Paper", "Preset", "Status", "Data (source)", "Device · precision", "Date · commit",
                            "Computed in", "Claims"], status_rows())
    return (
        "# Status\n\n"
        "Every reproduced artifact at every preset, generated from `results/` by "
        "`reprolib status --write book/status.md` (do not edit by hand). *Claims*: one verdict per claim the "
        "page checks, in the page's order — holds, does not hold, or not checkable at that preset (e.g. smoke "
        "data is not the paper's). `smoke` numbers test the pipeline, not the papers. A page whose last "
        "execution failed keeps its previous version; the *Status* column says why it failed.\n\n"
        f"{table}\n\n"
        "## Time per preset\n\n"
        f"```{{include}} {TIMES_FILE}\n```\n"
    )


TIMES_FILE = "time_per_preset.md"  # written beside the status page; the status page and book/intro.md include it


def times_markdown() -> str:
    totals = "\n".join(f"- {line}" for line in preset_totals())
    return f"How long `make book PRESET=…` computes, as measured by the runs on record:\n\n{totals}\n"


GLANCE_FILE = "at_a_glance.md"  # written beside the status page; book/intro.md includes it


def _by_paper() -> list[tuple[str, Artifact]]:
    return sorted(artifacts().items(), key=lambda kv: (kv[1].paper, kv[0]))


def glance_markdown() -> str:
    """Every claim a page checks, one row each, with its verdict at every preset that has run records
    (runs with overrides are left out: they are not the preset's numbers)."""
    runs = {name: {run: r for run, r in read_records(name).items() if not r.get("overrides")} for name in artifacts()}
    presets = [p for p in dict.fromkeys([*PRESET_ORDER, *(run for found in runs.values() for run in found)])
               if any(p in found for found in runs.values())]
    rows = []
    for name, artifact in _by_paper():
        verdicts: dict[str, dict[str, bool | None]] = {}  # statement -> preset -> holds
        for preset, record in runs[name].items():
            for statement, holds, _ in (artifact.claims(record) if artifact.claims else []):
                verdicts.setdefault(statement, {})[preset] = holds
        page = f"[{artifact.title.split(':')[0]}]({artifact.notebook})"
        for statement, found in verdicts.items():
            rows.append([page, statement, *(CLAIM_MARKS[found[p]] if p in found else
                                            "not checked at this preset" if p in runs[name] else "not run" for p in presets)])
    missing = [p for p in PRESET_ORDER if p not in presets]
    note = (f" No page has run at {' or '.join(f'`{p}`' for p in missing)} yet (`reprolib run all --preset {missing[0]}`)."
            if missing else "")
    table = markdown_table(["Page", "Claim", *(f"`{p}`" for p in presets)], rows) if rows else "No page has a run record yet."
    return (
        "Every claim a page checks and its verdict at each preset that has run records — holds, does not hold, "
        "or not checkable there (e.g. smoke data is not the paper's) — generated from `results/` by "
        f"`reprolib status --write book/status.md` (do not edit by hand).{note} `smoke` verdicts test the pipeline, "
        "not the papers; each page gives the evidence.\n\n"
        f"{table}\n"
    )
