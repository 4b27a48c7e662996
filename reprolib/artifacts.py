"""The registry of reproduced artifacts: one entry per paper table or figure page.

An artifact ties together a notebook template, its experiment (parameters + run function) and the
published values it is compared with. The CLI, the runner and the book's status page read it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from reprolib.experiments import coreset_baselines
from reprolib.pages import coreset_baselines as coreset_page


@dataclass(frozen=True)
class Artifact:
    name: str
    paper: str  # paper key in reprolib.paper_values ('shared' for rows common to several papers)
    title: str
    notebook: str  # template path under notebooks/
    params: type
    run: Callable
    paper_values: Callable[[], list]  # the published values the page compares with


ARTIFACTS: dict[str, Artifact] = {
    a.name: a
    for a in [
        Artifact(
            name="coreset-baselines",
            paper="shared",
            title="Coreset baselines: Random, Herding, K-Center, Forgetting",
            notebook="shared/coreset_baselines.ipynb",
            params=coreset_baselines.CoresetParams,
            run=coreset_baselines.run,
            paper_values=coreset_page.published_values,
        ),
    ]
}


def get_artifact(name: str) -> Artifact:
    try:
        return ARTIFACTS[name]
    except KeyError:
        raise KeyError(f"unknown artifact {name!r}; choose one of: {', '.join(sorted(ARTIFACTS))}") from None
