"""Bad inputs and faults (issue 13): every case ends in a named error (a SimGenError, exit 1, or an argparse error, exit 2)
whose message names the file or flag, leaves every pre-existing file byte-for-byte unchanged and leaves no partial
output; or, where the input is fine (a stale lock, a restart, non-square pairs), behaves correctly. The kill test stops
the trainer at every write point of a checkpoint and of the pipeline export and resumes."""
import contextlib, io, json, os, shutil, sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings, strategies as st
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from toy_train import ToyTask, ToyData  # noqa: E402
import simgen_nb.core as core
from simgen_nb.cli import main
from simgen_nb.core import SimGenError, RunLock
from simgen_nb.data import DataError, SegmentationDataset, validate
from simgen_nb.synthsurg import make_synthsurg
from simgen_nb.train import TrainConfig, train, checkpoints, latest_checkpoint, load_checkpoint_weights, read_log

torch.set_num_threads(1)


# ---------------------------------------------------------------- helpers
def snapshot(*roots) -> dict:
    "Every file (bytes) and folder under `roots`."
    out = {}
    for r in roots:
        for p in sorted(Path(r).rglob('*')): out[str(p)] = p.read_bytes() if p.is_file() else 'dir'
    return out


def cli(argv) -> tuple[int, str]:
    "(exit status, stderr) of `simgen-nb argv` run in process; argparse errors give 2."
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try: code = main([str(a) for a in argv])
        except SystemExit as e: code = e.code
    return code, err.getvalue()


def refused(argv, names, roots, code=None):
    "Run `argv`; it must fail with a message naming each of `names`, no traceback, and change nothing under `roots`."
    before = snapshot(*roots)
    c, err = cli(argv)
    assert c in ((1, 2) if code is None else (code,)), (c, err)
    assert 'Traceback' not in err, err
    for n in names: assert str(n) in err, (n, err)
    assert snapshot(*roots) == before, 'files changed or partial output left'
    if os.environ.get('SIMGEN_NB_RELIABILITY_LOG'):      # bench/reliability_report.py collects how each case ends
        with open(os.environ['SIMGEN_NB_RELIABILITY_LOG'], 'a') as f:
            f.write(json.dumps({'test': os.environ.get('PYTEST_CURRENT_TEST', '').split(' ')[0], 'exit': c,
                                'message': err.strip().splitlines()[-1] if err.strip() else ''}) + '\n')
    return err


@pytest.fixture(scope='module')
def base(tmp_path_factory):
    "A tiny valid SynthSurg data set (12 pairs, 16 px), never modified."
    root = tmp_path_factory.mktemp('base')/'data'
    make_synthsurg(root, 12, size=16, seed=0, progress=False)
    return root


@pytest.fixture
def data(base, tmp_path):
    "A private copy of the base data set."
    d = tmp_path/'data'; shutil.copytree(base, d); return d


def _ids(root, split='train'): return json.loads((Path(root)/'splits.json').read_text())[split]


def _train(data, out, *extra):
    return ['train', 'simgen', '--data', data, '--profile', 'ci', '--out', out, '--no-progress', '--steps', '2',
            '--checkpoint-every', '1', *extra]


def _fake_run(folder, model):
    folder.mkdir(parents=True); (folder/'config.yaml').write_text(f'model: {model}\nprofile: ci\n'); return folder


# ---------------------------------------------------------------- 1. output folders
def test_train_out_with_user_files(data, tmp_path):
    out = tmp_path/'mine'; (out/'pipeline').mkdir(parents=True)
    (out/'config.yaml').write_text('my: own config\n'); (out/'pipeline'/'weights.bin').write_bytes(b'\x01' * 10)
    refused(_train(data, out), [out, 'config.yaml', 'pipeline/'], [tmp_path])


def test_train_out_is_a_data_set(data, tmp_path):
    refused(_train(data, data), [data, 'classes.json'], [tmp_path])


