"""Presets: the scale of every experiment as data (``smoke``, ``small``, ``paper`` or a user's YAML).

A preset file holds one top-level key, ``artifacts:``, mapping artifact names to parameter values
(keys starting with ``x-`` may hold YAML anchors for it). An artifact runs at a preset only if the
preset lists it. An experiment's parameters are a frozen dataclass; :func:`resolve` builds it from the
preset plus explicit overrides, rejecting unknown keys, wrong types, non-finite numbers, impossible
values, and network options or augmentation strategies the builders would refuse, before any
computation starts.

A section may borrow another artifact's parameters at the same preset: ``classic: {same_as:
classic-distillation}`` stands for that artifact's whole entry (other keys beside ``same_as`` override
it), so a table that reuses another page's method and cache never repeats its hyper-parameters.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import types
import typing
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

BUILTIN_PRESETS = ("smoke", "small", "paper")


class PresetError(ValueError):
    """A preset, an override or a parameter value is invalid."""


def preset_files(preset: str) -> list[Path]:
    """The YAML files of a preset: a built-in preset is a folder (one file per paper or group of
    artifacts); a user preset is a YAML file, or a folder of them, given by path or by name in
    ``$REPROLIB_PRESETS``; a single-file preset shipped with the library (``tuning/small-trajectory``)
    is found by its name."""
    if preset in BUILTIN_PRESETS:
        folder = Path(str(resources.files("reprolib.presets") / preset))
        return sorted(folder.glob("*.yaml"))
    candidates = [Path(preset).expanduser(), Path(str(resources.files("reprolib.presets") / f"{preset}.yaml"))]
    if os.environ.get("REPROLIB_PRESETS"):
        user = Path(os.environ["REPROLIB_PRESETS"]).expanduser()
        candidates = [user / f"{preset}.yaml", user / preset, *candidates]
    for candidate in candidates:
        if candidate.is_file() and candidate.suffix in (".yaml", ".yml"):
            return [candidate]
        if candidate.is_dir() and sorted(candidate.glob("*.yaml")):
            return sorted(candidate.glob("*.yaml"))
    raise PresetError(
        f"unknown preset {preset!r}: use one of {', '.join(BUILTIN_PRESETS)}, a YAML file or folder path, "
        f"or a name of a YAML file in $REPROLIB_PRESETS"
    )


def preset_name(preset: str) -> str:
    """The name results are filed under: the built-in name or the YAML file's (folder's) stem."""
    return preset if preset in BUILTIN_PRESETS else Path(preset).stem


def _closest(name: str, choices) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


TOP_LEVEL_KEYS = ("artifacts", "precision")  # and x-... keys for YAML anchors


def _read_preset_file(path: Path) -> dict[str, Any]:
    """One preset file's ``artifacts`` mapping, every name and key checked."""
    from reprolib.artifacts import artifacts

    listed = _preset_file_data(path)["artifacts"] or {}
    if not isinstance(listed, dict):
        raise PresetError(f"preset file {path}: 'artifacts:' must be a mapping of artifact -> parameters")
    for name in listed:
        if name not in artifacts():
            raise PresetError(f"preset file {path}: unknown artifact {name!r}{_closest(str(name), artifacts())}")
    return listed


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, reading an exponent without a dot (``1e-4``) as the float YAML 1.2 makes it, not
    as a string (YAML 1.1): in preset files and ``-p`` values alike, whatever type the parameter has."""


_Loader.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(r"^[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)[eE][-+]?[0-9]+$"),
                              list("-+.0123456789"))


def _preset_file_data(path: Path) -> dict[str, Any]:
    """A preset file's top-level mapping: ``artifacts:`` (required), ``precision:`` and ``x-`` anchors."""
    try:
        data = yaml.load(path.read_bytes().decode("utf-8"), Loader=_Loader)
    except UnicodeDecodeError as err:
        raise PresetError(f"preset file {path} is not UTF-8 text (byte {err.object[err.start]:#x} at offset "
                          f"{err.start}): save it as UTF-8") from None
    except yaml.YAMLError as err:
        raise PresetError(f"preset file {path} is not valid YAML: {err}") from err
    shape = ("a mapping with an 'artifacts:' section of artifact -> parameters (optionally 'precision:', and "
             "x-... keys for YAML anchors)")
    if not isinstance(data, dict):
        raise PresetError(f"preset file {path} must be {shape}, not {type(data).__name__}")
    unknown = [k for k in data if k not in TOP_LEVEL_KEYS and not str(k).startswith("x-")]
    if unknown:
        raise PresetError(f"preset file {path}: unknown top-level key {unknown[0]!r}"
                          f"{_closest(str(unknown[0]), TOP_LEVEL_KEYS)}; it must be {shape}")
    if "artifacts" not in data:
        raise PresetError(f"preset file {path} must be {shape}; it has no 'artifacts:' section")
    return data


