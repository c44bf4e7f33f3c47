"""Whole-program checks of simgen_nb.metrics: cross-checks against pytorch-fid and torchmetrics on the same
features, metric-state merging (as distributed sync does it), the Inception architecture, and `simgen-nb evaluate`."""
import json, warnings
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch
import torch.nn as nn

from simgen_nb.core import SimGenError
from simgen_nb.data import save_pair, write_metadata
from simgen_nb.extractors import Extractor, InceptionExtractor, INCEPTION_ENV
from simgen_nb.metrics import (FID, KID, SIDMask, SIDRegion, FeatureStats, SegScores, CACHE_DIR, fid_from_stats,
                               frechet_distance, kid_from_features, evaluate)
import simgen_nb.cli as cli


def main(argv):
    "`simgen-nb ARGV` with only this module's commands (other modules' import errors must not mask ours)."
    full = cli.build_parser
    with mock.patch.object(cli, 'build_parser', lambda modules=('metrics',): full(modules)):
        return cli.main(argv)


class Tiny(Extractor):
    name, num_features, preprocess = 'tiny', 12, 'native'
    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.conv = nn.Conv2d(3, 12, 3, padding=1)
        for p in self.parameters(): p.data = torch.randn(p.shape, generator=g) * 0.3
        self.freeze()
    def forward(self, x): return torch.relu(self.conv(x)).mean((2, 3))


def _feats(seed, shift=0.0, n=2000, d=64):
    rs = np.random.RandomState(seed)
    return rs.randn(n, d) @ (rs.randn(d, d) * 0.3) + shift


def test_frechet_matches_pytorch_fid():
    import pytorch_fid.fid_score as pfs
    a, b = _feats(0), _feats(1, 0.2)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', DeprecationWarning)
        ref = pfs.calculate_frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
    ours = fid_from_stats(FeatureStats(64).update(a), FeatureStats(64).update(b))
    assert abs(ours - ref) <= 1e-6 * abs(ref)
    sa = FeatureStats(64).update(a)
    assert abs(fid_from_stats(sa, sa)) < 1e-6 * np.trace(sa.cov)


def test_streaming_equals_two_pass():
    a = _feats(2, 3.0, n=777, d=16)
    st = FeatureStats(16)
    for part in np.array_split(a, 13): st.update(part)
    np.testing.assert_allclose(st.mean, a.mean(0), rtol=1e-12)
    np.testing.assert_allclose(st.cov, np.cov(a, rowvar=False), rtol=1e-9, atol=1e-9)


def test_fid_matches_torchmetrics_and_merges():
    from torchmetrics.image.fid import FrechetInceptionDistance
    tiny, g = Tiny(), torch.Generator().manual_seed(1)
    real = torch.randint(0, 256, (64, 3, 12, 12), generator=g, dtype=torch.uint8)
    fake = (real.float() * 0.8 + 30).to(torch.uint8)
    ours, tm = FID(tiny), FrechetInceptionDistance(feature=tiny, normalize=True)
    ours.update(real, real=True); ours.update(fake, real=False)
    tm.update(real.float() / 255, real=True); tm.update(fake.float() / 255, real=False)   # what ours hands the extractor: [0, 1]
    o, t = float(ours.compute()), float(tm.compute())
    assert abs(o - t) <= 1e-5 * abs(t)
    # two "processes" with half the data each, merged as distributed sync reduces them (sum)
    p1, p2 = FID(tiny), FID(tiny)
    p1.update(real[:30], True); p1.update(fake[:40], False); p2.update(real[30:], True); p2.update(fake[40:], False)
    p1.merge_state(p2)
    assert abs(float(p1.compute()) - o) <= 1e-9 * o


def test_kid_matches_torchmetrics_same_subsets():
    from torchmetrics.image.kid import KernelInceptionDistance
    class Ident(nn.Module):
        num_features = 64
        def forward(self, x): return x
    a, b = torch.from_numpy(_feats(3, n=200)), torch.from_numpy(_feats(4, 0.1, n=180))
    tm = KernelInceptionDistance(feature=Ident(), subsets=6, subset_size=80)
    tm.update(a, real=True); tm.update(b, real=False)
    torch.manual_seed(11); m, s = tm.compute()
    ours = kid_from_features(a, b, subsets=6, subset_size=80, seed=11)
    assert abs(ours['mean'] - float(m)) <= 1e-9 * abs(float(m))
    assert abs(ours['std'] - float(s)) <= 1e-9 * abs(float(s))
    # metric object, merged halves
    # metric objects (inputs are images, floats in [0, 1], handed on as they are: scale the features into that range, no quantisation)
    ia, ib = (a / 40 + 0.5).float(), (b / 40 + 0.5).float()
    assert ia.min() > 0 and ib.min() > 0 and ia.max() < 1 and ib.max() < 1
    k1, k2 = (KID(Ident(), subsets=6, subset_size=80, seed=11, quantize=False) for _ in range(2))
    k1.update(ia[:100], True); k2.update(ia[100:], True); k1.update(ib, False)
    k1.merge_state(k2)                       # as distributed sync does: lists concatenated (incoming first)
    km, _ = k1.compute()
    ref = kid_from_features(torch.cat([ia[100:], ia[:100]]), ib, 6, 80, seed=11)['mean']
    assert abs(float(km) - ref) < 1e-9 * abs(ref)