def test_train_out_with_a_single_note(data, tmp_path):
    out = tmp_path/'notes'; out.mkdir(); (out/'notes.txt').write_text('keep me')
    refused(_train(data, out), ['notes.txt'], [tmp_path])


def test_train_out_is_another_models_run(data, tmp_path):
    out = _fake_run(tmp_path/'c', 'casdm')
    refused(_train(data, out), ['casdm run', 'config.yaml'], [tmp_path])


def test_train_out_is_a_file(data, tmp_path):
    f = tmp_path/'file.txt'; f.write_text('x')
    refused(_train(data, f), [f, 'is a file'], [tmp_path])


def test_train_out_cannot_be_created(data, tmp_path):
    f = tmp_path/'file.txt'; f.write_text('x')
    refused(_train(data, f/'sub'), ['--out', 'cannot be created'], [tmp_path])


def test_train_out_with_checkpoints_needs_resume(data, tmp_path):
    out = tmp_path/'run'
    assert cli(_train(data, out))[0] == 0
    refused(_train(data, out), ['already has checkpoints', '--resume'], [tmp_path])


@pytest.mark.parametrize('model', ['simgen', 'casdm', 'mapgen'])
def test_sample_out_with_foreign_data_set(data, tmp_path, model):
    run = _fake_run(tmp_path/'run', model)
    out = tmp_path/'theirs'; out.mkdir()
    (out/'classes.json').write_text('{"theirs": 1}'); (out/'manifest.json').write_text('{"theirs": 2}')
    extra = ['--maps', data] if model == 'casdm' else []
    refused(['sample', run, '--n', '1', '--steps', '1', '--out', out, *extra], [out, 'classes.json', 'manifest.json'], [tmp_path])


def test_sample_out_is_a_file(tmp_path):
    run = _fake_run(tmp_path/'run', 'simgen'); f = tmp_path/'f.png'; f.write_bytes(b'png')
    refused(['sample', run, '--out', f], [f, 'is a file'], [tmp_path])


def test_generate_out_not_empty(tmp_path):
    out = tmp_path/'o'; out.mkdir(); (out/'x.txt').write_text('x')
    p = tmp_path/'p.jsonl'; p.write_text('{"prompts": ["a grasper"]}\n')
    refused(['generate', '--prompts', p, '--mapgen', tmp_path/'m', '--casdm', tmp_path/'c', '--out', out], [out, 'x.txt'], [tmp_path])


def test_synth_out_not_empty(tmp_path):
    out = tmp_path/'o'; out.mkdir(); (out/'keep.txt').write_text('x')
    refused(['data', 'synth', '--n', '4', '--size', '16', '--out', out, '--quiet'], [out, 'keep.txt'], [tmp_path])


def test_prepare_overwrite_only_replaces_a_data_set(tmp_path):
    src = tmp_path/'raw'; src.mkdir(); dst = tmp_path/'dst'; dst.mkdir(); (dst/'thesis.tex').write_text('x')
    refused(['data', 'prepare', 'cholecseg8k', '--src', src, '--dst', dst, '--overwrite'], ['--dst', 'thesis.tex'], [tmp_path])


def test_prepare_dst_not_empty(tmp_path):
    src = tmp_path/'raw'; src.mkdir(); dst = tmp_path/'dst'; dst.mkdir(); (dst/'a').write_text('x')
    refused(['data', 'prepare', 'cholecseg8k', '--src', src, '--dst', dst], ['--dst', 'exists and is not empty'], [tmp_path])


def test_segmenter_out_not_a_run(data, tmp_path):
    out = tmp_path/'o'; out.mkdir(); (out/'config.yaml').write_text('model: mine\n')
    refused(['train', 'segmenter', '--data', data, '--out', out, '--no-progress'], [out, 'config.yaml'], [tmp_path])


