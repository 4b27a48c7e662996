"""The book's Performance page, generated from the newest result JSON of each device.

``python -m bench report --write book/performance.md`` (also run at the end of ``python -m bench run``);
a test checks that the committed page is current. Every verdict on the performance targets is computed
from the JSON here; a GPU target measured on a CPU is reported with its number but no verdict.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from reprolib import paper_values
from reprolib.records import project_root
from reprolib.report import claims_table, fmt, markdown_table
from reprolib.store import atomic_write_bytes

RESULTS = Path(__file__).resolve().parent / "results"
PAGE = project_root() / "book" / "performance.md"
GPU_MEMORY_LIMIT = 80e9  # "fits one 80 GB GPU"
COLUMNS = {"reference": "Reference", "plain": "Library", "memory_saving": "Memory-saving"}

Claim = tuple[str, "bool | None", str]


def load_results(folder: Path = RESULTS) -> list[dict]:
    return [json.loads(path.read_text()) for path in sorted(Path(folder).glob("*.json"))]


def latest_per_device(results: list[dict]) -> list[dict]:
    """The newest result of each device (by the run's date), GPUs first."""
    newest: dict[tuple[str, str], dict] = {}
    for result in results:
        key = (result["device"]["type"], result["device"]["name"])
        if key not in newest or result["device"]["date"] > newest[key]["device"]["date"]:
            newest[key] = result
    return sorted(newest.values(), key=lambda r: (r["device"]["type"] != "cuda", r["device"]["name"]))


def fmt_seconds(seconds: float | None, unit: str = "") -> str:
    return "out of memory" if seconds is None else f"{seconds:.3g}{unit}"


def fmt_ratio(ratio: float | None) -> str:
    return "—" if ratio is None else f"{ratio:.2f}×"


def fmt_percent(fraction: float | None) -> str:
    return "—" if fraction is None else f"{100 * fraction:.1f}%"


def _gb(nbytes: int | None) -> str:
    return "out of memory" if nbytes is None else f"{nbytes / 1e9:.3g} GB"


def all_checks(result: dict) -> list[dict]:
    return [c for case in result["cases"].values() for c in case.get("checks", [])]


def _gpu_verdict(result: dict, holds: bool) -> bool | None:
    return holds if result["device"]["type"] == "cuda" else None


def _on(result: dict) -> str:
    return "" if result["device"]["type"] == "cuda" else " (measured on a CPU; the target is for a GPU)"


def targets(result: dict) -> list[Claim]:
    """The performance targets, each (statement, met?, evidence); None where this result cannot say."""
    cases, claims = result["cases"], []
    checks = all_checks(result)
    claims.append(("Target: the library's paths give the straightforward paths' results (to float tolerance)",
                   all(c["ok"] for c in checks) if checks else None,
                   f"{sum(c['ok'] for c in checks)} of {len(checks)} equality checks within tolerance"))

    matching = cases.get("matching")
    if matching:
        statement = "Target: a matching iteration ≥ 2× faster than the straightforward unroll, at equal gradients"
        best = [max(r["speedup_plain"] or 0, r["speedup_memory_saving"] or 0) for r in matching["rows"] if r["reference_s"]]
        unmatched = len(matching["rows"]) - len(best)  # the reference ran out of memory: the library wins outright
        grads = matching["checks"]
        if best:
            claims.append((statement, _gpu_verdict(result, min(best) >= 2 and all(c["ok"] for c in grads)),
                           f"library vs reference {min(best):.2f}×–{max(best):.2f}× over {len(best)} shape × method "
                           f"rows{f' ({unmatched} more where only the reference ran out of memory)' if unmatched else ''}; "
                           f"{sum(c['ok'] for c in grads)}/{len(grads)} gradient checks pass{_on(result)}"))
        else:
            claims.append((statement, None, "the reference ran out of memory at every shape"))
        big = [s for s in matching["shapes"] if (s["dataset"], s["ipc"], s["syn_steps"], s["batch_syn"]) == ("cifar100", 50, 80, 125)]
        if big and result["device"]["type"] == "cuda":
            used = big[0]["memory"]["memory_saving"]["bytes"]
            claims.append(("Target: CIFAR-100 IPC 50 (80 steps, batch 125) fits one 80 GB GPU in memory-saving mode",
                           used is not None and used <= GPU_MEMORY_LIMIT, f"peak {_gb(used)} ({big[0]['memory']['memory_saving']['kind']})"))
        else:
            claims.append(("Target: CIFAR-100 IPC 50 (80 steps, batch 125) fits one 80 GB GPU in memory-saving mode", None,
                           "needs the full size (80 steps × batch 125) on a GPU"))

    runtime = cases.get("runtime")
    if runtime:
        iadd = next(r for r in runtime["rows"] if r["method"] == "IADD")
        claims.append(("Target: IADD's overhead over MTT ≤ 10% per iteration (paper: +13%)",
                       _gpu_verdict(result, iadd["overhead_vs_mtt"] <= 0.10),
                       f"{iadd['overhead_vs_mtt']:+.1%} in IADD's runtime protocol{_on(result)}"))

    teachers = cases.get("teachers")
    if teachers:
        ratio = teachers["ratio_best_library_vs_reference"]
        claims.append(("Target: teacher training ≥ 5× the one-model loop's throughput",
                       _gpu_verdict(result, ratio >= 5),
                       f"{ratio:.2f}× ({teachers['best_library']}){_on(result)}"))

    if "fast_path" in cases:
        claims += fast_path_targets(result)

    for name, what in (("book", "the smoke book in ≤ 10 min"), ("tests", "the test command in ≤ 20 min")):
        statement = f"Target: {what} on the 2-core CPU"
        case = cases.get(name)
        if case is None or result["device"]["type"] != "cpu":
            claims.append((statement, None, "not measured in this run (`python -m bench run --include book,tests` "
                                            "on a quiet 2-core machine)"))
        else:
            claims.append((statement, case["returncode"] == 0 and case["seconds"] <= case["limit_s"],
                           f"{case['seconds'] / 60:.1f} min, exit status {case['returncode']} "
                           f"({result['device']['cpu_count']} cores, load {result['device']['load_average'][0]:.2f})"))
    return claims


def _cpu_verdict(result: dict, case: dict, holds: bool) -> tuple[bool | None, str]:
    """The fast path's targets are for a CPU that multiplies bf16 natively: a verdict only there."""
    if result["device"]["type"] != "cpu":
        return None, " (measured on a GPU; the targets are for the 2-core CPU)"
    if not case["native_bf16"]:
        return None, " (this CPU has no native bf16: the targets are for AMX / AVX-512-BF16 CPUs)"
    return holds, ""


def fast_path_targets(result: dict) -> list[Claim]:
    """Issue 12's CPU targets, each from the fast-path rows: the speed-up over fp32 eager in one run."""
    case = result["cases"]["fast_path"]
    rows = {r["key"]: r for r in case["rows"]}
    claims = []
    steps = [rows[k] for k in ("convnet_32", "convnet_28") if k in rows]
    if steps:
        holds = all(r["speedup"] >= r["target"] and r["peak_fraction_fast"] >= r["peak_fraction_target"] for r in steps)
        verdict, note = _cpu_verdict(result, case, holds)
        claims.append(("CPU target: a ConvNetD3 training step ≥ 5× fp32 eager at 3×32×32 and 1×28×28, at ≥ 30% of the "
                       "measured bf16 matmul peak", verdict,
                       "; ".join(f"{r['case'].split(', ')[1]}: {r['speedup']:.2f}×, {fmt_percent(r['peak_fraction_fast'])} "
                                 "of peak" for r in steps) + note))
    groups = (("teacher_epoch", "a whole teacher epoch with DSA ≥ 4×"),
              ("evaluation_", "the evaluation protocol (with DSA) ≥ 4×"),
              ("dm_embedding", "DM's embedding (forward only) ≥ 4×"),
              ("gan_pool", "one GAN + pool step ≥ 3× (its networks' work; gradient penalty excluded)"))
    for prefix, statement in groups:
        chosen = [r for key, r in rows.items() if (key.startswith(prefix) if prefix.endswith("_") else key == prefix)]
        if chosen:
            verdict, note = _cpu_verdict(result, case, all(r["speedup"] >= r["target"] for r in chosen))
            claims.append((f"CPU target: {statement}", verdict,
                           "; ".join(f"{fmt_ratio(r['speedup'])}" + (f" ({r['case'].split(', ')[1]})" if len(chosen) > 1 else "")
                                     for r in chosen) + note))
    return claims


def _payback(row: dict) -> str:
    """After how many calls the compile warm-up is paid back by the faster steady state."""
    saved = row["fp32_s"] - row["fast_s"]
    if saved <= 0:
        return "never"
    return f"{math.ceil(row['warmup_s'] / saved)} calls ({row['warmup_s'] / saved * row['fp32_s']:.3g} s of fp32 work)"


def _fast_path(case: dict) -> str:
    fast, load = case["fast_path"], case["load_average_start"] or [float("nan")]
    rows = [[r["case"], fmt_seconds(r["fp32_s"]), fmt_seconds(r["fast_s"]), fmt_ratio(r["speedup"]),
             "—" if r["target"] is None else f"≥ {r['target']:g}×",
             f"{r['warmup_s']:.3g}" + (f" (compiled {r['recompiled_while_timed']} frames while timed)"
                                       if r.get("recompiled_while_timed") else ""), _payback(r),
             "—" if r["deviation"] is None else f"{r['deviation']['value']:.2g} ({r['deviation']['what']})".replace("|", "\\|")]
            for r in case["rows"]]
    steps = [r for r in case["rows"] if "channels_last" in r]
    layout = [[r["case"], f"{r['images_per_s_fp32']:,.0f}", f"{r['images_per_s_fast']:,.0f}",
               fmt_percent(r["peak_fraction_fast"]), fmt_seconds(r["fast_s"]), fmt_seconds(r["channels_last"]["fast_s"]),
               fmt_ratio(r["channels_last"]["speedup"]), case["memory_format_faster"][r["key"]]] for r in steps]
    parts = [f"The fast path is *{fast['label']}* (`reprolib.precision`, `precision: bf16`; native bf16 on this device: "
             f"{'yes' if case['native_bf16'] else 'no'}{'; compiling failed and fell back to eager' if fast['compile_fell_back'] else ''}), "
             "against fp32 eager, each through the library's own function. Seconds per call are the best of turns "
             "taken in alternation after each path's first call; the warm-up is the first call's excess (the first row "
             f"compiles into a fresh inductor cache{'' if steps and steps[0].get('cold_inductor_cache') else ' — unavailable in this torch'}; "
             "later rows use torch's persistent cache, as a rerun does). Load average "
             f"{load[0]:.2f} at the start of this case, {(case['load_average_end'] or [float('nan')])[0]:.2f} at its end.",
             markdown_table(["Case", "fp32 s", "Fast s", "× fp32", "CPU target", "Warm-up s", "Compile paid back after",
                             "Deviation from fp32"], rows)]
    if layout:
        parts += [f"ConvNetD3 steps: throughput, the fast path's fraction of the {case['peak_kind']} peak "
                  f"({case['peak'] / 1e12:.3g} TFLOP/s), and the memory format on the fast path:",
                  markdown_table(["Case", "fp32 images/s", "Fast images/s", "Fraction of bf16 peak", "Fast s (contiguous)",
                                  "Fast s (channels_last)", "channels_last × fp32", "Faster layout"], layout)]
    teacher = next((r for r in case["rows"] if "dsa" in r), None)
    if teacher:
        dsa = teacher["dsa"]
        parts.append(f"DSA alone on the teacher epoch's batches takes {dsa['seconds']:.3g} s: "
                     f"{fmt_percent(dsa['share_fast'])} of the epoch on the fast path ({fmt_percent(dsa['share_fp32'])} in fp32).")
    matching = next((r for r in case["rows"] if "bf16_autocast" in r), None)
    if matching:
        bf16 = matching["bf16_autocast"]
        parts.append(f"The matching iteration stays fp32 (the trajectory engine ignores the setting). For information, "
                     f"bf16 autocast of its unroll (eager) runs {fmt_ratio(bf16['speedup'])} fp32's speed with an image "
                     f"gradient at cosine {bf16['gradient_cosine']:.4f} to fp32's (bf16 would be adopted for the unroll only at a cosine ≥ 0.999).")
    for r in case["rows"]:
        if "profile_fast" in r:
            parts += [f"Where the fast path's time goes in *{r['case']}* — {fmt_ratio(r['speedup'])} against a target "
                      f"of {r['profile_target']:g}× (torch.profiler, self time of one steady-state call):",
                      markdown_table(["Op", "Self s", "Share"],
                                     [[f"`{o['op']}`", f"{o['self_s']:.3g}", fmt_percent(o["share"])] for o in r["profile_fast"]])]
    return "\n\n".join(parts)


def _teachers(case: dict) -> str:
    shape = case["shape"]
    rows = [[r["path"], r["models"], r["precision"], fmt_seconds(r["seconds"]), f"{r['images_per_s']:,.0f}",
             f"{r['teacher_epochs_per_min']:.3g}", fmt_ratio(r["speedup"]), f"{fmt_percent(r['flop_fraction'])} ({r['peak']})"]
            for r in case["rows"]]
    drift = "; ".join(f"{k}: {v:.2g}" for k, v in case["reduced_precision_drift"].items())
    return (f"One epoch of {shape['images']:,} images ({shape['image']}, batch {shape['batch_size']}, DSA) for "
            f"{shape['network']}, {shape['flops_per_image'] / 1e9:.3f} GFLOP per image forward + backward (counted by "
            "torch's FLOP counter). Teacher-epochs per minute are per 50,000-image CIFAR-10 epoch.\n\n"
            + markdown_table(["Path", "Models", "Precision", "Seconds", "Images/s", "Teacher-epochs/min",
                              "× reference", "Fraction of peak FLOP/s"], rows)
            + (f"\n\nReduced precision moves the end of the first teacher's epoch by (relative to the distance it "
               f"travelled): {drift}." if drift else ""))


def _matching(case: dict) -> str:
    rows = [[r["shape"], r["method"], fmt_seconds(r["reference_s"]), fmt_seconds(r["plain_s"]), fmt_seconds(r["memory_saving_s"]),
             fmt_ratio(r["speedup_plain"]), fmt_ratio(r["speedup_memory_saving"]), fmt_percent(r["flop_fraction_plain"])]
            for r in case["rows"]]
    memory = [[s["shape"], *(_gb(s["memory"][p]["bytes"]) for p in ("reference", "plain", "memory_saving")),
               "—" if s["flops_per_iteration"] is None else f"{s['flops_per_iteration'] / 1e9:.3g}",
               s["memory"]["memory_saving"]["kind"]] for s in case["shapes"]]
    paths = "; ".join(f"*{COLUMNS[name]}*: {label}" for name, label in case["paths"].items())
    return (f"Seconds per iteration (best of the repeats), fp32 — {paths}.\n\n"
            + markdown_table(["Shape", "Method", "Reference s", "Library s", "Memory-saving s", "Library ×",
                              "Memory-saving ×", "Library, fraction of peak"], rows)
            + "\n\nPeak memory per path (MTT's rule) and the FLOPs of one iteration:\n\n"
            + markdown_table(["Shape", "Reference", "Library", "Memory-saving", "GFLOP/iteration", "Memory measured as"],
                             memory))


def _runtime(case: dict, device: str) -> str:
    table = paper_values.paper_table("iadd", "runtime_text")
    paper = {v.key["method"]: v for v in table.cells}
    mtt_paper = paper["MTT"].mean
    shape = case["shape"]
    rows = [[r["method"], paper[r["method"]].format() if r["method"] in paper else "—",
             f"{(paper[r['method']].mean / mtt_paper - 1):+.0%}" if r["method"] in paper else "—",
             f"{r['mean']:.3g} ± {r['std']:.2g}", f"{r['overhead_vs_mtt']:+.1%}"] for r in case["rows"]]
    return (f"IADD's protocol ({table.ref}): iterations of the whole distillation loop, each of "
            f"{shape['syn_steps']} matching steps at batch {shape['batch_syn']}; here {shape['iterations']} timed "
            f"iterations at {shape['dataset']}, IPC {shape['ipc']}, {shape['network']}, on {device}. The paper's "
            f"numbers, as transcribed: {table.note}\n\n"
            + markdown_table(["Method", f"Paper s/iteration ({table.conditions.get('gpu', '?')})", "Paper vs MTT",
                              f"Ours s/iteration ({device})", "Ours vs MTT"], rows))


def _evaluation(case: dict) -> str:
    rows = [[r["setting"], f"{r['protocol']['num_eval']} × {r['protocol']['epochs']}", r["images"], r["test_images"],
             fmt_seconds(r["sequential_s"]), fmt_seconds(r["batched_s"]), fmt_ratio(r["speedup_batched"])] for r in case["rows"]]
    return ("`evaluate_synthetic` with the networks trained one after another (the default) or together "
            "(`batched=True`).\n\n" + markdown_table(
                ["Setting", "Networks × epochs", "Images", "Test images", "Sequential s", "Batched s", "Batched ×"], rows))


def _pruning(case: dict) -> str:
    shape = case["shape"]
    return markdown_table(
        ["Examples", "Features", "Influence dimension", "Influence s", "Annealing s", "Proposals", "Proposals/s"],
        [[f"{shape['n']:,}", shape["features"], f"{shape['influence_dim']:,}", fmt_seconds(case["influence_s"]),
          fmt_seconds(case["anneal_s"]), f"{shape['proposals']:,}", f"{case['proposals_per_s']:,.0f}"]])


def _suite(cases: dict) -> str:
    rows = [[cases[n]["command"], f"{cases[n]['seconds'] / 60:.1f}", f"{cases[n]['limit_s'] / 60:.0f}", cases[n]["returncode"]]
            for n in ("book", "tests") if n in cases]
    return markdown_table(["What", "Minutes", "Target (min)", "Exit status"], rows)


def device_section(result: dict) -> str:
    device, cases = result["device"], result["cases"]
    versions = device["versions"]
    load = device.get("load_average") or [float("nan")]
    parts = [
        f"## {device['name']} ({device['description']}) — size `{result['size']}`",
        f"Run {device['date']} · commit `{str(device.get('git_commit') or '?')[:12]}` · torch {versions.get('torch')} · "
        f"{device['torch_threads']} torch threads on {device['cpu_count']} cores, load average {load[0]:.2f} at the "
        f"start · {result['wall_time_s']:.0f} s in all. Size `{result['size']}`: {result['size_description']}.",
        "Peak FLOP/s used for the fractions: "
        + (", ".join(f"vendor {k} {v / 1e12:.4g} TFLOP/s" for k, v in device["vendor_peak_flops"].items()) + "; "
           if device["vendor_peak_flops"] else "no vendor figure for this device; ")
        + f"measured fp32 matmul {device['measured_matmul_fp32_flops'] / 1e12:.3g} TFLOP/s"
        + (f", measured bf16 matmul {device['measured_matmul_bf16_flops'] / 1e12:.3g} TFLOP/s"
           if device.get("measured_matmul_bf16_flops") else "") + ".",
        *([f"**Timings are noisy**: the load average at the start ({load[0]:.2f}) exceeded the cores the run left "
           f"free ({device['cpu_count']} cores, {device['torch_threads']} used by torch), so other work competed "
           "for the CPU."]
          if load[0] > device["cpu_count"] - device["torch_threads"] else []),
        "### Targets", claims_table(targets(result)),
    ]
    sections = (("teachers", "Teacher training", _teachers), ("matching", "One matching iteration", _matching),
                ("evaluation", "Evaluation protocol", _evaluation), ("pruning", "Influence + simulated annealing", _pruning),
                ("fast_path", "Fast path: bf16 autocast + torch.compile against fp32 eager", _fast_path))
    for name, title, render in sections:
        if name in cases:
            parts += [f"### {title}", render(cases[name])]
        if name == "matching" and "runtime" in cases:
            parts += ["### IADD's runtime protocol", _runtime(cases["runtime"], device["description"])]
    if "book" in cases or "tests" in cases:
        parts += ["### Smoke book and test suite", _suite(cases)]
    checks = all_checks(result)
    parts += ["### Equality checks", markdown_table(
        ["Check", "Relative difference", "Tolerance", "Within"],
        [[c["what"], f"{c['difference']:.2g}", f"{c['tolerance']:.2g}", "yes ✓" if c["ok"] else "no ✗"] for c in checks])]
    return "\n\n".join(parts)


def performance_markdown(folder: Path = RESULTS) -> str:
    results = latest_per_device(load_results(folder))
    intro = (
        "# Performance\n\n"
        "How fast the library's paths are, measured against straightforward reference implementations "
        "(`bench/reference.py`: a one-model training loop fed by a `DataLoader`; an autograd unroll over a list of "
        "parameter tensors that builds a new module every step) and against the device's peak FLOP/s, all in one "
        "run so the ratios compare. Generated from the newest `bench/results/*.json` of each device by "
        "`python -m bench report --write book/performance.md` (do not edit by hand); the performance targets below "
        "are evaluated from those numbers. Random tensors with CIFAR shapes stand in for the data: timings depend on "
        "shapes, not pixels.\n\n"
        "```bash\n"
        "python -m bench run --size full --device cuda    # the full CIFAR shapes on a GPU (also: make bench BENCH_SIZE=full)\n"
        "python -m bench run --size ci                    # minutes on a CPU, reduced shapes\n"
        "python -m bench run --include book,tests         # also time the smoke book and the test suite (quiet machine)\n"
        "```\n\n"
        "The library-vs-reference speed targets are GPU targets: a CPU run reports its numbers without a verdict on "
        "them, and CPU numbers are never GPU numbers. The fast path's targets (bf16 autocast + `torch.compile` "
        "against fp32 eager) are CPU targets: they get a verdict on a CPU that multiplies bf16 natively, "
        "and a GPU run reports them as information."
    )
    parity = parity_section(folder / "parity")
    if not results:
        return intro + "\n\nNo benchmark has been run yet.\n" + (f"\n{parity}\n" if parity else "")
    return intro + "\n\n" + "\n\n".join(device_section(r) for r in results) + (f"\n\n{parity}" if parity else "") + "\n"


def _parity_cell(measured: dict | None) -> str:
    if measured is None:
        return "not measured yet"
    seconds = measured.get("seconds")
    timing = f"{seconds:.0f} s" if seconds else measured.get("timing_note", "untimed")
    return f"{fmt(measured['mean'], measured.get('std'))} ({timing})"


def parity_section(folder: Path) -> str:
    """The fast path's accuracy on real data beside fp32 (``python -m bench.parity``), one table per device."""
    out = []
    for path in sorted(Path(folder).glob("*.json")):
        result = json.loads(path.read_text())
        setting, parts, verdicts = result.get("setting", {}), result.get("parts", {}), result.get("verdicts", {})
        rows = []
        for part, label, bound in (("evaluation", "Evaluation protocol: 5 ConvNetD3 × 1000 epochs with DSA on a random "
                                    f"{setting.get('dataset')} coreset, IPC {setting.get('ipc')}", "one std"),
                                   ("teachers", "Teachers ({} × {} epochs on the whole training set)".format(
                                       setting.get("teachers", {}).get("count", "?"),
                                       setting.get("teachers", {}).get("config", {}).get("epochs", "?")), "0.5 points")):
            got, verdict = parts.get(part, {}), verdicts.get(part)
            rows.append([label, _parity_cell(got.get("fp32")), _parity_cell(got.get("bf16")),
                         f"{verdict['delta']:+.2f}" if verdict else "—", bound,
                         ("holds ✓" if verdict["holds"] else "does not hold ✗") if verdict else "not checkable —",
                         fmt_ratio(verdict["speedup"]) if verdict and verdict.get("speedup") else "—"])
        device = result.get("device", {})
        out.append(f"### Accuracy of the fast path on real data ({device.get('description', '?')}, {device.get('name', '?')})\n\n"
                   "The same seeds in fp32 eager and on the fast path (bf16 autocast + `torch.compile`); accuracy in % "
                   "(mean ± std over the networks), Δ = fast − fp32. `python -m bench.parity` (resumable).\n\n"
                   + markdown_table(["measurement", "fp32 eager", "bf16 + compile", "Δ", "bound", "verdict", "speed-up"], rows))
    return "\n\n".join(out)


def write_page(path: Path = PAGE, folder: Path = RESULTS) -> None:
    atomic_write_bytes(Path(path), performance_markdown(folder).encode())
