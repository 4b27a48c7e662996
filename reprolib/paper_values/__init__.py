"""Numbers printed in the results tables of the four reproduced papers, with a small loader.

Each paper has one YAML file in this package (``ddpp.yaml``, ``iadd.yaml``, ``gdd_skd.yaml``, ``dp.yaml``)
transcribed from the plain-text copies in ``papers/``. The book shows these values beside the reproduced
ones, so every cell records where it came from (table, row/column, and whether the paper copied it from
other work).

File format (one entry per printed cell, "tidy"):

* top level: ``paper``, ``short_name``, ``title``, ``authors``, ``venue``, ``year``, ``source_files``,
  optional ``notes`` (list of str) and ``aliases`` (``{axis: {variant spelling: printed spelling}}``,
  used when matching filters, e.g. ``VGG11`` -> ``VGG``), and ``tables``.
* each table: ``title``, ``ref`` ("Table I", "Sec. 4.2 text"), ``metric``, ``axes`` (fields that identify
  a cell), ``grid`` (all values of each axis that appear in the table), optional ``absent`` (filters, in
  the ``select`` sense, for grid combinations the printed layout does not have), ``cited``
  (row/column name -> where the paper took the number from; rows the paper ran itself are not listed),
  optional ``conditions`` (settings fixed for the whole table, e.g. ``{dataset: CIFAR-10, ipc: 10}``),
  ``note``, and ``metric_by`` (``{axis: ..., values: {axis value: metric}}``) for tables whose rows
  carry different metrics (then ``metric: mixed``).
* each cell: the axis fields, ``mean`` (number, or null when the table prints "-"; then a ``note`` is
  required), optional ``std``, ``note``, ``attrs`` (extra printed columns, e.g. number of images) and
  ``decimals`` (only where ``str(mean)`` would not show the printed precision, e.g. 1.00).

Example::

    >>> from reprolib import paper_values as pv
    >>> pv.paper_table("ddpp", "table1").get(dataset="CIFAR-100", ipc=50, method="Ours").format()
    '48.4 ± 0.3'
"""

from __future__ import annotations

import functools
import itertools
import numbers
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Iterable

import yaml

__all__ = ["PaperValue", "PaperTable", "papers", "paper_info", "tables", "paper_table", "find"]

_TOP_FIELDS = {"paper", "short_name", "title", "authors", "venue", "year", "source_files", "notes",
               "aliases", "tables"}
_TABLE_REQUIRED = {"title", "ref", "metric", "axes", "grid", "cells"}
_TABLE_FIELDS = _TABLE_REQUIRED | {"cited", "absent", "conditions", "note", "metric_by"}
_CELL_FIELDS = {"mean", "std", "note", "attrs", "decimals"}


