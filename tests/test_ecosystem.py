"Fitting the ecosystem (issue 14): Hub-style pipeline folders, one pixel convention, papermill as written, a light CLI, no import circle."
import json, os, shutil, subprocess, sys, warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from simgen_nb.cli import main

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
torch.set_num_threads(1)
MODELS = {'simgen': 'SimGenPipeline', 'casdm': 'CASDMPipeline', 'mapgen': 'MapGenPipeline'}


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    "A tiny SynthSurg set and a ci run of each of the three models."
    d = tmp_path_factory.mktemp('eco')
    assert main(['data', 'synth', '--n', '16', '--size', '16', '--seed', '0', '--out', str(d/'data'), '--quiet']) == 0
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        for m in MODELS:
            assert main(['train', m, '--data', str(d/'data'), '--profile', 'ci', '--out', str(d/m), '--no-progress']) == 0
    return d


@pytest.mark.parametrize('model', list(MODELS))
def test_generic_diffusers_loader_opens_every_run(runs, model):
    import diffusers, simgen_nb
    from simgen_nb.train import load_run
    cls = getattr(__import__(f'simgen_nb.{model}', fromlist=['x']), MODELS[model])
    pdir = runs/model/'pipeline'
    idx = json.loads((pdir/'model_index.json').read_text())
    assert idx['_class_name'] == ['pipeline', MODELS[model]]
    assert f'from simgen_nb.{model} import {MODELS[model]}' in (pdir/'pipeline.py').read_text()
    card = (pdir/'README.md').read_text()
    assert f'simgen-nb train {model}' in card and 'profile: `ci`' in card and 'steps: 4 of 4' in card and '## Metrics' in card
    generic = diffusers.DiffusionPipeline.from_pretrained(pdir, trust_remote_code=True)
    assert type(generic) is cls
    direct = cls.from_pretrained(pdir)                       # no trust_remote_code needed: no code of the folder runs
    assert type(direct) is cls
    for k, v in generic.unet.state_dict().items(): assert torch.equal(v, direct.unet.state_dict()[k])
    assert type(load_run(runs/model)[1]) is cls
    # a run saved before this convention (plain class name, no pipeline.py) still loads
    old = runs/f'{model}-old'/'pipeline'
    shutil.copytree(pdir, old); (old/'pipeline.py').unlink()
    idx['_class_name'] = MODELS[model]; (old/'model_index.json').write_text(json.dumps(idx))
    shutil.copy(runs/model/'config.yaml', old.parent/'config.yaml')
    assert type(cls.from_pretrained(old)) is cls and type(load_run(old.parent)[1]) is cls


def test_loading_through_the_wrong_class_is_refused(runs):
    from simgen_nb.casdm import CASDMPipeline
    from simgen_nb.core import SimGenError
    with pytest.raises(SimGenError, match='holds a SimGenPipeline, not a CASDMPipeline'):
        CASDMPipeline.from_pretrained(runs/'simgen'/'pipeline')


class _Pool(torch.nn.Module):
    """Exact, weight-free features: 2x2 average-pooled pixels and their squares (24 numbers). Extractors are handed
    floats in [0, 1] (the convention); this one works in [-1, 1] as the extractors do inside (as every extractor was
    handed before), so the numbers pinned below are those of the code before the convention changed."""
    name, num_features = 'pool', 24
    def forward(self, x):
        assert x.dtype == torch.float32 and 0 <= float(x.min()) and float(x.max()) <= 1
        p = torch.nn.functional.adaptive_avg_pool2d((x * 2 - 1).double(), 2).flatten(1)
        return torch.cat([p, p * p], 1)


def _all_metrics(real, fake, lab_r, lab_f, colors, **kw):
    from simgen_nb.metrics import FID, KID, SIDMask, SIDRegion
    ex = _Pool()
    fid = FID(ex, **kw); kid = KID(ex, subsets=10, subset_size=4, **kw)
    sid = SIDMask(ex, colors); reg = SIDRegion(ex, len(colors), min_samples=2, **kw)
    for m, a, b in ((fid, real, fake), (kid, real, fake)): m.update(a, True); m.update(b, False)
    sid.update(lab_r, True); sid.update(lab_f, False)
    reg.update(real, lab_r, True); reg.update(fake, lab_f, False)
    km, ks = kid.compute()
    return float(fid.compute()), float(km), float(ks), float(sid.compute()), reg.compute()['mean']


