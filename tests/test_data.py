"""Converters of the six public data sets, each on a small fixture written in the set's exact raw layout
(file names, channels, codes, known quirks), the unmappable-value errors, and the `simgen-nb data` CLI.

Class tables here are written out from DATASETS.md / the sources named in nbs/01a_prepare.ipynb, not
imported from the code under test.
"""
import contextlib, io, json, os, subprocess, sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from simgen_nb.cli import main
from simgen_nb.data import DataError, SegmentationDataset, class_stats, read_classes, read_mask, read_splits, validate, read_image
from simgen_nb.prepare import convert

REPO = Path(__file__).resolve().parents[1]

# --------------------------------------------------------------------------------------------------
# helpers

def _png(path, arr, mode=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(arr), mode).save(path)

def _img(rs, h, w):
    return rs.randint(0, 256, (h, w, 3)).astype(np.uint8)

def _mask(root, id):
    return read_mask(root / 'masks' / f'{id}.png')

def _videos_of(ids, sep='_'):
    return {i.split(sep)[0] for i in ids}

# --------------------------------------------------------------------------------------------------
# CholecSeg8K: videoXX/videoXX_NNNNN/frame_N_endo.png + frame_N_endo_watershed_mask.png (RGB or RGBA,
# the code repeated in R, G, B), a white 255 border that is background, stray values in _endo_mask.png.

CHOLEC_CODES = {0: 50, 1: 11, 2: 21, 3: 13, 4: 12, 5: 31, 6: 23, 7: 24, 8: 25, 9: 32, 10: 22, 11: 33, 12: 5}
CHOLEC_COLORS = {0: (127, 127, 127), 1: (210, 140, 140), 2: (255, 114, 114), 3: (231, 70, 156), 4: (186, 183, 75),
                 5: (170, 255, 0), 6: (255, 85, 0), 7: (255, 0, 0), 8: (255, 255, 0), 9: (169, 255, 184),
                 10: (255, 160, 165), 11: (0, 50, 128), 12: (111, 74, 0)}

