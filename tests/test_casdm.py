"CASDM end to end: ci runs of each loss and recipe, guidance on/off, exact resume after the self-perceptual warm-up (paper and edm), train + sample CLI, recipes and old runs."
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from simgen_nb.casdm import CASDMTask, CASDMPipeline, casdm_config, LOSSES
from simgen_nb.cli import build_parser
from simgen_nb.core import SimGenError
from simgen_nb.data import SegmentationDataset, save_pair, write_metadata, validate, read_manifest, read_mask, read_splits
from simgen_nb.recipes import RECIPES
from simgen_nb.train import TrainConfig, SampleRNG, train, read_log, latest_checkpoint, load_run, read_config, make_scheduler

K = 3


@pytest.fixture(autouse=True, scope='module')
def one_thread():
    "Tiny models on a shared CPU: one thread is many times faster than contending OpenMP threads."
    n = torch.get_num_threads(); torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def make_data(root: Path, n=8, size=16, seed=0) -> Path:
    "Coloured rectangles whose colour is their class, with a few ignore pixels."
    rng = np.random.default_rng(seed)
    cols = np.array([[200, 60, 60], [60, 200, 60], [60, 60, 200]], np.uint8)
    for i in range(n):
        lab = np.zeros((size, size), np.uint8)
        for k in range(1, K):
            y, x = rng.integers(0, size - 4, 2); h, w = rng.integers(2, 6, 2)
            lab[y:y + h, x:x + w] = k
        lab[0, :2] = 255
        img = np.clip(cols[np.minimum(lab, K - 1)] + rng.normal(0, 10, (size, size, 3)), 0, 255).astype(np.uint8)
        save_pair(root, f'toy{i:03d}', img, lab)
    classes = {'name': 'toy', 'ignore_index': 255,
               'classes': [{'id': k, 'name': f'c{k}', 'color': cols[k].tolist()} for k in range(K)]}
    ids = [f'toy{i:03d}' for i in range(n)]
    write_metadata(root, classes, {'train': ids[:n - 3], 'val': ids[n - 3:n - 2], 'test': ids[n - 2:]}, source='toy')
    return root


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    return make_data(tmp_path_factory.mktemp('casdm') / 'toy')


def cli(*argv):
    parser = build_parser(modules=('train', 'casdm'))
    a = parser.parse_args([str(x) for x in argv])
    return a.func(a)


def run_task(data, out, loss, steps=4, stop=None, resume=None, **kw):
    ds = SegmentationDataset(data, 'train')
    cfg = replace(TrainConfig.for_profile('ci'), steps=steps)
    task = CASDMTask(casdm_config('ci', num_classes=K, loss=loss, **kw))
    return train(task, ds, cfg, out, resume=resume, stop_at_step=stop, progress=False, data=data)


@pytest.mark.parametrize('loss', LOSSES)
def test_ci_run_each_loss(data, tmp_path, loss):
    run = run_task(data, tmp_path / 'run', loss)
    log = read_log(run)
    assert [r['step'] for r in log] == [1, 2, 3, 4]
    assert all(np.isfinite(r['loss']) for r in log)
    extra = load_file(latest_checkpoint(run) / 'extra.safetensors')
    if loss == 'camse+casp':
        assert [r['casp'] > 0 for r in log] == [False, False, True, True]     # ci warm-up: 2 steps
        assert any(k.startswith('frozen.') for k in extra)
    else:
        assert 'casp' not in log[0] and not extra
    cfg, pipe = load_run(run)
    assert cfg['model'] == 'casdm' and cfg['task']['loss'] == loss
    assert type(pipe).__name__ == 'CASDMPipeline'


def test_guidance_on_off(data, tmp_path):
    run = run_task(data, tmp_path / 'run', 'mse', steps=2)
    _, pipe = load_run(run)
    pipe.set_progress_bar_config(disable=True)
    ds = SegmentationDataset(data, 'test')
    maps = torch.stack([ds[i]['labels'] for i in range(len(ds))])
    other = torch.roll(maps, 5, dims=-1)
    g = lambda: [torch.Generator().manual_seed(i) for i in range(len(maps))]
    on = pipe(maps, 3, 2.0, g(), 'pt').images
    off = pipe(maps, 3, 1.0, g(), 'pt').images
    assert not torch.allclose(on, off)
    # guidance off (s=1) is the conditional model: it depends on the map
    assert not torch.allclose(off, pipe(other, 3, 1.0, g(), 'pt').images)
    # s=0 is the unconditional model: the map does not matter
    torch.testing.assert_close(pipe(maps, 3, 0.0, g(), 'pt').images, pipe(other, 3, 0.0, g(), 'pt').images)


