"""Training the generator: stage 1 (the conditional GAN) and stage 2 (GAN + logit matching).

Both stages run through the artifact store: the trained generator (with its discriminator and the
loss history) is cached under a spec of everything that determines it, and a long run saves a
checkpoint every ``checkpoint_every`` steps (networks, optimisers, pool, random state, history), so an
interrupted run resumes where it stopped and, on the CPU, ends bit-identical to an uninterrupted one.

Every random draw (minibatches, latents, gradient-penalty mixing, pool draws) comes from one CPU
``torch.Generator`` whose state is checkpointed. Stage 2 starts from the stage-1 generator and
discriminator; the discriminator keeps training at the stage-1 learning rate, the generator at
``match_lr`` (DiM: 5e-6) on ``L_CGAN + λ · matching term``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torch import Tensor

from reprolib.data import Dataset
from reprolib.generative.gan import Discriminator, Generator, latent_codes
from reprolib.generative.losses import MATCHING_RULES, discriminator_loss, generator_loss, matching_loss
from reprolib.generative.pool import PAPER_POOL, ModelPool, PoolMember
from reprolib.runtime import make_generator, progress
from reprolib.store import ArtifactStore

CODE_VERSION = 1  # bump when a change here alters trained generators

StepHook = Callable[[int], None]  # called with the number of finished steps (after any checkpoint)


@dataclass(frozen=True)
class GANConfig:
    """Both stages' settings; defaults are DiM's / the paper's (REFERENCE §6)."""

    latent_dim: int = 100
    generator_width: int = 196
    discriminator_width: int = 196
    lr: float = 1e-4
    betas: tuple[float, ...] = (0.0, 0.9)
    batch_size: int = 128
    gp_weight: float = 10.0
    cgan_epochs: int = 150
    match_epochs: int = 100
    match_lr: float = 5e-6
    match_batch_size: int = 64
    pool: tuple[PoolMember, ...] = tuple(PoolMember(a) for a in PAPER_POOL)
    pool_lr: float = 0.01
    pool_batches: int = 1  # real minibatches the drawn member trains on before each generator step
    checkpoint_every: int = 500

    def validate(self) -> None:
        positive = ("latent_dim", "generator_width", "discriminator_width", "batch_size", "match_batch_size",
                    "pool_batches", "checkpoint_every")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"gan.{name} must be ≥ 1, got {getattr(self, name)}")
        if self.cgan_epochs < 0 or self.match_epochs < 0:
            raise ValueError("gan.cgan_epochs and gan.match_epochs must be ≥ 0")
        if min(self.lr, self.match_lr, self.pool_lr) <= 0 or self.gp_weight < 0:
            raise ValueError("gan.lr, gan.match_lr, gan.pool_lr must be > 0 and gan.gp_weight ≥ 0")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"gan.betas must be two numbers in [0, 1), got {self.betas}")
        if not self.pool:
            raise ValueError("gan.pool must name at least one network, e.g. [{arch: convnetd3}]")
        for member in self.pool:
            member.validate()

    def steps(self, epochs: int, batch_size: int, num_train: int) -> int:
        return epochs * math.ceil(num_train / batch_size)


@dataclass(frozen=True)
class GeneratorRun:
    """A trained generator (ready, in eval mode), the spec it is stored under and its loss history."""

    generator: Generator
    spec: dict
    history: dict[str, Tensor]


def build_generator(data: Dataset, config: GANConfig) -> Generator:
    return Generator(data.channels, data.num_classes, data.image_size, latent_dim=config.latent_dim,
                     width=config.generator_width, mean=data.mean, std=data.std)


def build_discriminator(data: Dataset, config: GANConfig) -> Discriminator:
    return Discriminator(data.channels, data.num_classes, data.image_size, width=config.discriminator_width)


def _adam(params, lr: float, config: GANConfig) -> torch.optim.Adam:
    return torch.optim.Adam(params, lr=lr, betas=tuple(config.betas))