def test_uint8_path_values_did_not_change():
    """Reference numbers computed with the code before the pixel convention changed (uint8 inputs). To 1e-6: the matrix
    square root in FID differs in its last digits between BLAS builds and thread counts (1.4e-8 relative seen)."""
    g = torch.Generator().manual_seed(0)
    real = torch.randint(0, 256, (8, 3, 16, 16), generator=g, dtype=torch.uint8)
    fake = (real.float() * 0.7 + 40).round().clamp(0, 255).to(torch.uint8)
    lab_r = torch.randint(0, 3, (8, 16, 16), generator=g); lab_f = torch.randint(0, 3, (8, 16, 16), generator=g)
    ref = _all_metrics(real, fake, lab_r, lab_f, [[10, 10, 10], [200, 60, 40], [170, 170, 170]])
    fid, km, ks, sid, reg = ref
    assert fid == pytest.approx(0.010042889900049007, rel=1e-6)
    assert (km, ks) == pytest.approx((-0.0008831087765012402, 0.001163229145682717), rel=1e-6)
    assert sid == pytest.approx(0.05810855035003071, rel=1e-6)
    assert reg == pytest.approx(0.01456025961962385, rel=1e-6)
    # floats in [0, 1] and, said explicitly, in [-1, 1] give the same numbers
    assert _all_metrics(real.float() / 255, fake.float() / 255, lab_r, lab_f, [[10, 10, 10], [200, 60, 40], [170, 170, 170]]) == ref
    assert _all_metrics(real.float() / 127.5 - 1, fake.float() / 127.5 - 1, lab_r, lab_f, [[10, 10, 10], [200, 60, 40], [170, 170, 170]],
                        value_range=(-1, 1)) == pytest.approx(ref, rel=1e-9)


def test_pipeline_output_goes_straight_into_the_metrics(runs):
    from simgen_nb.simgen import SimGenPipeline
    from simgen_nb.train import sample_generators
    pipe = SimGenPipeline.from_pretrained(runs/'simgen'/'pipeline'); pipe.set_progress_bar_config(disable=True)
    a = pipe(batch_size=6, num_inference_steps=2, generator=sample_generators(0, range(6)), output_type='pt')
    b = pipe(batch_size=6, num_inference_steps=2, generator=sample_generators(1, range(6)), output_type='pt')
    assert a.images.dtype == torch.float32 and 0 <= float(a.images.min()) and float(a.images.max()) <= 1
    colors = pipe.class_colors()
    u8 = lambda x: (x * 255).round().to(torch.uint8)
    floats = _all_metrics(a.images, b.images, a.masks, b.masks, colors)
    assert floats == _all_metrics(u8(a.images), u8(b.images), a.masks, b.masks, colors)
    assert floats[0] > 0


def _toy_sets(d):
    from simgen_nb.segment import toy_segmentation_set
    return (toy_segmentation_set(d/'real', n_train=8, n_test=4, size=32, seed=0),
            toy_segmentation_set(d/'fake', n_train=8, n_test=4, size=32, seed=1, noise=30))


