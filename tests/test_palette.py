"Property tests of simgen_nb.palette (hypothesis): round trips, exact nearest colour, CFL separation."
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st, HealthCheck

from simgen_nb.palette import (IGNORE_INDEX, PaletteError, cfl_palette, decode, encode, grayscale_palette,
                               ignore_color, make_palette, min_distance, random_palette, _reference_decode)

FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KINDS = ('cfl', 'grayscale', 'random')


@st.composite
def label_maps(draw, with_ignore):
    K = draw(st.integers(2, 64))
    B, H, W = draw(st.integers(1, 3)), draw(st.integers(1, 12)), draw(st.integers(1, 12))
    seed = draw(st.integers(0, 2**31 - 1))
    g = torch.Generator().manual_seed(seed)
    lab = torch.randint(0, K, (B, H, W), generator=g)
    if with_ignore:
        lab[torch.rand(B, H, W, generator=g) < draw(st.floats(0, 1))] = IGNORE_INDEX
    return K, lab, draw(st.sampled_from(KINDS)), seed


@FAST
@given(label_maps(with_ignore=False))
def test_round_trip(case):
    K, lab, kind, seed = case
    p = make_palette(kind, K, seed=seed)
    x = encode(lab, p)
    assert x.shape == (lab.shape[0], 3, *lab.shape[1:]) and x.abs().max() <= 1
    got, dist = decode(x, p)
    assert torch.equal(got, lab) and torch.equal(dist, torch.zeros_like(dist))
    got2, _ = decode(x[0], p)                        # unbatched
    assert torch.equal(got2, lab[0])


@FAST
@given(label_maps(with_ignore=True))
def test_round_trip_with_ignore(case):
    K, lab, kind, seed = case
    p = make_palette(kind, K, seed=seed)
    x = encode(lab, p)
    got, _ = decode(x, p, keep_ignore=True)
    assert torch.equal(got, lab)
    plain, _ = decode(x, p)                          # without keep_ignore every pixel gets a class
    keep = lab != IGNORE_INDEX
    assert (plain < K).all() and torch.equal(plain[keep], lab[keep])


@FAST
@given(st.integers(2, 64), st.sampled_from(KINDS), st.integers(0, 10_000), st.floats(0.0, 1.5),
       st.booleans(), st.sampled_from([7, 64, 1 << 16]))
def test_decode_is_exact_nearest(K, kind, seed, sigma, keep_ignore, chunk):
    "Labels equal the float64 reference argmin on every pixel, including exact ties; distances match."
    p = make_palette(kind, K, seed=seed)
    g = torch.Generator().manual_seed(seed)
    lab = torch.randint(0, K, (2, 6, 5), generator=g)
    noisy = encode(lab, p) + sigma * torch.randn(2, 3, 6, 5, generator=g)
    a, b = torch.randint(0, K, (2, 30), generator=g)
    ties = ((p[a] + p[b]) / 2).T.reshape(3, 1, 6, 5).transpose(0, 1)
    table = torch.cat([p, ignore_color(p)[None]]) if keep_ignore else p
    ids = torch.arange(len(table))
    if keep_ignore: ids[-1] = IGNORE_INDEX
    for x in (noisy, ties):
        got, dist = decode(x, p, keep_ignore=keep_ignore, chunk=chunk)
        i, d = _reference_decode(x.permute(0, 2, 3, 1).reshape(-1, 3), table)
        assert torch.equal(got.reshape(-1), ids[i])
        assert torch.allclose(dist.reshape(-1), d, atol=2e-6, rtol=1e-6)


def test_cfl_beats_grayscale_and_random():
    for K in range(3, 65):
        p = cfl_palette(K)
        assert p.abs().max() <= 1, K
        d = min_distance(p)
        assert d > min_distance(grayscale_palette(K)), K
        assert d > float(np.median([min_distance(random_palette(K, s)) for s in range(7)])), K


@pytest.mark.parametrize('kind', KINDS)
def test_ignore_colour_is_separated(kind):
    for K in range(2, 65):
        p = make_palette(kind, K, seed=K)
        c = ignore_color(p)
        assert c.abs().max() <= 1
        assert float(torch.cdist(c[None].double(), p.double()).min()) > min_distance(p) / 2, (kind, K)


def test_bad_input():
    p = cfl_palette(4)
    with pytest.raises(PaletteError, match='labels \\[4\\]'): encode(torch.tensor([[0, 4]]), p)
    with pytest.raises(PaletteError, match='also a class id'): encode(torch.tensor([[0, 1]]), cfl_palette(300))
    with pytest.raises(PaletteError, match='NaN'): decode(torch.full((1, 3, 2, 2), float('inf')), p)
    with pytest.raises(PaletteError, match='shape'): decode(torch.zeros(1, 4, 2, 2), p)
    assert encode(torch.tensor([[0, 1]]), cfl_palette(300), ignore_index=None).shape == (3, 1, 2)
