"SynthSurg end to end through the command line: `simgen-nb data synth` writes a valid common-format data set."
import numpy as np
from simgen_nb.cli import main
from simgen_nb.core import derive_seed
from simgen_nb.data import validate, read_splits, read_classes, read_mask, read_image, class_stats
from simgen_nb.synthsurg import synth_scene, SYNTHSURG_CLASSES


def test_cli_synth_end_to_end(tmp_path, capsys):
    out = tmp_path/'synth'
    assert main(['data', 'synth', '--n', '30', '--size', '24', '--seed', '5', '--out', str(out), '--quiet']) == 0
    assert 'wrote 30' in capsys.readouterr().out
    assert validate(out) == []
    splits = read_splits(out)
    assert sorted(splits) == ['test', 'train', 'val'] and all(splits.values())
    ids = sorted(sum(splits.values(), []))
    assert len(ids) == 30 == len(set(ids))
    video = lambda i: i.split('_')[0]
    assert not {video(i) for i in splits['train']} & {video(i) for i in splits['val'] + splits['test']}, 'split by video'
    assert [c['name'] for c in read_classes(out)['classes']] == [c['name'] for c in SYNTHSURG_CLASSES]
    # each written pair is the scene of its own seed, regenerated alone
    for id in ids[:3]:
        i = int(id.split('_')[1])
        img, lab = synth_scene(24, derive_seed(5, i))
        assert np.array_equal(read_image(out/'images'/f'{id}.png'), img)
        assert np.array_equal(read_mask(out/'masks'/f'{id}.png'), lab)
    st = class_stats(out, 'train')
    assert abs(float(np.sum(st['pixel_share'])) - 1) < 1e-6


def test_cli_synth_same_seed_same_files(tmp_path):
    a, b = tmp_path/'a', tmp_path/'b'
    assert main(['data', 'synth', '--n', '12', '--size', '16', '--seed', '2', '--out', str(a), '--quiet']) == 0
    assert main(['data', 'synth', '--n', '12', '--size', '16', '--seed', '2', '--out', str(b), '--quiet', '--workers', '2']) == 0
    files = lambda r: [(p.relative_to(r).as_posix(), p.read_bytes()) for p in sorted(r.rglob('*.png'))]
    assert files(a) == files(b)
    assert (a/'splits.json').read_text() == (b/'splits.json').read_text()


def test_cli_synth_user_errors(tmp_path, capsys):
    assert main(['data', 'synth', '--n', '2', '--out', str(tmp_path/'x'), '--quiet']) == 1
    assert 'n=2' in capsys.readouterr().err
    out = tmp_path/'y'
    assert main(['data', 'synth', '--n', '10', '--size', '16', '--out', str(out), '--quiet']) == 0
    assert main(['data', 'synth', '--n', '10', '--size', '16', '--out', str(out), '--quiet']) == 1
    assert 'already holds' in capsys.readouterr().err
