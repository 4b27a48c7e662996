"""Training the generator: stage 1 (the conditional GAN) and stage 2 (GAN + logit matching).

The procedure is DiM's released code (``gen_condense.py``, ``pool_match.py``), each of its choices a
:class:`GANConfig` field whose default is DiM's value:

* **Epochs** are passes over a fresh permutation of the training set in batches of ``batch_size``
  (stage 1, DiM 128) or ``match_batch_size`` (stage 2; DiM's one ``--batch-size`` also sets the
  evaluation batch, so GDD-SKD's batch 32/64/128 are three stage-2 runs), the last partial batch dropped.
  ``epoch_steps`` (0 in DiM) ends each epoch after at most that many batches, so CPU-sized presets
  shorten the stages without cutting the data: every epoch still draws from the whole split.
* **Images** — the discriminator sees ``gan_images``: ``signed`` = [−1, 1] (DiM: real images normalised
  by 0.5/0.5, the generator's tanh output as is) or ``normalised`` (the dataset's mean/std). Every
  classifier (pool, evaluation) sees dataset-normalised images.
* **Update order** — ``g_then_d`` (DiM): the generator steps on fakes of the real batch's labels, then
  the discriminator steps on the real batch and *new* fakes of random labels; ``d_then_g``: one set of
  fakes, discriminator first.
* **Stage 2** starts from the stage-1 checkpoint chosen by ``selection`` (the last one when selection is
  off), with generator and discriminator at ``match_lr`` / ``match_d_lr`` (DiM: both 5e-6) and, when
  ``match_restore_adam``, the stage-1 Adam state (DiM saves and reloads it). The generator's loss gains
  ``λ · matching term`` between the logits a pool model (:mod:`.pool`) gives the real batch and the
  generated one, after ``match_augment`` (DiM's ``--match-aug``: colour, crop and cutout, one draw for
  both batches).
* **Checkpoint selection** (:class:`Selection`) — every ``selection.every`` epochs DiM scores the
  generator with its evaluation (:mod:`.dim_protocol`, IPC 50, one ConvNet) and keeps the best: a
  choice made on the *test* set. Both the selected and the last checkpoint are stored; the tables
  show both.

Both stages run through the artifact store: the result is cached under a spec of everything that
determines it, and a checkpoint is saved every ``checkpoint_every`` steps (networks, optimisers, pool,
random state, best-so-far, history), so an interrupted run resumes where it stopped and, on the CPU,
ends bit-identical to an uninterrupted one. Every random draw comes from one CPU ``torch.Generator``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import torch
from torch import Tensor

from reprolib import precision
from reprolib.data import Dataset
from reprolib.evaluation import EvalProtocol
from reprolib.generative.dim_augment import ChainedAugment
from reprolib.generative.dim_protocol import DiMEval, evaluate_dim
from reprolib.generative.gan import DIM_GENERATOR_CONVS, DIM_SLOPE, Discriminator, Generator, latent_codes
from reprolib.generative.losses import MATCHING_RULES, discriminator_loss, generator_loss, matching_loss
from reprolib.generative.pool import PAPER_POOL, POOL_SCHEDULES, RESNET_LAYOUTS, ModelPool, PoolMember
from reprolib.runtime import make_generator, progress
from reprolib.store import ArtifactStore

CODE_VERSION = 2  # bump when a change here alters trained generators
GAN_IMAGES = ("signed", "normalised")
UPDATE_ORDERS = ("g_then_d", "d_then_g")
CHECKPOINTS = ("selected", "last")

StepHook = Callable[[int], None]  # called with the number of finished steps (after any checkpoint)


@dataclass(frozen=True)
class Selection:
    """DiM's checkpoint selection: every ``every`` epochs (DiM's ``--eval-interval`` 10; 0 = off, the
    last checkpoint is used) the generator is scored by DiM's protocol at ``ipc`` (DiM's default 50) with
    ``eval``'s networks (DiM: one ConvNet, 1000 epochs) at the stage's batch size; the best is kept."""

    every: int = 10
    ipc: int = 50
    eval: EvalProtocol = EvalProtocol(num_eval=1)
    dim_eval: DiMEval = DiMEval()

    def validate(self) -> None:
        if self.every < 0 or self.ipc < 1:
            raise ValueError(f"gan.selection.every must be ≥ 0 and ipc ≥ 1; got {self.every}, {self.ipc}")
        self.eval.validate()
        self.dim_eval.validate()


@dataclass(frozen=True)
class GANConfig:
    """Both stages' settings; defaults are DiM's released code (see the module docstring)."""

    latent_dim: int = 100
    generator_width: int = 196
    generator_convs: tuple[int, ...] = DIM_GENERATOR_CONVS
    discriminator_width: int = 196
    discriminator_slope: float = DIM_SLOPE
    gan_images: str = "signed"
    update_order: str = "g_then_d"
    lr: float = 1e-4
    betas: tuple[float, ...] = (0.0, 0.9)
    batch_size: int = 128
    gp_weight: float = 10.0
    epoch_steps: int = 0  # batches per epoch at most (0: a whole pass, DiM); shortens every epoch-counted schedule
    cgan_epochs: int = 150
    match_epochs: int = 100
    match_lr: float = 5e-6
    match_d_lr: float = 5e-6
    match_restore_adam: bool = True
    match_batch_size: int = 64
    match_augment: str = "color_crop_cutout"
    pool: tuple[PoolMember, ...] = tuple(PoolMember(a) for a in PAPER_POOL)
    pool_schedule: str = "fresh_per_epoch"
    pool_resnet_layout: str = "by_dataset"
    pool_lr: float = 0.01
    pool_batches: int = 16  # real minibatches the current pool model trains on before each generator step
    pool_augment: str = "color_crop"
    selection: Selection = Selection()
    checkpoint_every: int = 500

    def validate(self) -> None:
        positive = ("latent_dim", "generator_width", "discriminator_width", "batch_size", "match_batch_size",
                    "checkpoint_every")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"gan.{name} must be ≥ 1, got {getattr(self, name)}")
        if min(self.cgan_epochs, self.match_epochs, self.pool_batches, self.epoch_steps) < 0:
            raise ValueError("gan.cgan_epochs, gan.match_epochs, gan.pool_batches and gan.epoch_steps must be ≥ 0")
        if min(self.lr, self.match_lr, self.match_d_lr, self.pool_lr) <= 0 or self.gp_weight < 0:
            raise ValueError("gan.lr, gan.match_lr, gan.match_d_lr, gan.pool_lr must be > 0 and gan.gp_weight ≥ 0")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"gan.betas must be two numbers in [0, 1), got {self.betas}")
        for name, value, allowed in (("gan_images", self.gan_images, GAN_IMAGES),
                                     ("update_order", self.update_order, UPDATE_ORDERS),
                                     ("pool_schedule", self.pool_schedule, POOL_SCHEDULES),
                                     ("pool_resnet_layout", self.pool_resnet_layout, RESNET_LAYOUTS)):
            if value not in allowed:
                raise ValueError(f"gan.{name}={value!r}; choose one of {', '.join(allowed)}")
        if not self.pool:
            raise ValueError("gan.pool must name at least one network, e.g. [{arch: convnetd3}]")
        for member in self.pool:
            member.validate()
        ChainedAugment(self.match_augment), ChainedAugment(self.pool_augment)
        self.selection.validate()


def steps_per_epoch(num_train: int, batch_size: int, epoch_steps: int = 0) -> int:
    """DiM's loader drops the last partial batch (at least one step when the set is smaller than a batch);
    ``epoch_steps`` > 0 caps it (see :class:`GANConfig`)."""
    whole = max(1, num_train // batch_size)
    return min(whole, epoch_steps) if epoch_steps else whole


@dataclass(frozen=True)
class GeneratorRun:
    """A trained generator (ready, in eval mode), the spec it is stored under, its loss history and the
    selection log (``[epoch, score]`` rows; empty without selection)."""

    generator: Generator
    spec: dict
    history: dict[str, Tensor]
    selection: list


def build_generator(data: Dataset, config: GANConfig) -> Generator:
    return Generator(data.channels, data.num_classes, data.image_size, latent_dim=config.latent_dim,
                     width=config.generator_width, convs=config.generator_convs, mean=data.mean, std=data.std)


def build_discriminator(data: Dataset, config: GANConfig) -> Discriminator:
    return Discriminator(data.channels, data.num_classes, data.image_size, width=config.discriminator_width,
                         slope=config.discriminator_slope)


@dataclass(frozen=True)
class _Stage:
    """What differs between the stages."""

    epochs: int
    batch_size: int
    g_lr: float
    d_lr: float
    rule: str | None = None
    weight: float = 0.0
    tau: float = 2.0


def stage_settings(config: GANConfig, rule: str | None = None, weight: float = 0.0, tau: float = 2.0) -> _Stage:
    """Epochs, batch and the generator/discriminator learning rates of stage 1 (``rule`` None) or 2."""
    if rule is None:
        return _Stage(config.cgan_epochs, config.batch_size, config.lr, config.lr)
    return _Stage(config.match_epochs, config.match_batch_size, config.match_lr, config.match_d_lr, rule, weight, tau)


class _Trainer:
    """The state of one stage: networks, optimisers, pool, the random stream, selection and history."""

    def __init__(self, data: Dataset, config: GANConfig, seed: int, device: torch.device, stage: _Stage,
                 start: dict | None) -> None:
        self.data, self.config, self.stage, self.seed = data, config, stage, seed
        torch.manual_seed(seed)
        self.g = build_generator(data, config).to(device)
        self.d = build_discriminator(data, config).to(device)
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=stage.g_lr, betas=tuple(config.betas))
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=stage.d_lr, betas=tuple(config.betas))
        if start is not None:
            self.g.load_state_dict(start["generator"])
            self.d.load_state_dict(start["discriminator"])
            if config.match_restore_adam:
                self.opt_g.load_state_dict(start["opt_g"])
                self.opt_d.load_state_dict(start["opt_d"])
            for optimizer, lr in ((self.opt_g, stage.g_lr), (self.opt_d, stage.d_lr)):
                for group in optimizer.param_groups:
                    group["lr"] = lr
        self.pool = None if stage.rule is None else ModelPool(
            config.pool, data, device, schedule=config.pool_schedule, resnet_layout=config.pool_resnet_layout,
            lr=config.pool_lr)
        self.match_augment = ChainedAugment(config.match_augment)
        self.pool_augment = ChainedAugment(config.pool_augment)
        self.random = make_generator(seed)
        self.per_epoch = steps_per_epoch(len(data.train_y), stage.batch_size, config.epoch_steps)
        self.order = torch.zeros(0, dtype=torch.long)
        self.best: dict | None = None
        self.best_score = float("-inf")
        self.selection: list[list[float]] = []
        self.history: dict[str, list[float]] = {"d_loss": [], "g_loss": []} | (
            {"match": [], "pool": []} if stage.rule else {})

    # -- data
    def _rows(self, order: Tensor, i: int) -> tuple[Tensor, Tensor]:
        idx = order[i * self.stage.batch_size : (i + 1) * self.stage.batch_size].to(self.data.device)
        return self.data.train_x[idx], self.data.train_y[idx]

    def _gan_view(self, signed: Tensor) -> Tensor:
        return signed if self.config.gan_images == "signed" else self.g.to_dataset(signed)

    def _real_gan_view(self, x: Tensor) -> Tensor:
        return self.g.from_dataset(x) if self.config.gan_images == "signed" else x

    def _latents(self, labels: Tensor) -> Tensor:
        return latent_codes(labels, self.data.num_classes, self.config.latent_dim, self.random)

    # -- the two updates
    def _generator_step(self, x: Tensor, y: Tensor, signed: Tensor, step_in_epoch: int) -> float:
        g_loss = generator_loss(self.d, self._gan_view(signed), y)
        if self.stage.rule is not None:
            member = self.pool.current(step_in_epoch, self.random)
            order = torch.randperm(len(self.data.train_y), generator=self.random)
            for i in range(self.config.pool_batches):
                xb, yb = self._rows(order, i % self.per_epoch)
                self.pool.train_on(member, self.pool_augment(xb, self.random), yb)
            real, fake = self.match_augment.siamese(x, self.g.to_dataset(signed), generator=self.random)
            with self.pool.frozen(member) as net, precision.current().autocast(x.device):
                real_logits, fake_logits = net(real), net(fake)  # the pool member in the precision in force
            match = matching_loss(self.stage.rule, precision.widen(real_logits), precision.widen(fake_logits), self.stage.tau)
            g_loss = g_loss + self.stage.weight * match
            self.history["match"].append(match.item())
            self.history["pool"].append(float(member))
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_g.step()
        return g_loss.item()

    def _discriminator_step(self, x: Tensor, y: Tensor, fake_signed: Tensor, fake_labels: Tensor) -> float:
        d_loss = discriminator_loss(self.d, self._real_gan_view(x), y, self._gan_view(fake_signed.detach()), fake_labels,
                                    self.config.gp_weight, self.random)
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()
        return d_loss.item()

    def step(self, step: int) -> None:
        epoch, i = divmod(step, self.per_epoch)
        if i == 0:
            self.order = torch.randperm(len(self.data.train_y), generator=self.random)
        x, y = self._rows(self.order, i)
        self.g.train()
        if self.config.update_order == "g_then_d":
            g_loss = self._generator_step(x, y, self.g.signed(self._latents(y)), i)
            fake_labels = torch.randint(self.data.num_classes, (len(y),), generator=self.random).to(y.device)
            with torch.no_grad():
                fake = self.g.signed(self._latents(fake_labels))
            d_loss = self._discriminator_step(x, y, fake, fake_labels)
        else:
            fake = self.g.signed(self._latents(y))
            d_loss = self._discriminator_step(x, y, fake, y)
            g_loss = self._generator_step(x, y, fake, i)
        self.history["d_loss"].append(d_loss)
        self.history["g_loss"].append(g_loss)
        every = self.config.selection.every
        if i == self.per_epoch - 1 and every and (epoch + 1) % every == 0:
            self._score(epoch + 1)

    # -- checkpoint selection
    def _states(self) -> dict:
        return copy.deepcopy({"generator": self.g.state_dict(), "discriminator": self.d.state_dict(),
                              "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict()})

    def _score(self, epoch: int) -> None:
        selection = self.config.selection
        protocol = replace(selection.eval, batch_size=self.stage.batch_size)
        score = evaluate_dim(self.g, self.data, protocol, selection.dim_eval, selection.ipc, self.seed).score
        self.selection.append([float(epoch), score])
        if score > self.best_score:  # DiM keeps the first of equal scores
            self.best, self.best_score = self._states(), score

    # -- resumable state
    def state(self, steps: int) -> dict:
        state = {"steps": steps, **self._states(), "random": self.random.get_state(), "order": self.order,
                 "history": {k: torch.tensor(v) for k, v in self.history.items()}, "best": self.best,
                 "best_score": self.best_score, "selection": self.selection}
        if self.pool is not None:
            state["pool"] = self.pool.state_dict()
        return state

    def restore(self, state: dict) -> int:
        self.g.load_state_dict(state["generator"])
        self.d.load_state_dict(state["discriminator"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.random.set_state(state["random"])
        self.order = state["order"]
        self.history = {k: v.tolist() for k, v in state["history"].items()}
        self.best, self.best_score, self.selection = state["best"], float(state["best_score"]), list(state["selection"])
        if self.pool is not None:
            self.pool.load_state_dict(state["pool"])
        return int(state["steps"])

    def result(self) -> dict:
        last = self._states()
        return {"last": last, "selected": self.best if self.best is not None else last,
                "selection": self.selection, "history": {k: torch.tensor(v) for k, v in self.history.items()}}


def _run_stage(kind: str, spec: dict, data: Dataset, config: GANConfig, seed: int, store: ArtifactStore,
               device: torch.device, stage: _Stage, start: dict | None = None, on_step: StepHook | None = None,
               desc: str = "") -> dict:
    """Train one stage through the store (cached result; checkpoints while running)."""

    def compute() -> dict:
        trainer = _Trainer(data, config, seed, device, stage, start)
        total = stage.epochs * trainer.per_epoch
        checkpoint = store.checkpoint(kind, spec)
        saved = checkpoint.load()
        done = trainer.restore(saved) if saved is not None else 0
        for step in progress(range(done, total), desc=desc, initial=done, total=total):
            trainer.step(step)
            if (step + 1) % config.checkpoint_every == 0 and step + 1 < total:
                checkpoint.save(trainer.state(step + 1))
            if on_step is not None:
                on_step(step + 1)
        result = trainer.result()
        checkpoint.clear()
        return result

    return store.cached(kind, spec, compute)


def _finish(found: dict, checkpoint: str, data: Dataset, config: GANConfig, spec: dict,
            device: torch.device) -> GeneratorRun:
    if checkpoint not in CHECKPOINTS:
        raise ValueError(f"unknown checkpoint {checkpoint!r}; choose one of {', '.join(CHECKPOINTS)}")
    generator = build_generator(data, config)
    generator.load_state_dict(found[checkpoint]["generator"])
    same = all(torch.equal(a, b) for a, b in zip(found["selected"]["generator"].values(), found["last"]["generator"].values()))
    stored_as = "last" if same else checkpoint  # a selection that picked the last epoch shares its evaluations
    return GeneratorRun(generator.to(device).eval(), {**spec, "checkpoint": stored_as}, dict(found["history"]),
                        [list(row) for row in found["selection"]])


STAGE2_FIELDS = ("match_epochs", "match_lr", "match_d_lr", "match_restore_adam", "match_batch_size", "match_augment",
                 "pool", "pool_schedule", "pool_resnet_layout", "pool_lr", "pool_batches", "pool_augment")


def cgan_spec(data: Dataset, config: GANConfig, seed: int) -> dict:
    gan = asdict(config)
    for key in ("checkpoint_every", *STAGE2_FIELDS):
        gan.pop(key)  # stage-2 settings do not change the stage-1 generator
    return {"data": data.spec(), "gan": gan, "seed": seed, "code": CODE_VERSION}


def _stage1(data: Dataset, config: GANConfig, seed: int, store: ArtifactStore, device: torch.device,
            on_step: StepHook | None = None) -> tuple[dict, dict]:
    spec = cgan_spec(data, config, seed)
    return spec, _run_stage("gdd-cgan", spec, data, config, seed, store, device, stage_settings(config),
                            on_step=on_step, desc=f"CGAN {data.name}")


def train_cgan(data: Dataset, config: GANConfig, seed: int, store: ArtifactStore, device: torch.device, *,
               checkpoint: str = "selected", on_step: StepHook | None = None) -> GeneratorRun:
    """Stage 1: the conditional GAN alone (the paper's "CGAN" row), at its selected or last checkpoint."""
    spec, found = _stage1(data, config, seed, store, device, on_step)
    return _finish(found, checkpoint, data, config, spec, device)


def train_matching(data: Dataset, config: GANConfig, rule: str, weight: float, tau: float, seed: int,
                   store: ArtifactStore, device: torch.device, *, checkpoint: str = "selected",
                   on_step: StepHook | None = None) -> GeneratorRun:
    """Stage 2 from the selected stage-1 checkpoint: GAN + ``weight`` × matching term of ``rule``."""
    if rule not in MATCHING_RULES:
        raise ValueError(f"unknown matching rule {rule!r}; choose one of {', '.join(MATCHING_RULES)}")
    stage1, start = _stage1(data, config, seed, store, device)
    gan = asdict(config)
    gan.pop("checkpoint_every")
    spec = {"stage1": stage1, "gan": gan, "rule": rule, "weight": weight, "tau": tau, "seed": seed, "code": CODE_VERSION}
    found = _run_stage("gdd-matching", spec, data, config, seed + 1, store, device,
                       stage_settings(config, rule, weight, tau), start["selected"], on_step, desc=f"{rule} {data.name}")
    return _finish(found, checkpoint, data, config, spec, device)
