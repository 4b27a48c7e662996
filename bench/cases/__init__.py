"""The benchmark cases, by name: each ``run(size, device, info) -> dict`` returns its measurements and a
``checks`` list (library path vs reference, to float tolerance)."""

from __future__ import annotations

from bench.cases import evaluation, fast_path, matching, pruning, suite, teachers

CASES = {
    "teachers": teachers.run,
    "matching": matching.run,
    "runtime": matching.run_runtime_protocol,
    "evaluation": evaluation.run,
    "pruning": pruning.run,
    "fast_path": fast_path.run,
    "book": suite.run_book,
    "tests": suite.run_tests,
}
DEFAULT = ("teachers", "matching", "runtime", "evaluation", "pruning", "fast_path")  # "book", "tests": on request
