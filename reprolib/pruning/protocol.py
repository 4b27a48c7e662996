"""The dataset-pruning protocol: train on all data → score / prune at a ratio → retrain a fresh
network on the kept examples → test accuracy (mean ± std over seeds). REFERENCE §7.

Every trained network, score vector and annealing solution goes through the artifact store, keyed by
the data, the specs, the seed and the kept indices, so a rerun reuses them and an interrupted run
resumes at the first missing piece.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from reprolib.coreset import ForgettingTracker
from reprolib.data import Dataset
from reprolib.experiments.context import RunContext
from reprolib.nets import NETWORK_NAMES, build_network
from reprolib.pruning.annealing import AnnealConfig, AnnealResult, cardinality_pruning, generalization_pruning
from reprolib.pruning.crop_flip import CropFlip
from reprolib.pruning.influence import InfluenceConfig, parameter_influence
from reprolib.pruning.scores import (
    PRUNING_METHODS,
    el2n,
    grand_last_layer,
    keep_counts,
    keep_forgetting,
    keep_herding,
    keep_highest,
    keep_random,
)
from reprolib.runtime import make_generator
from reprolib.train import TrainConfig, accuracy, embed, predict, train_classifier

CODE_VERSION = 2  # bump when a change here alters the numbers, so cached artifacts are recomputed


@dataclass(frozen=True)
class ModelSpec:
    """A network and how it is trained (the paper: 200 epochs, batch 128, SGD 0.01 cosine, crop + flip)."""

    arch: str = "resnet18_cifar"
    arch_options: dict = field(default_factory=dict)
    train: TrainConfig = TrainConfig(epochs=200, lr=0.01, batch_size=128, schedule="cosine")
    crop_padding: int = 4
    flip: bool = True

    def validate(self, role: str) -> None:
        if self.arch.lower() not in NETWORK_NAMES:
            raise ValueError(f"unknown {role} network {self.arch!r}; choose one of {', '.join(NETWORK_NAMES)}")
        if self.crop_padding < 0:
            raise ValueError(f"{role}.crop_padding must be ≥ 0 (0 = no crop); got {self.crop_padding}")

    def build(self, data: Dataset) -> torch.nn.Module:
        return build_network(self.arch, data.channels, data.num_classes, data.image_size, **self.arch_options)

    def augment(self) -> CropFlip | None:
        return CropFlip(self.crop_padding, self.flip) if self.crop_padding or self.flip else None


@dataclass(frozen=True)
class ScoringSpec:
    """GraNd/EL2N (epochs and seeds of the early networks), influence solver, annealing budget."""

    early_epochs: int = 10
    early_seeds: int = 5
    influence: InfluenceConfig = InfluenceConfig()
    anneal: AnnealConfig = AnnealConfig()

    def validate(self) -> None:
        if self.early_epochs < 1 or self.early_seeds < 1:
            raise ValueError(f"early_epochs and early_seeds must be ≥ 1; got {self.early_epochs}, {self.early_seeds}")
        self.influence.validate()
        self.anneal.validate()


def digest(indices: Tensor | None) -> str:
    """A short fingerprint of a set of kept indices (None = all)."""
    return "all" if indices is None else hashlib.sha256(indices.cpu().numpy().tobytes()).hexdigest()[:20]


class EpochCurve:
    """``on_batch`` hook that records, after every epoch, the training seconds so far (evaluation
    excluded) and the test accuracy: the data of the paper's Fig. 4."""

    def __init__(self, net: torch.nn.Module, data: Dataset, batches_per_epoch: int):
        self.net, self.data, self.per_epoch = net, data, batches_per_epoch
        self.batches, self.seconds, self.accuracy = 0, [], []
        self.clock = 0.0
        self.started = time.perf_counter()

    def __call__(self, indices: Tensor, logits: Tensor, labels: Tensor) -> None:
        self.batches += 1
        if self.batches % self.per_epoch == 0:
            self.clock += time.perf_counter() - self.started
            self.seconds.append(self.clock)
            self.accuracy.append(accuracy(self.net, self.data.test_x, self.data.test_y))
            self.net.train()
            self.started = time.perf_counter()