def load_preset(preset: str) -> dict[str, Any]:
    """The preset's ``artifacts`` mapping, merged over its files (an artifact in two files is an error)."""
    merged: dict[str, Any] = {}
    for path in preset_files(preset):
        for name, values in _read_preset_file(path).items():
            if name in merged:
                raise PresetError(f"preset {preset!r}: artifact {name!r} is given twice (again in {path})")
            merged[name] = values
    return {"artifacts": merged}


def preset_precision(preset: str) -> str:
    """The precision a preset runs its networks in (a top-level ``precision:`` key; ``auto`` if none)."""
    found = set()
    for path in preset_files(preset):
        data = _preset_file_data(path)
        if "precision" in data:
            found.add(data["precision"])
    if len(found) > 1:
        raise PresetError(f"preset {preset!r} sets precision twice, differently: {sorted(map(str, found))}")
    value = found.pop() if found else "auto"
    from reprolib.precision import PRECISIONS

    if value not in PRECISIONS:
        raise PresetError(f"preset {preset!r}: precision must be one of {', '.join(PRECISIONS)}, not {value!r}")
    return value


def preset_values(preset: str, artifact: str) -> dict[str, Any]:
    """The parameter values a preset gives one artifact; an artifact it does not list is an error (it
    would otherwise run at the paper's full scale)."""
    listed = load_preset(preset)["artifacts"]
    if artifact not in listed:
        raise PresetError(f"preset {preset_name(preset)!r} does not list {artifact!r}: add '{artifact}:' under "
                          f"'artifacts:' in it ('{artifact}: {{}}' runs the paper's parameters)")
    values = listed[artifact] or {}
    if not isinstance(values, dict):
        raise PresetError(f"preset {preset!r}: the entry for {artifact!r} must be a mapping of parameters")
    return values


def expand_references(values: Any, preset: str, seen: tuple[str, ...] = ()) -> Any:
    """``values`` with every ``{same_as: ARTIFACT, ...}`` mapping replaced by ARTIFACT's entry at
    ``preset`` merged with the mapping's other keys (references may nest; a cycle is an error)."""
    if isinstance(values, list):
        return [expand_references(v, preset, seen) for v in values]
    if not isinstance(values, Mapping):
        return values
    values = {k: expand_references(v, preset, seen) for k, v in values.items()}
    if "same_as" not in values:
        return values
    target = values.pop("same_as")
    if not isinstance(target, str):
        raise PresetError(f"preset {preset!r}: same_as takes an artifact name, got {target!r}")
    if target in seen:
        raise PresetError(f"preset {preset!r}: same_as references form a cycle: {' -> '.join((*seen, target))}")
    from reprolib.artifacts import get_artifact

    try:
        get_artifact(target)
    except KeyError as err:
        raise PresetError(f"preset {preset!r}: same_as: {err.args[0]}") from None
    borrowed = expand_references(preset_values(preset, target), preset, (*seen, target))
    return merge(borrowed, values)


