"""The evaluation protocol (``evaluate_synthetic``): networks trained one after another vs together.

Two settings: the papers' (ConvNetD3 on an IPC-10 CIFAR-10-shaped set, ``eval_nets`` networks ×
``eval_epochs`` epochs) and the smoke preset's own protocol on the embedded digits (read from the
``iadd-table1`` smoke preset), which decides what would speed up the smoke book on this device.
"""

from __future__ import annotations

import dataclasses

import torch

from bench.fakes import random_dataset
from bench.measure import best_time, check, precision
from bench.sizes import Size
from reprolib.data import load_dataset
from reprolib.evaluation import EvalProtocol, evaluate_synthetic
from reprolib.presets import resolve


def _settings(size: Size, device: torch.device) -> list[tuple[str, object, EvalProtocol]]:
    cifar = random_dataset(10, size.eval_ipc * 10, size.eval_test_images, device)
    paper = EvalProtocol(num_eval=size.eval_nets, epochs=size.eval_epochs)
    digits = load_dataset("digits", device=device)
    smoke = resolve("iadd-table1", "smoke").eval
    return [(f"CIFAR-10 shapes, IPC {size.eval_ipc}, ConvNetD3", cifar, paper),
            ("smoke preset: digits 8×8, IPC 10", digits, smoke)]


def run(size: Size, device: torch.device, info: dict) -> dict:
    rows, checks = [], []
    with precision("fp32", device):
        for label, data, protocol in _settings(size, device):
            picks = torch.cat([torch.nonzero(data.train_y.cpu() == c).flatten()[:size.eval_ipc]
                               for c in range(data.num_classes)])
            images, labels = data.train_x[picks.to(device)], data.train_y[picks.to(device)]
            results = {}
            seconds = {mode: best_time(lambda: results.update({mode: evaluate_synthetic(
                images, labels, data, protocol, batched=mode == "batched")}), device, 1)
                for mode in ("sequential", "batched")}
            one_image = 100.0 / len(data.test_y)
            difference = max(abs(a - b) for a, b in zip(results["batched"].accuracies, results["sequential"].accuracies))
            checks.append(check(f"evaluation accuracies, batched vs sequential ({label}); tolerance 2 test images",
                                difference, 2 * one_image))
            rows.append({"setting": label, "protocol": dataclasses.asdict(protocol), "images": len(images),
                         "test_images": len(data.test_y), "sequential_s": seconds["sequential"],
                         "batched_s": seconds["batched"], "speedup_batched": seconds["sequential"] / seconds["batched"],
                         "accuracies": {mode: list(r.accuracies) for mode, r in results.items()}})
    return {"rows": rows, "checks": checks}