def cholec_fixture(root, videos=('video01', 'video09', 'video12', 'video17'), h=20, w=28, bad_code=None):
    rs = np.random.RandomState(0)
    expected = {}
    for vi, v in enumerate(videos):
        clip = root / v / f'{v}_{80 * (vi + 1):05d}'
        for n in (80 * (vi + 1), 80 * (vi + 1) + 1):
            ids = np.zeros((h, w), np.uint8)
            # stripes of classes whose watershed codes are one apart (21/22/23/24/25, 11/12/13, 31/32/33)
            for j, cid in enumerate([2, 10, 6, 7, 8, 1, 4, 3, 5, 9, 11, 12, 0]):
                ids[:, 2 * j:2 * j + 2] = cid
            ids[h // 2:, :] = ids[h // 2:, ::-1]
            codes = np.vectorize(CHOLEC_CODES.get)(ids).astype(np.uint8)
            codes[:1, :] = 255; codes[:, -1:] = 255          # white frame border -> background
            exp = ids.copy(); exp[:1, :] = 0; exp[:, -1:] = 0
            if bad_code is not None and n % 2: codes[5, 5] = bad_code
            stem = f'frame_{n}_endo'
            _png(clip / f'{stem}.png', _img(rs, h, w))
            if n % 2:   # RGBA watershed file, alpha 255
                _png(clip / f'{stem}_watershed_mask.png', np.dstack([codes, codes, codes, np.full_like(codes, 255)]), 'RGBA')
            else:
                _png(clip / f'{stem}_watershed_mask.png', np.dstack([codes, codes, codes]), 'RGB')
            col = np.array([CHOLEC_COLORS[i] for i in range(13)], np.uint8)[exp]
            _png(clip / f'{stem}_color_mask.png', col)
            stray = np.zeros((h, w), np.uint8); stray[3, 3] = 77; stray[4, 4] = 201
            _png(clip / f'{stem}_mask.png', stray)
            expected[f'{v}_{80 * (vi + 1):05d}_frame_{n}'] = exp
    return expected


def test_cholecseg8k(tmp_path):
    exp = cholec_fixture(tmp_path / 'raw')
    out = tmp_path / 'out'
    man = convert('cholecseg8k', tmp_path / 'raw', out)
    assert validate(out) == []
    classes = read_classes(out)['classes']
    assert [c['name'] for c in classes][:3] == ['Black Background', 'Abdominal Wall', 'Liver']
    assert [tuple(c['color']) for c in classes] == [CHOLEC_COLORS[i] for i in range(13)]
    for i, e in exp.items():
        np.testing.assert_array_equal(_mask(out, i), e)
    sp = read_splits(out)
    assert sum(len(v) for v in sp.values()) == 8
    videos = [_videos_of(v) for v in sp.values()]
    assert all(len(a & b) == 0 for k, a in enumerate(videos) for b in videos[k + 1:]), 'a video is in two splits'
    assert man['source'] == 'cholecseg8k' and man['provenance']['converter_version']
    assert man['items']['video01_00080_frame_80']['group'] == 'video01'


def test_cholecseg8k_resize_is_nearest_for_masks(tmp_path):
    exp = cholec_fixture(tmp_path / 'raw', videos=('video01', 'video09', 'video12'))
    # the quirk: in grayscale renderings of the colour masks several classes are one gray level apart
    gray = {i: int(np.asarray(Image.fromarray(np.array([[c]], np.uint8)).convert('L'))[0, 0]) for i, c in CHOLEC_COLORS.items()}
    levels = sorted(gray.values())
    assert any(b - a == 1 for a, b in zip(levels, levels[1:]))
    # ... and the watershed codes of neighbouring classes are one apart: any interpolation invents classes
    codes = np.array([[21, 23]], np.uint8).repeat(4, 0).repeat(4, 1)
    bil = np.asarray(Image.fromarray(codes).resize((3, 3), Image.Resampling.BILINEAR))
    assert 22 in bil, 'the fixture would not catch a bilinear mask resize'
    out = tmp_path / 'small'
    convert('cholecseg8k', tmp_path / 'raw', out, size=(11, 13))
    for i, e in exp.items():
        m = _mask(out, i)
        assert m.shape == (11, 13)
        ref = np.asarray(Image.fromarray(e).resize((13, 11), Image.Resampling.NEAREST))
        np.testing.assert_array_equal(m, ref)
        assert read_image(out / 'images' / f'{i}.png').shape == (11, 13, 3)


def test_cholecseg8k_unmappable_codes(tmp_path):
    cholec_fixture(tmp_path / 'raw', bad_code=99)
    with pytest.raises(DataError) as e:
        convert('cholecseg8k', tmp_path / 'raw', tmp_path / 'out')
    msg = str(e.value)
    assert 'watershed code 99: 4 file(s)' in msg
    for v, n in (('video01', 81), ('video17', 321)):
        assert f'{v}/{v}_{n - 1:05d}/frame_{n}_endo_watershed_mask.png' in msg
    assert not (tmp_path / 'out').exists()


def test_cholecseg8k_channels_must_agree(tmp_path):
    cholec_fixture(tmp_path / 'raw', videos=('video01',))
    p = tmp_path / 'raw/video01/video01_00080/frame_80_endo_watershed_mask.png'
    a = np.asarray(Image.open(p)).copy(); a[2, 2, 1] = 0
    Image.fromarray(a).save(p)
    with pytest.raises(DataError, match='frame_80_endo_watershed_mask.png: a code mask must repeat'):
        convert('cholecseg8k', tmp_path / 'raw', tmp_path / 'out')

# --------------------------------------------------------------------------------------------------
# EndoVis 2017: instrument_dataset_K/left_frames/frameXXX.png, ground_truth/<Instrument>_labels/frameXXX.png
# with part codes 10/20/30; 1920x1080 frames are cropped at (28, 320) to 1280x1024.

def endovis17_fixture(root, bad_code=None, bad_folder=False):
    rs = np.random.RandomState(1)
    for k in (1, 2, 3, 4):
        ds = root / f'instrument_dataset_{k}'
        h, w = (1080, 1920) if k == 1 else (24, 32)
        for f in (('frame000.png',) if k == 1 else ('frame000.png', 'frame001.png')):   # one full-size frame keeps it fast
            img = np.zeros((h, w, 3), np.uint8); img[:24, :32] = _img(rs, 24, 32)
            if k == 1: img[28, 320] = (9, 8, 7)
            _png(ds / 'left_frames' / f, img)
            bip = np.zeros((h, w), np.uint8); pro = np.zeros((h, w), np.uint8); oth = np.zeros((h, w), np.uint8)
            if k == 1:
                bip[28:31, 320:330] = 10; bip[31:33, 320:330] = 20; bip[5, 5] = 30     # (5, 5) is cropped away
                pro[40:42, 400:405] = 30
                oth[50:52, 500:502] = 40
            else:
                bip[0:3, 0:10] = 10; bip[3:5, 0:10] = 20; bip[5:6, 0:10] = 30
                pro[10:12, 10:20] = 10; pro[12:14, 10:20] = 30
                oth[20:22, 20:30] = 1
            if bad_code is not None and k == 2: pro[0, 31] = bad_code
            gt = ds / 'ground_truth'
            _png(gt / 'Maryland_Bipolar_Forceps_labels' / f, bip)
            _png(gt / 'Left_Prograsp_Forceps_labels' / f, np.dstack([pro] * 3))   # some label files are RGB
            _png(gt / 'Other_labels' / f, oth)
            if bad_folder and k == 3: _png(gt / 'Mystery_Tool_labels' / f, bip)


def test_endovis2017_parts_types_binary(tmp_path):
    endovis17_fixture(tmp_path / 'raw')
    outs = {}
    for task in ('parts', 'types', 'binary'):
        outs[task] = out = tmp_path / task
        convert('endovis2017', tmp_path / 'raw', out, task=task)
        assert validate(out) == []
    assert [c['name'] for c in read_classes(outs['parts'])['classes']] == ['Background', 'Shaft', 'Wrist', 'Claspers']
    assert len(read_classes(outs['types'])['classes']) == 8 and len(read_classes(outs['binary'])['classes']) == 2
    # the 1920x1080 frame is cropped to 1280x1024 starting at row 28, column 320
    i = 'instrument_dataset_1_frame000'
    assert read_image(outs['parts'] / 'images' / f'{i}.png').shape == (1024, 1280, 3)
    assert tuple(read_image(outs['parts'] / 'images' / f'{i}.png')[0, 0]) == (9, 8, 7)
    m = _mask(outs['parts'], i)
    assert (m[0:3, 0:10] == 1).all() and (m[3:5, 0:10] == 2).all() and (m[12:14, 80:85] == 3).all()
    assert m[22:24, 180:182].tolist() == [[0, 0], [0, 0]]          # 'Other' is background for parts
    assert set(np.unique(m)) == {0, 1, 2, 3}
    t = _mask(outs['types'], i)
    assert (t[0:5, 0:10] == 1).all() and (t[12:14, 80:85] == 2).all() and (t[22:24, 180:182] == 7).all()
    b = _mask(outs['binary'], 'instrument_dataset_2_frame001')
    exp = np.zeros((24, 32), np.uint8); exp[0:6, 0:10] = 1; exp[10:14, 10:20] = 1
    np.testing.assert_array_equal(b, exp)
    sp = read_splits(outs['parts'])
    groups = [{x.rsplit('_', 1)[0] for x in v} for v in sp.values()]
    assert sum(map(len, groups)) == 4, 'an instrument data set is split across splits'
    assert sum(map(len, sp.values())) == 7


def test_endovis2017_errors(tmp_path):
    endovis17_fixture(tmp_path / 'raw', bad_code=40, bad_folder=True)
    with pytest.raises(DataError) as e:
        convert('endovis2017', tmp_path / 'raw', tmp_path / 'out', task='parts')
    msg = str(e.value)
    assert 'part code 40: 2 file(s)' in msg and 'frame001.png' in msg and 'instrument_dataset_2/ground_truth/Left_Prograsp_Forceps_labels/frame000.png' in msg
    assert 'Mystery_Tool_labels: instrument folder name matches no type' in msg
    # the training folder's parts_mapping.json, when present, gives the part codes
    (tmp_path / 'raw2').mkdir()
    endovis17_fixture(tmp_path / 'raw2')
    (tmp_path / 'raw2' / 'parts_mapping.json').write_text(json.dumps({'Shaft': 30, 'Wrist': 20, 'Claspers': 10}))
    convert('endovis2017', tmp_path / 'raw2', tmp_path / 'swapped', task='parts')
    assert (_mask(tmp_path / 'swapped', 'instrument_dataset_2_frame000')[0:3, 0:10] == 3).all()
    with pytest.raises(DataError, match='unknown task'):
        convert('endovis2017', tmp_path / 'raw', tmp_path / 'out', task='instruments')

# --------------------------------------------------------------------------------------------------
# EndoVis 2018: seq_N/left_frames/frameXXX.png, seq_N/labels/frameXXX.png (RGB colours), labels.json.

EV18 = [('background-tissue', (0, 0, 0)), ('instrument-shaft', (0, 255, 0)), ('instrument-clasper', (0, 255, 255)),
        ('instrument-wrist', (125, 255, 12)), ('kidney-parenchyma', (255, 55, 0)), ('covered-kidney', (24, 55, 125)),
        ('thread', (187, 155, 25)), ('clamps', (0, 255, 125)), ('suturing-needle', (255, 255, 125)),
        ('suction-instrument', (123, 15, 175)), ('small-intestine', (124, 155, 5)), ('ultrasound-probe', (12, 255, 141))]

def endovis18_fixture(root, seqs=('seq_1', 'seq_2', 'seq_3', 'seq_5', 'seq_6'), labels_json=True, thread=(187, 155, 25), bad=False):
    rs = np.random.RandomState(2)
    exp = {}
    if labels_json:
        (root).mkdir(parents=True, exist_ok=True)
        for s in seqs:
            (root / s).mkdir(parents=True, exist_ok=True)
            (root / s / 'labels.json').write_text(json.dumps([{'name': n, 'color': list(c), 'classid': i} for i, (n, c) in enumerate(EV18)]))
    for s in seqs:
        for f in ('frame000.png', 'frame001.png'):
            ids = rs.randint(0, 12, (16, 20)).astype(np.uint8)
            cols = np.array([c for _, c in EV18], np.uint8)
            cols[6] = thread
            lab = cols[ids]
            if bad and s == 'seq_3': lab[0, 0] = (1, 2, 3)
            _png(root / s / 'left_frames' / f, _img(rs, 16, 20))
            _png(root / s / 'labels' / f, lab)
            exp[f'{s.replace("/", "_")}_{f[:-4]}'] = ids
    return exp


def test_endovis2018(tmp_path):
    exp = endovis18_fixture(tmp_path / 'raw')
    out = tmp_path / 'out'
    convert('endovis2018', tmp_path / 'raw', out)
    assert validate(out) == []
    for i, e in exp.items(): np.testing.assert_array_equal(_mask(out, i), e)
    assert [c['name'] for c in read_classes(out)['classes']] == [n for n, _ in EV18]
    sp = read_splits(out)
    assert _videos_of(sp['test'], '_frame') == {'seq_2', 'seq_5'}     # ISINet's validation sequences
    assert not (_videos_of(sp['train'], '_frame') & {'seq_2', 'seq_5'})


def test_endovis2018_without_labels_json_accepts_both_thread_colours(tmp_path):
    exp = endovis18_fixture(tmp_path / 'raw', labels_json=False, thread=(128, 155, 25))
    convert('endovis2018', tmp_path / 'raw', tmp_path / 'out')
    for i, e in exp.items(): np.testing.assert_array_equal(_mask(tmp_path / 'out', i), e)


def test_endovis2018_official_test_folder_and_unknown_colour(tmp_path):
    endovis18_fixture(tmp_path / 'raw', seqs=('train/seq_1', 'train/seq_2', 'train/seq_3', 'train/seq_4', 'test/seq_1'))
    convert('endovis2018', tmp_path / 'raw', tmp_path / 'out')
    sp = read_splits(tmp_path / 'out')
    assert all(i.startswith('test_seq_1_') for i in sp['test']) and len(sp['test']) == 2
    assert all(i.startswith('train_seq_2_') for i in sp['val'])
    endovis18_fixture(tmp_path / 'bad', bad=True)
    with pytest.raises(DataError) as e:
        convert('endovis2018', tmp_path / 'bad', tmp_path / 'out2')
    assert 'colour (1, 2, 3): 2 file(s)' in str(e.value) and 'seq_3/labels/frame001.png' in str(e.value)

# --------------------------------------------------------------------------------------------------
# CaDIS: VideoNN/Images/VideoN_frameXXXXXX.png, VideoNN/Labels/VideoN_frameXXXXXX.png (raw codes 0..35).

def cadis_fixture(root, videos=(1, 2, 3, 5, 7), bad=False):
    rs = np.random.RandomState(3)
    raw = {}
    for v in videos:
        for fr in (90, 100):
            name = f'Video{v}_frame{fr:06d}.png'
            codes = np.arange(36, dtype=np.uint8).repeat(2)[None].repeat(4, 0)[:, :72].copy()   # every raw code
            rs.shuffle(codes.T)
            if bad and v == 3: codes[0, 0] = 36
            _png(root / f'Video{v:02d}' / 'Images' / name, _img(rs, 4, 72))
            _png(root / f'Video{v:02d}' / 'Labels' / name, codes)
            raw[name[:-4]] = codes
    return raw


@pytest.mark.parametrize('task', ['I', 'II', 'III'])
def test_cadis_tasks(tmp_path, task):
    raw = cadis_fixture(tmp_path / 'raw')
    out = tmp_path / task
    convert('cadis', tmp_path / 'raw', out, task=task)
    assert validate(out) == []
    # task tables from RViMLab/MICCAI2021_Cataract_semantic_segmentation utils/defaults.py
    m = {'I': {**{i: i for i in range(7)}, **{i: 7 for i in range(7, 36)}},
         'II': {**{i: i for i in range(7)}, 7: 7, 8: 7, 10: 7, 27: 7, 20: 7, 32: 7, 9: 8, 22: 8, 11: 9, 33: 9, 12: 10, 28: 10,
                13: 11, 21: 11, 14: 12, 24: 12, 15: 13, 18: 13, 16: 14, 23: 14, 17: 15, 19: 16,
                **{i: 255 for i in (25, 26, 29, 30, 31, 34, 35)}},
         'III': {**{i: i for i in range(25)}, **{i: 255 for i in range(25, 36)}}}[task]
    for i, r in raw.items():
        np.testing.assert_array_equal(_mask(out, i), np.vectorize(m.get)(r).astype(np.uint8))
    assert len(read_classes(out)['classes']) == {'I': 8, 'II': 17, 'III': 25}[task]
    sp = read_splits(out)
    assert _videos_of(sp['test'], '_frame') == {'Video2'} and _videos_of(sp['val'], '_frame') == {'Video5', 'Video7'}


def test_cadis_unknown_code(tmp_path):
    cadis_fixture(tmp_path / 'raw', bad=True)
    with pytest.raises(DataError) as e:
        convert('cadis', tmp_path / 'raw', tmp_path / 'out', task='II')
    assert 'CaDIS code 36: 2 file(s)' in str(e.value) and 'Video03/Labels/Video3_frame000090.png' in str(e.value)

# --------------------------------------------------------------------------------------------------
# m2caiSeg: train|trainval|test/images/*.jpg with groundtruth/*.png (RGB codes, 19 labels).

M2C = [(0, 0, 0), (0, 85, 170), (0, 85, 255), (0, 170, 255), (0, 255, 85), (0, 255, 170), (85, 0, 170), (85, 0, 255),
       (170, 85, 85), (170, 170, 170), (85, 170, 0), (85, 170, 255), (85, 255, 0), (85, 255, 170), (170, 0, 255),
       (255, 0, 255), (255, 255, 0), (255, 0, 0), (170, 0, 85)]

def m2cai_fixture(root, bad=False):
    rs = np.random.RandomState(4); exp = {}
    for folder, n0 in (('train', 0), ('trainval', 10), ('test', 20)):
        for n in (n0, n0 + 1):
            ids = rs.randint(0, 19, (12, 16)).astype(np.uint8)
            lab = np.array(M2C, np.uint8)[ids]
            if bad and folder == 'test': lab[1, 1] = (170, 0, 86)
            (root / folder / 'images').mkdir(parents=True, exist_ok=True)
            Image.fromarray(_img(rs, 12, 16)).save(root / folder / 'images' / f'{n}.jpg', quality=90)
            _png(root / folder / 'groundtruth' / f'{n}.png', lab)
            exp[f'{folder}_{n}'] = ids
    return exp


def test_m2caiseg(tmp_path):
    exp = m2cai_fixture(tmp_path / 'raw')
    convert('m2caiseg', tmp_path / 'raw', tmp_path / 'out')
    assert validate(tmp_path / 'out') == []
    for i, e in exp.items(): np.testing.assert_array_equal(_mask(tmp_path / 'out', i), e)
    assert read_splits(tmp_path / 'out') == {'train': ['train_0', 'train_1'], 'val': ['trainval_10', 'trainval_11'], 'test': ['test_20', 'test_21']}
    assert len(read_classes(tmp_path / 'out')['classes']) == 19
    m2cai_fixture(tmp_path / 'bad', bad=True)
    with pytest.raises(DataError, match=r'colour \(170, 0, 86\): 2 file\(s\)'):
        convert('m2caiseg', tmp_path / 'bad', tmp_path / 'out2')
    convert('m2caiseg', tmp_path / 'bad', tmp_path / 'out3', tolerance=1)     # a near colour is accepted only on request
    assert _mask(tmp_path / 'out3', 'test_20')[1, 1] == 18

# --------------------------------------------------------------------------------------------------
# SISVSE: miccai2022_sisvse_dataset/images/real/<patient>_<n>.jpg, semantic_masks/real_{train,val}_K/<frame>.png
# (single-channel class ids, 0 = background), category.json.

SIS_NAMES = ['HarmonicAce_Head', 'HarmonicAce_Body', 'MarylandBipolarForceps_Head', 'MarylandBipolarForceps_Wrist',
             'MarylandBipolarForceps_Body', 'CadiereForceps_Head', 'CadiereForceps_Wrist', 'CadiereForceps_Body',
             'CurvedAtraumaticGrasper_Head', 'CurvedAtraumaticGrasper_Body', 'Stapler_Head', 'Stapler_Body',
             'MediumLargeClipApplier_Head', 'MediumLargeClipApplier_Wrist', 'MediumLargeClipApplier_Body',
             'SmallClipApplier_Head', 'SmallClipApplier_Wrist', 'SmallClipApplier_Body', 'SuctionIrrigation', 'Needle',
             'Endotip', 'Specimenbag', 'DrainTube', 'Liver', 'Stomach', 'Pancreas', 'Spleen', 'Gallbladder', 'Gauze',
             'TheOther_Instruments', 'TheOther_Tissues']

def sisvse_fixture(top, bad=False):
    root = top / 'miccai2022_sisvse_dataset'; rs = np.random.RandomState(5); exp = {}
    (root).mkdir(parents=True)
    (root / 'category.json').write_text(json.dumps([{'id': i + 1, 'name': n, 'supercategory': 'x'} for i, n in enumerate(SIS_NAMES)]))
    for p, fold in (('R001', 'train'), ('R002', 'train'), ('R003', 'train'), ('R004', 'train'), ('R005', 'val')):
        for n in (1, 2):
            stem = f'{p}_ch1_video_01_{n:05d}'
            (root / 'images' / 'real').mkdir(parents=True, exist_ok=True)
            Image.fromarray(_img(rs, 10, 12)).save(root / 'images' / 'real' / f'{stem}.jpg')
            ids = rs.randint(0, 32, (10, 12)).astype(np.uint8)
            if bad and p == 'R002': ids[0, 0] = 40
            _png(root / 'semantic_masks' / f'real_{fold}_1' / f'{stem}.png', ids)
            _png(root / 'semantic_masks' / f'real_{"val" if fold == "train" and p == "R001" else "train"}_2' / f'{stem}.png', ids)
            exp[stem] = ids
    Image.fromarray(_img(rs, 10, 12)).save(root / 'images' / 'real' / 'R009_unlabelled_00001.jpg')
    return exp


def test_sisvse(tmp_path):
    exp = sisvse_fixture(tmp_path / 'raw')
    out = tmp_path / 'out'
    man = convert('sisvse', tmp_path / 'raw', out, task='1')
    assert validate(out) == []
    for i, e in exp.items(): np.testing.assert_array_equal(_mask(out, i), e)
    names = [c['name'] for c in read_classes(out)['classes']]
    assert names[0] == 'Background' and names[1:] == SIS_NAMES
    sp = read_splits(out)
    assert _videos_of(sp['test']) == {'R005'}
    assert len(sp['val']) == 2 and len(_videos_of(sp['val'])) == 1 and not (_videos_of(sp['val']) & _videos_of(sp['train']))
    assert 'R009_unlabelled_00001' not in sum(sp.values(), [])
    assert man['provenance']['unlabelled_images'] == ['R009_unlabelled_00001.jpg']     # reported, not silently dropped
    convert('sisvse', tmp_path / 'raw', tmp_path / 'fold2', task='2')
    assert _videos_of(read_splits(tmp_path / 'fold2')['test']) == {'R001'}
    sisvse_fixture(tmp_path / 'bad', bad=True)
    with pytest.raises(DataError, match=r'class id 40: 2 file\(s\)'):
        convert('sisvse', tmp_path / 'bad', tmp_path / 'out2')

# --------------------------------------------------------------------------------------------------
# Common: a converted set feeds the Dataset and class statistics; the CLI and the scripts.

def test_converted_set_feeds_dataset(tmp_path):
    cadis_fixture(tmp_path / 'raw')
    convert('cadis', tmp_path / 'raw', tmp_path / 'out', task='I')
    ds = SegmentationDataset(tmp_path / 'out', 'train', size=8, augment=True, seed=0)
    it = ds[0]
    assert it['image'].shape == (3, 8, 8) and it['labels'].shape == (8, 8) and ds.num_classes == 8
    st = class_stats(tmp_path / 'out', 'train')
    assert st['num_images'] == 4 and abs(st['pixel_share'].sum() - 1) < 1e-9
    assert st['pixel_share'][7] == pytest.approx(29 / 36)     # 29 of 36 raw codes are instruments


@pytest.fixture
def data_cli(monkeypatch):
    """`simgen_nb.cli.main` with only the data modules' commands (importing every module costs ~10 s of CPU)."""
    import simgen_nb.cli as cli
    assert {'data', 'prepare'} <= set(cli.COMMAND_MODULES)      # the real command tree includes these modules
    full = cli.build_parser
    monkeypatch.setattr(cli, 'build_parser', lambda modules=('data', 'prepare'): full(modules))
    return cli.main


def test_cli_prepare_and_validate(tmp_path, capsys, data_cli):
    main = data_cli
    cadis_fixture(tmp_path / 'raw')
    out = tmp_path / 'out'
    assert main(['data', 'prepare', 'cadis', '--src', str(tmp_path / 'raw'), '--dst', str(out), '--task', 'III', '--size', '16']) == 0
    assert main(['data', 'validate', str(out)]) == 0
    assert 'OK' in capsys.readouterr().out
    assert main(['data', 'prepare', 'cadis', '--src', str(tmp_path / 'raw'), '--dst', str(out)]) == 1
    assert 'exists and is not empty' in capsys.readouterr().err
    # break it two ways: every problem is printed, exit status 1
    _png(out / 'masks' / 'Video1_frame000090.png', np.full((16, 16), 99, np.uint8))
    (out / 'images' / 'Video2_frame000100.png').write_bytes(b'\x89PNG\r\n\x1a\n truncated')
    assert main(['data', 'validate', str(out)]) == 1
    text = capsys.readouterr().out
    assert 'Video1_frame000090.png: mask values [99]' in text and 'Video2_frame000100.png: unreadable or truncated image' in text
    assert 'SHA-256 differs' in text


def test_script_subprocess(tmp_path):
    """`python data_prep/cholecseg8k.py --src --dst` works as a plain script (its failure path: nbs/01a_prepare)."""
    cholec_fixture(tmp_path / 'raw', videos=('video01', 'video09', 'video12'))
    env = {**os.environ, 'PYTHONPATH': str(REPO)}
    r = subprocess.run([sys.executable, str(REPO / 'data_prep' / 'cholecseg8k.py'), '--src', str(tmp_path / 'raw'),
                        '--dst', str(tmp_path / 'out')], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert 'train: 2, val: 2, test: 2' in r.stdout and validate(tmp_path / 'out') == []


def test_script_flags_have_help_and_show_defaults():
    "Every flag of every data_prep/ script has help and shows its default, as every `simgen-nb` flag (cli.undocumented_flags)."
    from simgen_nb.cli import undocumented_flags
    from simgen_nb.prepare import CONVERTERS, script_parser
    env = {**os.environ, 'PYTHONPATH': str(REPO)}
    for name, conv in CONVERTERS.items():
        assert undocumented_flags(script_parser(name)) == [], name
        r = subprocess.run([sys.executable, str(REPO / 'data_prep' / f'{name}.py'), '--help'], capture_output=True, text=True, env=env)
        out = ' '.join(r.stdout.split())
        assert r.returncode == 0 and out.startswith(f'usage: data_prep/{name}.py'), r.stderr
        assert '--seed SEED seed of the video split where the set has no official one (default: 0)' in out, out
        assert 'per- channel distance (default: 0)' in out or 'per-channel distance (default: 0)' in out, out
        task = f"(default: {conv.default_task})" if conv.default_task else '(default: none;'
        assert f'--task TASK label task' in out and task in out, out


def test_scripts_exist_for_every_converter():
    from simgen_nb.prepare import CONVERTERS
    for name in CONVERTERS:
        text = (REPO / 'data_prep' / f'{name}.py').read_text()
        assert f"script_main('{name}')" in text
        assert f'data_prep/{name}.py' in (REPO / 'data_prep' / 'README.md').read_text()
