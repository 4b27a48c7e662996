"""Accuracy parity of the bf16 fast path with fp32, on real data (issue: the CPU fast path).

Two measurements, each run once in fp32 eager and once on the fast path (:mod:`reprolib.precision`,
bf16 autocast + ``torch.compile``), with the same seeds:

* the evaluation protocol as the tables use it — 5 ConvNetD3 networks × 1000 epochs with DSA — on a
  random Fashion-MNIST coreset of 10 images per class: the two means should agree within one std;
* teachers as trajectory matching trains them (ConvNetD3, SGD lr 0.01, batch 256, DSA) on the whole
  Fashion-MNIST training set for a few epochs: mean test accuracy within 0.5 points.

    python -m bench.parity [--threads 2] [--teachers 2] [--teacher-epochs 3]

About 40 minutes on the 2-core CPU. Each part is saved to ``bench/results/parity/<device>.json`` as it
finishes, and a rerun skips the parts already there (delete the file to measure again). The
Performance page shows the file.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

import torch

from bench.hardware import describe
from bench.report import RESULTS, write_page
from reprolib import precision
from reprolib.coreset import select_random
from reprolib.data import load_dataset
from reprolib.distillation.trajectory import TeacherConfig, train_teacher
from reprolib.evaluation import EvalProtocol, evaluate_synthetic
from reprolib.runtime import make_generator, resolve_device

DATASET, IPC, SEED = "fashion-mnist", 10, 0
MODES = ("fp32", "bf16")
TEACHER_TOLERANCE = 0.5  # points of test accuracy


PARITY = RESULTS / "parity"


def parity_path(device: torch.device, folder: Path = PARITY) -> Path:
    return folder / f"{device.type}.json"


def _timed(fn: Callable[[], object]) -> tuple[object, float]:
    began = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - began


def evaluation_part(data, mode: str) -> dict:
    indices = select_random(data.train_y, IPC, make_generator(SEED))
    with precision.use(mode, data.device) as numerics:
        result, seconds = _timed(lambda: evaluate_synthetic(data.train_x[indices], data.train_y[indices], data,
                                                            EvalProtocol(), seed=SEED))
    return {"precision": numerics.label(), "accuracies": list(result.accuracies), "mean": result.mean,
            "std": result.std, "seconds": seconds}


def teacher_part(data, mode: str, teachers: int, epochs: int) -> dict:
    config = TeacherConfig(num_teachers=teachers, epochs=epochs)
    accuracies, seconds = [], 0.0
    with precision.use(mode, data.device) as numerics:
        for seed in range(teachers):
            (_, acc), took = _timed(lambda: train_teacher(data, config, seed))
            accuracies.append(acc)
            seconds += took
    return {"precision": numerics.label(), "accuracies": accuracies, "mean": statistics.fmean(accuracies),
            "seconds": seconds, "epochs": epochs}


def _speedup(part: dict) -> float | None:
    """fp32 seconds over bf16 seconds; None where a timing was withdrawn (a run paused or shared)."""
    fp32, bf16 = part["fp32"].get("seconds"), part["bf16"].get("seconds")
    return fp32 / bf16 if fp32 and bf16 else None


def verdicts(result: dict) -> dict:
    """Whether the fast path kept the accuracy: evaluation within one std, teachers within 0.5 points."""
    out = {}
    ev = result["parts"].get("evaluation", {})
    if set(MODES) <= set(ev):
        delta = ev["bf16"]["mean"] - ev["fp32"]["mean"]
        bound = max(ev["fp32"]["std"], ev["bf16"]["std"])
        out["evaluation"] = {"delta": delta, "bound": bound, "holds": abs(delta) <= bound, "speedup": _speedup(ev)}
    te = result["parts"].get("teachers", {})
    if set(MODES) <= set(te):
        delta = te["bf16"]["mean"] - te["fp32"]["mean"]
        out["teachers"] = {"delta": delta, "bound": TEACHER_TOLERANCE, "holds": abs(delta) <= TEACHER_TOLERANCE,
                           "per_teacher": [b - a for a, b in zip(te["fp32"]["accuracies"], te["bf16"]["accuracies"])],
                           "speedup": _speedup(te)}
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.parity", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int)
    p.add_argument("--teachers", type=int, default=2)
    p.add_argument("--teacher-epochs", type=int, default=3)
    p.add_argument("--out", type=Path, default=PARITY)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    path = parity_path(device, args.out)
    result = json.loads(path.read_text()) if path.exists() else {"device": describe(device), "parts": {}}
    result.setdefault("setting", {
        "dataset": DATASET, "ipc": IPC, "selection": "random, seed 0", "protocol": EvalProtocol().as_dict()})
    if not result["parts"].get("teachers"):  # the teachers' setting is this run's until one is measured
        result["setting"]["teachers"] = {"count": args.teachers, "config": asdict(TeacherConfig(epochs=args.teacher_epochs))}
    data = load_dataset(DATASET, device=device)
    result["data_source"] = data.source.as_dict()
    jobs = [("evaluation", mode, lambda m=mode: evaluation_part(data, m)) for mode in MODES]
    jobs += [("teachers", mode, lambda m=mode: teacher_part(data, m, args.teachers, args.teacher_epochs)) for mode in MODES]
    for part, mode, fn in jobs:
        if mode in result["parts"].get(part, {}):
            continue
        print(f"{part} at {mode} ...", flush=True)
        result["parts"].setdefault(part, {})[mode] = fn()
        result["verdicts"] = verdicts(result)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(result, indent=1, default=str) + "\n")
        tmp.replace(path)
        print(f"  {json.dumps(result['parts'][part][mode], default=str)}", flush=True)
    print(json.dumps(result["verdicts"], indent=1))
    if args.out == PARITY:
        write_page()
    return 0


if __name__ == "__main__":
    sys.exit(main())