def test_dataset_segmenter_and_extractor_numbers_did_not_change(tmp_path):
    """Data set items, the segmenter and the extractors moved from [-1, 1] to the one convention (uint8, or floats in
    [0, 1]). The numbers through the new convention equal those of the old arithmetic, recomputed here: bit for bit for
    items, logits and features; to float64 rounding for the distances built on them. (Numbers pinned from a trained
    model are not compared: CPU training is not bit-reproducible across machines and library builds.)"""
    from simgen_nb.data import SegmentationDataset, read_image
    from simgen_nb.segment import seg_config, train_segmenter, evaluate_segmenter, segmenter_features
    from simgen_nb.extractors import get_extractor
    from simgen_nb.metrics import evaluate, extract, frechet_distance, kid_from_features
    real, fake = _toy_sets(tmp_path)
    load = lambda root, split, n: torch.from_numpy(np.stack([read_image(root/'images'/f'{split}{i:03d}.png') for i in range(n)])).permute(0, 3, 1, 2).contiguous()
    u8 = load(real, 'te', 4)
    old = u8.float() / 127.5 - 1                                    # what SegmentationDataset yielded before
    ds = SegmentationDataset(real, 'test')
    assert torch.equal(torch.stack([ds[i]['image'] for i in range(4)]), u8.float() / 255)
    assert torch.equal(torch.stack([SegmentationDataset(real, 'test', value_range=(-1, 1))[i]['image'] for i in range(4)]), old)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        model = train_segmenter(seg_config('ci', steps=4), real, test_root=real, progress=False)
        assert 0 < model.metrics['miou'] < 1
        assert model.metrics['miou'] == pytest.approx(evaluate_segmenter(model, real, 'test')['miou'], rel=1e-12)
        with torch.no_grad():
            old_prepare = lambda x: (((x + 1) / 2) - model.mean) / model.std   # the old Segmenter.prepare, at its training size
            before = model.net(old_prepare(old))
            for x, kw in ((u8, {}), (u8.float() / 255, {}), (old, {'value_range': (-1, 1)})):
                assert torch.equal(model(x, **kw), before) and torch.equal(model.predict(x, **kw), before.argmax(1))
            old_features = lambda x: model.net.encoder(old_prepare(x.float() / 127.5 - 1))[-1].float().mean(dim=(2, 3)).double()
            assert torch.equal(segmenter_features(model)(u8.float() / 255), old_features(u8).float())
            assert torch.equal(extract(get_extractor('segmenter', segmenter=model), u8), old_features(u8))
            fr, ff = old_features(load(real, 'tr', 8)).numpy(), old_features(load(fake, 'tr', 8)).numpy()
        res = evaluate(real, fake, metrics='fid,kid,alignment', features='segmenter', segmenter=model,
                       kid_subsets=10, kid_subset_size=4, min_samples=2, cache=False, device='cpu')['metrics']
        fake_miou = evaluate_segmenter(model, fake, 'train')['miou']
    assert res['FID[segmenter]'] == pytest.approx(frechet_distance(fr.mean(0), np.cov(fr, rowvar=False), ff.mean(0), np.cov(ff, rowvar=False)), rel=1e-6, abs=1e-9)
    kid = kid_from_features(torch.from_numpy(fr), torch.from_numpy(ff), subsets=10, subset_size=4, seed=0)
    assert (res['KID[segmenter]']['mean'], res['KID[segmenter]']['std']) == pytest.approx((kid['mean'], kid['std']), rel=1e-6, abs=1e-12)
    assert res['alignment[segmenter]']['miou'] == pytest.approx(fake_miou, rel=1e-9)


