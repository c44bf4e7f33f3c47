"Whole-program tests of the text-prompted map generator: prompts, encoder, a ci training run, the pipeline, the chain."
import json, re, warnings
from pathlib import Path
import numpy as np
import pytest
import torch

from simgen_nb.cli import main as cli_main
from simgen_nb.core import SimGenError
from simgen_nb.data import save_pair, write_metadata, validate, read_manifest, read_classes, read_splits, read_mask
from simgen_nb.train import load_run, read_config
from simgen_nb import mapgen as M

TABLE = ['Black Background', 'Abdominal Wall', 'Liver', 'Gastrointestinal Tract', 'Fat', 'Grasper', 'Connective Tissue',
         'Blood', 'Cystic Duct', 'L-hook Electrocautery', 'Gallbladder', 'Hepatic Vein', 'Liver Ligament']


def problems(root):
    "validate() without its complaint about the empty val/test splits that every generated set has (DESIGN.md)."
    return [p for p in validate(root) if not re.search(r"split '(val|test)' is empty", p)]


def toy_set(root, n=8, size=16, seed=0):
    rng = np.random.default_rng(seed)
    ids = [f'toy{i:03d}' for i in range(n)]
    for i in ids:
        m = np.zeros((size, size), np.uint8)
        r = rng.integers(0, size // 2); m[r:r + size // 2, :] = 1
        for _ in range(rng.integers(1, 3)):
            y, x = rng.integers(0, size - 3, 2); m[y:y + 2, x:x + 2] = 2
        save_pair(root, i, np.stack([m * 100] * 3, -1).astype(np.uint8), m)
    classes = {'name': 'toy', 'ignore_index': 255, 'classes': [
        {'id': 0, 'name': 'background', 'color': [0, 0, 0]}, {'id': 1, 'name': 'liver', 'color': [255, 114, 114]},
        {'id': 2, 'name': 'grasper', 'color': [170, 255, 0]}]}
    write_metadata(root, classes, {'train': ids[:-2], 'val': [], 'test': ids[-2:]}, source='toy')
    return root


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    "A toy data set and ci runs of the map generator and of CASDM, trained through the command line."
    d = tmp_path_factory.mktemp('mapgen')
    data = toy_set(d/'toy')
    assert cli_main(['train', 'mapgen', '--data', str(data), '--profile', 'ci', '--out', str(d/'mg'), '--no-progress']) == 0
    assert cli_main(['train', 'casdm', '--data', str(data), '--profile', 'ci', '--out', str(d/'cd'), '--no-progress']) == 0
    return d, data, d/'mg', d/'cd'


def test_describe_hand_built_maps():
    names = ['background', 'liver', 'grasper', 'gallbladder']
    m = np.zeros((30, 30), np.uint8)
    m[:10, :] = 1                               # 300 px = 33 %: large, upper centre
    m[25:27, 22:24] = 2; m[27:29, 27:29] = 2    # two 4-px regions (not touching): 0.9 %: small, lower right
    m[12:18, 0:6] = 3                           # 36 px = 4 %: medium, centroid (14.5, 2.5): centre left
    got = M.describe(m, names)
    assert got[1:] == ['one large liver in the upper centre', 'two small graspers in the lower right',
                       'one medium gallbladder in the centre left']
    st = M.region_stats(m, 4)
    assert (st[2]['count'], st[2]['size'], st[2]['location']) == (2, 'small', 'lower right')
    assert st[0]['size'] == 'large' and st[0]['count'] == 1
    m[27:29, 27:29] = 0; m[27, 24] = 2          # diagonal neighbour of the first region: one region (8-connectivity)
    assert M.region_stats(m, 4)[2]['count'] == 1
    assert M.describe(np.full((3, 3), 255, np.uint8), names) == []


def test_prompt_parsing_and_file_errors(tmp_path):
    assert M.parse_prompt('Liver Ligament in the lower left', TABLE).class_id == 12
    assert M.parse_prompt('two L-hook Electrocauteries on the upper right', TABLE).class_id == 9
    assert M.parse_prompt('a liver', TABLE).class_id == 2
    f = tmp_path/'p.jsonl'
    f.write_text('{"prompts": ["two small graspers in the lower right", "liver in the upper left"]}\n'
                 '{"prompts": ["a scalpel in the centre"]}\n')
    with pytest.raises(SimGenError, match=r'p\.jsonl:2: .*names no class'):
        M.read_prompts(f, TABLE)
    f.write_text('{"prompts": ["fat beside the liver"]}\n')
    with pytest.raises(M.PromptError, match=r'p\.jsonl:1: .*names 2 classes'):
        M.read_prompts(f, TABLE)


def test_encoder_offline_tiny_config(tmp_path):
    M.register_tiny_clip()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        enc = M.ClipTextEncoder.create(M.TINY_CLIP)
    assert any('UNTRAINED' in str(x.message) for x in w)
    e = enc(['liver in the upper left', 'fat', 'liver in the upper left'])
    assert e.shape == (3, 32) and torch.allclose(e[0], e[2]) and not torch.allclose(e[0], e[1])
    enc.save_pretrained(tmp_path/'enc')
    again = M.ClipTextEncoder.from_pretrained(tmp_path/'enc')
    assert torch.equal(again(['fat']), enc(['fat'])) and again.note == enc.note


def test_ci_training_run_and_pipeline(runs):
    d, data, mg, _ = runs
    cfg = read_config(mg)
    assert cfg['model'] == 'mapgen' and cfg['profile'] == 'ci' and 'UNTRAINED' in cfg['task']['encoder_note']
    assert (mg/'pipeline'/'model_index.json').exists() and list((mg/'samples').glob('*.png'))
    _, pipe = load_run(mg)
    pipe.set_progress_bar_config(disable=True)
    prompts = [['one large liver in the upper centre', 'two small graspers in the lower right'], ['background']]
    a = pipe(prompts, num_inference_steps=3, guidance_scale=2.0, generator=[torch.Generator().manual_seed(i) for i in (0, 1)])
    b = pipe(prompts, num_inference_steps=3, guidance_scale=2.0, generator=[torch.Generator().manual_seed(i) for i in (0, 1)])
    assert a.labels.shape == (2, 16, 16) and a.maps.shape == (2, 16, 16, 3)
    assert set(np.unique(a.labels)) <= {0, 1, 2}
    assert np.array_equal(a.labels, b.labels) and np.array_equal(a.maps, b.maps)
    with pytest.raises(M.PromptError, match='names no class'):
        pipe([['a scalpel']], num_inference_steps=2)


def test_sample_from_heldout_maps(runs, tmp_path):
    _, data, mg, _ = runs
    assert cli_main(['sample', str(mg), '--n', '3', '--steps', '2', '--out', str(tmp_path/'gen')]) == 0
    assert problems(tmp_path/'gen') == []
    man = read_manifest(tmp_path/'gen')
    assert man['provenance']['model'] == 'mapgen' and man['provenance']['recipe'] == 'paper'
    train = read_splits(data)['train']                           # --split train (default): only training maps are described
    assert [(it['source_map'], it['split']) for it in man['items'].values()] == [(i, 'train') for i in train[:3]]


def test_chain_writes_a_valid_data_set(runs, tmp_path, capsys):
    _, data, mg, cd = runs
    f = tmp_path/'prompts.jsonl'
    M.write_prompts(f, [['one large liver in the upper centre', 'one small grasper in the lower left'],
                        ['two small graspers in the lower right', 'background']],
                    sources=[{'source_map': 'toy000', 'split': 'train'}, {}])
    out = tmp_path/'gen'
    assert cli_main(['generate', '--prompts', str(f), '--mapgen', str(mg), '--casdm', str(cd), '--guidance-map', '2',
                     '--guidance-image', '1.5', '--steps', '2', '--seed', '7', '--out', str(out)]) == 0
    assert problems(out) == []
    man = read_manifest(out)
    p = man['provenance']
    assert (p['guidance_map'], p['guidance_image'], p['seed'], p['mapgen_run'], p['casdm_run']) == (2.0, 1.5, 7, str(mg), str(cd))
    assert 'UNTRAINED' in p['encoder_note'] and p['sampler'] == 'dpmsolver'
    assert man['items']['gen000001']['prompts'] == ['two small graspers in the lower right', 'background']
    assert (man['items']['gen000000']['source_map'], man['items']['gen000000']['split']) == ('toy000', 'train')   # the prompts' origin
    assert 'split' not in man['items']['gen000001']                                                             # hand-written
    assert read_splits(out)['train'] == ['gen000000', 'gen000001']
    assert read_classes(out)['classes'][2]['name'] == 'grasper'
    assert set(np.unique(read_mask(out/'masks'/'gen000000.png'))) <= {0, 1, 2}
    # an unknown class in the prompts file: a clear error naming the file and line, nothing written
    f.write_text('{"prompts": ["liver"]}\n{"prompts": ["a scalpel on the left"]}\n')
    assert cli_main(['generate', '--prompts', str(f), '--mapgen', str(mg), '--casdm', str(cd), '--steps', '2',
                     '--out', str(tmp_path/'bad')]) == 1
    assert 'prompts.jsonl:2' in capsys.readouterr().err and not (tmp_path/'bad').exists()


@pytest.mark.parametrize('recipe', ['paper', 'v-cosine-minsnr', 'edm'])
def test_every_recipe_trains_and_samples(tmp_path, recipe):
    "ci: `train mapgen --recipe R` trains, saves its recipe, samples with R's own samplers and refuses the other parameterisation's."
    from diffusers import DDPMScheduler, EDMEulerScheduler
    from simgen_nb.recipes import RECIPES
    from simgen_nb.train import make_scheduler, read_log
    data = toy_set(tmp_path/'toy')
    assert cli_main(['train', 'mapgen', '--data', str(data), '--profile', 'ci', '--recipe', recipe, '--steps', '2',
                     '--out', str(tmp_path/'run'), '--no-progress']) == 0
    assert all(np.isfinite(r['loss']) for r in read_log(tmp_path/'run'))
    cfg, pipe = load_run(tmp_path/'run')
    assert cfg['task']['recipe'] == recipe and pipe.config.recipe['name'] == recipe
    pipe.set_progress_bar_config(disable=True)
    for name, _ in (RECIPES[recipe]['few'], RECIPES[recipe]['reference']):
        pipe.scheduler = make_scheduler(name, pipe.scheduler.config)
        assert pipe([['one large liver in the upper centre']], 2, 3.0, torch.Generator().manual_seed(0)).labels.shape == (1, 16, 16)
    pipe.scheduler = DDPMScheduler(num_train_timesteps=100) if recipe == 'edm' else EDMEulerScheduler()
    with pytest.raises(SimGenError, match=f"'{recipe}' recipe"):
        pipe([['liver']], 2)


def test_a_run_saved_before_recipes_loads_as_paper(runs, tmp_path):
    "A map-generator run whose config and pipeline predate recipes: its task config loads as paper with its saved VP fields; its pipeline samples with VP schedulers and refuses EDM's."
    import shutil, yaml
    from diffusers import EDMEulerScheduler
    _, data, mg, _ = runs
    old = tmp_path/'old'; shutil.copytree(mg, old)
    cfg = yaml.safe_load((old/'config.yaml').read_text())
    added = ('recipe', 'loss_weighting', 'snr_gamma', 'sigma_data', 'p_mean', 'p_std', 'sigma_min', 'sigma_max')
    task = {k: v for k, v in cfg['task'].items() if k not in added and k != 'encoder_note'}
    c = M.MapGenConfig(**task)
    assert (c.recipe, c.prediction_type, c.beta_schedule) == ('paper', cfg['task']['prediction_type'], cfg['task']['beta_schedule'])
    idx = json.loads((old/'pipeline'/'model_index.json').read_text()); idx.pop('recipe')
    (old/'pipeline'/'model_index.json').write_text(json.dumps(idx))
    _, pipe = load_run(old)
    assert pipe.config.recipe is None
    pipe.set_progress_bar_config(disable=True)
    assert pipe([['liver']], 2, 3.0, torch.Generator().manual_seed(0)).labels.shape == (1, 16, 16)
    pipe.scheduler = EDMEulerScheduler()
    with pytest.raises(SimGenError, match='samples an EDM model'):
        pipe([['liver']], 2)


def test_edm_recipe_resumes_exactly(tmp_path):
    "`train mapgen --recipe edm`: 4 steps straight and 2 + 2 with --resume give bitwise the same weights, EMA and log."
    from safetensors.torch import load_file
    from simgen_nb.train import read_log
    data = toy_set(tmp_path/'toy')
    common = ['--data', str(data), '--profile', 'ci', '--recipe', 'edm', '--steps', '4', '--batch-size', '2',
              '--checkpoint-every', '2', '--no-progress']
    assert cli_main(['train', 'mapgen', *common, '--out', str(tmp_path/'a')]) == 0
    assert cli_main(['train', 'mapgen', *common, '--out', str(tmp_path/'b'), '--stop-at', '2']) == 0
    assert cli_main(['train', 'mapgen', '--data', str(data), '--out', str(tmp_path/'b'), '--resume', 'latest', '--no-progress']) == 0
    for f in ('model.safetensors', 'ema.safetensors'):
        a, b = load_file(tmp_path/'a'/'checkpoint-4'/f), load_file(tmp_path/'b'/'checkpoint-4'/f)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), f
    strip = lambda rows: [{k: v for k, v in r.items() if k != 'seconds'} for r in rows]
    assert strip(read_log(tmp_path/'a')) == strip(read_log(tmp_path/'b'))
    assert read_config(tmp_path/'b')['task']['recipe'] == 'edm'
