"""Content-addressed artifact store: teacher trajectories, distilled sets, trained models, scores.

An artifact is a dict of tensors (plus JSON-able metadata) identified by a *kind* and a *spec*: the
mapping of everything that determines it (parameters, data source, the computation's code version).
The file name is the SHA-256 of the canonical JSON of (kind, spec), so a second run with the same spec
reuses the artifact and any change to the spec computes a new one.

Files are written atomically (temporary file, fsync, rename) and followed by a checksum sidecar; an
artifact whose sidecar is missing or does not match is treated as absent (and removed), never used.
Files are read with ``torch.load(weights_only=True)``: nothing is unpickled as an arbitrary object.
A file lock per artifact makes two processes computing the same artifact produce one valid file.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from filelock import FileLock

FORMAT_VERSION = 1
Tensors = dict[str, Any]


def default_root() -> Path:
    """``$REPROLIB_CACHE``, else ``$XDG_CACHE_HOME/reprolib``, else ``~/.cache/reprolib``."""
    if os.environ.get("REPROLIB_CACHE"):
        return Path(os.environ["REPROLIB_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "reprolib"


def canonical_json(value: Any) -> str:
    """Deterministic JSON (sorted keys, tuples as lists) used for hashing specs."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_jsonable)


def _jsonable(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        return value.item()
    raise TypeError(f"spec value {value!r} of type {type(value).__name__} is not JSON-serialisable")


def spec_hash(kind: str, spec: Mapping[str, Any]) -> str:
    """The artifact's address: SHA-256 of its kind, spec, the store format and the precision in force
    (:mod:`reprolib.precision`; fp32 adds nothing, so fp32 addresses are those of earlier versions)."""
    from reprolib.precision import current

    payload = canonical_json({"kind": kind, "spec": dict(spec), "format": FORMAT_VERSION, **current().cache_key()})
    return hashlib.sha256(payload.encode()).hexdigest()


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_torch_save(path: Path, obj: Any) -> None:
    """``torch.save`` through a temporary file and an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass
class ArtifactStore:
    """An on-disk store of tensor artifacts addressed by ``(kind, spec)``."""

    root: Path

    @classmethod
    def default(cls) -> "ArtifactStore":
        return cls(default_root())

    def path(self, kind: str, spec: Mapping[str, Any]) -> Path:
        digest = spec_hash(kind, spec)
        return self.root / kind / digest[:2] / f"{digest}.pt"

    def exists(self, kind: str, spec: Mapping[str, Any]) -> bool:
        return self.load(kind, spec) is not None

    def load(self, kind: str, spec: Mapping[str, Any], map_location: Any = "cpu") -> Tensors | None:
        """The stored tensors, or None when absent, incomplete or corrupt (a bad file is removed)."""
        path = self.path(kind, spec)
        sidecar = path.with_suffix(".sha256")
        if not path.exists():
            return None
        if not sidecar.exists() or sidecar.read_text().strip() != _sha256_file(path):
            self._discard(path, "its checksum is missing or does not match (incomplete or corrupt)")
            return None
        try:
            payload = torch.load(path, map_location=map_location, weights_only=True)
        except Exception as err:  # a file that passes the checksum but does not load: treat alike
            self._discard(path, f"it cannot be loaded ({err})")
            return None
        return payload["tensors"]

    def save(self, kind: str, spec: Mapping[str, Any], tensors: Tensors) -> Path:
        """Store ``tensors`` (a dict of tensors, numbers, strings, lists) atomically, with its checksum."""
        path = self.path(kind, spec)
        payload = {"kind": kind, "spec": json.loads(canonical_json(dict(spec))), "tensors": tensors}
        try:
            atomic_torch_save(path, payload)
            atomic_write_bytes(path.with_suffix(".sha256"), _sha256_file(path).encode())
            atomic_write_bytes(path.with_suffix(".json"), canonical_json(payload["spec"]).encode())
        except OSError as err:
            raise OSError(
                f"could not write artifact {kind} to {path}: {err}. Free disk space or point "
                f"REPROLIB_CACHE at a writable folder; earlier artifacts are untouched."
            ) from err
        return path

    def cached(self, kind: str, spec: Mapping[str, Any], compute: Callable[[], Tensors]) -> Tensors:
        """Load the artifact, or compute and store it; one process computes, concurrent ones wait."""
        found = self.load(kind, spec)
        if found is not None:
            return found
        path = self.path(kind, spec)
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(path.with_suffix(".lock"))):
            found = self.load(kind, spec)  # another process may have finished while we waited
            if found is not None:
                return found
            tensors = compute()
            self.save(kind, spec, tensors)
        return tensors

    def checkpoint(self, kind: str, spec: Mapping[str, Any]) -> "Checkpoint":
        """A resumable-state slot for a long computation of this artifact."""
        return Checkpoint(self, f"{kind}.checkpoint", spec)

    @staticmethod
    def _discard(path: Path, why: str) -> None:
        warnings.warn(f"discarding cached artifact {path}: {why}; it will be recomputed", stacklevel=3)
        for p in (path, path.with_suffix(".sha256")):
            p.unlink(missing_ok=True)


@dataclass
class Checkpoint:
    """The latest saved state of an unfinished computation; cleared once the result is stored."""

    store: ArtifactStore
    kind: str
    spec: Mapping[str, Any]

    def load(self) -> Tensors | None:
        return self.store.load(self.kind, self.spec)

    def save(self, state: Tensors) -> None:
        self.store.save(self.kind, self.spec, state)

    def clear(self) -> None:
        path = self.store.path(self.kind, self.spec)
        for p in (path, path.with_suffix(".sha256"), path.with_suffix(".json")):
            p.unlink(missing_ok=True)
