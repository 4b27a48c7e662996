"""The artifact store: addressing, reuse, atomicity, corruption detection, locking, checkpoints, and many
processes sharing one store (with kills)."""

from __future__ import annotations

import errno
import multiprocessing as mp
import os
import random
import time
import warnings
from pathlib import Path

import pytest
import torch
from filelock import FileLock

from reprolib.records import write_record
from reprolib.store import ArtifactStore, spec_hash


@pytest.fixture
def store(tmp_path):
    return ArtifactStore(tmp_path / "store")


def test_key_depends_on_every_field_and_not_on_order():
    assert spec_hash("k", {"a": 1, "b": [1, 2]}) == spec_hash("k", {"b": [1, 2], "a": 1})
    assert spec_hash("k", {"a": 1}) != spec_hash("k", {"a": 2})
    assert spec_hash("k", {"a": 1}) != spec_hash("other", {"a": 1})
    assert spec_hash("k", {"a": (1, 2)}) == spec_hash("k", {"a": [1, 2]})


def test_cached_computes_once(store):
    calls = []

    def compute():
        calls.append(1)
        return {"x": torch.arange(5), "acc": 0.5}

    first = store.cached("thing", {"seed": 0}, compute)
    second = store.cached("thing", {"seed": 0}, compute)
    assert calls == [1]
    assert torch.equal(first["x"], second["x"]) and second["acc"] == 0.5
    store.cached("thing", {"seed": 1}, compute)
    assert calls == [1, 1]


@pytest.mark.parametrize("damage", ["truncate", "flip", "drop_sidecar"])
def test_corrupt_artifact_is_detected_and_recomputed(store, damage):
    spec = {"seed": 0}
    store.save("thing", spec, {"x": torch.ones(1000)})
    path = store.path("thing", spec)
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:100])
    elif damage == "flip":
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
    else:
        path.with_suffix(".sha256").unlink()
    with pytest.warns(UserWarning, match="discarding cached artifact"):
        assert store.load("thing", spec) is None
    assert not path.exists()
    again = store.cached("thing", spec, lambda: {"x": torch.zeros(3)})
    assert torch.equal(again["x"], torch.zeros(3))


def test_arbitrary_objects_are_never_unpickled(store, tmp_path):
    """A file holding a pickled object (not tensors/containers) is refused by weights_only loading."""

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    spec = {"seed": 0}
    path = store.path("thing", spec)
    path.parent.mkdir(parents=True)
    torch.save({"tensors": {"x": Evil()}}, path)
    import hashlib

    path.with_suffix(".sha256").write_text(hashlib.sha256(path.read_bytes()).hexdigest())
    with pytest.warns(UserWarning, match="cannot be loaded"):
        assert store.load("thing", spec) is None


@pytest.mark.parametrize("code, advice, wrong", [
    (errno.ENOSPC, "full: free space or point REPROLIB_CACHE", "not writable"),
    (errno.EACCES, "not writable by this user", "free space"),
    (errno.EIO, "REPROLIB_CACHE is", "free space"),
])
def test_failed_write_leaves_previous_artifact_and_names_the_cause(store, monkeypatch, code, advice, wrong):
    spec = {"seed": 0}
    store.save("thing", spec, {"x": torch.ones(3)})

    def broken_fsync(fd):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match=advice) as caught:
        store.save("thing", spec, {"x": torch.zeros(3)})
    assert os.strerror(code) in str(caught.value) and wrong not in str(caught.value)
    monkeypatch.undo()
    assert torch.equal(store.load("thing", spec)["x"], torch.ones(3))
    assert not list(store.path("thing", spec).parent.glob("*.tmp"))


def test_files_get_the_umask_permissions(store, tmp_path):
    """A cache or results folder on a shared filesystem is readable by the group (not mkstemp's 0600)."""
    old = os.umask(0o022)
    try:
        path = store.save("thing", {"seed": 0}, {"x": torch.ones(3)})
        record = write_record({"artifact": "a", "preset": "p", "params": {}, "metrics": {}}, tmp_path / "results")
    finally:
        os.umask(old)
    for written in (path, path.with_suffix(".sha256"), path.with_suffix(".json"), record):
        assert written.stat().st_mode & 0o777 == 0o644, written


def _publish_slowly(root, spec, started):
    """A writer that holds the artifact's lock and is between writing the artifact and its checksum."""
    store = ArtifactStore(Path(root))
    path = store.path("thing", spec)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path.with_suffix(".lock"))):
        reference = ArtifactStore(Path(root) / "elsewhere")
        done = reference.save("thing", spec, {"x": torch.arange(4)})
        os.replace(done, path)
        Path(started).touch()
        time.sleep(1.5)
        os.replace(done.with_suffix(".sha256"), path.with_suffix(".sha256"))