def test_floats_outside_unit_range_raise_a_named_error(tmp_path):
    "[-1, 1] floats given without saying so are refused at every public boundary, with the name of the argument that reads them."
    from simgen_nb.core import PixelRangeError, SimGenError
    from simgen_nb.segment import build_segmenter, seg_config, segmenter_features
    from simgen_nb.extractors import get_extractor
    from simgen_nb.metrics import FID, KID, SIDRegion, to_unit
    from simgen_nb.simgen import SimGenConfig, SimGenTask
    from simgen_nb.casdm import CASDMTask, casdm_config
    from simgen_nb.train import SampleRNG
    g = torch.Generator().manual_seed(0)
    x01 = torch.rand(2, 3, 32, 32, generator=g); xm = x01 * 2 - 1; lab = torch.randint(0, 3, (2, 32, 32), generator=g)
    seg = build_segmenter(seg_config('ci'), 3).eval()
    ex = get_extractor('segmenter', segmenter=seg)
    classes = {'name': 't', 'ignore_index': 255, 'classes': [{'id': k, 'name': f'c{k}', 'color': [k * 90, 40, 200]} for k in range(3)]}
    simgen, casdm = SimGenTask(SimGenConfig.for_profile('ci'), classes), CASDMTask(casdm_config('ci', num_classes=3))
    calls = {'Segmenter': lambda x: seg(x), 'Segmenter.predict': lambda x: seg.predict(x),
             'segmenter_features': lambda x: segmenter_features(seg)(x), 'SegmenterExtractor': lambda x: ex(x),
             'random-inception': lambda x: get_extractor('random-inception')(x), 'to_unit': lambda x: to_unit(x),
             'FID': lambda x: FID(ex).update(x, real=True), 'KID': lambda x: KID(ex).update(x, real=True),
             'SIDRegion': lambda x: SIDRegion(ex, 3).update(x, lab, real=True),
             'SimGenTask': lambda x: simgen.loss(simgen.build_model(), {'image': x, 'labels': lab}, 0, SampleRNG(0, 0, [0, 1])),
             'CASDMTask': lambda x: casdm.loss(casdm.build_model(), {'image': x, 'labels': lab}, 0, SampleRNG(0, 0, [0, 1]))}
    with torch.no_grad():
        for name, f in calls.items():
            f(x01)                                                   # [0, 1]: fine
            with pytest.raises(PixelRangeError, match=r'value_range=\(-1, 1\)') as e: f(xm)
            assert isinstance(e.value, SimGenError) and isinstance(e.value, ValueError), name
            with pytest.raises(PixelRangeError): f(x01 * 255)         # [0, 255] floats
    # said explicitly, [-1, 1] reads as the same images
    with torch.no_grad():
        assert torch.equal(seg(xm, value_range=(-1, 1)), seg(x01))
        assert torch.equal(to_unit(xm, value_range=(-1, 1)), to_unit(x01))
        f1, f2 = FID(ex), FID(ex, value_range=(-1, 1)); f1.update(x01, real=True); f2.update(xm, real=True)
        assert torch.equal(f1.real_sum, f2.real_sum)


def _readme_block(title: str) -> str:
    "The first fenced code block after the README heading `title`."
    text = (ROOT/'README.md').read_text()
    i = text.index(title); j = text.index('```', i); j = text.index('\n', j) + 1
    return text[j:text.index('```', j)]


def test_experiment_notebooks_keep_kernelspec_and_language_info():
    for p in sorted((ROOT/'nbs'/'experiments').glob('E*.ipynb')):
        md = json.loads(p.read_text())['metadata']
        assert md['kernelspec']['name'] == 'python3' and md['language_info']['name'] == 'python', p.name
    assert 'language_info' in [l for l in (ROOT/'settings.ini').read_text().splitlines() if l.startswith('allowed_metadata_keys')][0]


def test_readme_papermill_line_runs_as_written(tmp_path):
    "The README's papermill line, run from (a copy of) the repository root, executes E0 with the ci profile."
    import shlex
    line = next(l for l in (ROOT/'README.md').read_text().splitlines() if l.startswith('papermill '))
    argv = shlex.split(line)
    (tmp_path/'nbs'/'experiments').mkdir(parents=True)
    shutil.copy(ROOT/'nbs'/'experiments'/'E0_prepare.ipynb', tmp_path/'nbs'/'experiments')
    env = {**os.environ, 'PATH': f'{BIN}{os.pathsep}{os.environ["PATH"]}', 'HF_HUB_OFFLINE': '1', 'OMP_NUM_THREADS': '1',
           'MPLBACKEND': 'Agg', 'PYTHONPATH': str(ROOT)}
    r = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads((tmp_path/argv[2]).read_text())
    assert out['metadata']['papermill']['parameters']['profile'] == 'ci'
    assert (tmp_path/'figures'/'ci').is_dir()