def test_evaluate_out_with_other_files(data, tmp_path):
    out = tmp_path/'o'; out.mkdir(); (out/'results.csv').write_text('1,2')
    refused(['evaluate', '--real', data, '--fake', data, '--out', out, '--metrics', 'fid'], [out, 'results.csv'], [tmp_path])


def test_evaluate_report_of_other_sets(data, tmp_path):
    out = tmp_path/'o'; out.mkdir()
    (out/'metrics.json').write_text(json.dumps({'fake': {'root': '/elsewhere/a'}, 'real': {'root': '/elsewhere/b'}}))
    refused(['evaluate', '--real', data, '--fake', data, '--out', out, '--metrics', 'fid'], [out, '/elsewhere/a'], [tmp_path])


def test_reproduce_never_deletes_a_foreign_folder(tmp_path):
    "reproduce refuses to delete a folder it did not write (SimGenError naming its files)."
    from simgen_nb.reproduce import _remove_own
    f = tmp_path/'runs'/'x'; f.mkdir(parents=True); (f/'mine.txt').write_text('x')
    before = snapshot(tmp_path)
    with pytest.raises(SimGenError, match='mine.txt'): _remove_own(f, 'a training run', ('config.yaml', 'reproduce.json'))
    assert snapshot(tmp_path) == before


def test_train_accepts_a_folder_with_only_reproduce_fingerprint(data, tmp_path):
    "reproduce writes reproduce.json into the run folder first: train accepts it and trains (the file kept)."
    out = tmp_path/'run'; out.mkdir(); (out/'reproduce.json').write_text('{}')
    assert cli(_train(data, out))[0] == 0
    assert (out/'reproduce.json').read_text() == '{}' and latest_checkpoint(out).name == 'checkpoint-2'


# ---------------------------------------------------------------- 2. run folders: lock, restart, resume
def test_live_lock_refuses_a_second_writer(data, tmp_path):
    out = tmp_path/'run'
    assert cli(_train(data, out, '--stop-at', '1'))[0] == 0
    (out/'.lock').write_text(json.dumps({'host': RunLock(out).info['host'], 'pid': os.getppid()}))   # a live process
    refused(_train(data, out, '--resume', 'latest'), ['in use by process', '.lock'], [tmp_path])


def test_two_trainings_into_one_folder(tmp_path):
    "a second training into a folder that a live trainer holds is refused; after that trainer is killed (-9), its stale lock is cleared and resume completes."
    import signal, time
    out, ready = tmp_path/'run', tmp_path/'ready'
    pid = os.fork()
    if pid == 0:                                           # trainer 1: holds the lock, parks at its first checkpoint write
        def hook(name):
            if name == 'checkpoint model.safetensors': ready.write_text('1'); time.sleep(60)
        core.FAULT_HOOK = hook
        try: train(ToyTask(), ToyData(), _toy_cfg(), out, progress=False)
        finally: os._exit(0)
    try:
        for _ in range(600):
            if ready.exists(): break
            time.sleep(0.05)
        assert ready.exists()
        before = snapshot(out)
        with pytest.raises(SimGenError, match=f'in use by process {pid}'):
            train(ToyTask(), ToyData(), _toy_cfg(), out, resume='latest', progress=False)
        assert snapshot(out) == before
    finally:
        os.kill(pid, signal.SIGKILL); os.waitpid(pid, 0)
    train(ToyTask(), ToyData(), _toy_cfg(), out, resume='latest', progress=False)   # stale lock cleared
    assert [r['step'] for r in read_log(out)] == [1, 2, 3, 4] and not (out/'.lock').exists()


def test_stale_lock_is_cleared(data, tmp_path):
    "a lock left by a dead process is cleared and the resume runs to the end."
    out = tmp_path/'run'
    assert cli(_train(data, out, '--stop-at', '1'))[0] == 0
    (out/'.lock').write_text(json.dumps({'host': RunLock(out).info['host'], 'pid': 2**22 + 4321}))   # no such process
    assert cli(_train(data, out, '--resume', 'latest'))[0] == 0
    assert not (out/'.lock').exists() and latest_checkpoint(out).name == 'checkpoint-2'


