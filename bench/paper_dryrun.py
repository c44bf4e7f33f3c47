"""The paper profile's path on CPU: each model trained 2 steps at the `paper` network sizes and 256 px, sampled, evaluated.

    python bench/paper_dryrun.py [--profile paper] [--steps 2] [--batch-size 2] [--work DIR] [--no-write]

Data: the CholecSeg8K converter's test fixture (tests/test_data.py: 4 videos x 2 frames in the raw layout, 13 classes)
converted with `data prepare`'s converter at --size 256 (the converter's stated resize). Offline weights only: the map
generator's CLIP text encoder is untrained (`clip_pretrained=None`) and the segmenter's encoder has no ImageNet weights.
Each stage runs in its own process, so its peak memory (ru_maxrss) is its own:
  simgen, casdm, mapgen: `train` for --steps steps at batch --batch-size (the end-of-run sample grid is switched off: at
      the paper's 8 x 50 steps it would dominate a 2-step run), then `simgen-nb sample` of 1 pair with 4 steps;
  segmenter: SegFormer mit_b2 (paper profile) for --steps steps, no ImageNet weights;
  evaluate: `simgen-nb evaluate` of SimGen's generated pair against the data (alignment with the segmenter).
Step time is the last logged step (the first warms up). Writes bench/results/paper_dryrun.json and .md unless --no-write.
"""
import argparse, json, os, platform, resource, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT)); sys.path.insert(0, str(ROOT/'tests'))


KEEP_GRID = False


def cuda_peak_mb():
    import torch
    return round(torch.cuda.max_memory_allocated() / 2**20) if torch.cuda.is_available() else None


def peak_mb() -> float: return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_data(work: Path, size: int) -> Path:
    from test_data import cholec_fixture
    from simgen_nb.prepare import convert
    data = work/'data'
    if not (data/'manifest.json').exists():
        cholec_fixture(work/'raw'); convert('cholecseg8k', work/'raw', data, size=size)
    return data


def stage_train(model: str, work: Path, profile: str, steps: int, bs: int) -> dict:
    import torch
    from simgen_nb.cli import main
    from simgen_nb.data import SegmentationDataset, read_classes
    from simgen_nb.train import TrainConfig, train, read_log
    data, run = work/'data', work/f'run-{model}'
    over = dict(steps=steps, checkpoint_every=steps, log_every=1, sample_every=0, num_workers=0)
    if bs: over['batch_size'] = bs
    cfg = TrainConfig.for_profile(profile, **over); bs = cfg.batch_size
    classes = read_classes(data)
    if model == 'simgen':
        from simgen_nb.simgen import SimGenConfig, SimGenTask
        tc = SimGenConfig.for_profile(profile); task = SimGenTask(tc, classes); size = tc.image_size
    elif model == 'casdm':
        from simgen_nb.casdm import CASDMTask, casdm_config
        tc = casdm_config(profile, num_classes=len(classes['classes']), casp_warmup=max(0, steps - 1))   # the last step trains the self-perceptual loss
        task = CASDMTask(tc); size = tc.image_size
    else:
        from simgen_nb.mapgen import MapGenTask, mapgen_config
        tc = mapgen_config(profile); tc.clip_pretrained = None   # offline: an untrained text encoder, named in the pipeline's note
        task = MapGenTask(classes, tc); size = tc.size
    if not KEEP_GRID: task.sample_grid = lambda pipe, step: None
    ds = SegmentationDataset(data, 'train', size=size)
    params = sum(p.numel() for p in task.build_model().parameters())
    base = peak_mb()                                           # imports, data, one model built: what training adds is on top
    t0 = time.time(); train(task, ds, cfg, run, data=data, progress=False); train_s = time.time() - t0
    log = read_log(run)
    step_s = log[-1]['seconds'] - (log[-2]['seconds'] if len(log) > 1 else 0)
    gen = work/f'gen-{model}'
    argv = ['sample', str(run), '--n', '1', '--steps', '4', '--batch-size', '1', '--scheduler', 'ddim', '--out', str(gen)]
    if model == 'casdm': argv += ['--maps', str(data)]
    t0 = time.time(); rc = main(argv); sample_s = time.time() - t0
    assert rc == 0, f'{argv}: exit {rc}'
    assert all(torch.isfinite(torch.tensor(r['loss'])) for r in log)
    return {'stage': model, 'size': size, 'params_M': round(params / 1e6, 1), 'batch': bs, 'steps': steps,
            'step_seconds': round(step_s, 2), 'seconds_per_sample': round(step_s / bs, 2), 'train_seconds': round(train_s, 1),
            'sample_seconds_1pair_4steps': round(sample_s, 1), 'peak_rss_mb': round(peak_mb()),
            'train_rss_mb_per_sample': round((peak_mb() - base) / bs), 'cuda_peak_mb': cuda_peak_mb(),
            'device': 'cuda' if torch.cuda.is_available() else 'cpu'}


def stage_segmenter(work: Path, profile: str, steps: int, bs: int) -> dict:
    from simgen_nb.segment import seg_config, train_segmenter
    cfg = seg_config(profile, encoder_weights='none', steps=steps, num_workers=0, warmup_steps=1, **({'batch_size': bs} if bs else {}))
    t0 = time.time(); train_segmenter(cfg, work/'data', out=work/'run-segmenter', test_root=work/'data', test_split='test', progress=False)
    return {'stage': 'segmenter', 'size': cfg.size, 'network': f'{cfg.arch}/{cfg.encoder} (no ImageNet weights)', 'batch': cfg.batch_size,
            'steps': steps, 'train_seconds': round(time.time() - t0, 1), 'peak_rss_mb': round(peak_mb())}


