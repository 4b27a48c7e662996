"""Tests of reprolib.nets: parameter counts, shapes, the embed/classifier contract, the NAS space."""

from functools import lru_cache

import pytest
import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from reprolib.nets import NETWORK_NAMES, build_network, convnet_space, count_parameters


@lru_cache(maxsize=None)
def _net(name: str, channels: int, image_size: int):
    torch.manual_seed(0)
    return build_network(name, channels, 10, image_size).eval()


# Parameter counts. "cross-checked" = equal to a count published elsewhere for the same architecture,
# or derived by hand from the reference layer list; "regression pin" = computed by this code only.
# ConvNet, by hand: [conv(c->128) + GN(128)] + (depth - 1) x [conv(128->128) + GN(128)] + Linear:
#   CIFAR-10: 3,584 + 256 + 2 * (147,584 + 256) + 20,490 = 320,010 (REFERENCE §3);
#   1ch 28 px (padded to 32): 1,280 + 256 + 295,680 + 20,490 = 317,706;
#   D4, 64 px, 200 classes: 3,840 + 3 * 147,840 + Linear(128*4*4 -> 200) 409,800 = 857,160;
#   D5, 112 px (3x3 after 5 poolings), 4 classes: 3,840 + 4 * 147,840 + Linear(128*3*3 -> 4) 4,612 = 599,812.
# AlexNet, by hand: 9,728 + 614,592 + 442,624 + 442,560 + 331,968 + Linear(3072 -> 10) 30,730 = 1,872,202.
# VGG11 9,231,114 / ResNet18 11,173,962 / ResNet50 23,520,842: the CIFAR-10 counts published for the
#   kuangliu/pytorch-cifar models (GroupNorm(C, C) has as many parameters as BatchNorm).
# ResNet18 in DiM's "imagenet" layout = torchvision's ResNet18 with 10 classes: 11,181,642.
PARAMETER_COUNTS = [
    # name, channels, classes, size, options, count, how it is known
    ("convnetd3", 3, 10, 32, {}, 320_010, "cross-checked: reference"),
    ("convnet", 1, 10, 28, {}, 317_706, "cross-checked: by hand"),
    ("convnetd4", 3, 200, 64, {}, 857_160, "cross-checked: by hand"),
    ("convnetd5", 3, 4, 112, {}, 599_812, "cross-checked: by hand"),
    ("alexnet", 3, 10, 32, {}, 1_872_202, "cross-checked: by hand"),
    ("vgg11", 3, 10, 32, {}, 9_231_114, "cross-checked: published"),
    ("resnet18", 3, 10, 32, {}, 11_173_962, "cross-checked: published"),
    ("resnet18_bn", 3, 10, 32, {}, 11_173_962, "cross-checked: published"),
    ("resnet18_cifar", 3, 10, 32, {}, 11_173_962, "cross-checked: published"),
    ("resnet50_cifar", 3, 10, 32, {}, 23_520_842, "cross-checked: published"),
    ("resnet18_dim", 3, 10, 32, {"layout": "imagenet"}, 11_181_642, "cross-checked: published"),
    ("resnet18_ap", 3, 10, 32, {}, 11_250_762, "regression pin (ResNet18 + Linear(8192 -> 10))"),
    ("resnet10_dim", 3, 10, 32, {}, 1_228_970, "regression pin"),
    ("resnet18_dim", 3, 10, 32, {}, 2_797_610, "regression pin"),
    ("senet", 3, 10, 32, {}, 1_240_360, "regression pin; the paper says ~1.25M"),
]


@pytest.mark.parametrize("name, channels, classes, size, options, expected, source", PARAMETER_COUNTS)
def test_parameter_counts(name, channels, classes, size, options, expected, source):
    assert count_parameters(build_network(name, channels, classes, size, **options)) == expected, source


@pytest.mark.parametrize("name", NETWORK_NAMES)
@pytest.mark.parametrize("channels, size", [(1, 28), (3, 32)])
def test_shapes_and_embed_contract(name, channels, size):
    net = _net(name, channels, size)
    x = torch.randn(2, channels, size, size)
    with torch.no_grad():
        features, logits = net.embed(x), net(x)
    assert isinstance(net.classifier, nn.Linear)
    assert features.shape == (2, net.classifier.in_features)
    assert logits.shape == (2, 10)
    torch.testing.assert_close(net.classifier(features), logits)


