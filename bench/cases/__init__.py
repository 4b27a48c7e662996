"""The benchmark cases, by name: each ``run(size, device, info) -> dict`` returns its measurements and a
``checks`` list (library path vs reference, to float tolerance)."""

from __future__ import annotations

from bench.cases import evaluation, matching, pruning, suite, teachers

CASES = {
    "teachers": teachers.run,
    "matching": matching.run,
    "runtime": matching.run_runtime_protocol,
    "evaluation": evaluation.run,
    "pruning": pruning.run,
    "book": suite.run_book,
    "tests": suite.run_tests,
}
DEFAULT = ("teachers", "matching", "runtime", "evaluation", "pruning")  # "book", "tests": on request