def stage_evaluate(work: Path) -> dict:
    from simgen_nb.cli import main
    argv = ['evaluate', '--real', str(work/'data'), '--fake', str(work/'gen-simgen'), '--metrics', 'alignment',
            '--features', 'segmenter', '--segmenter', str(work/'run-segmenter'), '--out', str(work/'eval'), '--no-cache']
    t0 = time.time(); rc = main(argv)
    assert rc == 0, f'{argv}: exit {rc}'
    res = json.loads((work/'eval'/'metrics.json').read_text())
    return {'stage': 'evaluate', 'seconds': round(time.time() - t0, 1), 'peak_rss_mb': round(peak_mb()),
            'alignment': {k: {s: v.get(s) for s in ('miou', 'mdice')} for k, v in res.get('metrics', {}).items() if k.startswith('alignment')}}


def run_stage(args):
    import torch
    global KEEP_GRID; KEEP_GRID = args.keep_grid
    torch.set_num_threads(int(os.environ.get('OMP_NUM_THREADS', '2')))
    work = Path(args.work)
    if args.stage in ('simgen', 'casdm', 'mapgen'): r = stage_train(args.stage, work, args.profile, args.steps, args.batch_size)
    elif args.stage == 'segmenter': r = stage_segmenter(work, args.profile, args.steps, args.batch_size)
    else: r = stage_evaluate(work)
    print('RESULT ' + json.dumps(r), flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--profile', default='paper'); p.add_argument('--steps', type=int, default=2)
    p.add_argument('--batch-size', type=int, default=2, help="0: the profile's batch size"); p.add_argument('--size', type=int, default=256, help='data set size (px)')
    p.add_argument('--work', default=None, help='working folder (default: a temporary one)')
    p.add_argument('--stages', nargs='+', default=['simgen', 'casdm', 'mapgen', 'segmenter', 'evaluate'])
    p.add_argument('--stage', default=None, help=argparse.SUPPRESS)
    p.add_argument('--no-write', action='store_true', help='do not write bench/results/paper_dryrun.*')
    p.add_argument('--keep-grid', action='store_true', help="keep the task's end-of-run sample grid (RUN/samples/)")
    p.add_argument('--results-name', default='paper_dryrun', help='bench/results/NAME.json and .md')
    args = p.parse_args(argv)
    if args.stage: return run_stage(args)
    with tempfile.TemporaryDirectory() as t:
        work = Path(args.work or t); work.mkdir(parents=True, exist_ok=True)
        make_data(work, args.size)
        rows, t_all = [], time.time()
        env = {**os.environ, 'PYTHONPATH': str(ROOT), 'HF_HUB_OFFLINE': '1'}
        for s in args.stages:
            cmd = [sys.executable, __file__, '--stage', s, '--work', str(work), '--profile', args.profile, '--steps', str(args.steps),
                   '--batch-size', str(args.batch_size)] + (['--keep-grid'] if args.keep_grid else [])
            r = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if r.returncode != 0: sys.exit(f'stage {s} failed (exit {r.returncode}):\n{r.stderr[-4000:]}')
            rows.append(json.loads(next(l for l in r.stdout.splitlines() if l.startswith('RESULT '))[7:])); print(rows[-1], flush=True)
        total = time.time() - t_all
    if args.no_write: return 0
    meta = {'profile': args.profile, 'machine': platform.machine(), 'cores': os.cpu_count(), 'threads': os.environ.get('OMP_NUM_THREADS', '2'),
            'load_avg_at_end': os.getloadavg(), 'date': time.strftime('%Y-%m-%d'), 'total_seconds': round(total, 1)}
    res = ROOT/'bench'/'results'
    (res/f'{args.results_name}.json').write_text(json.dumps({'rows': rows, 'env': meta}, indent=1) + '\n')
    md = ['# Paper profile, dry run on CPU', '',
          f'`python bench/paper_dryrun.py` ({args.steps} steps, batch {args.batch_size}, the `{args.profile}` network sizes at 256 px) on '
          f'{meta["cores"]} CPU cores ({meta["machine"]}), {meta["threads"]} torch threads, {meta["date"]}; load average at the end '
          f'{", ".join(f"{x:.1f}" for x in meta["load_avg_at_end"])} (a shared machine: times are upper bounds). Total {meta["total_seconds"]} s. '
          'Data: the CholecSeg8K converter fixture at 256 px; offline weights (untrained CLIP text encoder, segmenter without ImageNet weights). '
          'It proves the path runs; the numbers are not results. No GPU here: `bench/paper_gpu.sh` is the GPU counterpart (not run).', '',
          '| model | px | parameters (M) | s / step (batch) | s / sample | peak RSS (MB) | added by training, per sample (MB) | sample 1 pair, 4 steps (s) |',
          '|---|---:|---:|---:|---:|---:|---:|---:|']
    for r in rows:
        if 'step_seconds' in r:
            md.append(f'| {r["stage"]} | {r["size"]} | {r["params_M"]} | {r["step_seconds"]} ({r["batch"]}) | {r["seconds_per_sample"]} | '
                      f'{r["peak_rss_mb"]} | {r["train_rss_mb_per_sample"]} | {r["sample_seconds_1pair_4steps"]} |')
    for r in rows:
        if 'step_seconds' not in r: md.append(f'\n- {r["stage"]}: ' + ', '.join(f'{k} {v}' for k, v in r.items() if k != 'stage'))
    if any(r.get('cuda_peak_mb') for r in rows):
        md += ['', '| model | CUDA peak allocated (MB) |', '|---|---:|'] + [f'| {r["stage"]} | {r["cuda_peak_mb"]} |' for r in rows if r.get('cuda_peak_mb')]
    (res/f'{args.results_name}.md').write_text('\n'.join(md) + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
