"SimGen end to end through the CLI: train (ci), sample, save/load round trip, sharded sampling on 2 processes."
import hashlib, json, os, socket, subprocess, sys
from pathlib import Path

import numpy as np
import pytest
import torch

from simgen_nb.cli import main
from simgen_nb.data import save_pair, write_metadata, validate, read_splits, read_manifest, SegmentationDataset, read_image, read_mask
from simgen_nb.train import read_config, read_log, load_run, make_scheduler, sample_generators

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
torch.set_num_threads(1)
CLASSES = {'name': 'tiny', 'ignore_index': 255, 'classes': [{'id': 0, 'name': 'background', 'color': [10, 10, 10]},
           {'id': 1, 'name': 'liver', 'color': [200, 60, 40]}, {'id': 2, 'name': 'grasper', 'color': [170, 170, 170]}]}


def _make_data(root, n=8, size=16):
    rng = np.random.default_rng(0); yy, xx = np.mgrid[:size, :size]; ids = [f'v{i // 4}f{i % 4}' for i in range(n)]
    for id in ids:
        cx, cy = rng.integers(4, size - 4, 2)
        lab = (((xx - cx) ** 2 + (yy - cy) ** 2) < 16).astype(np.uint8); lab[-3:, size // 2:] = 2
        img = np.array([c['color'] for c in CLASSES['classes']], np.uint8)[lab]
        save_pair(root, id, img, lab)
    write_metadata(root, CLASSES, {'train': ids[:6], 'val': ids[6:], 'test': []}, source='test fixture')
    return root


@pytest.fixture(scope='module')
def run(tmp_path_factory):
    d = tmp_path_factory.mktemp('simgen')
    data = _make_data(d/'data')
    rc = main(['train', 'simgen', '--data', str(data), '--profile', 'ci', '--out', str(d/'run'), '--steps', '3',
               '--batch-size', '2', '--checkpoint-every', '3', '--palette', 'cfl', '--no-progress'])
    assert rc == 0
    return d/'run'


def test_cli_train_writes_the_run_folder(run):
    cfg = read_config(run)
    assert (cfg['model'], cfg['profile'], cfg['train']['steps'], cfg['task']['palette']) == ('simgen', 'ci', 3, 'cfl')
    assert cfg['task']['classes'] == CLASSES and cfg['data'].endswith('data')
    assert [r['step'] for r in read_log(run)] == [1, 2, 3]
    assert {'loss', 'image_mse', 'mask_mse', 'lr', 'seconds'} <= set(read_log(run)[0])
    assert (run/'checkpoint-3'/'model.safetensors').exists() and (run/'pipeline'/'model_index.json').exists()
    assert (run/'samples'/'step-0000003.png').exists()
    # resuming a finished run with the saved config is a no-op; a different flag is refused
    assert main(['train', 'simgen', '--out', str(run), '--resume', 'latest', '--no-progress']) == 0
    assert [r['step'] for r in read_log(run)] == [1, 2, 3]
    assert main(['train', 'simgen', '--out', str(run), '--resume', 'latest', '--mask-weight', '3']) == 1


def test_cli_sample_writes_a_common_format_data_set(run, tmp_path):
    gen = tmp_path/'gen'
    assert main(['sample', str(run), '--n', '3', '--steps', '2', '--scheduler', 'ddim', '--batch-size', '2', '--out', str(gen)]) == 0
    assert validate(gen) == []
    assert read_splits(gen) == {'train': ['gen000000', 'gen000001', 'gen000002']}
    prov = read_manifest(gen)['provenance']
    assert (prov['generator'], prov['sampler'], prov['steps'], prov['seed']) == ('simgen', 'ddim', 2, 0)
    assert Path(prov['run']) == run.resolve()
    ds = SegmentationDataset(gen)
    assert ds.num_classes == 3 and ds[0]['image'].shape == (3, 16, 16)
    assert main(['sample', str(run), '--n', '1', '--steps', '2', '--out', str(gen)]) == 1      # never overwrites
    assert main(['sample', str(run), '--n', '1', '--guidance', '2', '--out', str(tmp_path/'g2')]) == 1


def test_save_load_round_trip_gives_identical_samples(run, tmp_path):
    from simgen_nb.simgen import SimGenPipeline
    _, pipe = load_run(run)
    pipe.save_pretrained(tmp_path/'copy')
    copy = SimGenPipeline.from_pretrained(tmp_path/'copy')
    assert copy.config.classes == CLASSES and copy.config.palette == pipe.config.palette
    for p in (pipe, copy):
        p.scheduler = make_scheduler('dpmsolver', p.scheduler.config); p.set_progress_bar_config(disable=True)
    a = pipe(batch_size=2, num_inference_steps=3, generator=torch.Generator().manual_seed(7), output_type='pt')
    b = copy(batch_size=2, num_inference_steps=3, generator=torch.Generator().manual_seed(7), output_type='pt')
    assert torch.equal(a.images, b.images) and torch.equal(a.masks, b.masks) and torch.equal(a.distances, b.distances)


def test_sharded_sampling_on_two_processes(run, tmp_path):
    "accelerate launch --num_processes 2: each process writes its own pairs; N distinct pairs, as one process draws them."
    n = 5
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]
    cmd = [str(BIN/'accelerate'), 'launch', '--multi_gpu', '--num_processes', '2', '--num_machines', '1', '--mixed_precision', 'no',
           '--dynamo_backend', 'no', '--main_process_port', str(port), str(BIN/'simgen-nb'),
           'sample', str(run), '--n', str(n), '--steps', '2', '--scheduler', 'ddim', '--batch-size', '1', '--out', str(tmp_path/'two')]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                       env={**os.environ, 'OMP_NUM_THREADS': '1', 'HF_HUB_OFFLINE': '1'})
    assert r.returncode == 0, r.stderr[-3000:]
    assert main(['sample', str(run), '--n', str(n), '--steps', '2', '--scheduler', 'ddim', '--batch-size', '1', '--out', str(tmp_path/'one')]) == 0
    two = tmp_path/'two'
    assert validate(two) == []
    ids = read_splits(two)['train']
    assert len(ids) == n and len({hashlib.sha256((two/'images'/f'{i}.png').read_bytes()).hexdigest() for i in ids}) == n
    for i in ids:   # the same sample whichever process drew it (batches of 1: the same arithmetic)
        assert np.array_equal(read_image(two/'images'/f'{i}.png'), read_image(tmp_path/'one'/'images'/f'{i}.png'))
        assert np.array_equal(read_mask(two/'masks'/f'{i}.png'), read_mask(tmp_path/'one'/'masks'/f'{i}.png'))
