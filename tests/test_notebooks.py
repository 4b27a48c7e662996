"""Notebook templates, the executed book pages, and the book build.

Templates (notebooks/) carry no outputs and a ``parameters`` cell. Their executed copies (book/, made
by ``make book`` at ``smoke``) are regression-checked with nbval: cells marked ``NBVAL_CHECK_OUTPUT``
must reproduce their stored output (numbers truncated to integers, see nbval_sanitize.cfg).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from reprolib.artifacts import artifacts, get_artifact
from reprolib.records import project_root, read_failures
from reprolib.runner import notebook_paths, run_notebook

ROOT = project_root()
TEMPLATES = sorted((ROOT / "notebooks").rglob("*.ipynb"))


def _parameters(nb) -> dict:
    """The values papermill injected into an executed notebook."""
    return nb.metadata.get("papermill", {}).get("parameters", {})


def test_every_artifact_has_a_template_and_every_template_an_artifact():
    registered = {notebook_paths(name)[0] for name in artifacts()}
    assert registered == set(TEMPLATES)


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_templates_have_no_outputs_and_a_parameters_cell(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert not any(c.outputs or c.execution_count for c in code), "strip outputs from templates"
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and "preset" in tagged[0].source and "overrides" in tagged[0].source


@pytest.mark.parametrize("name", sorted(artifacts()))
def test_every_page_says_how_to_rerun_it(name):
    """Both forms of the rerun command: the library's and plain papermill on the template."""
    template, _ = notebook_paths(name)
    text = "".join(c.source for c in nbformat.read(template, as_version=4).cells if c.cell_type == "markdown")
    assert f"reprolib run {name} " in text
    assert f"papermill notebooks/{get_artifact(name).notebook} " in text


@pytest.mark.parametrize("name", sorted(artifacts()))
def test_book_page_is_the_current_template_executed_at_smoke(name):
    template, page = notebook_paths(name)
    assert page.exists(), f"{page} is missing: run `make book`"
    executed = nbformat.read(page, as_version=4)
    assert _parameters(executed).get("preset") == "smoke"
    sources = lambda nb: [c.source for c in nb.cells if "injected-parameters" not in c.metadata.get("tags", [])]  # noqa: E731
    assert sources(executed) == sources(nbformat.read(template, as_version=4)), f"{page} is stale: run `make book`"
    defaults = [c for c in executed.cells if "parameters" in c.metadata.get("tags", [])]
    assert "remove-cell" in defaults[0].metadata["tags"], "the page shows the injected parameters, not the defaults"


def test_a_failed_execution_leaves_the_previous_page_intact(tmp_path, monkeypatch):
    import papermill

    def dies(template, output, **kwargs):
        Path(output).write_text('{"cells": [')  # what a kernel crash midway leaves
        raise RuntimeError("kernel died")

    page = tmp_path / "page.ipynb"
    page.write_text("previous page")
    monkeypatch.setattr(papermill, "execute_notebook", dies)
    with pytest.raises(RuntimeError, match="kernel died"):
        run_notebook("coreset-baselines", "smoke", output=page)
    assert page.read_text() == "previous page"
    assert read_failures("coreset-baselines")["smoke"]["message"] == "kernel died"  # the status page says why


def test_make_book_builds_the_html_when_a_page_fails(tmp_path):
    """`make book` goes on to the HTML when `reprolib run all` fails, after writing the status page."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    log = tmp_path / "log"
    fake = "#!/bin/sh\necho \"$(basename $0) $*\" >> {log}\ncase \"$*\" in *'run all'*) exit 1;; esac\n"
    for tool in ("python", "jupyter-book"):
        (venv / "bin" / tool).write_text(fake.format(log=log))
        (venv / "bin" / tool).chmod(0o755)
    (venv / ".installed").touch()
    run = subprocess.run(["make", "-s", "book", f"VENV={venv}"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    calls = log.read_text().splitlines()
    assert [c.split()[0] for c in calls] == ["python", "python", "jupyter-book"], calls
    assert "status --write book/status.md" in calls[1] and calls[2].startswith("jupyter-book build book")


def _env(tmp_path: Path) -> dict:
    """Fresh cache; a copy of the committed results, so pages show what they showed and nothing is written to the repo."""
    results = tmp_path / "results"
    if (ROOT / "results").exists():
        shutil.copytree(ROOT / "results", results)
    return {**os.environ, "REPROLIB_CACHE": str(tmp_path / "cache"), "REPROLIB_RESULTS": str(results), "REPROLIB_PROGRESS": "0"}


def test_book_pages_regress_under_nbval(tmp_path):
    """No wall-clock limit: a loaded machine is slower, not wrong (a hung kernel fails nbval's own cell timeout).

    One kernel at a time: each kernel already uses every core (torch's threads), and two kernels over
    xdist on the 2-core machine oversubscribed them — a GDD-SKD page went from about a minute to over 15 —
    while also computing the pages' shared prerequisites twice in separate caches."""
    pages = [str(notebook_paths(name)[1]) for name in artifacts()]
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
         "--nbval-sanitize-with", str(ROOT / "tests" / "nbval_sanitize.cfg"), *pages],
        cwd=ROOT, env=_env(tmp_path), capture_output=True, text=True,
    )
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-2000:]