def test_restart_without_checkpoint_starts_clean(tmp_path):
    "a rerun after a run died before its first checkpoint starts clean: no duplicate log rows."
    cfg = TrainConfig.for_profile('ci', steps=3, batch_size=2, checkpoint_every=10)
    out = tmp_path/'run'
    with pytest.raises(SimGenError): train(ToyTask(nan_at=1), ToyData(), cfg, out, progress=False)   # dies at step 2, no checkpoint
    assert [r['step'] for r in read_log(out)] == [1] and not checkpoints(out)
    train(ToyTask(), ToyData(), cfg, out, progress=False)
    assert [r['step'] for r in read_log(out)] == [1, 2, 3]                                         # no duplicate rows


def test_resume_truncates_log_and_removes_stray_tmp(tmp_path):
    "resume drops log rows past its checkpoint (and a row cut by a kill) and removes stray .tmp files."
    cfg = TrainConfig.for_profile('ci', steps=4, batch_size=2, checkpoint_every=2)
    out = tmp_path/'run'
    train(ToyTask(), ToyData(), cfg, out, stop_at_step=2, progress=False)
    with open(out/'log.csv', 'a') as f: f.write('3,0.5,0.5,0.001,1.0\n4,0.4')                       # rows past the checkpoint, one cut
    (out/'.checkpoint-4.abc.tmp').mkdir(); (out/'.log.csv.12.34.tmp').write_text('half')
    train(ToyTask(), ToyData(), cfg, out, resume='latest', progress=False)
    assert [r['step'] for r in read_log(out)] == [1, 2, 3, 4]
    assert not [p for p in out.iterdir() if p.name.endswith('.tmp')]


def test_resume_with_other_data(data, base, tmp_path):
    out = tmp_path/'run'
    assert cli(_train(data, out, '--stop-at', '1'))[0] == 0
    other = tmp_path/'other'; shutil.copytree(base, other)
    refused(['train', 'simgen', '--data', other, '--out', out, '--resume', 'latest', '--no-progress'],
            ['config.yaml', '--data'], [tmp_path])


def test_resume_after_classes_changed(data, tmp_path):
    out = tmp_path/'run'
    assert cli(_train(data, out, '--stop-at', '1'))[0] == 0
    c = json.loads((data/'classes.json').read_text()); c['classes'][0]['name'] += ' (renamed)'
    (data/'classes.json').write_text(json.dumps(c))
    refused(['train', 'simgen', '--data', data, '--out', out, '--resume', 'latest', '--no-progress'], ['classes.json', 'changed'], [tmp_path])


def test_resume_after_split_changed(data, tmp_path):
    out = tmp_path/'run'
    assert cli(_train(data, out, '--stop-at', '1'))[0] == 0
    s = json.loads((data/'splits.json').read_text()); s['train'] = s['train'][:-1]
    (data/'splits.json').write_text(json.dumps(s))
    refused(['train', 'simgen', '--data', data, '--out', out, '--resume', 'latest', '--no-progress'], ['splits.json', 'changed'], [tmp_path])


# ---------------------------------------------------------------- 3. NaN guard
def test_nonfinite_weights_are_never_checkpointed(tmp_path):
    "weights turned NaN by an update (finite loss): stopped before the checkpoint, named last good checkpoint and pipeline finite."
    cfg = TrainConfig.for_profile('ci', steps=6, batch_size=2, checkpoint_every=1)
    out = tmp_path/'run'
    with pytest.raises(SimGenError, match=r'step 3: model weight .* not finite.*checkpoint-2'):
        train(ToyTask(poison_at=2), ToyData(), cfg, out, progress=False)
    assert latest_checkpoint(out).name == 'checkpoint-2'
    for which in ('model', 'ema'):
        assert all(torch.isfinite(v).all() for v in load_checkpoint_weights(out/'checkpoint-2', which).values())
    from safetensors.torch import load_file
    pipe = load_file(next((out/'pipeline').rglob('*.safetensors')))
    assert all(torch.isfinite(v).all() for v in pipe.values())


