"SimGen end to end through the CLI: train (ci), sample, save/load round trip, sharded sampling on 2 processes."
import hashlib, json, os, socket, subprocess, sys
from pathlib import Path

import numpy as np
import pytest
import torch

from simgen_nb.cli import main
from simgen_nb.data import save_pair, write_metadata, validate, read_splits, read_manifest, SegmentationDataset, read_image, read_mask
from simgen_nb.train import read_config, read_log, load_run, make_scheduler, sample_generators
from simgen_nb.simgen import vote_labels
from simgen_nb.palette import mode_filter

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
torch.set_num_threads(1)
CLASSES = {'name': 'tiny', 'ignore_index': 255, 'classes': [{'id': 0, 'name': 'background', 'color': [10, 10, 10]},
           {'id': 1, 'name': 'liver', 'color': [200, 60, 40]}, {'id': 2, 'name': 'grasper', 'color': [170, 170, 170]}]}


def _make_data(root, n=8, size=16, splits=None):
    rng = np.random.default_rng(0); yy, xx = np.mgrid[:size, :size]; ids = [f'v{i // 4}f{i % 4}' for i in range(n)]
    for id in ids:
        cx, cy = rng.integers(4, size - 4, 2)
        lab = (((xx - cx) ** 2 + (yy - cy) ** 2) < 16).astype(np.uint8); lab[-3:, size // 2:] = 2
        img = np.array([c['color'] for c in CLASSES['classes']], np.uint8)[lab]
        save_pair(root, id, img, lab)
    write_metadata(root, CLASSES, splits or {'train': ids[:6], 'val': ids[6:], 'test': []}, source='test fixture')
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


# --- one model, three jobs (issue 15): independent noise levels, conditional sampling, the replacement baseline
SPLITS = {'train': ['v0f0', 'v0f1', 'v0f2', 'v0f3'], 'val': ['v1f0', 'v1f1'], 'test': ['v1f2', 'v1f3']}


@pytest.fixture(scope='module')
def unified(tmp_path_factory):
    "A ci run trained with --independent-noise 0.5, stopped after 2 steps and resumed to 3 (the option comes from the saved config)."
    d = tmp_path_factory.mktemp('unified')
    data = _make_data(d/'data', splits=SPLITS)
    common = ['--no-progress']
    assert main(['train', 'simgen', '--data', str(data), '--profile', 'ci', '--out', str(d/'run'), '--steps', '3', '--batch-size', '4',
                 '--checkpoint-every', '1', '--independent-noise', '0.5', '--stop-at', '2'] + common) == 0
    assert main(['train', 'simgen', '--data', str(data), '--out', str(d/'run'), '--resume', 'latest'] + common) == 0
    return d/'run', data


def test_unified_run_keeps_the_option(unified, tmp_path):
    from simgen_nb.simgen import SimGenPipeline
    run, _ = unified
    cfg = read_config(run)
    assert cfg['task']['independent_noise'] == 0.5 and [r['step'] for r in read_log(run)] == [1, 2, 3]
    _, pipe = load_run(run)
    assert pipe.independent and pipe.unet.config.class_embed_type == 'timestep' and pipe.config.recipe['independent_noise'] == 0.5
    pipe.save_pretrained(tmp_path/'copy')
    copy = SimGenPipeline.from_pretrained(tmp_path/'copy')
    assert copy.independent
    labels = torch.from_numpy(np.stack([read_mask(unified[1]/'masks'/f'{i}.png') for i in SPLITS['test']])).long()
    outs = []
    for p in (pipe, copy):
        p.scheduler = make_scheduler('dpmsolver', p.scheduler.config); p.set_progress_bar_config(disable=True)
        outs.append(p(mask=labels, num_inference_steps=3, generator=sample_generators(0, [0, 1]), output_type='pt', guidance_scale=2.0))
    assert torch.equal(outs[0].images, outs[1].images) and torch.equal(outs[0].masks, labels)


def test_unified_model_samples_in_all_three_modes(unified):
    run, data = unified
    _, pipe = load_run(run)
    pipe.scheduler = make_scheduler('ddim', pipe.scheduler.config); pipe.set_progress_bar_config(disable=True)
    gens = lambda: sample_generators(0, [0, 1])
    joint = pipe(batch_size=2, num_inference_steps=2, generator=gens(), output_type='np')
    assert joint.images.shape == (2, 16, 16, 3) and joint.masks.shape == (2, 16, 16)
    labels = np.stack([read_mask(data/'masks'/f'{i}.png') for i in SPLITS['train'][:2]])         # uint8 labels
    a = pipe(mask=labels, num_inference_steps=2, generator=gens(), output_type='np')
    assert np.array_equal(a.masks, labels)                                                         # exactly the given mask
    b = pipe(mask=labels[::-1].copy(), num_inference_steps=2, generator=gens(), output_type='np')
    assert not np.array_equal(a.images, b.images)                                                  # the image follows the mask
    images = np.stack([read_image(data/'images'/f'{i}.png') for i in SPLITS['test']])             # uint8 HWC
    c = pipe(image=images, num_inference_steps=2, generator=gens(), output_type='np', guidance_scale=1.5)
    assert np.array_equal((c.images * 255).round().astype(np.uint8), images)                      # the image comes back unchanged
    assert set(np.unique(c.masks)) <= {0, 1, 2, 255}


def test_replacement_baseline_on_a_joint_only_model(run):
    _, pipe = load_run(run)
    assert not pipe.independent
    pipe.scheduler = make_scheduler('dpmsolver', pipe.scheduler.config); pipe.set_progress_bar_config(disable=True)
    labels = torch.zeros(2, 16, 16, dtype=torch.long); labels[:, 4:10, 4:10] = 1
    out = pipe(mask=labels, num_inference_steps=3, generator=sample_generators(0, [0, 1]), output_type='pt')
    assert torch.equal(out.masks, labels) and torch.isfinite(out.images).all()
    img = torch.rand(2, 3, 16, 16)
    out = pipe(image=img, num_inference_steps=3, generator=sample_generators(0, [0, 1]), output_type='pt')
    assert torch.equal(out.images, img)
    with pytest.raises(Exception, match='independent'): pipe(mask=labels, guidance_scale=2.0)


def test_cli_sample_maps_and_images(unified, tmp_path):
    run, data = unified
    base = ['sample', str(run), '--steps', '2', '--scheduler', 'ddim', '--batch-size', '2']
    # --maps: images for the masks of the train split (default), the masks written unchanged
    assert main(base + ['--n', '5', '--maps', str(data), '--guidance', '2', '--out', str(tmp_path/'m2i')]) == 0
    gen = tmp_path/'m2i'
    assert validate(gen) == [] and read_splits(gen) == {'train': [f'gen{i:06d}' for i in range(5)]}
    man = read_manifest(gen)
    prov, items = man['provenance'], man['items']
    assert (prov['mode'], prov['split'], prov['guidance'], prov['conditioning']) == ('mask->image', 'train', 2.0, 'independent noise levels')
    for i in range(5):
        it = items[f'gen{i:06d}']
        assert (it['map_id'], it['split']) == (SPLITS['train'][i % 4], 'train')
        assert np.array_equal(read_mask(gen/'masks'/f'gen{i:06d}.png'), read_mask(data/'masks'/f"{it['map_id']}.png"))
    # --images: masks for the images of the test split (default), the images written unchanged
    assert main(base + ['--n', '2', '--images', str(data), '--out', str(tmp_path/'i2m')]) == 0
    gen = tmp_path/'i2m'
    assert validate(gen) == []
    man = read_manifest(gen)
    assert (man['provenance']['mode'], man['provenance']['split'], man['provenance']['guidance']) == ('image->mask', 'test', 1.0)
    for i in range(2):
        it = man['items'][f'gen{i:06d}']
        assert (it['image_id'], it['split']) == (SPLITS['test'][i], 'test')
        assert np.array_equal(read_image(gen/'images'/f'gen{i:06d}.png'), read_image(data/'images'/f"{it['image_id']}.png"))
    assert main(base + ['--n', '1', '--images', str(data), '--split', 'val', '--out', str(tmp_path/'i2m-val')]) == 0
    assert read_manifest(tmp_path/'i2m-val')['items']['gen000000']['image_id'] == 'v1f0'
    # --draws K: the per-pixel vote of K masks per image, each draw continuing the sample's own generator
    assert main(base + ['--n', '2', '--images', str(data), '--draws', '3', '--out', str(tmp_path/'i2m-vote')]) == 0
    man = read_manifest(tmp_path/'i2m-vote')
    assert man['provenance']['mask_draws'] == 3 and read_manifest(gen)['provenance']['mask_draws'] == 1
    _, pipe = load_run(run); pipe.scheduler = make_scheduler('ddim', pipe.scheduler.config); pipe.set_progress_bar_config(disable=True)
    u8 = np.stack([read_image(data/'images'/f'{i}.png') for i in SPLITS['test'][:2]])
    g = sample_generators(0, [0, 1])
    draws = [pipe(image=u8, num_inference_steps=2, generator=g, output_type='pt').masks for _ in range(3)]
    voted = np.stack([read_mask(tmp_path/'i2m-vote'/'masks'/f'gen{i:06d}.png') for i in range(2)])
    assert np.array_equal(voted, vote_labels(torch.stack(draws)).numpy())
    assert np.array_equal(np.stack([read_mask(gen/'masks'/f'gen{i:06d}.png') for i in range(2)]), draws[0].numpy())   # one draw = the first
    # refused: both modes, an unknown split, guidance without a given half, draws without --images
    assert main(base + ['--n', '1', '--maps', str(data), '--draws', '2', '--out', str(tmp_path/'x4')]) == 1
    assert main(base + ['--n', '1', '--maps', str(data), '--images', str(data), '--out', str(tmp_path/'x1')]) == 1
    assert main(base + ['--n', '1', '--maps', str(data), '--split', 'holdout', '--out', str(tmp_path/'x2')]) == 1
    assert main(base + ['--n', '1', '--guidance', '2', '--out', str(tmp_path/'x3')]) == 1


def test_cli_sample_mask_filter(run, tmp_path):
    "--mask-filter 3 writes the unfiltered pairs with their masks mode-filtered, and says so in the manifest."
    base = ['sample', str(run), '--n', '3', '--steps', '2', '--scheduler', 'ddim']
    assert main(base + ['--out', str(tmp_path/'raw')]) == 0
    assert main(base + ['--mask-filter', '3', '--out', str(tmp_path/'flt')]) == 0
    read = lambda d, kind: np.stack([(read_mask if kind == 'masks' else read_image)(tmp_path/d/kind/f'gen{i:06d}.png') for i in range(3)])
    assert np.array_equal(read('flt', 'images'), read('raw', 'images'))
    want = mode_filter(torch.from_numpy(read('raw', 'masks').astype(np.int64)), 3, num_classes=len(CLASSES['classes'])).numpy()
    assert np.array_equal(read('flt', 'masks'), want) and not np.array_equal(want, read('raw', 'masks'))   # the filter did act
    assert read_manifest(tmp_path/'flt')['provenance']['mask_filter'] == 3 and 'mask_filter' not in read_manifest(tmp_path/'raw')['provenance']
    for bad in (['--mask-filter', '2'], ['--mask-filter', '3', '--maps', str(run.parent/'data')]):
        assert main(base + bad + ['--out', str(tmp_path/'x')]) == 1
    assert not (tmp_path/'x').exists() or not any((tmp_path/'x').iterdir())


def test_cli_sample_joint_guidance(run, unified, tmp_path):
    "--joint-guidance S writes what the pipeline draws with joint_guidance=S, records it, and is refused where it cannot apply."
    urun, data = unified
    base = ['sample', str(urun), '--n', '3', '--steps', '2', '--scheduler', 'ddim']
    assert main(base + ['--out', str(tmp_path/'plain')]) == 0
    assert main(base + ['--joint-guidance', '3,1.5', '--out', str(tmp_path/'g')]) == 0
    _, pipe = load_run(urun)
    pipe.scheduler = make_scheduler('ddim', pipe.scheduler.config); pipe.set_progress_bar_config(disable=True)
    want = pipe(batch_size=3, num_inference_steps=2, generator=sample_generators(0, [0, 1, 2]), output_type='np', joint_guidance=(3.0, 1.5))
    got = np.stack([read_image(tmp_path/'g'/'images'/f'gen{i:06d}.png') for i in range(3)])
    assert np.array_equal(got, (want.images * 255).round().astype(np.uint8))
    assert np.array_equal(np.stack([read_mask(tmp_path/'g'/'masks'/f'gen{i:06d}.png') for i in range(3)]), want.masks)
    plain = np.stack([read_image(tmp_path/'plain'/'images'/f'gen{i:06d}.png') for i in range(3)])
    assert not np.array_equal(got, plain)
    assert read_manifest(tmp_path/'g')['provenance']['joint_guidance'] == [3.0, 1.5]
    assert 'joint_guidance' not in read_manifest(tmp_path/'plain')['provenance']
    for bad in ('-1', '1,2,3', 'nan'):                                             # argparse rejects the value itself
        with pytest.raises(SystemExit) as e: main(base + ['--joint-guidance', bad, '--out', str(tmp_path/'x')])
        assert e.value.code == 2
    assert main(base + ['--joint-guidance', '2', '--maps', str(data), '--out', str(tmp_path/'x')]) == 1   # conditional: --guidance
    assert main(['sample', str(run), '--n', '2', '--steps', '2', '--joint-guidance', '2', '--out', str(tmp_path/'x')]) == 1  # joint-only run
    assert not (tmp_path/'x').exists() or not any((tmp_path/'x').iterdir())


def test_cli_replacement_baseline_on_a_joint_only_run(run, unified, tmp_path):
    _, data = unified
    base = ['sample', str(run), '--n', '2', '--steps', '2', '--scheduler', 'ddim']
    assert main(base + ['--maps', str(data), '--out', str(tmp_path/'r')]) == 0
    prov = read_manifest(tmp_path/'r')['provenance']
    assert (prov['mode'], prov['conditioning']) == ('mask->image', 'replacement')
    assert main(base + ['--images', str(data), '--guidance', '2', '--out', str(tmp_path/'g')]) == 1     # no unconditional branch


def test_a_run_saved_before_recipes_resumes_and_samples_as_paper(tmp_path):
    "A run whose config.yaml predates the recipe and independent-noise options resumes (they take their defaults) and loads as `paper`."
    import yaml
    data = _make_data(tmp_path/'data')
    run = tmp_path/'run'
    assert main(['train', 'simgen', '--data', str(data), '--profile', 'ci', '--out', str(run), '--steps', '4', '--stop-at', '2',
                 '--batch-size', '2', '--checkpoint-every', '2', '--no-progress']) == 0
    cfg = yaml.safe_load((run/'config.yaml').read_text())
    added = ('recipe', 'loss_weighting', 'snr_gamma', 'sigma_data', 'p_mean', 'p_std', 'sigma_min', 'sigma_max', 'independent_noise')
    assert cfg['task']['recipe'] == 'paper'
    cfg['task'] = {k: v for k, v in cfg['task'].items() if k not in added}
    (run/'config.yaml').write_text(yaml.safe_dump(cfg, sort_keys=False))
    assert main(['train', 'simgen', '--out', str(run), '--resume', 'latest', '--no-progress']) == 0
    assert max(int(r['step']) for r in read_log(run)) == 4
    _, pipe = load_run(run)
    assert pipe.config.recipe['name'] == 'paper' and type(pipe.scheduler).__name__ == 'DDPMScheduler'
    # a flag that contradicts the saved run is still refused on resume
    assert main(['train', 'simgen', '--out', str(run), '--resume', 'latest', '--recipe', 'edm', '--no-progress']) == 1


def test_edm_recipe_resumes_exactly(tmp_path):
    "The smoke/demo recipe (edm): 4 steps straight and 2 + 2 with --resume give bitwise the same weights, EMA and log."
    from safetensors.torch import load_file
    data = _make_data(tmp_path/'data')
    common = ['--data', str(data), '--profile', 'ci', '--recipe', 'edm', '--steps', '4', '--batch-size', '2', '--checkpoint-every', '2',
              '--no-progress']
    assert main(['train', 'simgen', *common, '--out', str(tmp_path/'a')]) == 0
    assert main(['train', 'simgen', *common, '--out', str(tmp_path/'b'), '--stop-at', '2']) == 0
    assert main(['train', 'simgen', '--out', str(tmp_path/'b'), '--resume', 'latest', '--no-progress']) == 0
    for f in ('model.safetensors', 'ema.safetensors'):
        a, b = load_file(tmp_path/'a'/'checkpoint-4'/f), load_file(tmp_path/'b'/'checkpoint-4'/f)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), f
    strip = lambda rows: [{k: v for k, v in r.items() if k != 'seconds'} for r in rows]
    assert strip(read_log(tmp_path/'a')) == strip(read_log(tmp_path/'b'))
    assert read_config(tmp_path/'b')['task']['recipe'] == 'edm'


