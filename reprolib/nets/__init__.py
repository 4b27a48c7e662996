"""Networks by name: ``build_network("convnet", channels, num_classes, image_size, **options)``.

Every network exposes ``embed(x) -> [B, d]`` (penultimate features) and ``classifier`` (the final
``nn.Linear``), with ``forward(x) == classifier(embed(x))``. Networks with instance/group/layer norm
keep no running statistics, so they are safe under ``torch.func.functional_call`` and ``vmap``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence

from torch import nn

from reprolib.nets.alexnet import AlexNet
from reprolib.nets.base import EmbedNet
from reprolib.nets.convnet import ConvNet, convnet_space
from reprolib.nets.dim_resnet import DiMResNet
from reprolib.nets.resnet import resnet18, resnet18_ap, resnet18_bn, resnet18_cifar, resnet50_cifar
from reprolib.nets.senet import SENet
from reprolib.nets.vgg import VGG11

__all__ = ["NETWORK_NAMES", "EmbedNet", "build_network", "check_network", "convnet_space", "count_parameters"]

# name -> (constructor, options it fixes). The remaining keyword-only parameters are the options.
_REGISTRY: dict[str, tuple[Callable[..., EmbedNet], dict]] = {
    "convnet": (ConvNet, {}),
    "convnetd3": (ConvNet, {"depth": 3}),
    "convnetd4": (ConvNet, {"depth": 4}),
    "convnetd5": (ConvNet, {"depth": 5}),
    "alexnet": (AlexNet, {}),
    "vgg11": (VGG11, {}),
    "resnet18": (resnet18, {}),
    "resnet18_bn": (resnet18_bn, {}),
    "resnet18_ap": (resnet18_ap, {}),
    "resnet10_dim": (DiMResNet, {"depth": 10}),
    "resnet18_dim": (DiMResNet, {"depth": 18}),
    "resnet18_cifar": (resnet18_cifar, {}),
    "resnet50_cifar": (resnet50_cifar, {}),
    "senet": (SENet, {}),
}

NETWORK_NAMES: tuple[str, ...] = tuple(_REGISTRY)


def _options(name: str) -> dict[str, inspect.Parameter]:
    """The options ``name`` accepts (its constructor's keyword-only parameters it does not fix)."""
    constructor, fixed = _REGISTRY[name]
    params = inspect.signature(constructor).parameters.values()
    return {p.name: p for p in params if p.kind is p.KEYWORD_ONLY and p.name not in fixed}


def _fits(value: object, default: object) -> bool:
    """Whether ``value`` has the kind of the option's default (an int serves for a float, not a bool for an int)."""
    if isinstance(default, bool) or isinstance(value, bool):
        return type(value) is type(default)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    if isinstance(default, (tuple, list)):
        return isinstance(value, (tuple, list))
    return isinstance(value, type(default))


def check_network(name: str, options: Mapping[str, object]) -> None:
    """ValueError unless ``name`` is a network and every option is one it takes, of its default's type;
    cheap, so parameters are checked before any computation."""
    key = name.lower()
    if key not in _REGISTRY:
        raise ValueError(f"unknown network {name!r}; choose one of: {', '.join(NETWORK_NAMES)}")
    valid = _options(key)
    for option, value in options.items():
        if option not in valid:
            raise ValueError(f"unknown option {option!r} for network {key!r}; choose from: {', '.join(valid) or '(none)'}")
        default = valid[option].default
        if default is not inspect.Parameter.empty and default is not None and not _fits(value, default):
            raise ValueError(f"option {option!r} of network {key!r} takes a {type(default).__name__} "
                             f"(default {default!r}), got {value!r}")


def build_network(
    name: str, channels: int, num_classes: int, image_size: int | Sequence[int], **options
) -> EmbedNet:
    """A freshly initialised network (on the CPU; seed with ``torch.manual_seed`` beforehand).

    ``name`` is case-insensitive; an unknown name, an option the network does not take, or a bad
    option value raises ValueError listing the valid choices.
    """
    check_network(name, options)
    constructor, fixed = _REGISTRY[name.lower()]
    return constructor(channels, num_classes, image_size, **fixed, **options)


def count_parameters(net: nn.Module) -> int:
    """Number of scalar parameters (buffers such as BatchNorm running statistics excluded)."""
    return sum(p.numel() for p in net.parameters())