def test_nan_loss_names_last_good_checkpoint(tmp_path):
    "a NaN loss stops training, naming the last good checkpoint."
    cfg = TrainConfig.for_profile('ci', steps=6, batch_size=2, checkpoint_every=2)
    with pytest.raises(SimGenError, match='the loss is nan.*checkpoint-2'):
        train(ToyTask(nan_at=3), ToyData(), cfg, tmp_path/'run', progress=False)


# ---------------------------------------------------------------- 4. data checked before training
def _corrupt_png(d, id):
    p = d/'images'/f'{id}.png'; p.write_bytes(p.read_bytes()[:60]); return p

def _label_out_of_range(d, id):
    p = d/'masks'/f'{id}.png'; Image.fromarray(np.full((16, 16), 200, np.uint8), 'L').save(p); return p

def _rgb_mask(d, id):
    p = d/'masks'/f'{id}.png'; Image.fromarray(np.zeros((16, 16, 3), np.uint8), 'RGB').save(p); return p

def _missing_mask(d, id):
    p = d/'masks'/f'{id}.png'; p.unlink(); return p

def _missing_image(d, id):
    p = d/'images'/f'{id}.png'; p.unlink(); return p

def _size_mismatch(d, id):
    p = d/'masks'/f'{id}.png'; Image.fromarray(np.zeros((12, 16), np.uint8), 'L').save(p); return p

def _not_a_png(d, id):
    p = d/'images'/f'{id}.png'; p.write_text('this is not an image'); return p

def _rgba16(d, id):
    p = d/'masks'/f'{id}.png'; Image.fromarray(np.zeros((16, 16), np.uint16)).save(p); return p

CORRUPTIONS = [_corrupt_png, _label_out_of_range, _rgb_mask, _missing_mask, _missing_image, _size_mismatch, _not_a_png, _rgba16]


@pytest.mark.parametrize('corrupt', CORRUPTIONS, ids=lambda f: f.__name__[1:])
def test_training_validates_its_split(data, tmp_path, corrupt):
    bad = corrupt(data, _ids(data)[-1])                  # the last item: a short run would never draw it
    refused(_train(data, tmp_path/'run'), [bad], [tmp_path])


def test_invalid_classes_json(data, tmp_path):
    (data/'classes.json').write_text('{not json')
    refused(_train(data, tmp_path/'run'), ['classes.json', 'not valid JSON'], [tmp_path])


def test_split_missing(data, tmp_path):
    (data/'splits.json').write_text(json.dumps({'val': _ids(data, 'val')}))
    refused(_train(data, tmp_path/'run'), ['splits.json', "no split 'train'"], [tmp_path])


def test_skip_validation_flag(data, tmp_path):
    "--skip-validation trains without the check."
    assert cli(_train(data, tmp_path/'run', '--skip-validation'))[0] == 0


def test_non_square_pairs_are_centre_cropped(tmp_path):
    "non-square pairs are centre-cropped (reported by check), never squashed."
    from simgen_nb.data import save_pair, write_metadata
    rng = np.random.default_rng(0)
    for i in range(4): save_pair(tmp_path/'d', f'p{i}', rng.integers(0, 255, (16, 24, 3), dtype=np.uint8), np.zeros((16, 24), np.uint8))
    write_metadata(tmp_path/'d', {'classes': [{'id': 0, 'name': 'bg', 'color': [0, 0, 0]}]}, {'train': [f'p{i}' for i in range(4)]}, source='t')
    ds = SegmentationDataset(tmp_path/'d', 'train', size=8)
    assert len(ds.check(progress=False)['non_square']) == 4 and ds[0]['image'].shape == (3, 8, 8)