def test_cli_sample_scheduler_options_reach_the_sampler(tmp_path):
    "--scheduler-option KEY=VALUE sets the sampler's diffusers config (recorded in the manifest); a setting it lacks fails before writing."
    data = _make_data(tmp_path/'data')
    assert main(['train', 'simgen', '--data', str(data), '--profile', 'ci', '--recipe', 'edm', '--steps', '2', '--batch-size', '2',
                 '--no-progress', '--out', str(tmp_path/'run')]) == 0
    base = ['sample', str(tmp_path/'run'), '--n', '2', '--steps', '3', '--scheduler', 'dpmsolver']
    assert main([*base, '--out', str(tmp_path/'karras')]) == 0
    assert main([*base, '--scheduler-option', 'sigma_schedule=exponential', '--scheduler-option', 'sigma_max=20',
                 '--out', str(tmp_path/'exp')]) == 0
    prov = read_manifest(tmp_path/'exp')['provenance']
    assert prov['scheduler_options'] == {'sigma_schedule': 'exponential', 'sigma_max': 20}
    assert 'scheduler_options' not in read_manifest(tmp_path/'karras')['provenance']
    a, b = (read_image(tmp_path/d/'images'/'gen000000.png') for d in ('karras', 'exp'))
    assert not np.array_equal(a, b)                     # same seed, other sigmas: the option was applied
    assert main([*base, '--scheduler-option', 'sigma_shedule=exponential', '--out', str(tmp_path/'bad')]) == 1
    with pytest.raises(SystemExit) as e: main([*base, '--scheduler-option', 'sigma_max=NaN', '--out', str(tmp_path/'bad')])
    assert e.value.code == 2                            # argparse: a bad flag value, named before anything runs
    assert not (tmp_path/'bad').exists()