def parse_override(text: str) -> tuple[str, Any]:
    """``key=value`` with a YAML value (``ipcs=[1,10]``, ``eval.epochs=50``, ``dataset=mnist``)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise PresetError(f"bad parameter {text!r}: write key=value, e.g. -p ipcs=[1,10] or -p eval.epochs=50")
    try:
        return key.strip(), yaml.load(raw, Loader=_Loader)
    except yaml.YAMLError as err:
        raise PresetError(f"bad value in {text!r}: {err}") from err


def merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Overrides win; dotted keys (``eval.epochs``) and nested mappings merge into sub-sections."""
    merged = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in base.items()}
    for key, value in overrides.items():
        head, _, rest = key.partition(".")
        if rest:
            value, key = {rest: value}, head
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def build(cls: type, values: Mapping[str, Any], where: str) -> Any:
    """Instantiate dataclass ``cls`` from ``values``, checking keys and types recursively."""
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise PresetError(f"{where}: unknown parameter(s) {', '.join(unknown)}; valid: {', '.join(sorted(fields))}")
    hints = typing.get_type_hints(cls)
    kwargs = {name: _coerce(hints[name], value, f"{where}.{name}") for name, value in values.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise PresetError(f"{where}: {err}") from err


def _coerce(hint: Any, value: Any, where: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        if isinstance(value, hint):
            return value
        if not isinstance(value, Mapping):
            raise PresetError(f"{where}: expected a mapping of parameters, got {value!r}")
        return build(hint, value, where)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(arg, value, where)
            except PresetError as err:
                errors.append(str(err))
        raise PresetError(errors[0] if len(errors) == 1 else f"{where}: {value!r} fits none of {hint}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            value = [value]
        item = args[0] if args else Any
        return tuple(_coerce(item, v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin in (dict, Mapping) or hint is dict:
        if not isinstance(value, Mapping):
            raise PresetError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if hint is Any:
        return value
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise PresetError(f"{where}: {value!r} is not a finite number")
        return float(value)
    if hint in (int, str, bool, float):
        if type(value) is not hint:
            raise PresetError(f"{where}: expected {hint.__name__}, got {value!r} ({type(value).__name__})")
        return value
    return value


def split_precision(preset: str, overrides: Mapping[str, Any] | None) -> tuple[dict[str, Any], str]:
    """``overrides`` without the run-level ``precision`` key, and the run's precision: that key
    (``-p precision=fp32``) if given, else the preset's (:func:`preset_precision`)."""
    from reprolib.precision import PRECISIONS

    parameters = dict(overrides or {})
    chosen = parameters.pop("precision", None)
    name = preset_precision(preset) if chosen is None else chosen
    if name not in PRECISIONS:
        raise PresetError(f"precision={name!r}: choose one of {', '.join(PRECISIONS)}")
    return parameters, name


def check_components(value: Any, where: str) -> None:
    """What the parameter classes' own checks leave to the builders, checked before any computation:
    every ``arch`` with its ``arch_options`` against the network builder, every augmentation strategy
    (``dsa_strategy``, ``augment``) against DSA, every momentum in [0, 1) and weight decay ≥ 0."""
    from reprolib.augment import DSA
    from reprolib.nets import check_network

    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            check_components(item, f"{where}[{i}]")
        return
    if not dataclasses.is_dataclass(value):
        return
    for f in dataclasses.fields(value):
        item, at = getattr(value, f.name), f"{where}.{f.name}"
        try:
            if f.name == "arch_options" and isinstance(getattr(value, "arch", None), str):
                check_network(value.arch, item)
            elif f.name in ("dsa_strategy", "augment") and isinstance(item, str):
                DSA(item)
            elif f.name.startswith("momentum") and isinstance(item, float) and not 0 <= item < 1:
                raise ValueError(f"{item!r} is outside [0, 1)")
            elif f.name == "weight_decay" and isinstance(item, float) and item < 0:
                raise ValueError(f"{item!r} is negative")
        except ValueError as err:
            raise PresetError(f"{at}: {err}") from None
        check_components(item, at)


def resolve(artifact: str, preset: str = "smoke", overrides: Mapping[str, Any] | None = None) -> Any:
    """The validated parameters of ``artifact`` at ``preset`` with ``overrides`` applied (a ``precision``
    override is the run's, not a parameter: checked here, applied by the runner)."""
    from reprolib.artifacts import get_artifact
    from reprolib.overrides import apply_overrides

    spec = get_artifact(artifact)
    where = f"{artifact} @ {preset_name(preset)}"
    overrides, _ = split_precision(preset, overrides)
    values = apply_overrides(expand_references(preset_values(preset, artifact), preset, (artifact,)), overrides,
                             spec.params, where)
    params = build(spec.params, values, where)
    try:
        params.validate()
    except ValueError as err:
        raise PresetError(f"{where}: {err}") from err
    check_components(params, where)
    return params