def _is_number(x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _fmt(x: float, decimals: int | None) -> str:
    return f"{x:.{decimals}f}" if decimals is not None else str(x)


@dataclass(frozen=True)
class PaperValue:
    """One printed table cell. ``key`` maps each axis of the table to this cell's value."""

    paper: str
    table: str
    key: dict
    mean: float | None
    std: float | None = None
    cited_from: str | None = None  # None when the paper ran it itself
    note: str | None = None
    ref: str = ""  # how the paper names the table, e.g. "Table I"
    metric: str = ""
    paper_label: str = ""  # e.g. "DDPP"
    attrs: dict = field(default_factory=dict)
    decimals: int | None = None

    @property
    def source(self) -> str:
        """Human-readable provenance, e.g. 'DDPP Table I, CIFAR-10, IPC 10, MTT (cited by the paper from: ...)'."""
        parts = []
        for axis, value in self.key.items():
            if isinstance(value, str):
                parts.append(value)
            else:
                parts.append(f"{'IPC' if axis == 'ipc' else axis} {value}")
        text = f"{self.paper_label or self.paper} {self.ref or self.table}, {', '.join(parts)}"
        if self.cited_from:
            text += f" (cited by the paper from: {self.cited_from})"
        return text

    def format(self) -> str:
        """The value as printed: '65.3 ± 0.7', '65.3', or '—' when the paper reports none."""
        if self.mean is None:
            return "—"
        text = _fmt(self.mean, self.decimals)
        if self.std is not None:
            text += " ± " + _fmt(self.std, self.decimals)
        return text


def _canon(aliases: dict, axis: str, value: Any) -> Any:
    """Map a variant spelling to the printed one, so filters may use either."""
    return aliases.get(axis, {}).get(value, value) if isinstance(value, str) else value


def _matches(fields: dict, filters: dict, aliases: dict) -> bool:
    """True when every filter (a scalar, or a list/tuple/set of allowed values) matches ``fields``."""
    for name, wanted in filters.items():
        allowed = wanted if isinstance(wanted, (list, tuple, set, frozenset)) else [wanted]
        if _canon(aliases, name, fields[name]) not in {_canon(aliases, name, a) for a in allowed}:
            return False
    return True


@dataclass(frozen=True)
class PaperTable:
    """One results table (or a set of numbers stated in the text) of one paper."""

    paper: str
    key: str
    title: str
    ref: str
    metric: str
    axes: tuple[str, ...]
    grid: dict
    cited: dict
    cells: tuple[PaperValue, ...]
    absent: tuple[dict, ...] = ()
    conditions: dict = field(default_factory=dict)
    note: str | None = None
    metric_by: dict | None = None
    aliases: dict = field(default_factory=dict)

    def _fields(self, cell: PaperValue) -> dict:
        return {**self.conditions, **cell.key}

    def _check_filters(self, filters: dict) -> None:
        unknown = set(filters) - set(self.axes) - set(self.conditions)
        if unknown:
            raise KeyError(f"{self.paper}/{self.key}: unknown field(s) {sorted(unknown)}; "
                           f"axes are {list(self.axes)}, fixed conditions {self.conditions}")

    def select(self, **filters) -> list[PaperValue]:
        """Cells matching all filters; a filter may be a value or a list/tuple/set of allowed values.

        Filters may also name a field of ``conditions`` (e.g. ``dataset`` of a cross-architecture table).
        """
        self._check_filters(filters)
        return [c for c in self.cells if _matches(self._fields(c), filters, self.aliases)]

    def get(self, **key) -> PaperValue:
        """The single cell matching ``key``; KeyError (listing what exists) when none or several match."""
        found = self.select(**key)
        if len(found) == 1:
            return found[0]
        where = f"{self.paper}/{self.key} ({self.ref})"
        if not found:
            grid = "; ".join(f"{a}: {self.grid[a]}" for a in self.axes)
            raise KeyError(f"no cell of {where} matches {key}. Axes {list(self.axes)} take the values {grid}"
                           + (f"; fixed conditions {self.conditions}" if self.conditions else ""))
        raise KeyError(f"{len(found)} cells of {where} match {key}; give all axes {list(self.axes)}. "
                       f"Matches: {[c.key for c in found]}")

    def is_absent(self, key: dict) -> bool:
        """True when ``key`` is a combination the printed table layout does not have."""
        return any(_matches(key, a, {}) for a in self.absent)

    def missing(self) -> list[dict]:
        """Grid combinations that have no cell and are not declared absent (empty for a complete table)."""
        have = {tuple(c.key[a] for a in self.axes) for c in self.cells}
        out = []
        for combo in itertools.product(*(self.grid[a] for a in self.axes)):
            key = dict(zip(self.axes, combo))
            if combo not in have and not self.is_absent(key):
                out.append(key)
        return out

    def metric_of(self, cell: PaperValue) -> str:
        """The metric of one cell (differs per row in tables with ``metric: mixed``)."""
        if self.metric_by:
            return self.metric_by["values"][cell.key[self.metric_by["axis"]]]
        return self.metric


# ----------------------------------------------------------------------------- loading and validation


def _fail(where: str, msg: str) -> None:
    raise ValueError(f"{where}: {msg}")


def _build_table(paper: str, label: str, fname: str, tkey: str, t: dict, aliases: dict) -> PaperTable:
    """Validate one table mapping from YAML and turn it into a PaperTable."""
    where = f"{fname}: table {tkey!r}"
    if not isinstance(t, dict):
        _fail(where, "must be a mapping")
    if _TABLE_REQUIRED - set(t):
        _fail(where, f"missing field(s) {sorted(_TABLE_REQUIRED - set(t))}")
    if set(t) - _TABLE_FIELDS:
        _fail(where, f"unknown field(s) {sorted(set(t) - _TABLE_FIELDS)}")
    axes = tuple(t["axes"])
    grid = t["grid"]
    if not axes or len(set(axes)) != len(axes):
        _fail(where, f"axes must be a non-empty list without repeats, got {list(axes)}")
    if set(grid) != set(axes):
        _fail(where, f"grid fields {sorted(grid)} differ from axes {list(axes)}")
    for a in axes:
        if not grid[a] or len(set(grid[a])) != len(grid[a]):
            _fail(where, f"grid[{a!r}] must be a non-empty list without repeats")
    conditions = t.get("conditions") or {}
    if set(conditions) & set(axes):
        _fail(where, f"conditions {sorted(conditions)} overlap the axes")
    metric_by = t.get("metric_by")
    if metric_by is not None:
        if metric_by.get("axis") not in axes or set(metric_by.get("values", {})) != set(grid[metric_by["axis"]]):
            _fail(where, "metric_by must name an axis and give a metric for each of its grid values")
    elif t["metric"] == "mixed":
        _fail(where, "metric 'mixed' needs metric_by")
    absent = tuple(t.get("absent") or ())
    for a in absent:
        for name, vals in a.items():
            vals = vals if isinstance(vals, list) else [vals]
            if name not in axes or any(v not in grid[name] for v in vals):
                _fail(where, f"absent entry {a} names a field or value not in the grid")
    cited = t.get("cited") or {}
    grid_values = {v for a in axes for v in grid[a]}
    for name, text in cited.items():
        if name not in grid_values:
            _fail(where, f"cited row/column {name!r} is not a value of any axis")
        if not isinstance(text, str) or not text.strip():
            _fail(where, f"cited[{name!r}] must be a non-empty string")

    cells, seen = [], set()
    for i, c in enumerate(t["cells"]):
        cwhere = f"{where}, cell #{i} {c}"
        if not isinstance(c, dict):
            _fail(cwhere, "must be a mapping")
        if set(axes) - set(c):
            _fail(cwhere, f"missing axis field(s) {sorted(set(axes) - set(c))}")
        if set(c) - set(axes) - _CELL_FIELDS:
            _fail(cwhere, f"unknown field(s) {sorted(set(c) - set(axes) - _CELL_FIELDS)}")
        if "mean" not in c:
            _fail(cwhere, "missing 'mean' (use null for a cell printed as '-')")
        for a in axes:
            if c[a] not in grid[a]:
                _fail(cwhere, f"{a}={c[a]!r} is not in grid[{a!r}]")
        key = {a: c[a] for a in axes}
        ktuple = tuple(key.values())
        if ktuple in seen:
            _fail(cwhere, "duplicate cell key")
        seen.add(ktuple)
        if any(_matches(key, a, {}) for a in absent):
            _fail(cwhere, "cell is declared absent")
        mean, std = c["mean"], c.get("std")
        if mean is not None and not _is_number(mean):
            _fail(cwhere, f"mean must be a number or null, got {mean!r}")
        if std is not None and (not _is_number(std) or std < 0):
            _fail(cwhere, f"std must be a non-negative number or null, got {std!r}")
        if mean is None and (std is not None or not c.get("note")):
            _fail(cwhere, "a null mean needs a note and no std")
        # A cell is "cited" when any of its axis values is a cited row/column name.
        cited_from = next((cited[v] for v in key.values() if isinstance(v, str) and v in cited), None)
        cells.append(PaperValue(
            paper=paper, table=tkey, key=key, mean=mean, std=std, cited_from=cited_from,
            note=c.get("note"), ref=t["ref"], paper_label=label,
            metric=metric_by["values"][key[metric_by["axis"]]] if metric_by else t["metric"],
            attrs=dict(c.get("attrs") or {}), decimals=c.get("decimals"),
        ))
    return PaperTable(
        paper=paper, key=tkey, title=t["title"], ref=t["ref"], metric=t["metric"], axes=axes,
        grid={a: list(grid[a]) for a in axes}, cited=dict(cited), cells=tuple(cells), absent=absent,
        conditions=dict(conditions), note=t.get("note"), metric_by=metric_by, aliases=aliases,
    )


@functools.lru_cache(maxsize=None)
def _load(paper: str) -> tuple[dict, dict[str, PaperTable]]:
    """Parse and validate ``<paper>.yaml`` once; returns (metadata, tables)."""
    fname = f"{paper}.yaml"
    data = yaml.safe_load(resources.files(__name__).joinpath(fname).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        _fail(fname, "top level must be a mapping")
    required = _TOP_FIELDS - {"notes", "aliases"}
    if required - set(data):
        _fail(fname, f"missing field(s) {sorted(required - set(data))}")
    if set(data) - _TOP_FIELDS:
        _fail(fname, f"unknown field(s) {sorted(set(data) - _TOP_FIELDS)}")
    if data["paper"] != paper:
        _fail(fname, f"paper is {data['paper']!r}, expected {paper!r}")
    aliases = data.get("aliases") or {}
    tabs = {k: _build_table(paper, data["short_name"], fname, k, t, aliases) for k, t in data["tables"].items()}
    meta = {k: data[k] for k in ("short_name", "title", "authors", "venue", "year", "source_files")}
    meta["notes"] = list(data.get("notes") or [])
    return meta, tabs


# ----------------------------------------------------------------------------- public API


def papers() -> list[str]:
    """Keys of the papers with transcribed values, e.g. ['ddpp', 'dp', 'gdd_skd', 'iadd']."""
    return sorted(p.name[:-5] for p in resources.files(__name__).iterdir() if p.name.endswith(".yaml"))


def _check_paper(paper: str) -> None:
    if paper not in papers():
        raise KeyError(f"unknown paper {paper!r}; choose from {papers()}")


def paper_info(paper: str) -> dict:
    """Bibliographic data of a paper: title, authors, venue, year, source_files (plus short_name, notes)."""
    _check_paper(paper)
    meta = _load(paper)[0]
    return {k: (list(v) if isinstance(v, list) else v) for k, v in meta.items()}


def tables(paper: str) -> list[str]:
    """Table keys of a paper in file order, e.g. ['table1', 'table2', ..., 'runtime_text']."""
    _check_paper(paper)
    return list(_load(paper)[1])


def paper_table(paper: str, table: str) -> PaperTable:
    """One table; KeyError naming the valid choices for an unknown paper or table."""
    _check_paper(paper)
    tabs = _load(paper)[1]
    if table not in tabs:
        raise KeyError(f"paper {paper!r} has no table {table!r}; choose from {list(tabs)}")
    return tabs[table]


def _all_tables() -> Iterable[PaperTable]:
    for p in papers():
        yield from _load(p)[1].values()


def find(method: str | None = None, **filters) -> list[PaperValue]:
    """Cells of all papers and tables matching the filters.

    Only tables whose axes (or fixed ``conditions``) contain every filter field are searched, so
    ``find("MTT", dataset="CIFAR-10", ipc=10)`` returns MTT's CIFAR-10 IPC-10 numbers from every paper,
    including cross-architecture tables. Filter values may be lists/tuples/sets of allowed values.
    """
    if method is not None:
        filters["method"] = method
    out = []
    for t in _all_tables():
        if set(filters) <= set(t.axes) | set(t.conditions):
            out.extend(t.select(**filters))
    return out
