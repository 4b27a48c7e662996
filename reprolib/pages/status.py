"""The status page: every artifact × preset, whether it ran, on what, and whether the claims hold.

Generated from the registry and ``results/`` by ``reprolib status --write book/status.md``; a test
checks the committed page is current.
"""

from __future__ import annotations

from reprolib.artifacts import artifacts
from reprolib.records import PRESET_ORDER, overrides_text, read_failures, read_records, stopped_parts
from reprolib.report import CLAIM_MARKS, markdown_table


def _data(record: dict) -> str:
    sources = record.get("data_source", {}).values()
    return "; ".join(f"{s.get('label', '?')} ({'exact' if s.get('exact') else 'not exact'})" for s in sources)


def _claims(artifact, record: dict) -> str:
    if artifact.claims is None:
        return "—"
    found = artifact.claims(record)
    return "; ".join(CLAIM_MARKS[holds] for _, holds, _ in found) or "—"


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


def status_rows() -> list[list[str]]:
    """One row per artifact and standard preset (plus any user preset that has records)."""
    rows = []
    for name, artifact in sorted(artifacts().items(), key=lambda kv: (kv[1].paper, kv[0])):
        runs, failures = read_records(name), read_failures(name)
        page = f"[{artifact.title}]({artifact.notebook})"
        for run in dict.fromkeys([*PRESET_ORDER, *runs, *failures]):
            record, failure = runs.get(run), failures.get(run)
            if record is None:
                rows.append([page, artifact.paper, run, _status(None, failure), "", "", "", ""])
                continue
            rows.append([
                page, artifact.paper, _run(run, record), _status(record, failure), _data(record), record.get("device", "?"),
                f"{str(record.get('date', '?'))[:10]} · `{str(record.get('git_commit') or '?')[:10]}`",
                _claims(artifact, record),
            ])
    return rows


def status_markdown() -> str:
    table = markdown_table(["Artifact", "Paper", "Preset", "Status", "Data (source)", "Device", "Date · commit", "Claims"],
                           status_rows())
    return (
        "# Status\n\n"
        "Every reproduced artifact at every preset, generated from `results/` by "
        "`reprolib status --write book/status.md` (do not edit by hand). *Claims*: one verdict per claim the "
        "page checks, in the page's order — holds, does not hold, or not checkable at that preset (e.g. smoke "
        "data is not the paper's). `smoke` numbers test the pipeline, not the papers. A page whose last "
        "execution failed keeps its previous version; the *Status* column says why it failed.\n\n"
        f"{table}\n"
    )