class _Trainer:
    """The state of one stage: networks, optimisers, the random stream and the history."""

    def __init__(self, data: Dataset, config: GANConfig, seed: int, device: torch.device, rule: str | None,
                 weight: float, tau: float, start: dict | None) -> None:
        self.data, self.config, self.rule, self.weight, self.tau = data, config, rule, weight, tau
        torch.manual_seed(seed)
        self.g = build_generator(data, config).to(device)
        self.d = build_discriminator(data, config).to(device)
        if start is not None:
            self.g.load_state_dict(start["generator"])
            self.d.load_state_dict(start["discriminator"])
        self.opt_g = _adam(self.g.parameters(), config.lr if rule is None else config.match_lr, config)
        self.opt_d = _adam(self.d.parameters(), config.lr, config)
        self.pool = None if rule is None else ModelPool(config.pool, data.channels, data.num_classes, data.image_size,
                                                        device, lr=config.pool_lr)
        self.random = make_generator(seed)
        self.batch_size = config.batch_size if rule is None else config.match_batch_size
        self.history: dict[str, list[float]] = {"d_loss": [], "g_loss": []} | ({"match": []} if rule else {})

    def real_batch(self) -> tuple[Tensor, Tensor]:
        idx = torch.randint(len(self.data.train_y), (self.batch_size,), generator=self.random).to(self.data.device)
        return self.data.train_x[idx], self.data.train_y[idx]

    def step(self) -> None:
        x, y = self.real_batch()
        self.g.train()
        fake = self.g(latent_codes(y, self.data.num_classes, self.config.latent_dim, self.random))
        d_loss = discriminator_loss(self.d, x, fake, y, self.config.gp_weight, self.random)
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()
        g_loss = generator_loss(self.d, fake, y)
        if self.rule is not None:
            member = self.pool.draw(self.random)
            for _ in range(self.config.pool_batches):
                self.pool.train_on(member, *self.real_batch())
            with self.pool.frozen(member) as net:
                match = matching_loss(self.rule, net(x), net(fake), self.tau)
            g_loss = g_loss + self.weight * match
            self.history["match"].append(match.item())
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_g.step()
        self.history["d_loss"].append(d_loss.item())
        self.history["g_loss"].append(g_loss.item())

    def state(self, steps: int) -> dict:
        state = {"steps": steps, "generator": self.g.state_dict(), "discriminator": self.d.state_dict(),
                 "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
                 "random": self.random.get_state(), "history": {k: torch.tensor(v) for k, v in self.history.items()}}
        if self.pool is not None:
            state["pool"] = self.pool.state_dict()
        return state

    def restore(self, state: dict) -> int:
        self.g.load_state_dict(state["generator"])
        self.d.load_state_dict(state["discriminator"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.random.set_state(state["random"])
        self.history = {k: v.tolist() for k, v in state["history"].items()}
        if self.pool is not None:
            self.pool.load_state_dict(state["pool"])
        return int(state["steps"])


def _run_stage(kind: str, spec: dict, data: Dataset, config: GANConfig, seed: int, store: ArtifactStore,
               device: torch.device, epochs: int, rule: str | None = None, weight: float = 0.0, tau: float = 2.0,
               start: dict | None = None, on_step: StepHook | None = None, desc: str = "") -> dict:
    """Train one stage through the store (cached result; checkpoints while running)."""

    def compute() -> dict:
        trainer = _Trainer(data, config, seed, device, rule, weight, tau, start)
        batch = config.batch_size if rule is None else config.match_batch_size
        total = config.steps(epochs, batch, len(data.train_y))
        checkpoint = store.checkpoint(kind, spec)
        saved = checkpoint.load()
        done = trainer.restore(saved) if saved is not None else 0
        for step in progress(range(done, total), desc=desc, initial=done, total=total):
            trainer.step()
            if (step + 1) % config.checkpoint_every == 0 and step + 1 < total:
                checkpoint.save(trainer.state(step + 1))
            if on_step is not None:
                on_step(step + 1)
        final = trainer.state(total)
        result = {"generator": final["generator"], "discriminator": final["discriminator"], "history": final["history"]}
        checkpoint.clear()
        return result

    return store.cached(kind, spec, compute)


def _finish(found: dict, data: Dataset, config: GANConfig, spec: dict, device: torch.device) -> GeneratorRun:
    generator = build_generator(data, config)
    generator.load_state_dict(found["generator"])
    return GeneratorRun(generator.to(device).eval(), spec, dict(found["history"]))


def cgan_spec(data: Dataset, config: GANConfig, seed: int) -> dict:
    gan = asdict(config)
    gan.pop("checkpoint_every")
    for key in ("match_epochs", "match_lr", "match_batch_size", "pool", "pool_lr", "pool_batches"):
        gan.pop(key)  # stage 2 settings do not change the stage-1 generator
    return {"data": data.spec(), "gan": gan, "seed": seed, "code": CODE_VERSION}


def train_cgan(data: Dataset, config: GANConfig, seed: int, store: ArtifactStore, device: torch.device, *,
               on_step: StepHook | None = None) -> GeneratorRun:
    """Stage 1: the conditional GAN alone (the paper's "CGAN" row)."""
    spec, found = _stage1(data, config, seed, store, device, on_step)
    return _finish(found, data, config, spec, device)


def _stage1(data: Dataset, config: GANConfig, seed: int, store: ArtifactStore, device: torch.device,
            on_step: StepHook | None = None) -> tuple[dict, dict]:
    spec = cgan_spec(data, config, seed)
    return spec, _run_stage("gdd-cgan", spec, data, config, seed, store, device, config.cgan_epochs,
                            on_step=on_step, desc=f"CGAN {data.name}")


def train_matching(data: Dataset, config: GANConfig, rule: str, weight: float, tau: float, seed: int,
                   store: ArtifactStore, device: torch.device, *, on_step: StepHook | None = None) -> GeneratorRun:
    """Stage 2 from the stage-1 generator: GAN + ``weight`` × matching term of ``rule``."""
    if rule not in MATCHING_RULES:
        raise ValueError(f"unknown matching rule {rule!r}; choose one of {', '.join(MATCHING_RULES)}")
    stage1, start = _stage1(data, config, seed, store, device)
    gan = asdict(config)
    gan.pop("checkpoint_every")
    spec = {"stage1": stage1, "gan": gan, "rule": rule, "weight": weight, "tau": tau, "seed": seed, "code": CODE_VERSION}
    found = _run_stage("gdd-matching", spec, data, config, seed + 1, store, device, config.match_epochs, rule, weight,
                       tau, start, on_step, desc=f"{rule} {data.name}")
    return _finish(found, data, config, spec, device)

