"""The status page: every artifact × preset, whether it ran, on what, and whether the claims hold.

Generated from the registry and ``results/`` by ``reprolib status --write book/status.md``; a test
checks the committed page is current.
"""

from __future__ import annotations

from reprolib.artifacts import artifacts
from reprolib.records import PRESET_ORDER, read_records
from reprolib.report import markdown_table

VERDICT = {True: "✅", False: "❌", None: "—"}


def _data(record: dict) -> str:
    sources = record.get("data_source", {}).values()
    return "; ".join(f"{s.get('label', '?')} ({'exact' if s.get('exact') else 'not exact'})" for s in sources)


def _claims(artifact, record: dict) -> str:
    if artifact.claims is None:
        return "—"
    found = artifact.claims(record)
    return " ".join(VERDICT[holds] for _, holds, _ in found) or "—"


def status_rows() -> list[list[str]]:
    """One row per artifact and standard preset (plus any user preset that has records)."""
    rows = []
    for name, artifact in sorted(artifacts().items(), key=lambda kv: (kv[1].paper, kv[0])):
        runs = read_records(name)
        page = f"[{artifact.title}]({artifact.notebook})"
        for preset in dict.fromkeys([*PRESET_ORDER, *runs]):
            record = runs.get(preset)
            if record is None:
                rows.append([page, artifact.paper, preset, "not run", "", "", "", ""])
                continue
            rows.append([
                page, artifact.paper, preset, "ran", _data(record), record.get("device", "?"),
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
        "`reprolib status --write book/status.md` (do not edit by hand). *Claims*: one mark per claim the "
        "page checks — ✅ holds, ❌ does not hold, — not checkable at that preset (e.g. smoke data is not the "
        "paper's). `smoke` numbers test the pipeline, not the papers.\n\n"
        f"{table}\n"
    )
