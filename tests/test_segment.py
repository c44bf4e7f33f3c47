"Whole-program tests of the downstream segmenter: `simgen-nb train segmenter`, run folders, features, scores."
import json, warnings
import numpy as np
import pytest
import torch
import torch.nn as nn
import yaml

from simgen_nb.cli import main
from simgen_nb.data import save_pair, write_metadata
from simgen_nb.segment import (ClassTableError, Segmenter, evaluate_segmenter, load_segmenter, mix_datasets, seg_config,
                               segmenter_features, train_segmenter)

warnings.filterwarnings('ignore', module='timm')
CLASSES = [{'id': 0, 'name': 'background', 'color': [80, 60, 50]}, {'id': 1, 'name': 'liver', 'color': [200, 50, 50]},
           {'id': 2, 'name': 'grasper', 'color': [230, 230, 230]}]


@pytest.fixture(autouse=True, scope='module')
def one_thread():
    "Tiny networks on a shared CPU run far faster on one thread than on two contending ones."
    n = torch.get_num_threads(); torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def write_set(root, n_train=6, n_test=3, size=32, seed=0, classes=CLASSES, noise=10.0):
    "A tiny common-format set: a disc of class 1 and a bar of class 2 on class 0; images are the class colours + noise."
    rs = np.random.RandomState(seed)
    cols = np.array([c['color'] for c in classes], np.float64)
    splits = {'train': [f'v0_{i}' for i in range(n_train)], 'test': [f'v1_{i}' for i in range(n_test)]}
    yy, xx = np.mgrid[:size, :size]
    for ids in splits.values():
        for i in ids:
            lab = np.zeros((size, size), np.uint8)
            cy, cx = rs.randint(8, size - 8, 2)
            lab[(yy - cy) ** 2 + (xx - cx) ** 2 < 36] = 1
            x0 = rs.randint(0, size - 4); lab[size // 2:, x0:x0 + 4] = 2
            lab = np.minimum(lab, len(classes) - 1)
            img = np.clip(cols[lab] + rs.normal(0, noise, (size, size, 3)), 0, 255).astype(np.uint8)
            if i == 'v0_1': lab[:3, :3] = 255
            save_pair(root, i, img, lab)
    write_metadata(root, {'name': 'tiny', 'ignore_index': 255, 'classes': classes},
                   {k: v for k, v in splits.items() if v}, source='test')
    return root


def test_cli_train_segmenter_real_plus_synthetic(tmp_path, capsys):
    real, synth = write_set(tmp_path / 'real'), write_set(tmp_path / 'synth', n_test=0, seed=1)
    run = tmp_path / 'run'
    code = main(['train', 'segmenter', '--data', str(real), '--data', str(synth), '--profile', 'ci', '--out', str(run),
                 '--steps', '3', '--augment', '--no-progress'])
    out = capsys.readouterr().out
    assert code == 0, out
    assert 'mIoU' in out and 'grasper' in out and str(run) in out
    assert sorted(p.name for p in run.iterdir()) == ['config.yaml', 'log.csv', 'metrics.json', 'model.safetensors']
    cfg = yaml.safe_load((run / 'config.yaml').read_text())
    assert (cfg['model'], cfg['profile'], cfg['steps'], cfg['num_classes'], cfg['augment']) == ('segmenter', 'ci', 3, 3, True)
    assert cfg['data'] == [str(real), str(synth)]
    m = json.loads((run / 'metrics.json').read_text())
    assert m['split'] == 'test' and m['num_images'] == 3 and m['names'] == ['background', 'liver', 'grasper']
    assert m['background'] == [0] and len(m['iou']) == 3 and np.array(m['confusion']).sum() == 3 * 32 * 32
    assert len((run / 'log.csv').read_text().splitlines()) == 1 + 3
    # the loaded run scores the same as the metrics it wrote
    assert evaluate_segmenter(run, real)['confusion'] == m['confusion']


def test_load_round_trip_and_features(tmp_path):
    real = write_set(tmp_path / 'real')
    cfg = seg_config('ci', steps=3)
    model = train_segmenter(cfg, real, out=tmp_path / 'run', progress=False)
    loaded = load_segmenter(tmp_path / 'run')
    assert isinstance(loaded, Segmenter) and not loaded.training
    x = torch.rand(2, 3, 48, 40)   # floats in [0, 1], not the training size: logits come back at the input's size
    with torch.no_grad():
        a, b = model(x), loaded(x)
    assert a.shape == (2, 3, 48, 40) and torch.equal(a, b)
    fe = segmenter_features(tmp_path / 'run')
    f = fe(x)
    assert f.shape == (2, fe.dim) and fe.dim == loaded.net.encoder.out_channels[-1]
    assert torch.equal(f, segmenter_features(model)(x))
    # the metrics module takes it as its offline 'segmenter' feature extractor
    from simgen_nb.extractors import get_extractor
    ex = get_extractor('segmenter', segmenter=loaded)
    assert ex.num_features == fe.dim
    # same config, same seed: bit-identical training on the CPU
    again = train_segmenter(cfg, real, progress=False)
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in model.state_dict().items())


class _Oracle(nn.Module):
    "Nearest class colour: exact on noiseless images painted in the class colours."
    def __init__(self):
        super().__init__()
        self.register_buffer('cols', torch.tensor([c['color'] for c in CLASSES], dtype=torch.float32) / 255)
        self.w = nn.Parameter(torch.zeros(()))
    def forward(self, x): return -((x[:, None] - self.cols[None, :, :, None, None]) ** 2).sum(2)


def test_perfect_predictor_scores_one(tmp_path):
    root = write_set(tmp_path / 'clean', n_train=2, n_test=4, noise=0.0)
    oracle = Segmenter(_Oracle(), (32, 32), 3)
    oracle.prepare = lambda x, value_range=None: x   # the oracle reads the data set's [0, 1] colours
    s = evaluate_segmenter(oracle, root, 'test')
    assert s['iou'] == [1.0, 1.0, 1.0] and s['dice'] == [1.0, 1.0, 1.0]
    assert s['miou'] == s['mdice'] == s['miou_fg'] == s['mdice_fg'] == s['pixel_accuracy'] == 1.0
    # the ignored pixels of the training split are not counted
    tr = evaluate_segmenter(oracle, root, 'train')
    assert tr['iou'] == [1.0, 1.0, 1.0] and sum(tr['support']) == 2 * 32 * 32 - 9


def test_mismatched_class_tables(tmp_path, capsys):
    real = write_set(tmp_path / 'real')
    other = [*CLASSES[:2], {'id': 2, 'name': 'hook', 'color': [0, 255, 0]}]
    synth = write_set(tmp_path / 'synth', n_test=0, classes=other)
    with pytest.raises(ClassTableError, match="class 2 is 'hook' vs 'grasper'"):
        mix_datasets(real, synth, ratio=1.0)
    code = main(['train', 'segmenter', '--data', str(real), '--data', str(synth), '--out', str(tmp_path / 'run'), '--no-progress'])
    err = capsys.readouterr().err
    assert code == 1 and 'synth/classes.json' in err and 'real/classes.json' in err and 'Traceback' not in err
    assert not (tmp_path / 'run').exists()
    fewer = write_set(tmp_path / 'fewer', n_test=0, classes=CLASSES[:2])
    with pytest.raises(ClassTableError, match='2 classes vs 3'):
        mix_datasets(real, fewer)
