"""Tests for reprolib.augment (DSA)."""

import pytest
import torch
import torch.nn.functional as F

from reprolib.augment import DEFAULT_STRATEGY, DSA, GROUPS


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def images(b=4, c=3, h=8, w=None, seed=0, dtype=torch.float32):
    return torch.randn(b, c, h, w or h, generator=gen(seed), dtype=dtype)


def draw(group: str, n: int, size=32, **kw):
    return DSA(group, **kw).sample(n, size, size, gen(0)).values


@pytest.mark.parametrize("group", GROUPS + (DEFAULT_STRATEGY,))
@pytest.mark.parametrize("c,size", [(1, 8), (1, 28), (3, 32)])
def test_shape_dtype_preserved(group, c, size):
    x = images(5, c, size)
    for seed in range(3):
        y = DSA(group)(x, gen(seed))
        assert y.shape == x.shape and y.dtype == x.dtype
        assert torch.isfinite(y).all()


@pytest.mark.parametrize("group", GROUPS)
def test_gradient_reaches_images(group):
    x = images(6, 3, 16).requires_grad_()
    DSA(group, flip_p=1.0)(x, gen(1)).square().sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


@pytest.mark.parametrize("group", GROUPS)
def test_gradcheck(group):
    x = images(2, 2, 6, dtype=torch.float64).requires_grad_()
    dsa = DSA(group)
    params = dsa.sample(2, 6, 6, gen(3))
    assert torch.autograd.gradcheck(lambda t: dsa.apply(t, params), (x,))


@pytest.mark.parametrize("group", GROUPS + (DEFAULT_STRATEGY,))
def test_seed_determinism(group):
    x = images(8, 3, 16)
    dsa = DSA(group)
    assert torch.equal(dsa(x, gen(5)), dsa(x, gen(5)))
    assert any(not torch.equal(dsa(x, gen(5)), dsa(x, gen(s))) for s in range(6, 10))


def test_global_rng_used_without_generator():
    x = images(8, 3, 16)
    torch.manual_seed(11)
    a = DSA()(x)
    torch.manual_seed(11)
    assert torch.equal(a, DSA()(x))


@pytest.mark.parametrize("group", GROUPS)
def test_siamese_identical_across_batch_sizes(group):
    one = images(1, 3, 16)
    real, syn = one.expand(7, -1, -1, -1).clone(), one.expand(3, -1, -1, -1).clone()
    for seed in range(4):
        a, b = DSA(group).siamese(real, syn, generator=gen(seed))
        assert a.shape == real.shape and b.shape == syn.shape
        assert torch.allclose(a, a[:1].expand_as(a), atol=1e-6)
        assert torch.allclose(b, a[:3], atol=1e-6)


def test_siamese_same_seed_matches_separate_calls():
    real, syn = images(6, 3, 16, seed=1), images(2, 3, 16, seed=2)
    a, b = DSA().siamese(real, syn, generator=gen(4))
    params = DSA().sample(1, 16, 16, gen(4), shared=True)
    assert torch.equal(a, DSA().apply(real, params)) and torch.equal(b, DSA().apply(syn, params))


@pytest.mark.parametrize("group", ["color", "crop", "cutout", "scale", "rotate"])
def test_per_sample_transforms_differ(group):
    x = images(1, 3, 16).expand(8, -1, -1, -1)
    y = DSA(group)(x, gen(2))
    assert len({tuple(row.flatten().tolist()) for row in y.round(decimals=5)}) > 1


def test_groups_drawn_uniformly():
    dsa = DSA()
    counts = {g: 0 for g in GROUPS}
    g = gen(0)
    for _ in range(1200):
        counts[dsa.sample(1, 8, 8, g).group] += 1
    assert all(150 < n < 250 for n in counts.values()), counts


def test_color_ranges():
    v = draw("color", 20000)
    for key, (lo, hi) in {"brightness": (-0.5, 0.5), "saturation": (0.0, 2.0), "contrast": (0.5, 1.5)}.items():
        assert lo <= v[key].min() < lo + 0.01 and hi - 0.01 < v[key].max() <= hi, key


def test_scale_rotate_ranges():
    v = draw("scale", 20000)
    for key in ("scale_x", "scale_y"):
        assert 1 / 1.2 <= v[key].min() < 1 / 1.2 + 0.01 and 1.2 - 0.01 < v[key].max() <= 1.2
    assert abs(torch.corrcoef(torch.stack([v["scale_x"], v["scale_y"]]))[0, 1]) < 0.05  # independent
    a = draw("rotate", 20000)["angle"]
    assert -15 <= a.min() < -14.9 and 14.9 < a.max() <= 15


@pytest.mark.parametrize("size,shift,side", [(32, 4, 16), (28, 4, 14), (8, 1, 4)])
def test_crop_cutout_ranges(size, shift, side):
    v = draw("crop", 5000, size)
    for key in ("shift_y", "shift_x"):
        assert set(v[key].tolist()) == set(range(-shift, shift + 1))
    v = draw("cutout", 5000, size)
    for key in ("center_y", "center_x"):  # centre in [0, size], as the original for an even side
        assert set(v[key].tolist()) == set(range(0, size + 1 - side % 2))


def test_flip_probability():
    assert 0.47 < draw("flip", 20000)["flip"].double().mean() < 0.53