@pytest.mark.parametrize(
    "name, channels, size, embed_dim",
    [
        ("convnet", 1, 8, 128),  # sklearn digits: 8 -> 4 -> 2 -> 1
        ("convnet", 1, 28, 2048),  # 28 is padded to 32 by the first conv
        ("convnetd4", 3, 64, 2048),
        ("convnetd5", 3, 112, 1152),
        ("convnetd5", 3, 128, 2048),
        ("alexnet", 1, 28, 3072),
        ("resnet18_ap", 1, 28, 512 * 3 * 3),  # the DC code's 1-channel head
        ("vgg11", 3, 64, 512),
        ("resnet18", 3, 64, 512),
    ],
)
def test_other_image_sizes(name, channels, size, embed_dim):
    net = build_network(name, channels, 7, size).eval()
    x = torch.randn(2, channels, size, size)
    with torch.no_grad():
        assert net.embed(x).shape == (2, embed_dim)
        assert net(x).shape == (2, 7)


def test_non_square_images():
    net = build_network("convnet", 3, 10, (32, 64))
    assert net.embed(torch.randn(2, 3, 32, 64)).shape == (2, 128 * 4 * 8)


def test_names_are_case_insensitive():
    assert count_parameters(build_network("ConvNetD3", 3, 10, 32)) == 320_010


@pytest.mark.parametrize("name", ["convnet", "alexnet", "vgg11", "resnet18", "resnet18_ap"])
def test_group_norm_nets_have_no_buffers(name):
    assert list(_net(name, 3, 32).buffers()) == []


@pytest.mark.parametrize("norm", ["instancenorm", "groupnorm", "layernorm", "none"])
def test_convnet_under_vmap_over_stacked_parameters(norm):
    torch.manual_seed(0)
    nets = [build_network("convnet", 3, 10, 32, width=32, depth=2, norm=norm) for _ in range(3)]
    params, buffers = stack_module_state(nets)
    x = torch.randn(4, 3, 32, 32)

    def run(p, b):
        return functional_call(nets[0], (p, b), (x,))

    out = vmap(run)(params, buffers)
    expected = torch.stack([net(x) for net in nets])
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-5)


def test_convnet_space():
    space = convnet_space()
    assert len(space) == 720
    assert len({tuple(sorted(c.items())) for c in space}) == 720
    with torch.device("meta"):  # every config builds (meta tensors: no memory, no initialisation cost)
        for config in space:
            build_network("convnet", 3, 10, 32, **config)
    # Width changes no shape arithmetic, so the width-32 slice runs every depth/act/norm/pool combination.
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        for config in (c for c in space if c["width"] == 32):
            assert torch.isfinite(build_network("convnet", 3, 10, 32, **config)(x)).all()


def test_layernorm_is_the_dc_per_element_layernorm():
    net = build_network("convnet", 3, 10, 32, depth=1, width=32, norm="layernorm")
    assert [m for m in net.modules() if isinstance(m, nn.LayerNorm)][0].normalized_shape == (32, 32, 32)


@pytest.mark.parametrize(
    "name, options, message",
    [
        ("resnet19", {}, "unknown network 'resnet19'; choose one of: convnet,"),
        ("convnet", {"norm": "foo"}, "unknown norm 'foo'; choose one of:"),
        ("convnet", {"act": "tanh"}, "unknown activation 'tanh'"),
        ("convnet", {"pool": "median"}, "unknown pool 'median'"),
        ("convnet", {"depth": 0}, "depth must be a positive integer"),
        ("convnet", {"depth": 6}, "depth is too large for the image size"),
        ("convnetd4", {"depth": 3}, "unknown option 'depth' for network 'convnetd4'; choose from: width,"),
        ("alexnet", {"norm": "batchnorm"}, "unknown option 'norm' for network 'alexnet'"),
        ("vgg11", {"norm": "groupnorm"}, "unknown norm 'groupnorm'; choose one of: instancenorm, batchnorm"),
        ("resnet10_dim", {"layout": "tiny"}, "unknown layout 'tiny'"),
    ],
)
def test_bad_names_and_options(name, options, message):
    with pytest.raises(ValueError, match=message):
        build_network(name, 3, 10, 32, **options)


@pytest.mark.parametrize("name, size", [("convnet", 8), ("vgg11", 16), ("alexnet", 4), ("resnet18_ap", 4)])
def test_too_small_images_raise(name, size):
    with pytest.raises(ValueError, match="too large for the image size"):
        build_network(name, 3, 10, size, **({"depth": 4} if name == "convnet" else {}))