# ---------------------------------------------------------------- 5. ids are names
@pytest.mark.parametrize('bad_id', ['../../outside', '/etc/hostname', 'sub/dir', '.hidden'])
def test_ids_are_names_not_paths(data, tmp_path, bad_id):
    s = json.loads((data/'splits.json').read_text()); s['train'].append(bad_id)
    (data/'splits.json').write_text(json.dumps(s))
    refused(_train(data, tmp_path/'run'), ['splits.json', repr(bad_id), 'not a name'], [tmp_path])
    assert any('traversal' in p and repr(bad_id) in p for p in validate(data))


def test_validate_never_hashes_outside_root(data, tmp_path, monkeypatch):
    "data validate reports a manifest entry ../x as traversal and hashes nothing outside the root."
    secret = tmp_path/'secret.png'; secret.write_bytes(b'secret')
    m = json.loads((data/'manifest.json').read_text()); m['files']['../secret.png'] = '0' * 64
    (data/'manifest.json').write_text(json.dumps(m))
    import simgen_nb.data as D
    read = []
    monkeypatch.setattr(D, 'sha256_file', lambda p, *a: read.append(Path(p).resolve()) or core.sha256_file(p, *a))
    problems = validate(data)
    assert any('traversal' in p and '../secret.png' in p for p in problems), problems
    assert all(p.is_relative_to(data.resolve()) for p in read) and secret.resolve() not in read


def test_validate_never_follows_a_link_out_of_the_root(data, tmp_path, monkeypatch):
    "data validate reports an image that links outside the data set as traversal and neither reads nor hashes it."
    secret = tmp_path/'secret.png'; shutil.copy(data/'images'/f'{_ids(data)[0]}.png', secret)
    link = data/'images'/f'{_ids(data)[1]}.png'; link.unlink(); link.symlink_to(secret)
    import simgen_nb.data as D
    touched = []
    monkeypatch.setattr(D, 'sha256_file', lambda p, *a: touched.append(Path(p).resolve()) or core.sha256_file(p, *a))
    real_read = D.read_image
    monkeypatch.setattr(D, 'read_image', lambda p: touched.append(Path(p).resolve()) or real_read(p))
    problems = validate(data)
    assert any('traversal' in p and str(link) in p for p in problems), problems
    assert secret.resolve() not in touched


# ---------------------------------------------------------------- 6. numeric flags
FLAG_CASES = [
    ('train', '--checkpoint-every', '0'), ('train', '--checkpoint-every', '-2'), ('train', '--log-every', '0'),
    ('train', '--log-every', 'nan'), ('train', '--image-size', '0'), ('train', '--image-size', '-16'), ('train', '--lr', '0'),
    ('train', '--lr', '-1e-4'), ('train', '--lr', 'nan'), ('train', '--lr', 'inf'), ('train', '--ema-decay', '1.5'),
    ('train', '--ema-decay', '-0.1'), ('train', '--ema-decay', 'nan'), ('train', '--keep-checkpoints', '0'), ('train', '--steps', '0'),
    ('train', '--batch-size', '0'), ('train', '--stop-at', '0'), ('train', '--seed', '-1'), ('train', '--warmup-steps', '-1'),
    ('train', '--max-grad-norm', 'nan'), ('train', '--mask-weight', '-1'), ('train', '--steps', '2.5'),
    ('sample', '--n', '0'), ('sample', '--steps', '0'), ('sample', '--batch-size', '-1'), ('sample', '--guidance', 'nan'),
    ('synth', '--size', '4'), ('synth', '--workers', '0'), ('synth', '--splits', '1.5'), ('evaluate', '--batch-size', '0'),
    ('casdm', '--cfg-dropout', '2'), ('mapgen', '--p-uncond', '-1'), ('segmenter', '--lr', '0'), ('segmenter', '--size', '0'),
    ('prepare', '--tolerance', '300'), ('generate', '--steps', '0'),
]