def train_model(data: Dataset, model: ModelSpec, seed: int, ctx: RunContext, indices: Tensor | None = None,
                curve: bool = False, epochs: int | None = None) -> dict:
    """Train a fresh ``model`` on the training examples at ``indices`` (all when None); cached.

    Returns the state, test accuracy (%) and loss, the forgetting counts over the examples trained on,
    the wall-clock training seconds and, with ``curve``, per-epoch (seconds, test accuracy).
    """
    config = model.train if epochs is None else TrainConfig(**{**model.train.as_dict(), "epochs": epochs})
    spec = {"data": data.spec(), "model": asdict(model), "epochs": config.epochs, "seed": seed,
            "indices": digest(indices), "curve": curve, "code": CODE_VERSION}

    def compute() -> dict:
        x = data.train_x if indices is None else data.train_x[indices.to(data.device)]
        y = data.train_y if indices is None else data.train_y[indices.to(data.device)]
        torch.manual_seed(seed)
        net = model.build(data).to(ctx.device)
        tracker = ForgettingTracker(len(x), ctx.device)
        recorder = EpochCurve(net, data, -(-len(x) // config.batch_size)) if curve else None

        def on_batch(idx, logits, labels):
            tracker.update(idx, logits, labels)
            if recorder:
                recorder(idx, logits, labels)

        began = time.perf_counter()
        train_classifier(net, x, y, config, generator=make_generator(seed), augment=model.augment(), on_batch=on_batch,
                         desc=f"train {model.arch} on {len(x)}")
        seconds = time.perf_counter() - began
        logits = predict(net, data.test_x)
        return {
            "state": {k: v.cpu() for k, v in net.state_dict().items()},
            "test_accuracy": (logits.argmax(1) == data.test_y).double().mean().item() * 100.0,
            "test_loss": F.cross_entropy(logits, data.test_y).item(),
            "forgetting": tracker.counts().cpu(),
            "seconds": seconds,
            "curve_seconds": torch.tensor(recorder.seconds if recorder else [], dtype=torch.float64),
            "curve_accuracy": torch.tensor(recorder.accuracy if recorder else [], dtype=torch.float64),
        }

    return ctx.store.cached("dp-model", spec, compute)


def load_net(data: Dataset, model: ModelSpec, trained: dict, ctx: RunContext) -> torch.nn.Module:
    net = model.build(data)
    net.load_state_dict(trained["state"])
    return net.to(ctx.device).eval()


class Pruner:
    """Prunes one dataset with one scoring network; every expensive piece is computed once, lazily."""

    def __init__(self, data: Dataset, model: ModelSpec, scoring: ScoringSpec, seed: int, ctx: RunContext):
        self.data, self.model, self.scoring, self.seed, self.ctx = data, model, scoring, seed, ctx
        self.spec = {"data": data.spec(), "model": asdict(model), "seed": seed, "code": CODE_VERSION}
        self._full = self._last_layer = self._influence = self._early = None

    @property
    def full(self) -> dict:
        """The scoring network trained on all the data (with forgetting counts)."""
        if self._full is None:
            self._full = train_model(self.data, self.model, self.seed, self.ctx)
        return self._full

    def last_layer(self) -> tuple[Tensor, Tensor]:
        """Penultimate features and softmax probabilities of the scoring network on the training set."""
        if self._last_layer is None:
            net = load_net(self.data, self.model, self.full, self.ctx)
            features = embed(net, self.data.train_x)
            with torch.no_grad():
                probs = torch.softmax(net.classifier(features).double(), dim=1)
            self._last_layer = (features, probs)
        return self._last_layer

    def influence(self) -> Tensor:
        """``S`` (n × C·(d+1)); held in memory only, recomputed when a new annealing run needs it."""
        if self._influence is None:
            features, probs = self.last_layer()
            self._influence = parameter_influence(features, probs, self.data.train_y, self.scoring.influence).S
        return self._influence

    def early_scores(self) -> dict:
        """GraNd and EL2N averaged over ``early_seeds`` networks trained ``early_epochs`` epochs."""
        if self._early is None:
            spec = {**self.spec, "early_epochs": self.scoring.early_epochs, "early_seeds": self.scoring.early_seeds}

            def compute() -> dict:
                grand = torch.zeros(len(self.data.train_y), dtype=torch.float64)
                error = torch.zeros_like(grand)
                for k in range(self.scoring.early_seeds):
                    trained = train_model(self.data, self.model, self.seed + 1000 + k, self.ctx, epochs=self.scoring.early_epochs)
                    net = load_net(self.data, self.model, trained, self.ctx)
                    features = embed(net, self.data.train_x)
                    with torch.no_grad():
                        probs = torch.softmax(net.classifier(features).double(), dim=1)
                    grand += grand_last_layer(probs, self.data.train_y, features).cpu()
                    error += el2n(probs, self.data.train_y).cpu()
                return {"grand": grand / self.scoring.early_seeds, "el2n": error / self.scoring.early_seeds}

            self._early = self.ctx.store.cached("dp-early-scores", spec, compute)
        return self._early

    def influence_norms(self) -> Tensor:
        spec = {**self.spec, "influence": asdict(self.scoring.influence)}
        return self.ctx.store.cached("dp-influence-norms", spec, lambda: {"norm": self.influence().double().norm(dim=1).cpu()})["norm"]

    def cardinality(self, keep: list[int]) -> dict:
        """Eq. 4 by annealing, class by class: prune all but ``keep[c]`` examples of each class c;
        the pruned indices and the annealing record."""
        sizes = torch.bincount(self.data.train_y.cpu(), minlength=self.data.num_classes).tolist()
        prune = {c: sizes[c] - keep[c] for c in range(self.data.num_classes)}
        spec = {**self.spec, "influence": asdict(self.scoring.influence), "anneal": asdict(self.scoring.anneal), "keep": list(keep)}

        def compute() -> dict:
            result = cardinality_pruning(self.influence(), prune, self.scoring.anneal, groups=self.data.train_y)
            return {"pruned": result.pruned, **result.as_dict()}

        return self.ctx.store.cached("dp-cardinality", spec, compute)

    def generalization(self, epsilon: float) -> dict:
        """Eq. 3 by annealing: the largest pruned set with ||Σ S|| ≤ ε, and the annealing record."""
        spec = {**self.spec, "influence": asdict(self.scoring.influence), "anneal": asdict(self.scoring.anneal), "epsilon": epsilon}

        def compute() -> dict:
            result: AnnealResult = generalization_pruning(self.influence(), epsilon, self.scoring.anneal)
            return {"pruned": result.pruned, **result.as_dict()}

        return self.ctx.store.cached("dp-generalization", spec, compute)

    def subset_norm(self, pruned: Tensor) -> float:
        """``||Σ_{i∈pruned} S_i||₂`` — the ε a given pruned set attains."""
        return float(self.influence()[pruned.to(self.influence().device)].double().sum(0).norm()) if len(pruned) else 0.0

    def kept(self, method: str, ratio: float) -> Tensor:
        """Sorted indices of the training examples ``method`` keeps when pruning a fraction ``ratio``."""
        labels = self.data.train_y
        counts = keep_counts(labels, ratio, self.data.num_classes)
        generator = make_generator(self.seed)
        if method == "random":
            return keep_random(labels, counts, generator)
        if method == "herding":
            features, _ = self.last_layer()
            return keep_herding(features, labels, counts)
        if method == "forgetting":
            return keep_forgetting(self.full["forgetting"].to(labels.device), labels, counts, generator)
        if method in ("grand", "el2n"):
            return keep_highest(self.early_scores()[method].to(labels.device), labels, counts, generator)
        if method == "influence":
            return keep_highest(self.influence_norms().to(labels.device), labels, counts, generator)
        if method == "ours":
            return self.kept_ours(counts)
        raise ValueError(f"unknown pruning method {method!r}; choose from {', '.join(PRUNING_METHODS)}")

    def kept_ours(self, keep: list[int]) -> Tensor:
        """Sorted indices kept by the cardinality-guaranteed optimisation with ``keep[c]`` per class."""
        pruned = self.cardinality(keep)["pruned"]
        kept = torch.ones(len(self.data.train_y), dtype=torch.bool)
        kept[pruned] = False
        return torch.nonzero(kept).flatten().to(self.data.device)