def test_papermill_runs_a_template_directly(tmp_path):
    template = notebook_paths("coreset-baselines")[0]
    out = tmp_path / "out.ipynb"
    run = subprocess.run(
        [sys.executable, "-m", "papermill", str(template), str(out), "-p", "preset", "smoke",
         "-y", "overrides: {ipcs: [1], methods: [random, herding], eval.num_eval: 1, eval.epochs: 10}"],
        cwd=ROOT, env=_env(tmp_path), capture_output=True, text=True,
    )
    assert run.returncode == 0, run.stderr[-5000:]
    committed = (ROOT / "results" / "smoke" / "coreset-baselines.json").read_text()
    assert (tmp_path / "results" / "smoke" / "coreset-baselines.json").read_text() == committed  # not overwritten
    [filed] = (tmp_path / "results").glob("smoke+*/coreset-baselines.json")
    record = json.loads(filed.read_text())
    assert [(r["method"], r["ipc"]) for r in record["metrics"]["rows"]] == [("Random", 1), ("Herding", 1)]
    assert record["overrides"]["ipcs"] == [1]


def test_jupyter_book_builds(built_book):
    for page in ("intro.html", "status.html", "ddpp.html", "iadd.html", "gdd_skd.html", "dp.html"):
        assert (built_book / page).exists(), page
    for name, artifact in artifacts().items():
        page = built_book / artifact.notebook.replace(".ipynb", ".html")
        assert page.exists(), f"{name}: {page} missing from the book (is it in _toc.yml?)"
        assert artifact.title.split(":")[0] in page.read_text()


def test_status_page_is_current(monkeypatch):
    from reprolib.pages.status import status_markdown

    monkeypatch.delenv("REPROLIB_RESULTS")  # the committed results/, not the test's empty folder
    committed = (ROOT / "book" / "status.md").read_text()
    assert committed == status_markdown(), "book/status.md is stale: run `reprolib status --write book/status.md`"


def test_intro_claims_at_a_glance_is_current(monkeypatch):
    """The intro includes the table of every claim and its verdict per preset, generated beside the status page."""
    from reprolib.pages.status import GLANCE_FILE, glance_markdown

    monkeypatch.delenv("REPROLIB_RESULTS")  # the committed results/, not the test's empty folder
    assert f"```{{include}} {GLANCE_FILE}" in (ROOT / "book" / "intro.md").read_text()
    committed = (ROOT / "book" / GLANCE_FILE).read_text()
    assert committed == glance_markdown(), f"book/{GLANCE_FILE} is stale: run `reprolib status --write book/status.md`"


def test_the_like_for_like_page_is_current_and_in_the_book(monkeypatch):
    """Issue 13: every cell on the papers' own data beside the published value, in one generated page."""
    from reprolib.pages.like_for_like import LIKE_FILE, like_for_like_markdown

    monkeypatch.delenv("REPROLIB_RESULTS")
    assert f"- file: {LIKE_FILE.removesuffix('.md')}" in (ROOT / "_toc.yml").read_text()
    committed = (ROOT / "book" / LIKE_FILE).read_text()
    assert committed == like_for_like_markdown(), f"book/{LIKE_FILE} is stale: run `reprolib status --write book/status.md`"


def test_the_time_per_preset_is_current_and_in_the_intro_and_on_the_status_page(monkeypatch):
    """Issue 13: the intro says, measured, how long `make book PRESET=small` takes; one generated file says it."""
    from reprolib.pages.status import TIMES_FILE, times_markdown

    monkeypatch.delenv("REPROLIB_RESULTS")
    for page in ("intro.md", "status.md"):
        assert f"```{{include}} {TIMES_FILE}" in (ROOT / "book" / page).read_text()
    committed = (ROOT / "book" / TIMES_FILE).read_text()
    assert committed == times_markdown(), f"book/{TIMES_FILE} is stale: run `reprolib status --write book/status.md`"


def test_the_readme_states_how_long_make_book_computes_at_small(monkeypatch):
    """Issue 13 item 7: the README says, measured, how long `make book PRESET=small` computes on a 2-core
    CPU; the figure is the one the committed small records give."""
    from reprolib.pages.status import _hours, whole_preset
    from reprolib.records import read_records

    monkeypatch.delenv("REPROLIB_RESULTS")
    records = [read_records(name).get("small") for name in artifacts()]
    whole = whole_preset(records) if all(records) else None
    assert whole and not whole.untimed, "every page needs a small record listing its timed parts (parts_s)"
    assert {r["device"] for r in records} == {"cpu: 2 threads"}, "the README's figure is for a 2-core CPU"
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert f"computes for {_hours(whole.seconds)} on a 2-core CPU" in readme, "README's time for PRESET=small is stale"
