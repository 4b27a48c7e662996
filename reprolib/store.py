"""Content-addressed artifact store: teacher trajectories, distilled sets, trained models, scores.

An artifact is a dict of tensors (plus JSON-able metadata) identified by a *kind* and a *spec*: the
mapping of everything that determines it (parameters, data source, the computation's code version).
The file name is the SHA-256 of the canonical JSON of (kind, spec), so a second run with the same spec
reuses the artifact and any change to the spec computes a new one.

Many processes may share one store (local jobs, SLURM jobs on a shared filesystem). Every write of an
artifact holds its lock file, and publishes the checksum sidecar, then the artifact, each by an atomic
rename; a reader takes no lock unless what it sees fails the checksum, and then re-reads under the lock
(a writer may have been between its two renames): only what is still bad there is discarded and
recomputed. Files are read with ``torch.load(weights_only=True)``: nothing is unpickled as an arbitrary
object. Files and folders get the umask's permissions, so a group can share a cache.

Every artifact computed through :meth:`ArtifactStore.cached` keeps its *cost*: the seconds it took,
less the artifacts computed inside it, plus the costs of every part it needed (its own and those it
loaded), keyed by address. A run that loads a part instead of computing it can then say how long that
part took, and how long the run would take from a cold cache; a prerequisite shared by two parts is
counted once. A checkpoint carries the seconds spent before an interruption into the resumed computation.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import secrets
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
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


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never a part.

    The temporary file is created with mode 0666 less the umask (as ``open`` would), not ``mkstemp``'s
    0600, so that a group sharing the folder can read what was written.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_torch_save(path: Path, obj: Any) -> None:
    """``torch.save`` of ``obj`` to ``path``, atomically (see :func:`atomic_write_bytes`)."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def write_failure(what: str, path: Path, err: OSError, setting: str) -> str:
    """A sentence on why writing ``what`` to ``path`` failed, with the advice that fits the cause."""
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        advice = f"the disk (or quota) is full: free space or point {setting} at another folder"
    elif err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        advice = f"the folder is not writable by this user: point {setting} at a writable folder"
    else:
        advice = f"{setting} is {path.parent}"
    return f"could not write {what} to {path}: {err.strerror or err} ({advice})"


_LOCKS: dict[str, FileLock] = {}


def _lock(path: Path) -> FileLock:
    """The lock of the artifact at ``path``: one reentrant object per file in this process, so a save
    inside ``cached`` (which already holds it) does not wait for itself."""
    lock_path = str(path.with_suffix(".lock"))
    if lock_path not in _LOCKS:
        path.parent.mkdir(parents=True, exist_ok=True)
        _LOCKS[lock_path] = FileLock(lock_path)
    return _LOCKS[lock_path]


Costs = dict[str, "float | None"]  # artifact address -> seconds of its own computation (None: not recorded)


@dataclass
class _Computation:
    """One artifact being computed inside :meth:`ArtifactStore.cached`: its clock and the parts it used."""

    start: float = field(default_factory=lambda: time.perf_counter())
    nested: float = 0.0  # seconds spent computing other artifacts inside it (counted as theirs)
    carried: float = 0.0  # seconds an interrupted earlier run spent on it (from its checkpoint)
    parts: Costs = field(default_factory=dict)

    def seconds(self) -> float:
        return time.perf_counter() - self.start - self.nested + self.carried


