"""Repository paths on the pages become links to the repository, when the book knows one.

A page names code as inline literals (``reprolib/distillation/trajectory/rules.py`` in its "code" line,
``reprolib/data/registry.py`` in the docs). When the book is built with a repository URL (``repository.url``
in _config.yml, which the Pages workflow sets from $GITHUB_REPOSITORY), every such literal that is a file
of this checkout links to that file on the repository's branch; without a URL they stay plain paths, so no
address is ever invented. Loaded by _config.yml (``sphinx.local_extensions``); needs only Sphinx.
"""

from __future__ import annotations

import re
from pathlib import Path

from docutils import nodes

ROOT = Path(__file__).resolve().parents[2]  # the checkout: book/_ext/ -> book/ -> root
REPOSITORY_PATH = re.compile(r"[\w.-]+(?:/[\w.-]+)+")


def file_url(repository_url: str, branch: str, path: str) -> str:
    return f"{repository_url.rstrip('/')}/blob/{branch}/{path}"


def link_repository_paths(app, doctree: nodes.document, docname: str) -> None:
    options = app.config.html_theme_options or {}
    repository = options.get("repository_url")
    if not repository:
        return
    branch = options.get("repository_branch") or "main"
    for literal in list(doctree.findall(nodes.literal)):
        path = literal.astext()
        if isinstance(literal.parent, nodes.reference) or not REPOSITORY_PATH.fullmatch(path) or not (ROOT / path).is_file():
            continue
        link = nodes.reference("", "", internal=False, refuri=file_url(repository, branch, path))
        literal.replace_self(link)
        link.append(literal)


def setup(app):
    app.connect("doctree-resolved", link_repository_paths)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
