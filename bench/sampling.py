"""Sampling speed and decode quality of a SimGen model per sampler.

    python bench/sampling.py [--run RUN | --profile demo] [--n 8] [--ddpm-n 8] [--samplers ddpm-1000,ddim-50,...]
                             [--real DATA --segmenter SEG_RUN]

Seconds per image for DDPM-1000 (the paper's sampler), DDIM-50 and DPM-Solver++ at 25/15/10 steps, each with a
quality figure: the fraction of generated mask pixels whose colour lies within a fixed absolute distance of the
palette colour they decode to (and the mean distance); with --real and --segmenter also KID (segmenter features,
against the real test split) and alignment (mIoU of the segmenter's prediction on the generated image against the
generated mask). Without --run, a freshly initialised model of the profile's
config is used: its speed is the real model's speed, its quality numbers are those of an untrained model (labelled so).
Writes bench/results/sampling.json and sampling.md.
"""
import argparse, json, os, platform, resource, sys, time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
THRESHOLDS = (0.05, 0.1, 0.2)      # absolute colour distance in [-1, 1] RGB space (simgen.DECODE_THRESHOLD = 0.1)


def build_pipeline(args):
    from simgen_nb.train import load_run, read_config
    from simgen_nb.simgen import SimGenConfig, SimGenTask
    if args.run:
        cfg, pipe = load_run(args.run)
        return pipe, {'model': f'run {args.run}', 'profile': cfg['profile'], 'trained_steps': cfg['train']['steps']}
    classes = {'name': 'synthsurg-like', 'ignore_index': 255,
               'classes': [{'id': k, 'name': f'class{k}', 'color': [int(c) for c in np.random.default_rng(k).integers(0, 256, 3)]} for k in range(args.classes)]}
    torch.manual_seed(0)
    task = SimGenTask(SimGenConfig.for_profile(args.profile), classes)
    return task.pipeline(task.build_model()), {'model': f'fresh untrained {args.profile} model (quality numbers meaningless)',
                                               'profile': args.profile, 'trained_steps': 0}


