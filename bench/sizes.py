"""The two benchmark sizes: ``full`` (the full CIFAR shapes, for a GPU) and ``ci`` (the same work, shrunk to
run in a few minutes on a 2-core CPU).

Every case uses CIFAR shapes (3×32×32 images, ConvNetD3 of width 128) filled with random numbers:
timings depend on shapes, not on pixel values, and no dataset has to be present.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

DATASET_CLASSES = {"cifar10": 10, "cifar100": 100}


@dataclass(frozen=True)
class MatchShape:
    """One matching-iteration setting: the synthetic set (``ipc`` per class) and its unroll."""

    dataset: str
    ipc: int
    syn_steps: int
    batch_syn: int

    @property
    def num_classes(self) -> int:
        return DATASET_CLASSES[self.dataset]

    @property
    def label(self) -> str:
        name = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}[self.dataset]
        return f"{name} IPC {self.ipc} ({self.syn_steps} steps × batch {self.batch_syn})"


@dataclass(frozen=True)
class Size:
    """How much of each case to run; see :data:`SIZES`."""

    name: str
    purpose: str
    teacher_images: int  # images per timed teacher epoch (a CIFAR-10 epoch has 50,000)
    teachers_at_once: int  # teachers trained together by the batched path
    matching: tuple[MatchShape, ...]
    repeats: int  # timed repeats of each matching measurement (the minimum is reported)
    runtime_ipc: int  # IADD's runtime protocol: iterations × steps with a batch, at this IPC
    runtime_iterations: int
    runtime_steps: int
    runtime_batch: int
    eval_nets: int
    eval_epochs: int
    eval_ipc: int
    eval_test_images: int
    prune_n: int
    prune_features: int
    anneal_iterations: int
    fast_batch: int  # the fast-path case (bf16 + compile vs fp32 eager): batch of the ConvNetD3 steps
    fast_steps: int  # training steps per timed call
    fast_eval_ipcs: tuple[int, ...]  # the evaluation protocol at these IPCs (eval_nets × eval_epochs)
    dm_real_per_class: int  # DM's real images per class in one embedding pass (DM: 256)
    gan_batch: int  # the GAN + pool step's batch (stage 2: 64)
    gan_pool: tuple[str, ...]  # the pool members timed (one is drawn per step)

    def as_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        """The shapes in words, for the result JSON and the page."""
        return (f"{self.purpose}: teacher epochs of {self.teacher_images:,} images ({self.teachers_at_once} teachers "
                f"at once); matching at {', '.join(s.label for s in self.matching)}, best of {self.repeats}; IADD's "
                f"protocol {self.runtime_iterations} iterations × {self.runtime_steps} steps of batch "
                f"{self.runtime_batch} at IPC {self.runtime_ipc}; evaluation {self.eval_nets} networks × "
                f"{self.eval_epochs} epochs on IPC {self.eval_ipc} with {self.eval_test_images:,} test images; "
                f"pruning n = {self.prune_n:,} with {self.prune_features} features and {self.anneal_iterations:,} "
                f"annealing proposals; fast path: ConvNetD3 steps of batch {self.fast_batch} ({self.fast_steps} per "
                f"call), evaluation at IPC {', '.join(map(str, self.fast_eval_ipcs))}, DM embedding of "
                f"{self.dm_real_per_class} real images per class, GAN + pool ({', '.join(self.gan_pool)}) at batch "
                f"{self.gan_batch}")


# MTT's settings (REFERENCE §1): CIFAR-10 IPC 1/10/50 unroll 50/30/30 steps over all images; CIFAR-100
# IPC 50 unrolls 80 steps of batch 125.
FULL = Size(
    name="full",
    purpose="the full CIFAR shapes, for a GPU",
    teacher_images=50_000, teachers_at_once=4,
    matching=(MatchShape("cifar10", 1, 50, 10), MatchShape("cifar10", 10, 30, 100),
              MatchShape("cifar10", 50, 30, 500), MatchShape("cifar100", 50, 80, 125)),
    repeats=3,
    runtime_ipc=10, runtime_iterations=10, runtime_steps=50, runtime_batch=100,
    eval_nets=5, eval_epochs=1000, eval_ipc=10, eval_test_images=10_000,
    prune_n=60_000, prune_features=512, anneal_iterations=100_000,
    fast_batch=256, fast_steps=8, fast_eval_ipcs=(10, 50), dm_real_per_class=256, gan_batch=64,
    gan_pool=("convnetd3", "resnet10_dim", "resnet18_dim"),
)

CI = Size(
    name="ci",
    purpose="shapes reduced to run in minutes on a 2-core CPU",
    teacher_images=512, teachers_at_once=2,
    matching=(MatchShape("cifar10", 1, 4, 10), MatchShape("cifar10", 10, 2, 20),
              MatchShape("cifar10", 50, 2, 20), MatchShape("cifar100", 50, 2, 25)),
    repeats=2,
    runtime_ipc=1, runtime_iterations=3, runtime_steps=5, runtime_batch=10,
    eval_nets=5, eval_epochs=2, eval_ipc=10, eval_test_images=500,
    prune_n=60_000, prune_features=64, anneal_iterations=20_000,
    fast_batch=256, fast_steps=2, fast_eval_ipcs=(10, 50), dm_real_per_class=64, gan_batch=64,
    gan_pool=("convnetd3", "resnet10_dim", "resnet18_dim"),
)

SIZES = {size.name: size for size in (CI, FULL)}


def get_size(name: str) -> Size:
    if name not in SIZES:
        raise ValueError(f"unknown benchmark size {name!r}; choose one of {', '.join(SIZES)}")
    return SIZES[name]
