"""The registry of reproduced artifacts: one entry per paper table or figure page.

An artifact ties together a notebook template, its experiment (parameters + run function) and the
published values it is compared with. Each module in ``reprolib.experiments`` declares its own
``ARTIFACTS`` list; the registry collects them, so adding a page touches no shared list.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache


@dataclass(frozen=True)
class Artifact:
    name: str  # what `reprolib run NAME` takes, and the run record's file name
    paper: str  # paper key in reprolib.paper_values ('shared' for rows common to several papers)
    title: str
    notebook: str  # template path under notebooks/ (the executed page has the same path under book/)
    params: type  # frozen dataclass of parameters, with a validate() method
    run: Callable  # run(params, RunContext) -> {"data_source": ..., "metrics": ...}
    paper_values: Callable[[], list]  # the published values the page compares with
    claims: Callable[[dict], list] | None = None  # record -> [(statement, holds: bool | None, evidence)]
    # record -> [report.Compared]: our cells on the paper's own data beside the published values (the
    # like-for-like page collects them from every page)
    compared: Callable[[dict], list] | None = None
    # The files that implement the method the page reproduces (repository paths, e.g. DDPP's rule in
    # reprolib/distillation/trajectory/rules.py): the page's "code" line names them beside the experiment module.
    method_files: tuple[str, ...] = ()

    @property
    def experiment_file(self) -> str:
        """The experiment module that runs this artifact, as a repository path."""
        return self.run.__module__.replace(".", "/") + ".py"


@cache
def artifacts() -> dict[str, Artifact]:
    """Every artifact declared by the experiment modules, by name."""
    import reprolib.experiments as package

    found: dict[str, Artifact] = {}
    for module_info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{package.__name__}.{module_info.name}")
        for artifact in getattr(module, "ARTIFACTS", []):
            if artifact.name in found:
                raise RuntimeError(f"artifact {artifact.name!r} is declared twice (again in {module.__name__})")
            found[artifact.name] = artifact
    return found


def get_artifact(name: str) -> Artifact:
    try:
        return artifacts()[name]
    except KeyError:
        raise KeyError(f"unknown artifact {name!r}; choose one of: {', '.join(sorted(artifacts()))}") from None