def test_resume_exact_after_warmup(data, tmp_path):
    straight = run_task(data, tmp_path / 'straight', 'camse+casp', steps=6)
    part = run_task(data, tmp_path / 'resumed', 'camse+casp', steps=6, stop=4)        # stops after the warm-up (step 2)
    assert any(k.startswith('frozen.') for k in load_file(latest_checkpoint(part) / 'extra.safetensors'))
    run_task(data, tmp_path / 'resumed', 'camse+casp', steps=6, resume='latest')
    a, b = latest_checkpoint(straight), latest_checkpoint(tmp_path / 'resumed')
    assert a.name == b.name == 'checkpoint-6'
    for f in ('model', 'ema', 'extra'):
        sa, sb = load_file(a / f'{f}.safetensors'), load_file(b / f'{f}.safetensors')
        assert sa.keys() == sb.keys() and sa
        for k in sa: assert torch.equal(sa[k], sb[k]), (f, k)
    la, lb = read_log(straight), read_log(tmp_path / 'resumed')
    assert [(r['step'], r['loss'], r['casp']) for r in la] == [(r['step'], r['loss'], r['casp']) for r in lb]


def test_cli_train_and_sample(data, tmp_path):
    run, gen = tmp_path / 'run', tmp_path / 'gen'
    cli('train', 'casdm', '--data', data, '--profile', 'ci', '--loss', 'camse+casp', '--class-weighting', 'dataset',
        '--out', run, '--no-progress')
    cfg = read_config(run)
    assert cfg['task']['class_weighting'] == 'dataset' and len(cfg['task']['pixel_share']) == K
    assert (run / 'samples' / 'step-0000004.png').exists()
    cli('sample', run, '--maps', data, '--n', 4, '--steps', 2, '--guidance', 1.5, '--scheduler', 'ddim',
        '--batch-size', 3, '--out', gen, '--device', 'cpu')
    assert [p for p in validate(gen) if 'is empty' not in p] == []
    m = read_manifest(gen)
    assert m['provenance']['guidance'] == 1.5 and m['provenance']['steps'] == 2 and m['provenance']['run'] == str(run)
    assert m['provenance']['recipe'] == 'paper'
    for i in range(4):
        src = m['items'][f'gen{i:06d}']['source_map']
        assert np.array_equal(read_mask(gen / 'masks' / f'gen{i:06d}.png'), read_mask(src))
    train = set(read_splits(data)['train'])                       # default --split train: no test or val map conditions a pair
    assert all(it['split'] == 'train' and it['map_id'] in train for it in m['items'].values())
    for split in ('val', 'test'):                                 # any requested split: its maps and no other's
        cli('sample', run, '--maps', data, '--split', split, '--n', 5, '--steps', 1, '--scheduler', 'ddim',
            '--batch-size', 5, '--out', tmp_path / f'gen-{split}', '--device', 'cpu')
        items = read_manifest(tmp_path / f'gen-{split}')['items'].values()
        outside = [it['map_id'] for it in items if it['map_id'] not in set(read_splits(data)[split])]
        assert not outside and {it['split'] for it in items} == {split}, (split, outside)
    with pytest.raises(SimGenError, match="no split 'holdout'"):
        cli('sample', run, '--maps', data, '--split', 'holdout', '--n', 1, '--out', tmp_path / 'gen3', '--device', 'cpu')
    with pytest.raises(SimGenError, match='--maps'):
        cli('sample', run, '--n', 1, '--out', tmp_path / 'gen2', '--device', 'cpu')


def test_loss_properties():
    "The class-aware losses: MSE on one class, equal class totals, rare pixels weigh more, casp gradient path."
    import copy
    import torch.nn.functional as F
    from diffusers import DDPMScheduler
    from simgen_nb.losses import class_aware_mse, image_class_weights, casp_loss, predict_x0, q_sample
    from simgen_nb.spade import SPADEUNet
    g = torch.Generator().manual_seed(0)
    pred, target = torch.randn(2, 3, 8, 8, generator=g), torch.randn(2, 3, 8, 8, generator=g)
    torch.testing.assert_close(class_aware_mse(pred, target, torch.full((2, 8, 8), 2), K), F.mse_loss(pred, target))
    lab = torch.zeros(1, 8, 8, dtype=torch.long); lab[0, 5:, :] = 1; lab[0, 0, 0] = 2
    w = image_class_weights(lab, K)
    totals = torch.stack([w[lab == c].sum() for c in range(K)])
    torch.testing.assert_close(totals, torch.full((K,), 64 / K))
    p = torch.zeros(1, 3, 8, 8, requires_grad=True)
    class_aware_mse(p, torch.ones(1, 3, 8, 8), lab, K).backward()
    assert p.grad[0, :, 0, 0].abs().sum() > p.grad[0, :, 7, 7].abs().sum() > p.grad[0, :, 2, 2].abs().sum()
    torch.manual_seed(0)
    online = SPADEUNet(sample_size=8, num_classes=K, block_out_channels=(8, 16), layers_per_block=1, norm_num_groups=4)
    frozen = copy.deepcopy(online).eval().requires_grad_(False)
    ac = DDPMScheduler().alphas_cumprod
    x0, labels = torch.rand(2, 3, 8, 8) * 2 - 1, lab.expand(2, -1, -1)
    t, e = torch.tensor([50, 400]), torch.randn(2, 3, 8, 8)
    x_t = q_sample(x0, e, t, ac)
    x0_hat = predict_x0(x_t, online(x_t, t, labels).sample, t, ac)
    casp_loss(frozen, x0, x0_hat, online.encode_map(labels), labels, torch.tensor([300, 20]), torch.randn(2, 3, 8, 8), ac,
              ('mid', 'up'), lambda l: image_class_weights(l, K)).backward()
    assert sum(p.grad.abs().sum() for p in online.parameters() if p.grad is not None) > 0
    assert all(p.grad is None for p in frozen.parameters())


