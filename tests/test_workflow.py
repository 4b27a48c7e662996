"""The GitHub Pages workflow is valid against GitHub's workflow schema (vendored by check-jsonschema, so offline)."""

from __future__ import annotations

import subprocess
import sys

from reprolib.records import project_root

WORKFLOW = project_root() / ".github" / "workflows" / "book.yml"


def _check(path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows", str(path)],
                          capture_output=True, text=True)


def test_the_pages_workflow_matches_the_schema():
    done = _check(WORKFLOW)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_schema_check_refuses_a_broken_workflow(tmp_path):
    broken = tmp_path / "book.yml"
    broken.write_text(WORKFLOW.read_text().replace("runs-on:", "runs_on:"))
    assert _check(broken).returncode != 0
