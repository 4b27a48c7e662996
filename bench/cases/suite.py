"""The whole smoke book and the test suite, timed as a user runs them (off by default: minutes, and
only meaningful on a quiet machine).

* book: every artifact's notebook executed at ``smoke`` with papermill, from a cold artifact cache,
  into a temporary folder (``book/`` and ``results/`` are left untouched);
* tests: ``python -m pytest`` (what ``make test`` runs), from the project root.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from bench.sizes import Size
from reprolib.records import project_root

BOOK_LIMIT_S, TESTS_LIMIT_S = 600, 1200  # the targets on the 2-core CPU


def execute_smoke_book(out: Path) -> None:
    """Execute every artifact's notebook at ``smoke`` into ``out`` (run in a child process)."""
    from reprolib.artifacts import artifacts
    from reprolib.runner import run_notebook

    for name, artifact in artifacts().items():
        run_notebook(name, "smoke", output=out / artifact.notebook)


def _timed(label: str, command: list[str], env: dict[str, str]) -> dict:
    began = time.perf_counter()
    done = subprocess.run(command, cwd=project_root(), env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - began
    tail = (done.stdout + done.stderr).strip().splitlines()[-3:]
    return {"command": label, "seconds": seconds, "returncode": done.returncode, "tail": tail}


def run_book(size: Size, device: torch.device, info: dict) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        env = os.environ | {"REPROLIB_CACHE": f"{tmp}/cache", "REPROLIB_RESULTS": f"{tmp}/results"}
        code = "import sys, pathlib; from bench.cases.suite import execute_smoke_book; execute_smoke_book(pathlib.Path(sys.argv[1]))"
        result = _timed("every notebook executed at smoke, cold cache", [sys.executable, "-c", code, f"{tmp}/book"], env)
    return result | {"limit_s": BOOK_LIMIT_S, "cold_cache": True, "checks": []}


def run_tests(size: Size, device: torch.device, info: dict) -> dict:
    result = _timed("python -m pytest", [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], dict(os.environ))
    return result | {"limit_s": TESTS_LIMIT_S, "checks": []}