def test_reader_waits_for_an_unfinished_writer_instead_of_discarding(tmp_path):
    root, spec, started = tmp_path / "s", {"seed": 0}, tmp_path / "started"
    writer = mp.get_context("spawn").Process(target=_publish_slowly, args=(root, spec, started))
    writer.start()
    deadline = time.monotonic() + 60
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a discard warning fails the test
        found = ArtifactStore(root).load("thing", spec)
    writer.join(60)
    assert found is not None and torch.equal(found["x"], torch.arange(4))


def _compute_in_process(root, counter_path):
    store = ArtifactStore(root)

    def compute():
        with open(counter_path, "a") as f:
            f.write("x")
        import time

        time.sleep(0.5)
        return {"x": torch.arange(3)}

    store.cached("shared", {"seed": 0}, compute)


def test_two_processes_compute_one_artifact(tmp_path):
    counter = tmp_path / "count.txt"
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_compute_in_process, args=(tmp_path / "s", counter)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert all(p.exitcode == 0 for p in procs)
    assert counter.read_text() == "x"
    assert torch.equal(ArtifactStore(tmp_path / "s").load("shared", {"seed": 0})["x"], torch.arange(3))


def test_checkpoint_round_trip_and_clear(store):
    ckpt = store.checkpoint("run", {"seed": 0})
    assert ckpt.load() is None
    ckpt.save({"step": 3, "w": torch.ones(2)})
    assert ckpt.load()["step"] == 3
    ckpt.clear()
    assert ckpt.load() is None


STRESS_PROCESSES, STRESS_ARTIFACTS, STRESS_KILLS = 4, 300, 8


def _stress_value(i: int) -> dict:
    return {"x": torch.full((4096,), float(i)), "i": i}


def _stress_worker(root, log, seed):
    """Compute-or-load every shared artifact (all workers in nearly the same order, so that they meet),
    rewrite some with other bytes (as checkpoints are rewritten), and read random others back; log each
    computation and each warning (a discard is one)."""
    store, rng = ArtifactStore(Path(root)), random.Random(seed)
    order = list(range(STRESS_ARTIFACTS))
    for chunk in range(0, STRESS_ARTIFACTS, 4):
        order[chunk:chunk + 4] = rng.sample(order[chunk:chunk + 4], len(order[chunk:chunk + 4]))
    with open(log, "a") as out:
        warnings.showwarning = lambda message, *args, **kwargs: out.write(f"warning {message}\n") or out.flush()
        warnings.simplefilter("always")
        out.write("ready\n")
        out.flush()
        for i in order:
            def compute():
                out.write(f"computed {i}\n")
                out.flush()
                return _stress_value(i)

            assert store.cached("shared", {"i": i}, compute)["i"] == i
            if rng.random() < 0.3:
                store.save("shared", {"i": i}, {**_stress_value(i), "rewrite": rng.random()})
            j = rng.randrange(STRESS_ARTIFACTS)
            found = store.load("shared", {"i": j})
            assert found is None or torch.equal(found["x"], _stress_value(j)["x"])


def test_many_killed_writers_share_one_store(tmp_path):
    """N processes x many shared artifacts, with random SIGKILLs and restarts: no false discard, no
    crash, and every artifact valid at the end."""
    ctx, rng = mp.get_context("spawn"), random.Random(0)
    root, logs = tmp_path / "s", [tmp_path / f"log{k}.txt" for k in range(STRESS_PROCESSES)]
    seeds = iter(range(1000))

    def start(k):
        proc = ctx.Process(target=_stress_worker, args=(root, logs[k], next(seeds)))
        proc.start()
        return proc

    procs = [start(k) for k in range(STRESS_PROCESSES)]
    kills = 0
    deadline = time.monotonic() + 300
    while kills < STRESS_KILLS and time.monotonic() < deadline:
        time.sleep(rng.uniform(0.05, 0.4))
        busy = [k for k, p in enumerate(procs) if p.is_alive() and logs[k].exists() and "ready" in logs[k].read_text()]
        if not busy:
            continue
        k = rng.choice(busy)
        procs[k].kill()
        procs[k].join(30)
        kills += 1
        procs[k] = start(k)
    for proc in procs:
        proc.join(300)
    text = "".join(log.read_text() for log in logs)
    discards = text.count("discarding cached artifact")
    computed = text.count("computed ")
    print(f"{STRESS_PROCESSES} processes, {STRESS_ARTIFACTS} artifacts, {kills} kills, {computed} computations, "
          f"{discards} discards")
    assert kills == STRESS_KILLS
    assert [p.exitcode for p in procs] == [0] * STRESS_PROCESSES, text[-3000:]
    assert discards == 0, text[-3000:]
    store = ArtifactStore(root)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for i in range(STRESS_ARTIFACTS):
            assert torch.equal(store.load("shared", {"i": i})["x"], _stress_value(i)["x"])