@dataclass
class ArtifactStore:
    """An on-disk store of tensor artifacts addressed by ``(kind, spec)``."""

    root: Path
    writes: int = field(default=0, init=False, compare=False)  # artifacts this process stored: did a run compute?
    loaded: Costs = field(default_factory=dict, init=False, compare=False)  # parts it loaded, did not store: their costs
    computed: Costs = field(default_factory=dict, init=False, compare=False)  # parts it computed and stored: their seconds
    _stored: set[str] = field(default_factory=set, init=False, compare=False, repr=False)
    _computing: list[_Computation] = field(default_factory=list, init=False, compare=False, repr=False)

    @classmethod
    def default(cls) -> "ArtifactStore":
        return cls(default_root())

    def path(self, kind: str, spec: Mapping[str, Any]) -> Path:
        digest = spec_hash(kind, spec)
        return self.root / kind / digest[:2] / f"{digest}.pt"

    def exists(self, kind: str, spec: Mapping[str, Any]) -> bool:
        return self._payload(self.path(kind, spec), "cpu") is not None

    def load(self, kind: str, spec: Mapping[str, Any], map_location: Any = "cpu") -> Tensors | None:
        """The stored tensors, or None when absent; a file that fails its checksum or does not load is
        re-read under the artifact's lock, and discarded (to be recomputed) only if it is still bad."""
        path = self.path(kind, spec)
        payload = self._payload(path, map_location)
        if payload is None:
            return None
        cost = payload.get("cost") or {path.stem: None}  # stored before costs were kept: not recorded
        if self._computing:
            self._computing[-1].parts.update(cost)
        if path.stem not in self._stored:
            self.loaded.update(cost)
        return payload["tensors"]

    def _payload(self, path: Path, map_location: Any) -> dict | None:
        payload, problem = _read(path, map_location)
        if problem is not None:
            with _lock(path):
                payload, problem = _read(path, map_location)
                if problem is not None:
                    self._discard(path, problem)
        return payload

    def save(self, kind: str, spec: Mapping[str, Any], tensors: Tensors, cost: Costs | None = None,
             seconds: float | None = None) -> Path:
        """Store ``tensors`` (a dict of tensors, numbers, strings, lists) atomically, with its checksum,
        ``cost`` (see the module docstring; :meth:`cached` gives it) and, for a checkpoint, the ``seconds``
        spent so far."""
        path = self.path(kind, spec)
        payload = {"kind": kind, "spec": json.loads(canonical_json(dict(spec))), "tensors": tensors,
                   **({"cost": cost} if cost is not None else {}), **({"seconds": seconds} if seconds is not None else {})}
        buffer = io.BytesIO()
        torch.save(payload, buffer)
        data = buffer.getvalue()
        try:
            with _lock(path):
                # The checksum file accepts the old and the new bytes while the artifact is replaced, so a
                # writer killed between the two renames leaves a valid artifact (the old or the new one).
                sums = path.with_suffix(".sha256")
                old = _accepted(sums) if path.exists() and sums.exists() else []
                if len(old) > 1:  # an earlier rewrite was interrupted: keep the sum of the file that is there
                    current = _sha256(path.read_bytes())
                    old = [current] if current in old else []
                atomic_write_bytes(sums, "\n".join([*old[:1], _sha256(data)]).encode())
                atomic_write_bytes(path, data)
                atomic_write_bytes(sums, _sha256(data).encode())
                atomic_write_bytes(path.with_suffix(".json"), canonical_json(payload["spec"]).encode())
            self.writes += 1
            self._stored.add(path.stem)
        except OSError as err:
            raise OSError(f"{write_failure(f'artifact {kind}', path, err, 'REPROLIB_CACHE')}; "
                          f"earlier artifacts are untouched") from err
        return path

    def cached(self, kind: str, spec: Mapping[str, Any], compute: Callable[[], Tensors]) -> Tensors:
        """Load the artifact, or compute and store it; one process computes, concurrent ones wait."""
        found = self.load(kind, spec)
        if found is not None:
            return found
        with _lock(self.path(kind, spec)):
            found = self.load(kind, spec)  # another process may have finished while we waited
            if found is not None:
                return found
            computation = _Computation()
            self._computing.append(computation)
            try:
                tensors = compute()
            finally:
                self._computing.pop()
            address = self.path(kind, spec).stem
            cost = {**computation.parts, address: round(computation.seconds(), 2)}
            self.save(kind, spec, tensors, cost=cost)
            self.computed[address] = cost[address]
        if self._computing:  # the enclosing computation needed this one: its seconds are not the enclosing one's
            self._computing[-1].nested += time.perf_counter() - computation.start
            self._computing[-1].parts.update(cost)
        return tensors

    def checkpoint(self, kind: str, spec: Mapping[str, Any]) -> "Checkpoint":
        """A resumable-state slot for a long computation of this artifact."""
        return Checkpoint(self, f"{kind}.checkpoint", spec)

    @staticmethod
    def _discard(path: Path, why: str) -> None:
        warnings.warn(f"discarding cached artifact {path}: {why}; it will be recomputed", stacklevel=3)
        for p in (path, path.with_suffix(".sha256")):
            p.unlink(missing_ok=True)


def _accepted(sums: Path) -> list[str]:
    """The checksums a sidecar accepts: one, or two while its artifact is being replaced."""
    return sums.read_text().split()


def _read(path: Path, map_location: Any) -> tuple[dict | None, str | None]:
    """(payload, None) for a good file; (None, None) when there is none; (None, why) when it is bad."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None, None
    try:
        accepted = _accepted(path.with_suffix(".sha256"))
    except FileNotFoundError:
        return None, "its checksum file is missing (incomplete or corrupt)"
    if _sha256(data) not in accepted:
        return None, "its checksum does not match (incomplete or corrupt)"
    try:
        return torch.load(io.BytesIO(data), map_location=map_location, weights_only=True), None
    except Exception as err:  # a file that passes the checksum but does not load: treat alike
        return None, f"it cannot be loaded ({err})"


@dataclass
class Checkpoint:
    """The latest saved state of an unfinished computation; cleared once the result is stored."""

    store: ArtifactStore
    kind: str
    spec: Mapping[str, Any]

    def load(self) -> Tensors | None:
        """The saved state; the seconds and parts spent before it was saved go to the computation resuming it."""
        payload = self.store._payload(self.store.path(self.kind, self.spec), "cpu")
        if payload is None:
            return None
        if self.store._computing:
            self.store._computing[-1].carried += payload.get("seconds", 0.0)
            self.store._computing[-1].parts.update(payload.get("cost", {}))
        return payload["tensors"]

    def save(self, state: Tensors) -> None:
        ongoing = self.store._computing[-1] if self.store._computing else _Computation()
        self.store.save(self.kind, self.spec, state, cost=ongoing.parts, seconds=round(ongoing.seconds(), 2))

    def clear(self) -> None:
        path = self.store.path(self.kind, self.spec)
        with _lock(path):
            for p in (path, path.with_suffix(".sha256"), path.with_suffix(".json")):
                p.unlink(missing_ok=True)