@pytest.mark.parametrize('cmd,flag,value', FLAG_CASES, ids=lambda v: str(v))
def test_numeric_flags_are_range_checked(data, tmp_path, cmd, flag, value):
    out = tmp_path/'out'
    argv = {'train': ['train', 'simgen', '--data', data, '--out', out],
            'sample': ['sample', tmp_path/'run', '--out', out],
            'synth': ['data', 'synth', '--out', out],
            'evaluate': ['evaluate', '--real', data, '--fake', data],
            'casdm': ['train', 'casdm', '--data', data, '--out', out],
            'mapgen': ['train', 'mapgen', '--data', data, '--out', out],
            'segmenter': ['train', 'segmenter', '--data', data, '--out', out],
            'prepare': ['data', 'prepare', 'cholecseg8k', '--src', data, '--dst', out],
            'generate': ['generate', '--prompts', 'p.jsonl', '--mapgen', 'm', '--casdm', 'c', '--out', out]}[cmd]
    argv = argv + [flag, value] + (['1', '1'] if flag == '--splits' else [])
    refused(argv, [f'argument {flag}'], [tmp_path], code=2)


def test_config_api_is_range_checked():
    "TrainConfig.check (the Python API) range-checks too, naming the flag."
    for k, v in [('lr', float('nan')), ('ema_decay', 1.0), ('checkpoint_every', 0), ('keep_checkpoints', 0), ('log_every', -1)]:
        with pytest.raises(SimGenError, match=f'--{k.replace("_", "-")}'): TrainConfig.for_profile('ci', **{k: v}).check()


# ---------------------------------------------------------------- 7. property-based broken data folders
@pytest.fixture(scope='module')
def small(tmp_path_factory):
    "A 4-pair, 8 px data set (3 train, 1 val) that the property test breaks in copies."
    from simgen_nb.data import save_pair, write_metadata
    root = tmp_path_factory.mktemp('small')/'d'
    rng = np.random.default_rng(1)
    for i in range(4): save_pair(root, f'p{i}', rng.integers(0, 255, (8, 8, 3), dtype=np.uint8), rng.integers(0, 2, (8, 8), dtype=np.uint8))
    write_metadata(root, {'classes': [{'id': 0, 'name': 'bg', 'color': [0, 0, 0]}, {'id': 1, 'name': 'tool', 'color': [9, 9, 9]}]},
                   {'train': ['p0', 'p1', 'p2'], 'val': ['p3']}, source='test')
    return root


def _break(root: Path, kind: str, i: int) -> Path:
    "Apply one breakage to train pair i; return the file the error must name."
    id = f'p{i}'; img, msk = root/'images'/f'{id}.png', root/'masks'/f'{id}.png'
    if kind == 'truncate_image': img.write_bytes(img.read_bytes()[:30]); return img
    if kind == 'truncate_mask': msk.write_bytes(msk.read_bytes()[:30]); return msk
    if kind == 'label_value': Image.fromarray(np.full((8, 8), 7, np.uint8), 'L').save(msk); return msk
    if kind == 'rgb_mask': Image.fromarray(np.zeros((8, 8, 3), np.uint8), 'RGB').save(msk); return msk
    if kind == 'mask_size': Image.fromarray(np.zeros((4, 8), np.uint8), 'L').save(msk); return msk
    if kind == 'delete_image': img.unlink(); return img
    if kind == 'delete_mask': msk.unlink(); return msk
    if kind == 'empty_file': img.write_bytes(b''); return img
    if kind in ('traversal_id', 'bad_classes', 'bad_splits'):
        if kind == 'bad_classes': (root/'classes.json').write_text('[{"id": 3}]'); return root/'classes.json'
        s = json.loads((root/'splits.json').read_text())
        s['train'][i] = '../' + id if kind == 'traversal_id' else 5
        (root/'splits.json').write_text(json.dumps(s)); return root/'splits.json'
    raise ValueError(kind)


