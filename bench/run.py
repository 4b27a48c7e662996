"""Run the benchmark suite, write its JSON under ``bench/results/`` and regenerate the Performance page.

    python -m bench run --size ci|full --device auto|cpu|cuda [--include book,tests] [--only teachers,fast_path]
    python -m bench report --write book/performance.md      # the page from the JSON already there
    python bench/run.py --size full --device cuda           # the same as ``python -m bench run``

All cases run in one process, one after another, so their ratios are comparable. The run exits with
status 1 (after writing the JSON) when a library path differs from its reference beyond tolerance.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as a script: import from the project root, not from bench/ itself
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import torch  # noqa: E402

from bench.cases import CASES, DEFAULT  # noqa: E402
from bench.hardware import describe  # noqa: E402
from bench.report import PAGE, RESULTS, all_checks, fmt_percent, fmt_ratio, fmt_seconds, write_page  # noqa: E402
from bench.sizes import SIZES, Size, get_size  # noqa: E402
from reprolib.runtime import resolve_device  # noqa: E402

SCHEMA = 1


def result_path(result: dict, folder: Path = RESULTS) -> Path:
    """``<folder>/<device type>-<device name>-<size>.json``: one file per device and size, the latest run."""
    device = result["device"]
    slug = re.sub(r"[^a-z0-9]+", "-", f"{device['type']} {device['name']}".lower()).strip("-")
    return folder / f"{slug}-{result['size']}.json"


def check_cases(cases: Sequence[str]) -> None:
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        raise ValueError(f"unknown benchmark case(s) {unknown}; choose from {', '.join(CASES)}")


def run_suite(size: Size, device: torch.device, cases: Sequence[str], log: Callable[[str], None] = print) -> dict:
    """Every case in ``cases`` on ``device`` at ``size``: the result document."""
    check_cases(cases)
    began = time.perf_counter()
    info = describe(device)
    log(f"benchmark at size {size.name} on {info['description']} ({info['name']}), "
        f"{info['torch_threads']} threads, load average {info['load_average']}")
    result = {"schema": SCHEMA, "size": size.name, "size_description": size.describe(), "shapes": size.as_dict(),
              "device": info, "cases": {}}
    for name in cases:
        log(f"  {name} ...")
        started = time.perf_counter()
        result["cases"][name] = CASES[name](size, device, info) | {"case_seconds": time.perf_counter() - started}
    result["device"]["load_average_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    result["wall_time_s"] = time.perf_counter() - began
    return result


def failed_checks(result: dict) -> list[dict]:
    return [c for c in all_checks(result) if not c["ok"]]


def summary(result: dict) -> list[str]:
    """The lines printed at the end of a run: throughputs, ratios, FLOP fractions, checks."""
    cases, lines = result["cases"], [f"done in {result['wall_time_s']:.0f} s"]
    if "teachers" in cases:
        for row in cases["teachers"]["rows"]:
            lines.append(f"teachers  {row['path']:<42} {row['images_per_s']:9.0f} img/s  ×{row['speedup']:.2f}  "
                         f"{100 * row['flop_fraction']:.1f}% of peak ({row['peak']})")
    if "matching" in cases:
        for row in cases["matching"]["rows"]:
            lines.append(f"matching  {row['shape']:<40} {row['method']:<5} reference {fmt_seconds(row['reference_s'], ' s')}  "
                         f"library {fmt_seconds(row['plain_s'], ' s')} ({fmt_ratio(row['speedup_plain'])}, "
                         f"{fmt_percent(row['flop_fraction_plain'])} of peak)  memory-saving {fmt_seconds(row['memory_saving_s'], ' s')}")
    if "runtime" in cases:
        lines += [f"runtime   {r['method']:<5} {r['mean']:.3f} ± {r['std']:.3f} s/iteration ({r['overhead_vs_mtt']:+.1%} vs MTT)"
                  for r in cases["runtime"]["rows"]]
    if "evaluation" in cases:
        lines += [f"evaluate  {r['setting']:<40} sequential {fmt_seconds(r['sequential_s'], ' s')}  batched {fmt_seconds(r['batched_s'], ' s')}"
                  for r in cases["evaluation"]["rows"]]
    if "pruning" in cases:
        p = cases["pruning"]
        lines.append(f"pruning   n={p['shape']['n']:,}: influence {fmt_seconds(p['influence_s'], ' s')}, annealing {fmt_seconds(p['anneal_s'], ' s')}")
    if "fast_path" in cases:
        lines += [f"fast path {r['case'][:60]:<60} fp32 {fmt_seconds(r['fp32_s'], ' s')}  fast {fmt_seconds(r['fast_s'], ' s')}  "
                  f"{fmt_ratio(r['speedup'])}  warm-up {r['warmup_s']:.1f} s" for r in cases["fast_path"]["rows"]]
    for name in ("book", "tests"):
        if name in cases:
            lines.append(f"{name:<9} {cases[name]['seconds']:.0f} s (exit {cases[name]['returncode']})")
    checks = all_checks(result)
    lines.append(f"equality checks: {sum(c['ok'] for c in checks)}/{len(checks)} within tolerance")
    lines += [f"  FAILED: {c['what']}: {c['difference']:.3g} > {c['tolerance']:.3g}" for c in failed_checks(result)]
    return lines


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command")
    run = sub.add_parser("run", help="run the benchmarks, write the JSON and the Performance page")
    run.add_argument("--size", default="ci", choices=tuple(SIZES), help="ci: minutes on a CPU; full: the full CIFAR shapes, for a GPU")
    run.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1 …")
    run.add_argument("--only", type=_names, default=list(DEFAULT), help=f"cases to run (default: {','.join(DEFAULT)})")
    run.add_argument("--include", type=_names, default=[], help="extra cases: book,tests (minutes; for a quiet machine)")
    run.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    run.add_argument("--out", type=Path, default=RESULTS, help="folder for the result JSON (default: bench/results)")
    run.add_argument("--no-page", action="store_true", help="do not regenerate book/performance.md")
    report = sub.add_parser("report", help="write the Performance page from the result JSON")
    report.add_argument("--write", type=Path, default=PAGE, help="the page to write (default: book/performance.md)")
    report.add_argument("--results", type=Path, default=RESULTS, help="folder of result JSON (default: bench/results)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0].startswith("-"):
        argv.insert(0, "run")  # `python bench/run.py --size ci` means run
    args = parser().parse_args(argv)
    if args.command == "report":
        write_page(args.write, args.results)
        print(f"performance page written to {args.write}")
        return 0
    if args.threads:
        torch.set_num_threads(args.threads)
    cases = [*args.only, *args.include]
    try:
        size, device = get_size(args.size), resolve_device(args.device)
        check_cases(cases)
    except (ValueError, RuntimeError) as err:
        print(f"bench: error: {err}", file=sys.stderr)
        return 2
    result = run_suite(size, device, cases)
    path = result_path(result, args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1, allow_nan=False) + "\n")
    print("\n".join(summary(result)))
    print(f"results written to {path}")
    if not args.no_page and args.out == RESULTS:
        write_page(PAGE, RESULTS)
        print(f"performance page written to {PAGE}")
    return 1 if failed_checks(result) else 0


if __name__ == "__main__":
    sys.exit(main())