@pytest.mark.parametrize('recipe', list(RECIPES))
@pytest.mark.parametrize('loss', LOSSES)
def test_every_recipe_trains_and_samples_each_loss(data, tmp_path, recipe, loss):
    "ci: a few steps of each recipe with each loss; the run saves its recipe, and samples with the recipe's own samplers."
    run = run_task(data, tmp_path / 'run', loss, recipe=recipe)
    log = read_log(run)
    assert [r['step'] for r in log] == [1, 2, 3, 4] and all(np.isfinite(r['loss']) for r in log)
    if loss == 'camse+casp': assert [r['casp'] > 0 for r in log] == [False, False, True, True]
    cfg, pipe = load_run(run)
    assert cfg['task']['recipe'] == recipe and pipe.config.recipe['name'] == recipe
    assert type(pipe.scheduler).__name__ == ('EDMEulerScheduler' if recipe == 'edm' else 'DDPMScheduler')
    pipe.set_progress_bar_config(disable=True)
    maps = torch.stack([SegmentationDataset(data, 'test')[i]['labels'] for i in range(2)])
    for name, _ in (RECIPES[recipe]['few'], RECIPES[recipe]['reference']):
        pipe.scheduler = make_scheduler(name, pipe.scheduler.config)
        img = pipe(maps, 2, 1.5, [torch.Generator().manual_seed(i) for i in range(2)], 'pt').images
        assert img.shape == (2, 3, 16, 16) and torch.isfinite(img).all()


def test_edm_recipe_resumes_exactly(data, tmp_path):
    "`train casdm --recipe edm` with the self-perceptual loss: 6 steps straight and 4 + 2 with --resume give bitwise the same weights, EMA, frozen copy and log."
    common = ['--data', data, '--profile', 'ci', '--recipe', 'edm', '--loss', 'camse+casp', '--steps', 6, '--batch-size', 2,
              '--checkpoint-every', 2, '--no-progress']
    cli('train', 'casdm', *common, '--out', tmp_path / 'a')
    cli('train', 'casdm', *common, '--out', tmp_path / 'b', '--stop-at', 4)             # past the warm-up (step 2)
    cli('train', 'casdm', '--out', tmp_path / 'b', '--resume', 'latest', '--no-progress')
    a, b = latest_checkpoint(tmp_path / 'a'), latest_checkpoint(tmp_path / 'b')
    assert a.name == b.name == 'checkpoint-6'
    for f in ('model', 'ema', 'extra'):
        sa, sb = load_file(a / f'{f}.safetensors'), load_file(b / f'{f}.safetensors')
        assert sa.keys() == sb.keys() and sa
        for k in sa: assert torch.equal(sa[k], sb[k]), (f, k)
    strip = lambda rows: [{k: v for k, v in r.items() if k != 'seconds'} for r in rows]
    assert strip(read_log(tmp_path / 'a')) == strip(read_log(tmp_path / 'b'))
    assert read_log(tmp_path / 'a')[-1]['casp'] > 0
    assert read_config(tmp_path / 'b')['task']['recipe'] == 'edm'