KINDS = ['truncate_image', 'truncate_mask', 'label_value', 'rgb_mask', 'mask_size', 'delete_image', 'delete_mask',
         'empty_file', 'traversal_id', 'bad_classes', 'bad_splits']


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(breaks=st.lists(st.tuples(st.sampled_from(KINDS), st.integers(0, 2)), min_size=1, max_size=3, unique_by=lambda t: t[1]))
def test_broken_data_folders(small, tmp_path, breaks):
    "hypothesis: 1-3 breakages of a data set; training refuses, naming a broken file; validate lists problems."
    import tempfile
    with tempfile.TemporaryDirectory(dir=tmp_path) as t:
        root = Path(t)/'d'; shutil.copytree(small, root)
        named = {str(_break(root, k, i)) for k, i in breaks}
        err = refused(['train', 'simgen', '--data', root, '--profile', 'ci', '--out', Path(t)/'run', '--no-progress'], [], [Path(t)])
        assert any(n in err for n in named), (breaks, err)
        assert validate(root), breaks


# ---------------------------------------------------------------- 8. kills at every write point, then resume
def _toy_cfg(): return TrainConfig.for_profile('ci', steps=4, batch_size=2, checkpoint_every=2, keep_checkpoints=1)


def test_kill_at_every_write_point_then_resume(tmp_path):
    "killed (os._exit in a forked trainer) at each write point of checkpoints and pipeline export; resume picks a complete checkpoint and ends with the uninterrupted weights, pipeline and log."
    points = []
    core.FAULT_HOOK = points.append
    try: train(ToyTask(), ToyData(), _toy_cfg(), tmp_path/'ref', progress=False)
    finally: core.FAULT_HOOK = None
    names = set(points)
    for want in ('checkpoint model.safetensors', 'checkpoint ema.safetensors', 'checkpoint optimizer.pt', 'checkpoint rng.pt',
                 'before replace checkpoint-2', 'remove old checkpoint', 'pipeline saved', 'before replace pipeline',
                 'between replaces pipeline'):
        assert want in names, (want, names)
    ref = {w: load_checkpoint_weights(tmp_path/'ref'/'checkpoint-4', w) for w in ('model', 'ema')}
    for k in range(len(points)):
        run = tmp_path/f'kill{k}'
        pid = os.fork()
        if pid == 0:                                       # the child trains and is killed at write point k
            hits = []
            def hook(name):
                hits.append(name)
                if len(hits) == k + 1: os._exit(137)
            core.FAULT_HOOK = hook
            try: train(ToyTask(), ToyData(), _toy_cfg(), run, progress=False)
            except BaseException: os._exit(3)
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        assert os.WEXITSTATUS(status) == 137, (k, points[k], status)
        ck = latest_checkpoint(run)
        if ck is not None:                                 # what resume will pick is complete
            for f in ('model.safetensors', 'ema.safetensors', 'optimizer.pt', 'scheduler.pt', 'rng.pt', 'state.json'):
                assert (ck/f).is_file(), (k, points[k], f)
        train(ToyTask(), ToyData(), _toy_cfg(), run, resume='latest', progress=False)
        for w in ('model', 'ema'):
            got = load_checkpoint_weights(run/'checkpoint-4', w)
            assert all(torch.equal(got[n], ref[w][n]) for n in ref[w]), (k, points[k], w)
        from safetensors.torch import load_file
        pipe = load_file(next((run/'pipeline').rglob('*.safetensors')))
        want = load_file(next((tmp_path/'ref'/'pipeline').rglob('*.safetensors')))
        assert all(torch.equal(pipe[n], want[n]) for n in want), (k, points[k], 'pipeline')
        assert not [p for p in run.iterdir() if p.name.startswith('.') and p.name != '.lock'], (k, sorted(p.name for p in run.iterdir()))
        assert [r['step'] for r in read_log(run)] == [1, 2, 3, 4], (k, points[k])