def judge(out, pipe, args, spec) -> dict:
    "KID[segmenter] against the real test split and alignment mIoU of one sampler's generated pairs."
    import tempfile
    from simgen_nb.data import save_pair, write_metadata
    from simgen_nb.metrics import evaluate
    with tempfile.TemporaryDirectory(prefix='sampling-bench-') as d:
        ids = [f'gen_{i:05d}' for i in range(len(out.images))]
        for i, k in enumerate(ids):
            save_pair(d, k, (np.asarray(out.images[i]) * 255).round().astype(np.uint8), np.asarray(out.masks[i]).astype(np.uint8))
        write_metadata(d, dict(pipe.config.classes), {'train': ids}, source=f'bench/sampling.py {spec}')
        res = evaluate(args.real, d, metrics=('kid', 'alignment'), features='segmenter', segmenter=args.segmenter,
                       real_split='test', size=pipe.unet.config.sample_size, kid_subsets=50, cache=True, device=args.device)
    m = res['metrics']
    kid = next(k for k in m if k.startswith('KID')); al = next(k for k in m if k.startswith('alignment'))
    return {'kid': m[kid]['mean'], 'kid_std': m[kid]['std'], 'kid_subset_size': m[kid]['subset_size'], 'alignment_miou': m[al]['miou']}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--run', default=None, help='SimGen run folder (default: a fresh model of --profile)')
    ap.add_argument('--profile', default='demo')
    ap.add_argument('--classes', type=int, default=8, help='classes of the fresh model')
    ap.add_argument('--n', type=int, default=8, help='images per sampler (one batch)')
    ap.add_argument('--ddpm-n', type=int, default=8, help='images for DDPM-1000')
    ap.add_argument('--samplers', default='ddpm-1000,ddim-50,dpmsolver-25,dpmsolver-15,dpmsolver-10')
    ap.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    ap.add_argument('--threads', type=int, default=None, help='torch CPU threads (default: torch\'s)')
    ap.add_argument('--figure', default=None, help='also write the sample grid of --figure-sampler here (PNG)')
    ap.add_argument('--figure-sampler', default='dpmsolver-25', help='the sampler whose grid --figure shows (one of --samplers)')
    ap.add_argument('--out', default=str(ROOT/'bench'/'results'/'sampling'))
    ap.add_argument('--real', default=None, help='real data set (common format) for KID and alignment, with --segmenter')
    ap.add_argument('--segmenter', default=None, help='segmenter run (simgen-nb train segmenter) judging KID and alignment')
    args = ap.parse_args()
    if bool(args.real) != bool(args.segmenter): ap.error('--real and --segmenter go together')
    if args.threads: torch.set_num_threads(args.threads)
    from simgen_nb.train import make_scheduler, sample_generators
    from simgen_nb.simgen import sample_figure
    pipe, what = build_pipeline(args)
    pipe = pipe.to(args.device); pipe.set_progress_bar_config(disable=True)
    base_cfg = pipe.scheduler.config
    rows = []
    for spec in args.samplers.split(','):
        name, steps = spec.rsplit('-', 1); steps = int(steps)
        n = args.ddpm_n if name == 'ddpm' else args.n
        pipe.scheduler = make_scheduler(name, base_cfg)
        if args.device.startswith('cuda'): torch.cuda.reset_peak_memory_stats(); torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = pipe(batch_size=n, num_inference_steps=steps, generator=sample_generators(0, range(n)), output_type='np')
        if args.device.startswith('cuda'): torch.cuda.synchronize()
        sec = time.perf_counter() - t0
        d = out.distances
        row = {'sampler': name, 'steps': steps, 'images': n, 'seconds_per_image': sec / n,
               'mean_decode_distance': float(d.mean()),
               **{f'frac_within_{t}': float((d <= t).mean()) for t in THRESHOLDS}}
        if args.device.startswith('cuda'): row['peak_gpu_mem_mb'] = torch.cuda.max_memory_allocated() / 2**20
        if args.real: row.update(judge(out, pipe, args, spec))
        rows.append(row); print(json.dumps(row), flush=True)
        if args.figure and spec == args.figure_sampler:
            Path(args.figure).parent.mkdir(parents=True, exist_ok=True)
            sample_figure(out, pipe.class_colors()).save(args.figure)
    res = {'benchmark': 'sampling', **what, 'palette': pipe.config.palette_kind, 'image_size': pipe.unet.config.sample_size,
           'device': args.device, 'torch_threads': torch.get_num_threads(), 'cpu_count': os.cpu_count(),
           'load_average': os.getloadavg(), 'platform': platform.platform(), 'torch': torch.__version__,
           'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 'thresholds': THRESHOLDS, 'rows': rows,
           'note': 'decode distance: colour distance of each generated mask pixel to the palette colour it decodes to; '
                   'KID and alignment with --real/--segmenter', 'real': args.real, 'segmenter': args.segmenter}
    out = Path(args.out); out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix('.json').write_text(json.dumps(res, indent=1))
    md = [f'# Sampling benchmark ({what["model"]})', '',
          f'device {args.device}, {res["torch_threads"]} torch threads on {res["cpu_count"]} CPUs (load average at the end {res["load_average"][0]:.1f}), '
          f'{res["image_size"]} px, palette {res["palette"]}, peak RSS {res["peak_rss_mb"]:.0f} MB', '',
          '| sampler | steps | images | s / image | mean decode distance | ' + ' | '.join(f'within {t}' for t in THRESHOLDS) + ' |'
          + (' KID[segmenter] | alignment mIoU |' if args.real else ''),
          '|---|---|---|---|---|' + '---|' * len(THRESHOLDS) + ('---|---|' if args.real else '')]
    for r in rows:
        md.append(f"| {r['sampler']} | {r['steps']} | {r['images']} | {r['seconds_per_image']:.3f} | {r['mean_decode_distance']:.3f} | "
                  + ' | '.join(f"{r[f'frac_within_{t}']:.3f}" for t in THRESHOLDS) + ' |'
                  + (f" {r['kid']:.4f} ± {r['kid_std']:.4f} | {r['alignment_miou']:.3f} |" if args.real else ''))
    if args.real:
        md += ['', f'KID: segmenter features ({args.segmenter}) of each sampler\'s images against the real test split of {args.real} '
               f'(50 subsets of min(n, 1000)); alignment: mIoU of that segmenter\'s prediction on a generated image against its '
               'generated mask. With 8-64 images per sampler these are coarse; compare them within this table only.']
    out.with_suffix('.md').write_text('\n'.join(md) + '\n')
    print('\n'.join(md))


if __name__ == '__main__':
    main()