def _package_imports() -> dict[str, set[str]]:
    "Module -> the package modules it imports (module level or inside functions: `from .x`, `from simgen_nb.x`, `import simgen_nb.x`)."
    import ast
    pkg = ROOT/'simgen_nb'
    mods = {p.stem for p in pkg.glob('*.py') if not p.stem.startswith('_')}
    graph = {}
    for m in mods:
        deps = set()
        for node in ast.walk(ast.parse((pkg/f'{m}.py').read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level == 1 and node.module: deps.add(node.module.split('.')[0])
                elif node.level == 1: deps.update(a.name for a in node.names)
                elif node.module and node.module.startswith('simgen_nb.'): deps.add(node.module.split('.')[1])
                elif node.module == 'simgen_nb': deps.update(a.name for a in node.names)
            elif isinstance(node, ast.Import):
                deps.update(a.name.split('.')[1] for a in node.names if a.name.startswith('simgen_nb.'))
        graph[m] = (deps & mods) - {m}
    return graph


def test_no_import_circle():
    graph = _package_imports()
    assert graph['metrics'] and graph['segment']            # the reader sees imports at all
    state, path = {}, []
    def visit(m):
        state[m] = 'open'; path.append(m)
        for d in sorted(graph[m]):
            if state.get(d) == 'open': raise AssertionError('import circle: ' + ' -> '.join(path[path.index(d):] + [d]))
            if d not in state: visit(d)
        state[m] = 'done'; path.pop()
    for m in sorted(graph):
        if m not in state: visit(m)


@pytest.mark.parametrize('argv', [['--help'], ['data', 'validate', 'DATA']])
def test_help_and_validate_import_neither_torch_nor_diffusers(argv, runs):
    argv = [str(runs/'data') if a == 'DATA' else a for a in argv]
    code = ('import sys\nfrom simgen_nb.cli import main\n'
            f'try: rc = main({argv!r})\nexcept SystemExit as e: rc = e.code\n'
            "print('RC', rc, 'HEAVY', sorted(m for m in ('torch', 'diffusers', 'accelerate') if m in sys.modules))")
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env={**os.environ, 'PYTHONPATH': str(ROOT)})
    assert r.stdout.strip().splitlines()[-1] == 'RC 0 HEAVY []', r.stdout + r.stderr


def test_missing_extra_names_the_pip_install():
    from simgen_nb.core import need, SimGenError
    with pytest.raises(SimGenError, match=r"pip install 'simgen_nb\[segment\]'"): need('segmentation_models_pytorch_missing', 'segment')
    import configparser
    cfg = configparser.ConfigParser(delimiters=['=']); cfg.read(ROOT/'settings.ini')
    core = cfg['DEFAULT']['requirements']
    for heavy in ('papermill', 'nbconvert', 'ipykernel', 'seaborn', 'open_clip', 'segmentation-models-pytorch', 'pytorch-fid'): assert heavy not in core
    with pytest.raises(SimGenError, match=r"pip install 'simgen_nb\[fid\]'"): need('pytorch_fid.not_there')   # the extra found from the package name
    assert 'pytorch-fid' in cfg['DEFAULT']['fid_requirements'] and 'pytorch-fid' in cfg['DEFAULT']['reproduce_requirements']


def test_reproduce_without_its_extra_says_so_once(tmp_path, monkeypatch):
    "`simgen-nb reproduce` in a light install: one message naming `pip install 'simgen_nb[reproduce]'`, before anything runs."
    from simgen_nb.core import SimGenError
    from simgen_nb.reproduce import reproduce
    monkeypatch.setitem(sys.modules, 'papermill', None)            # as if not installed: importing it raises ImportError
    with pytest.raises(SimGenError, match=r"pip install 'simgen_nb\[reproduce\]'"):
        reproduce('ci', root=tmp_path, experiments_dir=ROOT/'nbs'/'experiments', progress=False)
    assert not (tmp_path/'runs').exists() and not (tmp_path/'figures').exists()


def test_readme_python_section_runs(runs, tmp_path, monkeypatch):
    "The README's 'Use it from Python' block, run as written against ci runs laid out as the README's paths."
    (tmp_path/'runs').mkdir(); (tmp_path/'data').mkdir()
    (tmp_path/'runs'/'simgen').symlink_to(runs/'simgen'); (tmp_path/'data'/'synthsurg').symlink_to(runs/'data')
    assert main(['sample', str(runs/'simgen'), '--n', '4', '--steps', '2', '--out', str(tmp_path/'gen'/'simgen')]) == 0
    monkeypatch.chdir(tmp_path)
    code = _readme_block('## Use it from Python')
    assert "trust_remote_code=True" in code and 'KID(' in code and 'DataLoader' in code
    exec(compile(code, 'README.md', 'exec'), {})


def test_evaluate_help_names_the_segmenter_command(capsys):
    with pytest.raises(SystemExit): main(['evaluate', '--help'])
    out = ' '.join(capsys.readouterr().out.split())
    assert 'simgen-nb train segmenter' in out and 'segment train' not in out


def test_every_flag_has_help_and_shows_its_default(capsys):
    "Walks the whole `simgen-nb` tree: every argument of every sub-command has help, and every default is shown."
    from simgen_nb.cli import build_parser, undocumented_flags
    assert undocumented_flags(build_parser()) == []
    with pytest.raises(SystemExit): main(['sample', '--help'])
    out = ' '.join(capsys.readouterr().out.split())
    assert '(default: 16)' in out and '(default: dpmsolver)' in out


def _readme_commands() -> list[str]:
    "The README's command sequence, as written: data synth -> train simgen -> sample -> train segmenter -> evaluate."
    wanted = ('data synth', 'train simgen', 'sample runs/simgen', 'train segmenter', 'evaluate')
    lines = [l.split('#')[0].strip() for l in _readme_block('## Command line').splitlines()]
    return [next(l for l in lines if l.startswith(f'simgen-nb {w} ')) for w in wanted]


def test_readme_command_sequence_runs_as_written(tmp_path, monkeypatch, capsys):
    """The README's commands, as written, at ci sizes (fewer pairs, the ci profile, 2 sampler steps), in a fresh folder:
    each ends with one 'wrote ...; next: ...' line, and `evaluate` adapts to the ci run's 16 px samples against the
    64 px data set, states its reference split and warns about the small sample."""
    import shlex
    ci = {'--profile smoke': '--profile ci', '--n 2000': '--n 24', '--n 500': '--n 8', '--steps 25': '--steps 2'}
    monkeypatch.chdir(tmp_path)
    cmds = _readme_commands()
    assert '--size 64' in cmds[0] and '--profile smoke' in cmds[1]       # the case the issue names: 64 px data, a 16 px run
    last = []
    for cmd in cmds:
        for a, b in ci.items(): cmd = cmd.replace(a, b)
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            rc = main(shlex.split(cmd)[1:])
        out, err = capsys.readouterr()
        assert rc == 0, (cmd, err[-2000:])
        last.append(out.strip().splitlines()[-1])
        assert last[-1].startswith('wrote ') and '; next: simgen-nb ' in last[-1], (cmd, last[-1])
    assert last[0].endswith('next: simgen-nb train simgen --data data/synthsurg --out runs/simgen')
    assert last[1] == 'wrote runs/simgen (pipeline/, checkpoints); next: simgen-nb sample runs/simgen --out gen/simgen'
    assert last[2].endswith('next: simgen-nb evaluate --real data/synthsurg --fake gen/simgen')
    assert "reference: data/synthsurg, split 'train'" in err
    assert "resized the real set data/synthsurg (64x64) to the generated set's 16x16" in err
    assert 'warning: FID[segmenter] from' in err and 'warning: KID[segmenter]: mean ± std over 100 random subsets of 4 images' in err
    res = json.loads((tmp_path/'gen'/'simgen'/'metrics'/'metrics.json').read_text())
    assert res['size'] == [16, 16] and res['real']['split'] == 'train' and res['fake']['num_images'] == 8
    assert {'FID[segmenter]', 'KID[segmenter]', 'SID-mask[segmenter]', 'alignment[segmenter]'} <= set(res['metrics'])
