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

from reprolib import precision
from reprolib.coreset import ForgettingTracker
from reprolib.data import Dataset
from reprolib.experiments.context import RunContext
from reprolib.nets import NETWORK_NAMES, build_network
from reprolib.pruning.annealing import AnnealConfig, AnnealResult, cardinality_pruning, generalization_pruning
from reprolib.pruning.crop_flip import CropFlip
from reprolib.pruning.influence import Influence, InfluenceConfig, parameter_influence
from reprolib.pruning.scores import (
    CLASS_BALANCED_DEFAULT,
    PRUNING_METHODS,
    el2n,
    grand_all_weights,
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
SELECTION_VERSION = 2  # the same for scores, influences and annealing only (2: the weight-decay-aware influence), so networks are reused


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
    """How the rules score and select.

    ``early_epochs``/``early_seeds``: the briefly trained networks of EL2N and last-layer GraNd (Paul
    et al.: epoch 20, 10 seeds); ``grand_seeds``: the freshly initialised networks of Paul et al.'s
    GraNd (10); ``class_balanced``: the rules that keep the same fraction of every class (the DP paper:
    none but Herding, which works per class); the influence solver and the annealing budget."""

    early_epochs: int = 20
    early_seeds: int = 10
    grand_seeds: int = 10
    class_balanced: tuple[str, ...] = CLASS_BALANCED_DEFAULT
    influence: InfluenceConfig = InfluenceConfig()
    anneal: AnnealConfig = AnnealConfig()

    def validate(self) -> None:
        if self.early_epochs < 1 or self.early_seeds < 1 or self.grand_seeds < 1:
            raise ValueError(f"early_epochs, early_seeds and grand_seeds must be ≥ 1; got "
                             f"{self.early_epochs}, {self.early_seeds}, {self.grand_seeds}")
        unknown = sorted(set(self.class_balanced) - set(PRUNING_METHODS))
        if unknown:
            raise ValueError(f"class_balanced names unknown rule(s) {unknown}; choose from {', '.join(PRUNING_METHODS)}")
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


def _warm_up(data: Dataset, model: ModelSpec, x: Tensor, y: Tensor, config: TrainConfig, ctx: RunContext) -> None:
    """Train a throwaway network for one epoch on batches of the timed run's shapes (a full batch and the
    shorter last one), so that the seconds a timed run records (Fig. 4) do not include ``torch.compile``
    compiling its graphs — on a CPU that was half of a 15-epoch run's time. Runs before the timed run seeds
    its network, so its accuracies are those it would have without the warm-up."""
    if not precision.current().compile:
        return
    n = min(len(x), config.batch_size + len(x) % config.batch_size)
    once = TrainConfig(**{**config.as_dict(), "epochs": 1})
    train_classifier(model.build(data).to(ctx.device), x[:n], y[:n], once, generator=make_generator(0),
                     augment=model.augment(), desc="warm-up")


def train_model(data: Dataset, model: ModelSpec, seed: int, ctx: RunContext, indices: Tensor | None = None,
                curve: bool = False, epochs: int | None = None) -> dict:
    """Train a fresh ``model`` on the training examples at ``indices`` (all when None); cached.

    Returns the state, test accuracy (%) and loss, the forgetting counts over the examples trained on,
    the wall-clock training seconds and, with ``curve``, per-epoch (seconds, test accuracy).
    """
    config = model.train if epochs is None else TrainConfig(**{**model.train.as_dict(), "epochs": epochs})
    spec = {"data": data.spec(), "model": asdict(model), "epochs": config.epochs, "seed": seed,
            "indices": digest(indices), "curve": curve, "code": CODE_VERSION,
            **({"timed_after_warm_up": True} if curve else {})}

    def compute() -> dict:
        x = data.train_x if indices is None else data.train_x[indices.to(data.device)]
        y = data.train_y if indices is None else data.train_y[indices.to(data.device)]
        if curve:
            _warm_up(data, model, x, y, config, ctx)
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
        self.selection_spec = {**self.spec, "selection": SELECTION_VERSION, "influence": asdict(scoring.influence)}
        self._full = self._last_layer = self._influence = self._early = self._grand = None

    @property
    def full(self) -> dict:
        """The scoring network trained on all the data (with forgetting counts)."""
        if self._full is None:
            self._full = train_model(self.data, self.model, self.seed, self.ctx)
        return self._full

    def last_layer(self) -> tuple[Tensor, Tensor, Tensor]:
        """Penultimate features, softmax probabilities and the layer ``[W | b]`` of the scoring network."""
        if self._last_layer is None:
            net = load_net(self.data, self.model, self.full, self.ctx)
            features = embed(net, self.data.train_x)
            with torch.no_grad():
                probs = torch.softmax(net.classifier(features).double(), dim=1)
                weights = torch.cat([net.classifier.weight, net.classifier.bias[:, None]], dim=1).double()
            self._last_layer = (features, probs, weights)
        return self._last_layer

    def influence(self) -> Influence:
        """``S`` (n × C·(d+1)) with the training's weight decay; held in memory only, recomputed when a
        new annealing run needs it."""
        if self._influence is None:
            features, probs, weights = self.last_layer()
            self._influence = parameter_influence(features, probs, self.data.train_y, self.scoring.influence,
                                                  weights=weights, weight_decay=self.model.train.weight_decay)
        return self._influence

    def influence_summary(self) -> dict:
        """‖Σ_all S‖ against the mean ‖S_i‖ (and the damping and weight decay used): every record reports it."""
        return self.ctx.store.cached("dp-influence-summary", self.selection_spec,
                                     lambda: {"summary": self.influence().summary()})["summary"]

    def early_scores(self) -> dict:
        """Last-layer GraNd and EL2N averaged over ``early_seeds`` networks trained ``early_epochs`` epochs."""
        if self._early is None:
            spec = {**self.spec, "selection": SELECTION_VERSION, "early_epochs": self.scoring.early_epochs,
                    "early_seeds": self.scoring.early_seeds}

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
                return {"grand_last_layer": grand / self.scoring.early_seeds, "el2n": error / self.scoring.early_seeds}

            self._early = self.ctx.store.cached("dp-early-scores", spec, compute)
        return self._early

    def grand_at_init(self) -> Tensor:
        """Paul et al.'s GraNd: all-weight gradient norms at initialisation, averaged over ``grand_seeds``."""
        if self._grand is None:
            spec = {**self.spec, "selection": SELECTION_VERSION, "grand_seeds": self.scoring.grand_seeds}

            def compute() -> dict:
                total = torch.zeros(len(self.data.train_y), dtype=torch.float64)
                for k in range(self.scoring.grand_seeds):
                    torch.manual_seed(self.seed + 2000 + k)
                    net = self.model.build(self.data).to(self.ctx.device)
                    total += grand_all_weights(net, self.data.train_x, self.data.train_y).cpu()
                return {"grand": total / self.scoring.grand_seeds}

            self._grand = self.ctx.store.cached("dp-grand-init", spec, compute)["grand"]
        return self._grand

    def influence_norms(self) -> Tensor:
        return self.ctx.store.cached("dp-influence-norms", self.selection_spec,
                                     lambda: {"norm": self.influence().S.double().norm(dim=1).cpu()})["norm"]

    def groups(self, method: str) -> tuple[Tensor, int]:
        """The group of each example for ``method`` (its class when class-balanced, else one group)."""
        if method in self.scoring.class_balanced:
            return self.data.train_y, self.data.num_classes
        return torch.zeros_like(self.data.train_y), 1

    def cardinality(self, keep: list[int], balanced: bool) -> dict:
        """Eq. 4 by annealing: prune all but ``keep[g]`` examples of each group g (the classes when
        ``balanced``, else one group); the pruned indices and the annealing record."""
        groups = self.data.train_y if balanced else torch.zeros_like(self.data.train_y)
        sizes = torch.bincount(groups.cpu(), minlength=len(keep)).tolist()
        prune = {g: sizes[g] - keep[g] for g in range(len(keep))}
        spec = {**self.selection_spec, "anneal": asdict(self.scoring.anneal), "keep": list(keep), "balanced": balanced}

        def compute() -> dict:
            result = cardinality_pruning(self.influence().S, prune, self.scoring.anneal, groups=groups)
            return {"pruned": result.pruned, **result.as_dict()}

        return self.ctx.store.cached("dp-cardinality", spec, compute)

    def generalization(self, epsilon: float, max_pruned: int | None = None) -> dict:
        """Eq. 3 by annealing: the largest pruned set (of at most ``max_pruned``) with ||Σ S|| ≤ ε, and
        the annealing record."""
        spec = {**self.selection_spec, "anneal": asdict(self.scoring.anneal), "epsilon": epsilon, "max_pruned": max_pruned}

        def compute() -> dict:
            result: AnnealResult = generalization_pruning(self.influence().S, epsilon, self.scoring.anneal, max_pruned)
            return {"pruned": result.pruned, **result.as_dict()}

        return self.ctx.store.cached("dp-generalization", spec, compute)

    def subset_norm(self, pruned: Tensor) -> float:
        """``||Σ_{i∈pruned} S_i||₂`` — the ε a given pruned set attains."""
        S = self.influence().S
        return float(S[pruned.to(S.device)].double().sum(0).norm()) if len(pruned) else 0.0

    def kept(self, method: str, ratio: float) -> Tensor:
        """Sorted indices of the training examples ``method`` keeps when pruning a fraction ``ratio``
        (of each class when the rule is class-balanced, of the whole set otherwise)."""
        groups, num_groups = self.groups(method)
        counts = keep_counts(groups, ratio, num_groups)
        generator = make_generator(self.seed)
        if method == "random":
            return keep_random(groups, counts, generator)
        if method == "herding":
            return keep_herding(self.last_layer()[0], groups, counts)
        if method == "forgetting":
            return keep_forgetting(self.full["forgetting"].to(groups.device), groups, counts, generator)
        if method in ("grand_last_layer", "el2n"):
            return keep_highest(self.early_scores()[method].to(groups.device), groups, counts, generator)
        if method == "grand":
            return keep_highest(self.grand_at_init().to(groups.device), groups, counts, generator)
        if method == "influence":
            return keep_highest(self.influence_norms().to(groups.device), groups, counts, generator)
        if method == "ours":
            return self.kept_ours(counts, balanced=num_groups > 1)
        raise ValueError(f"unknown pruning method {method!r}; choose from {', '.join(PRUNING_METHODS)}")

    def kept_ours(self, keep: list[int], balanced: bool) -> Tensor:
        """Sorted indices kept by the cardinality-guaranteed optimisation with ``keep[g]`` per group."""
        pruned = self.cardinality(keep, balanced)["pruned"]
        kept = torch.ones(len(self.data.train_y), dtype=torch.bool)
        kept[pruned] = False
        return torch.nonzero(kept).flatten().to(self.data.device)
