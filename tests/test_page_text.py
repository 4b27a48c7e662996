"""What the pages say about themselves: the code behind each, the figures' labels, no file a reader lacks,
and links to the repository only when the book is built with one."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest
from docutils import nodes
from docutils.frontend import get_default_settings
from docutils.parsers.rst import Parser
from docutils.utils import new_document

from reprolib.artifacts import artifacts
from reprolib.records import project_root
from reprolib.report import code_line
from reprolib.runner import notebook_paths

ROOT = project_root()
TEMPLATES = sorted((ROOT / "notebooks").rglob("*.ipynb"))
BOOK_TEXT = sorted((ROOT / "book").glob("*.md"))
# Files only the project's maintainers have (the design notes, the reference of facts, issue threads).
UNREADABLE = re.compile(r"\bREFERENCE\b|\bDESIGN\b|\b[Ii]ssues?\b")


def _template_text(path: Path) -> str:
    return "\n".join(cell.source for cell in nbformat.read(path, as_version=4).cells)


@pytest.mark.parametrize("path", TEMPLATES + BOOK_TEXT, ids=lambda p: str(p.relative_to(ROOT)))
def test_pages_refer_to_no_file_a_reader_lacks(path):
    text = _template_text(path) if path.suffix == ".ipynb" else path.read_text()
    found = [line.strip() for line in text.splitlines() if UNREADABLE.search(line)]
    assert not found, f"{path.name} mentions what a reader does not have: {found}"


@pytest.mark.parametrize("name", sorted(artifacts()))
def test_every_artifact_names_code_files_that_exist(name):
    artifact = artifacts()[name]
    assert artifact.method_files, f"{name} names no method file"
    for path in (artifact.experiment_file, *artifact.method_files):
        assert (ROOT / path).is_file(), f"{name}: {path} does not exist"
    line = code_line(name)
    assert f"`{artifact.experiment_file}`" in line and all(f"`{p}`" in line for p in artifact.method_files)
    assert f"`notebooks/{artifact.notebook}`" in line


def test_ddpp_pages_name_its_rule():
    assert "`reprolib/distillation/trajectory/rules.py`" in code_line("ddpp-table1")


@pytest.mark.parametrize("name", sorted(artifacts()))
def test_every_page_shows_its_code_line_under_its_title(name):
    cells = nbformat.read(notebook_paths(name)[0], as_version=4).cells
    assert cells[0].cell_type == "markdown" and cells[0].source.startswith("# ")
    assert f'code_line("{name}")' in cells[1].source and "remove-input" in cells[1].metadata.get("tags", [])


@pytest.mark.parametrize("name", sorted(artifacts()))
def test_figure_captions_carry_the_papers_label(name):
    """A caption opens with the paper's own label in bold (or says it is beside it); the book numbers none."""
    label = artifacts()[name].title.split(":")[0]
    captions = re.findall(r"```\{glue:figure\} \S+\n(?::\w+: .*\n)*\n(.*)", _template_text(notebook_paths(name)[0]))
    for caption in captions:
        bold = re.match(r"\*\*([^*]+)\*\*", caption)
        assert bold and label in bold.group(1), f"{name}: the caption should open with **{label}**: {caption[:80]}"


def _repository_links():
    spec = importlib.util.spec_from_file_location("repository_links", ROOT / "book" / "_ext" / "repository_links.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _linked(theme_options: dict) -> tuple[list[str], list[str]]:
    """(hrefs, plain literal texts) after the extension ran on a paragraph naming three paths."""
    document = new_document("page", get_default_settings(Parser))
    Parser().parse("``reprolib/report.py`` and ``no/such/file.py`` and ``python -m reprolib``", document)
    app = SimpleNamespace(config=SimpleNamespace(html_theme_options=theme_options))
    _repository_links().link_repository_paths(app, document, "page")
    hrefs = [ref["refuri"] for ref in document.findall(nodes.reference)]
    plain = [lit.astext() for lit in document.findall(nodes.literal) if not isinstance(lit.parent, nodes.reference)]
    return hrefs, plain


def test_code_paths_link_to_the_repository_when_the_book_has_one():
    hrefs, plain = _linked({"repository_url": "https://github.com/owner/reprolib", "repository_branch": "main"})
    assert hrefs == ["https://github.com/owner/reprolib/blob/main/reprolib/report.py"]
    assert plain == ["no/such/file.py", "python -m reprolib"]


def test_code_paths_stay_plain_without_a_repository():
    assert _linked({"repository_url": ""}) == ([], ["reprolib/report.py", "no/such/file.py", "python -m reprolib"])


def test_built_book_numbers_no_figure_and_invents_no_repository(built_book):
    """Captions carry the papers' numbers, never the book's running ones; no address is made up (Jupyter
    Book's default repository is its own)."""
    for page in built_book.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert 'class="caption-number"' not in text, f"{page.name} numbers a figure"
        assert "executablebooks/jupyter-book" not in text, f"{page.name} links to Jupyter Book's repository"
