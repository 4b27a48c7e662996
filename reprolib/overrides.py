"""Applying ``-p key=value`` overrides to a preset's values: they merge, never fall back to defaults.

- A dotted key reaches into sections and list entries: ``eval.epochs=50``, ``settings.0.dataset=mnist``.
- A list of mappings given whole (``settings=[{dataset: …, ipc: 1}]``) merges entry by entry with the
  preset's entries it replaces, so the preset's teacher and matching settings stay; an entry past the
  end of the preset's list must give every key the preset's entries share, or it is refused with the
  missing keys named (it would otherwise run at the paper's defaults).
- ``methods=[…]`` limits every row family (``coreset_methods``, ``classic_methods``, …) that the user
  did not override separately to the names it lists, so ``methods=[iadd]`` runs only IADD's rows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from reprolib.presets import PresetError


def apply_overrides(base: Mapping[str, Any], overrides: Mapping[str, Any], params: type, where: str) -> dict[str, Any]:
    """``base`` (a preset's values for one artifact, whose parameters are the dataclass ``params``) with
    ``overrides`` merged in, as described above."""
    merged: Any = dict(base)
    for key, value in overrides.items():
        merged = _set(merged, key.split("."), value, f"{where}: {key}")
    return _limit_families(merged, overrides, params)


def _set(node: Any, path: list[str], value: Any, where: str) -> Any:
    """A copy of ``node`` with ``value`` merged in at ``path`` (keys of mappings, indices of lists)."""
    if not path:
        return _merge_value(node, value, where)
    head, rest = path[0], path[1:]
    if isinstance(node, list):
        if not head.isdigit():
            raise PresetError(f"{where}: '{head}' indexes a list; use a number from 0 to {len(node) - 1}")
        index = int(head)
        if index >= len(node):
            raise PresetError(f"{where}: the preset's list has {len(node)} entries (0 to {len(node) - 1}); "
                              "to add entries give the whole list")
        return [*node[:index], _set(node[index], rest, value, where), *node[index + 1:]]
    node = dict(node) if isinstance(node, Mapping) else {}
    node[head] = _set(node.get(head), rest, value, where)
    return node


def _merge_value(old: Any, new: Any, where: str) -> Any:
    """``new`` over ``old``: mappings merge key by key, lists of mappings entry by entry, the rest is replaced."""
    if isinstance(new, Mapping) and isinstance(old, Mapping):
        merged = dict(old)
        for key, value in new.items():
            merged[key] = _merge_value(old.get(key), value, f"{where}.{key}")
        return merged
    if isinstance(new, list) and isinstance(old, list) and old and all(isinstance(e, Mapping) for e in old):
        shared = set.intersection(*(set(e) for e in old))
        out = []
        for i, entry in enumerate(new):
            if not isinstance(entry, Mapping):
                out.append(entry)
            elif i < len(old):
                out.append(_merge_value(old[i], entry, f"{where}[{i}]"))
            else:
                missing = sorted(shared - set(entry))
                if missing:
                    raise PresetError(
                        f"{where}[{i}]: the preset has {len(old)} entries, so entry {i} merges with none and would "
                        f"run at the defaults; give it the keys the preset's entries have: missing {', '.join(missing)}")
                out.append(dict(entry))
        return out
    return new


def _limit_families(values: dict[str, Any], overrides: Mapping[str, Any], params: type) -> dict[str, Any]:
    """``methods=[…]`` splits over the row families: each ``*_methods`` list not overridden itself keeps
    only the names it lists; ``methods`` keeps the names no other family runs."""
    chosen = overrides.get("methods")
    if not isinstance(chosen, list):
        return values
    defaults = {f.name: f.default for f in dataclasses.fields(params) if f.name.endswith("_methods")}
    others: set = set()
    for family, default in defaults.items():
        current = list(values.get(family, () if default is dataclasses.MISSING else default))
        others |= set(current)
        if family not in overrides:
            values[family] = [m for m in current if m in chosen]
    values["methods"] = [m for m in chosen if m not in others]
    return values
