"""The ``reprolib`` command: data, run, compute, export, status.

    reprolib data                               which datasets have which sources present
    reprolib run ARTIFACT|all --preset P [-p k=v]   execute notebook(s) with papermill into book/
    reprolib compute ARTIFACT|all --preset P [-p k=v]   the same experiments without Jupyter
    reprolib export ARTIFACT --to DIR [--preset P] [-p k=v]   distilled sets as PNGs + .pt + provenance JSON
    reprolib status                             what has run, at which preset, on what

Your own images: -p settings.0.dataset=folder:PATH (a folder or .zip whose first-level folders are the
classes, optionally split into train/ and test/), or a preset YAML file of your own.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from reprolib.artifacts import artifacts, get_artifact
from reprolib.cost import FAR_ABOVE
from reprolib.presets import PresetError, load_preset, parse_override
from reprolib.records import overrides_text, read_failures, read_records, stopped_parts


def _overrides(pairs: Sequence[str]) -> dict:
    return dict(parse_override(p) for p in pairs)


def _targets(name: str, preset: str) -> list[str]:
    """``all``: every artifact the preset gives parameters for (the built-in presets list every one)."""
    if name == "all":
        listed = load_preset(preset)["artifacts"]
        found = [a for a in artifacts() if a in listed]
        if not found:
            raise PresetError(f"preset {preset!r} lists no artifact, so 'all' is empty; add entries under 'artifacts:'")
        return found
    get_artifact(name)
    return [name]


def cmd_data(args: argparse.Namespace) -> int:
    from reprolib.data import DATASET_NAMES, available_sources, dataset_info

    present = available_sources(args.root)
    width = max(map(len, DATASET_NAMES))
    for name in DATASET_NAMES:
        info = dataset_info(name)
        found = ", ".join(present.get(name, [])) or "not found (see `reprolib data --help`)"
        print(f"{name:<{width}}  {info.num_classes:>3} classes  {found}")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    """``run`` and ``compute``: one artifact or all, on the chosen executor."""
    from reprolib.sweep import SweepOptions, sweep

    from reprolib import cost

    targets, overrides = _targets(args.artifact, args.preset), _overrides(args.param)
    for name in targets:
        note = cost.check(name, args.preset, overrides, args.yes)
        if note:
            print(f"reprolib: note: {note}", file=sys.stderr)
    slurm = dict(parse_override(p) for p in args.slurm)
    options = SweepOptions(executor=args.executor, jobs=args.jobs, folder=Path(args.jobs_folder), slurm=slurm)
    target = args.device if args.command == "compute" else args.kernel
    lines = sweep(args.command, targets, args.preset, overrides, options,
                  only_missing=args.missing, target=target)
    failed = [line for line in lines if ": FAILED (" in line]
    print("\n".join(line for line in lines if line not in failed))
    for line in lines:
        if "; NOT FINISHED: " in line:
            print(f"reprolib: warning: {line}", file=sys.stderr)
    if failed:
        print("\n".join(f"reprolib: error: {line}" for line in failed), file=sys.stderr)
    return 1 if failed else 0


def cmd_export(args: argparse.Namespace) -> int:
    from reprolib.export import export_artifact

    for folder in export_artifact(args.artifact, args.preset, _overrides(args.param), Path(args.to), args.device):
        print(f"{folder}: images/<class>/*.png, distilled.pt, provenance.json")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    if args.write:
        from pathlib import Path

        from reprolib.pages.like_for_like import LIKE_FILE, like_for_like_markdown
        from reprolib.pages.status import GLANCE_FILE, TIMES_FILE, glance_markdown, status_markdown, times_markdown
        from reprolib.store import atomic_write_bytes

        page = Path(args.write)
        atomic_write_bytes(page, status_markdown().encode())
        atomic_write_bytes(page.with_name(GLANCE_FILE), glance_markdown().encode())
        atomic_write_bytes(page.with_name(TIMES_FILE), times_markdown().encode())
        atomic_write_bytes(page.with_name(LIKE_FILE), like_for_like_markdown().encode())
        print(f"status page written to {page}, the at-a-glance table of claims to {page.with_name(GLANCE_FILE)}, "
              f"the time per preset to {page.with_name(TIMES_FILE)}, the like-for-like cells to {page.with_name(LIKE_FILE)}")
        return 0
    for name, artifact in artifacts().items():
        records, failures = read_records(name), read_failures(name)
        print(f"{name}  ({artifact.paper}: {artifact.title})")
        if not records and not failures:
            print("    not run at any preset")
        for run, record in records.items():
            sources = ", ".join(s.get("label", "?") for s in record.get("data_source", {}).values())
            print(f"    {run:<6} {record.get('date', '?')}  {record.get('device', '?')} ({record.get('precision', 'fp32')})  data: {sources}  commit {str(record.get('git_commit'))[:12]}")
            if record.get("overrides"):
                print(f"           overrides: {overrides_text(record['overrides'])}")
            for part in stopped_parts(record):
                print(f"           not finished: {part}")
        for run, failure in failures.items():
            print(f"    {run:<6} last execution FAILED {failure.get('date', '?')}: {failure.get('error')}: {failure.get('message')}")
    from reprolib.pages.status import preset_totals

    print("\n" + "\n".join(line.replace("**", "") for line in preset_totals()))
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="reprolib", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="list datasets and the sources present",
                          description="Datasets are looked for in --root, $REPROLIB_DATA, known offline places, then downloaded when online.")
    data.add_argument("--root", help="a data folder to look in first (default: $REPROLIB_DATA)")
    data.set_defaults(func=cmd_data)

    for command, func, help_text in (
        ("run", cmd_sweep, "execute artifact notebooks with papermill into book/"),
        ("compute", cmd_sweep, "compute artifacts and write their run records, without Jupyter"),
    ):
        c = sub.add_parser(command, help=help_text)
        c.add_argument("artifact", help=f"an artifact name or 'all' ({', '.join(artifacts())})")
        c.add_argument("--preset", default="smoke", help="smoke, small, paper, or a preset YAML file (default: smoke)")
        c.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                       help="override a parameter (YAML value); dotted keys reach sections and list entries: -p ipcs=[1,10] "
                            "-p eval.epochs=50 -p settings.0.dataset=folder:PATH (your own images: a folder or zip "
                            "of class folders). A list entry merges with the preset's entry it replaces; "
                            "methods=[...] limits every row family")
        if command == "run":
            c.add_argument("--kernel", help="Jupyter kernel name (default: the notebook's)")
        else:
            c.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1 …")
        c.add_argument("--executor", default="inline", choices=("inline", "local", "slurm"),
                       help="inline: one after another here; local: submitit jobs on this machine; slurm: a cluster")
        c.add_argument("--jobs", type=int, default=1, help="local executor: jobs at a time (one per GPU, or CPU processes)")
        c.add_argument("--jobs-folder", default="_build/sweep", help="submitit's logs and job files")
        c.add_argument("--slurm", action="append", default=[], metavar="KEY=VALUE",
                       help="extra submitit SLURM parameter, e.g. --slurm slurm_partition=gpu --slurm cpus_per_task=8")
        c.add_argument("--yes", action="store_true",
                       help=f"run even when the overrides make it more than {FAR_ABOVE:.0f}x the preset's expected cost")
        c.add_argument("--missing", action="store_true",
                       help="skip artifacts whose record exists with the same parameters (resume a failed sweep)")
        c.set_defaults(func=func)

    export = sub.add_parser(
        "export", help="write an artifact's distilled sets as PNG class folders, a .pt of tensors and a JSON of what made them",
        description="Writes DIR/<dataset>-ipc<N>-<method>/ with images/<class>/*.png, distilled.pt (images as the "
                    "networks see them, labels, learned lr, mean/std) and provenance.json, from the store: run "
                    "`reprolib compute ARTIFACT` with the same preset and -p first. Example: reprolib export iadd-table1 "
                    "--preset mine.yaml --to distilled/")
    export.add_argument("artifact", help="a trajectory-matching artifact (ddpp-table1, iadd-table1, ddpp-table4, …)")
    export.add_argument("--to", required=True, metavar="DIR", help="folder to write into")
    export.add_argument("--preset", default="smoke", help="the preset it was computed at (default: smoke)")
    export.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                        help="the overrides it was computed with")
    export.add_argument("--device", default="cpu", help="where to load the sets (default: cpu)")
    export.set_defaults(func=cmd_export)

    status = sub.add_parser("status", help="what has run, at which preset, on what data and device")
    status.add_argument("--write", metavar="PATH", help="write the book's status page (markdown) instead of printing, and beside it "
                        "at_a_glance.md (the intro's table of every claim and its verdict per preset), time_per_preset.md and "
                        "like_for_like.md (every cell on the papers' own data beside the published value)")
    status.set_defaults(func=cmd_status)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except (PresetError, KeyError, FileNotFoundError, ValueError, RuntimeError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"reprolib: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