def test_flip_forced_equals_torch_flip():
    x = images(5, 3, 8)
    assert torch.equal(DSA("flip", flip_p=1.0)(x, gen(0)), torch.flip(x, dims=[3]))
    assert torch.equal(DSA("flip", flip_p=0.0)(x, gen(0)), x)


def test_color_formulas():
    x = images(4, 3, 8)
    dsa = DSA("color")
    p = dsa.sample(4, 8, 8, gen(0))
    b, s, c = (p.values[k].float().view(-1, 1, 1, 1) for k in ("brightness", "saturation", "contrast"))
    ref = x + b
    ref = (ref - ref.mean(1, keepdim=True)) * s + ref.mean(1, keepdim=True)
    ref = (ref - ref.mean((1, 2, 3), keepdim=True)) * c + ref.mean((1, 2, 3), keepdim=True)
    assert torch.allclose(dsa.apply(x, p), ref, atol=1e-5)


@pytest.mark.parametrize("group", ["scale", "rotate"])
@pytest.mark.parametrize("h,w", [(16, 16), (8, 12)])
def test_affine_matches_original_sampling(group, h, w):
    """The original: theta as the output-to-input map, F.affine_grid/F.grid_sample with defaults."""
    x = images(6, 3, h, w)
    dsa = DSA(group)
    p = dsa.sample(6, h, w, gen(7))
    if group == "scale":
        sx, sy = p.values["scale_x"], p.values["scale_y"]
        theta = torch.stack([torch.stack([sx, 0 * sx, 0 * sx], 1), torch.stack([0 * sy, sy, 0 * sy], 1)], 1)
    else:
        t = torch.deg2rad(p.values["angle"])
        zero = torch.zeros_like(t)
        theta = torch.stack([torch.stack([t.cos(), -t.sin(), zero], 1), torch.stack([t.sin(), t.cos(), zero], 1)], 1)
    grid = F.affine_grid(theta.float(), list(x.shape), align_corners=False)
    ref = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    assert torch.allclose(dsa.apply(x, p), ref, atol=1e-5)


def test_rotate_direction_and_zero_padding():
    x = torch.zeros(1, 1, 9, 9)
    x[0, 0, 4, 8] = 1.0  # pixel right of centre
    dsa = DSA("rotate", rotate_degrees=90.0)
    p = dsa.sample(1, 9, 9, gen(0))
    p.values["angle"].fill_(90.0)
    y = dsa.apply(x, p)
    # Sampling map [[cos, -sin], [sin, cos]] (y down) sends the right-hand pixel to the top.
    assert y[0, 0, 0, 4] == pytest.approx(1.0, abs=1e-5) and y.sum() == pytest.approx(1.0, abs=1e-5)
    p.values["angle"].fill_(45.0)
    assert dsa.apply(torch.ones(1, 1, 9, 9), p)[0, 0, 0, 0] == 0  # corners fall outside: zero fill


def test_crop_is_integer_shift_with_zero_fill():
    x = images(3, 2, 8)
    dsa = DSA("crop")
    p = dsa.sample(3, 8, 8, gen(1))
    p.values["shift_y"][:] = torch.tensor([1, -1, 0])
    p.values["shift_x"][:] = torch.tensor([0, 1, -1])
    y = dsa.apply(x, p)
    pad = F.pad(x, [1, 1, 1, 1])
    for i, (dy, dx) in enumerate([(1, 0), (-1, 1), (0, -1)]):
        assert torch.equal(y[i], pad[i, :, 1 + dy : 9 + dy, 1 + dx : 9 + dx])


def test_cutout_zeroes_clipped_square():
    x = torch.ones(2, 1, 8, 8)
    dsa = DSA("cutout")
    p = dsa.sample(2, 8, 8, gen(1))
    p.values["center_y"][:] = torch.tensor([4, 0])
    p.values["center_x"][:] = torch.tensor([4, 8])
    y = dsa.apply(x, p)
    expect = torch.ones(2, 1, 8, 8)
    expect[0, :, 2:6, 2:6] = 0  # side 4 centred at (4, 4)
    expect[1, :, 0:2, 6:8] = 0  # clipped at the top-right corner
    assert torch.equal(y, expect)


@pytest.mark.parametrize("strategy", ["none", "None", ""])
def test_none_is_identity(strategy):
    x = images(3, 3, 8)
    assert DSA(strategy)(x, gen(0)) is x
    a, b = DSA(strategy).siamese(x, y := x[:1])
    assert a is x and b is y


def test_bad_strategy():
    with pytest.raises(ValueError, match="blur") as err:
        DSA("color_blur")
    assert all(g in str(err.value) for g in GROUPS)


def test_apply_checks_batch_and_size():
    dsa = DSA("rotate")
    with pytest.raises(ValueError):
        dsa.apply(images(4, 3, 8), dsa.sample(3, 8, 8))
    with pytest.raises(ValueError):
        dsa.apply(images(3, 3, 16), dsa.sample(3, 8, 8))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_same_seed_same_result_on_gpu():
    x = images(8, 3, 32)
    for group in GROUPS:
        cpu = DSA(group)(x, gen(3))
        gpu = DSA(group)(x.cuda(), gen(3)).cpu()
        assert torch.allclose(cpu, gpu, atol=1e-4), group