def test_random_inception_has_fid_weight_file_shapes():
    import pytorch_fid.inception as pfi
    built, orig = {}, pfi._inception_v3
    class Refused(Exception): pass
    def capture(*a, **k):
        built['net'] = orig(*a, **k); return built['net']
    def refuse(*a, **k): raise Refused
    with mock.patch.object(pfi, '_inception_v3', capture), mock.patch.object(pfi, 'load_state_dict_from_url', refuse):
        with pytest.raises(Refused): pfi.fid_inception_v3()
    ref = {k: tuple(v.shape) for k, v in built['net'].state_dict().items()}
    ours = InceptionExtractor(random_seed=0)
    assert {k: tuple(v.shape) for k, v in ours.net.state_dict().items()} == ref
    assert ours.name == 'random-inception' and ours.num_features == 2048


def _toy(root, n=16, dark=0.0, seed=0):
    rs = np.random.RandomState(seed)
    classes = {'name': 'toy', 'ignore_index': 255, 'classes': [{'id': 0, 'name': 'background', 'color': [0, 0, 0]},
               {'id': 1, 'name': 'liver', 'color': [255, 0, 0]}, {'id': 2, 'name': 'tool', 'color': [0, 255, 0]}]}
    for i in range(n):
        lab = np.zeros((32, 32), np.uint8); a, b = rs.randint(0, 16, 2); lab[a:a + 16, b:b + 16] = 1
        if i % 2: lab[:6, -6:] = 2
        lab[0, 0] = 255
        img = (rs.randint(0, 256, (32, 32, 3)) * (1 - dark)).astype(np.uint8); img[lab == 1] = [200, 60, 50]
        save_pair(root, f'im{i:03d}', img, lab)
    write_metadata(root, classes, {'train': [f'im{i:03d}' for i in range(n)]}, source='test')
    return Path(root)


def test_evaluate_cli_with_segmenter_run(tmp_path, capsys):
    from simgen_nb.segment import build_segmenter, seg_config, save_segmenter
    real, fake = _toy(tmp_path/'real'), _toy(tmp_path/'fake', dark=0.5, seed=1)
    model = build_segmenter(seg_config('ci'), 3)
    model.config, model.classes = seg_config('ci'), json.loads((real/'classes.json').read_text())['classes']
    run = save_segmenter(model, tmp_path/'seg')
    argv = ['evaluate', '--real', str(real), '--fake', str(fake), '--metrics', 'fid,kid,sid-mask,sid-region,alignment',
            '--features', 'segmenter', '--segmenter', str(run), '--kid-subsets', '3', '--kid-subset-size', '8',
            '--min-samples', '4', '--out', str(tmp_path/'out'), '--batch-size', '8']
    assert main(argv) == 0
    res = json.loads((tmp_path/'out'/'metrics.json').read_text())
    assert set(res['metrics']) == {'FID[segmenter]', 'KID[segmenter]', 'SID-mask[segmenter]', 'SID-region[segmenter]', 'alignment[segmenter]'}
    assert res['metrics']['FID[segmenter]'] > 0
    assert res['metrics']['SID-region[segmenter]']['classes']['tool']['n_real'] == 8
    md = (tmp_path/'out'/'metrics.md').read_text()
    assert '| FID[segmenter] |' in md and 'alignment-mIoU[segmenter]' in md
    cached = sorted(p.name for p in (real/CACHE_DIR).iterdir())
    assert len(cached) == 4 and all('segmenter' in n for n in cached)
    mtimes = {p: p.stat().st_mtime_ns for p in (real/CACHE_DIR).iterdir()}
    assert main(argv) == 0                                     # second run: served from the cache, files untouched
    assert {p: p.stat().st_mtime_ns for p in (real/CACHE_DIR).iterdir()} == mtimes
    assert json.loads((tmp_path/'out'/'metrics.json').read_text())['metrics']['FID[segmenter]'] == res['metrics']['FID[segmenter]']


def test_evaluate_without_inception_weights_says_how(tmp_path, monkeypatch, capsys):
    real = _toy(tmp_path/'real', n=4)
    monkeypatch.delenv(INCEPTION_ENV, raising=False)
    monkeypatch.setenv('TORCH_HOME', str(tmp_path/'torch'))
    assert main(['evaluate', '--real', str(real), '--fake', str(real), '--metrics', 'fid']) == 1
    err = capsys.readouterr().err
    assert '--inception-weights' in err and INCEPTION_ENV in err and 'random-inception' in err
    assert main(['evaluate', '--real', str(real), '--fake', str(real), '--metrics', 'alignment']) == 1
    assert 'segmenter' in capsys.readouterr().err


def test_sid_metric_objects_on_identical_sets():
    tiny, g = Tiny(), torch.Generator().manual_seed(2)
    labels = torch.randint(0, 3, (24, 12, 12), generator=g)
    imgs = torch.randint(0, 256, (24, 3, 12, 12), generator=g, dtype=torch.uint8)
    sm = SIDMask(tiny, colors=[[0, 0, 0], [255, 0, 0], [0, 255, 0]])
    sm.update(labels, True); sm.update(labels, False)
    assert abs(float(sm.compute())) < 1e-6 and sm.label == 'SID-mask[tiny]'
    sr = SIDRegion(tiny, 3, min_samples=5)
    sr.update(imgs, labels, True); sr.update(imgs, labels, False)
    r = sr.compute()
    assert r['classes_used'] == 3 and abs(r['mean']) < 1e-6
