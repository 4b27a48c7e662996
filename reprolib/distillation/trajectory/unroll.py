"""The student's unrolled training on the synthetic set and the gradient of the matching loss.

An iteration's randomness (which synthetic images each step sees, and their DSA parameters) is drawn
once into a *plan*, so the loss is a deterministic function of (images, step size, start parameters):
that is what lets the memory-saving mode recompute each step exactly, and lets tests compare against
finite differences.

Two ways to the same gradient (REFERENCE §1 "Memory"):

* plain: keep the graph of all ``syn_steps`` steps (``create_graph=True``) and call ``backward``;
  memory grows with ``syn_steps × batch_syn``;
* memory-saving: run the steps without a graph, keep only the parameter vectors θ_0..θ_J, then walk
  back one step at a time: with θ_{j+1} = θ_j − α g_j and adjoint a = ∂L/∂θ_{j+1},
  ∂L/∂θ_j = a − α H_jᵀa, ∂L/∂X += −α (∂g_j/∂X)ᵀa, ∂L/∂α += −⟨g_j, a⟩ — one step's graph at a time
  (the recomputation idea of TESLA, Cui et al. 2023). Costs one extra forward/backward per step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from reprolib.augment import DSA, AugmentParams
from reprolib.distillation.trajectory.flat import FlatModel

LossFn = Callable[[Tensor], tuple[Tensor, dict]]
"""The matching rule applied to the student's final parameters: returns (loss, statistics)."""


@dataclass(frozen=True)
class StepPlan:
    """One student step: the synthetic images it trains on and their augmentation (None = no DSA)."""

    indices: Tensor
    augment: AugmentParams | None


def draw_plan(num_images: int, syn_steps: int, batch_syn: int, image_size: tuple[int, int],
              dsa: DSA | None, generator: torch.Generator) -> list[StepPlan]:
    """``syn_steps`` minibatches of ``batch_syn`` images, taken in turn from shuffled orders of the set
    (a new order when one is used up, as MTT), each with per-sample DSA parameters."""
    plan, pending = [], []
    for _ in range(syn_steps):
        if not pending:
            pending = list(torch.randperm(num_images, generator=generator).split(batch_syn))
        indices = pending.pop(0)
        augment = dsa.sample(len(indices), *image_size, generator=generator) if dsa is not None else None
        plan.append(StepPlan(indices, augment))
    return plan


def _step_gradient(model: FlatModel, theta: Tensor, images: Tensor, labels: Tensor, step: StepPlan,
                   dsa: DSA | None, create_graph: bool) -> Tensor:
    """∇_θ of the cross-entropy on the step's (augmented) minibatch."""
    index = step.indices.to(images.device)
    x = images[index]
    if step.augment is not None:
        x = dsa.apply(x, step.augment)
    loss = F.cross_entropy(model(theta, x), labels[index])
    return torch.autograd.grad(loss, theta, create_graph=create_graph)[0]


def unroll(model: FlatModel, images: Tensor, labels: Tensor, syn_lr: Tensor, start: Tensor,
           plan: list[StepPlan], dsa: DSA | None) -> Tensor:
    """θ_J after the planned student steps from ``start``, differentiable w.r.t. ``images`` and ``syn_lr``."""
    theta = start.detach().clone().requires_grad_(True)
    for step in plan:
        theta = theta - syn_lr * _step_gradient(model, theta, images, labels, step, dsa, create_graph=True)
    return theta


def matching_gradient(model: FlatModel, images: Tensor, labels: Tensor, syn_lr: Tensor, start: Tensor,
                      plan: list[StepPlan], dsa: DSA | None, loss_fn: LossFn,
                      memory_saving: bool = False) -> tuple[Tensor, dict]:
    """Accumulate ∂L/∂images, ∂L/∂syn_lr (and the rule's own gradients, through ``loss_fn``) into
    ``.grad``; returns the detached loss and the rule's statistics. Both modes give the same gradient."""
    if not memory_saving:
        loss, stats = loss_fn(unroll(model, images, labels, syn_lr, start, plan, dsa))
        loss.backward()
        return loss.detach(), stats

    lr = syn_lr.detach()
    thetas = [start.detach()]
    for step in plan:  # forward, keeping only the parameter vectors
        theta = thetas[-1].clone().requires_grad_(True)
        g = _step_gradient(model, theta, images.detach(), labels, step, dsa, create_graph=False)
        thetas.append((theta - lr * g).detach())
    final = thetas[-1].clone().requires_grad_(True)
    loss, stats = loss_fn(final)
    loss.backward()  # gives ∂L/∂θ_J and the rule's parameter gradients
    adjoint = final.grad
    image_grad, lr_grad = torch.zeros_like(images), torch.zeros_like(lr)
    leaf = images.detach().requires_grad_(True)
    for step, theta_j in zip(reversed(plan), reversed(thetas[:-1])):  # backward, one step's graph at a time
        theta = theta_j.clone().requires_grad_(True)
        g = _step_gradient(model, theta, leaf, labels, step, dsa, create_graph=True)
        h_a, x_a = torch.autograd.grad(g, (theta, leaf), grad_outputs=adjoint)
        lr_grad -= torch.dot(g.detach(), adjoint)
        image_grad -= lr * x_a
        adjoint = adjoint - lr * h_a
    for tensor, grad in ((images, image_grad), (syn_lr, lr_grad.reshape(syn_lr.shape))):
        if tensor.requires_grad:
            tensor.grad = grad if tensor.grad is None else tensor.grad + grad
    return loss.detach(), stats