def test_edm_training_target_maps_back_to_x0(data):
    "The EDM target of F is (x0 - c_skip x) / c_out: the saved sampler's precondition_outputs (both EDM samplers) turns it back into x0; x0_hat is D(x)."
    task = CASDMTask(casdm_config('ci', num_classes=K, recipe='edm'))
    ds = SegmentationDataset(data, 'train')
    x0 = torch.stack([ds[i]['image'] for i in range(4)])
    inp, c_noise, target, w, to_x0 = task.noised(x0, SampleRNG(0, 7, range(4)))
    rng = SampleRNG(0, 7, range(4))                       # the same draws: log sigma ~ N(-1.2, 1.2^2), then the noise
    sigma = (-1.2 + 1.2 * rng.randn()).exp().view(-1, 1, 1, 1)
    x = x0 + sigma * rng.randn(3, 16, 16)
    saved = task.pipeline(task.build_model()).scheduler
    for name in ('euler', 'dpmsolver'):
        torch.testing.assert_close(make_scheduler(name, saved.config).precondition_outputs(x, target, sigma), x0, atol=1e-5, rtol=0)
    torch.testing.assert_close(to_x0(target), x0, atol=1e-5, rtol=0)
    torch.testing.assert_close(inp, x / (sigma ** 2 + 0.5 ** 2).sqrt())
    torch.testing.assert_close(c_noise, sigma.flatten().log() / 4)
    assert w is None                                      # EDM's lambda(sigma) is in the target's scale


def test_pipeline_refuses_a_scheduler_of_another_parameterisation(data, tmp_path):
    "An edm run's pipeline refuses a VP scheduler (and make_scheduler will not build one); a paper run's refuses an EDM one; both survive save/load."
    from diffusers import DDPMScheduler, DDIMScheduler, EDMEulerScheduler
    maps = torch.stack([SegmentationDataset(data, 'test')[i]['labels'] for i in range(2)])
    edm_run = run_task(data, tmp_path / 'edm', 'mse', steps=2, recipe='edm')
    _, pipe = load_run(edm_run)
    pipe.save_pretrained(tmp_path / 'copy')
    pipe = CASDMPipeline.from_pretrained(tmp_path / 'copy')
    assert pipe.config.recipe['parameterization'] == 'edm'
    with pytest.raises(SimGenError, match='EDM model'): make_scheduler('ddim', pipe.scheduler.config)
    for vp in (DDPMScheduler(), DDIMScheduler()):
        pipe.scheduler = vp
        with pytest.raises(SimGenError, match="'edm' recipe .* samples a VP model"): pipe(maps, 2)
    _, paper = load_run(run_task(data, tmp_path / 'paper', 'mse', steps=2))
    paper.scheduler = EDMEulerScheduler()
    with pytest.raises(SimGenError, match="'paper' recipe .* samples an EDM model"): paper(maps, 2)


def test_a_run_saved_before_recipes_resumes_and_samples_as_paper(data, tmp_path):
    "A CASDM run whose config.yaml and pipeline predate the recipe option resumes (the fields take paper's values) and samples as `paper`."
    import json, yaml
    from diffusers import EDMEulerScheduler
    run = tmp_path / 'run'
    cli('train', 'casdm', '--data', data, '--profile', 'ci', '--loss', 'mse', '--steps', 4, '--stop-at', 2, '--batch-size', 2,
        '--checkpoint-every', 2, '--out', run, '--no-progress')
    added = ('recipe', 'prediction_type', 'loss_weighting', 'snr_gamma', 'sigma_data', 'p_mean', 'p_std', 'sigma_min', 'sigma_max')
    cfg = yaml.safe_load((run / 'config.yaml').read_text())
    assert cfg['task']['recipe'] == 'paper'
    cfg['task'] = {k: v for k, v in cfg['task'].items() if k not in added}
    (run / 'config.yaml').write_text(yaml.safe_dump(cfg, sort_keys=False))
    idx = json.loads((run / 'pipeline' / 'model_index.json').read_text()); idx.pop('recipe')
    (run / 'pipeline' / 'model_index.json').write_text(json.dumps(idx))
    _, old = load_run(run)                                            # the old pipeline: no recipe, sampled as paper's
    assert old.config.recipe is None
    old.set_progress_bar_config(disable=True)
    maps = torch.stack([SegmentationDataset(data, 'test')[i]['labels'] for i in range(2)])
    assert torch.isfinite(old(maps, 2, 1.5, None, 'pt').images).all()
    old.scheduler = EDMEulerScheduler()
    with pytest.raises(SimGenError, match="'paper' recipe"): old(maps, 2)
    with pytest.raises(SimGenError, match="--recipe 'edm' differs"):          # a flag contradicting the saved run is refused
        cli('train', 'casdm', '--out', run, '--resume', 'latest', '--recipe', 'edm', '--no-progress')
    cli('train', 'casdm', '--out', run, '--resume', 'latest', '--no-progress')
    assert max(int(r['step']) for r in read_log(run)) == 4
    cfg, pipe = load_run(run)
    assert pipe.config.recipe['name'] == 'paper' and type(pipe.scheduler).__name__ == 'DDPMScheduler'