def test_a_rewrite_after_an_interrupted_one_keeps_the_present_artifact_readable(store, monkeypatch):
    """A writer killed mid-rewrite leaves two accepted sums; the next rewrite must keep accepting the
    artifact that is actually there (not merely the first sum) until its own bytes replace it."""
    import reprolib.store as store_module

    spec = {"k": 1}
    store.save("demo", spec, {"v": 1})
    store.save("demo", spec, {"v": 2})
    path = store.path("demo", spec)
    sums = path.with_suffix(".sha256")
    first = store_module._sha256(b"bytes of a version no longer on disk")
    sums.write_text(f"{first}\n{sums.read_text()}")  # as a kill between the two renames leaves it
    writes = []
    real = store_module.atomic_write_bytes

    def killed_before_the_artifact(target, data):  # the next rewrite dies after writing its new sums
        writes.append(target)
        if target == path:
            raise KeyboardInterrupt
        real(target, data)

    monkeypatch.setattr(store_module, "atomic_write_bytes", killed_before_the_artifact)
    with pytest.raises(KeyboardInterrupt):
        store.save("demo", spec, {"v": 3})
    monkeypatch.setattr(store_module, "atomic_write_bytes", real)
    assert store.load("demo", spec) == {"v": 2}


class _Clock:
    """A perf_counter that moves only when told: costs without sleeping."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = _Clock()
    monkeypatch.setattr(time, "perf_counter", fake)
    return fake


def test_an_artifact_keeps_its_cost_and_a_shared_prerequisite_counts_once(store, clock):
    """Each artifact's cost is its own seconds plus the parts it needed, by address: a later process that
    loads two artifacts built on one prerequisite counts the prerequisite once."""
    def prerequisite():
        clock.now += 10
        return {"x": 1}

    def built_on_it(extra):
        def compute():
            store.cached("teacher", {"k": 0}, prerequisite)
            clock.now += extra
            return {"y": extra}
        return compute

    store.cached("distilled", {"ipc": 1}, built_on_it(3))
    store.cached("distilled", {"ipc": 10}, built_on_it(5))  # loads the teacher this process computed
    assert store.loaded == {}  # nothing came from an earlier process

    later = ArtifactStore(store.root)
    later.load("distilled", {"ipc": 1}), later.load("distilled", {"ipc": 10})
    assert sorted(later.loaded.values()) == [3.0, 5.0, 10.0]
    assert later.path("teacher", {"k": 0}).stem in later.loaded


def test_an_artifact_stored_before_costs_were_kept_loads_as_untimed(store):
    payload = {"kind": "old", "spec": {"a": 1}, "tensors": {"x": 1}}  # the payload of earlier versions
    path = store.path("old", {"a": 1})
    store.save("old", {"a": 1}, {"x": 1})
    path.write_bytes(_torch_bytes(payload))
    path.with_suffix(".sha256").write_text(_sha(path.read_bytes()))
    later = ArtifactStore(store.root)
    assert later.load("old", {"a": 1}) == {"x": 1} and later.loaded == {path.stem: None}
    assert not later.exists("missing", {}) and ArtifactStore(store.root).exists("old", {"a": 1})


def test_a_resumed_computation_counts_the_seconds_before_the_interruption(store, clock):
    def interrupted():
        clock.now += 7
        store.checkpoint("long", {"s": 0}).save({"step": 1})
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store.cached("long", {"s": 0}, interrupted)

    resumed = ArtifactStore(store.root)

    def finish():
        assert resumed.checkpoint("long", {"s": 0}).load() == {"step": 1}
        clock.now += 4
        return {"done": True}

    resumed.cached("long", {"s": 0}, finish)
    later = ArtifactStore(store.root)
    later.load("long", {"s": 0})
    assert list(later.loaded.values()) == [11.0]


def _torch_bytes(obj) -> bytes:
    import io
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _sha(data: bytes) -> str:
    import hashlib
    return hashlib.sha256(data).hexdigest()
