"""The artifact store: addressing, reuse, atomicity, corruption detection, locking, checkpoints."""

from __future__ import annotations

import multiprocessing as mp

import pytest
import torch

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


def test_failed_write_leaves_previous_artifact(store, monkeypatch):
    spec = {"seed": 0}
    store.save("thing", spec, {"x": torch.ones(3)})

    def broken_save(obj, f):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="REPROLIB_CACHE"):
        store.save("thing", spec, {"x": torch.zeros(3)})
    monkeypatch.undo()
    assert torch.equal(store.load("thing", spec)["x"], torch.ones(3))
    assert not list(store.path("thing", spec).parent.glob("*.tmp"))


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
