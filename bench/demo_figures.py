"""Figures and tables of the 64-px demo networks that the module notebooks show (figures/demo-64px/).

    python bench/demo_figures.py palettes [--root runs/demo-64px] [--n 64] [--sampler ddpm-1000]   # SimGen: decoding per palette
    python bench/demo_figures.py casdm [--root runs/demo-64px] [--n 8]       # CASDM: images from held-out maps

The runs are trained by hand with `simgen-nb train ... --profile demo` (the demo networks at their own 64 px);
figures/demo-64px/README.md has the commands. (`simgen-nb reproduce --profile demo` trains the same networks at
32 px so that every experiment and seed fits one sitting; its outputs are figures/demo/.)

`palettes` samples every SimGen palette arm (`simgen-<palette>-synthsurg-s0-abl<steps>`, equal budgets) and the
headline CFL model (`simgen-cfl-synthsurg-s0`) with one sampler and reports the fraction of generated mask pixels
whose colour lies within a fixed absolute distance of the palette colour they decode to, plus the distance quantiles:
figures/demo-64px/simgen_palette_decode.{csv,md,png}. `casdm` draws the held-out test maps of the CASDM headline run's
data set, their real images and CASDM's images at two guidance scales: figures/demo-64px/casdm_heldout.png
(DDPM, 50 steps) or casdm_heldout_<sampler>.png.
The SimGen sample grid and sampler timings come from bench/sampling.py; the map generator's table from
bench/mapgen_faithfulness.py.
"""
import argparse, os, platform, re, time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
THRESHOLDS = (0.05, 0.1, 0.2)      # absolute colour distance in the [-1, 1] cube (simgen.DECODE_THRESHOLD = 0.1)


def palettes(args):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import pandas as pd
    from simgen_nb.train import load_run, make_scheduler, read_config, sample_generators
    from simgen_nb.palette import min_distance
    root = Path(args.root)
    runs = sorted(p for p in root.glob('simgen-*-synthsurg-s0-abl*') if (p/'pipeline').is_dir())
    head = root/'simgen-cfl-synthsurg-s0'
    if (head/'pipeline').is_dir(): runs.append(head)
    if not runs: raise SystemExit(f'no finished SimGen runs under {root}')
    rows, dists, grids = [], {}, {}
    for run in runs:
        cfg, pipe = load_run(run)
        pipe.set_progress_bar_config(disable=True)
        sname, ssteps = args.sampler.rsplit('-', 1)
        pipe.scheduler = make_scheduler(sname, pipe.scheduler.config)
        t0 = time.perf_counter()
        out = pipe(batch_size=args.n, num_inference_steps=int(ssteps), generator=sample_generators(0, range(args.n)), output_type='np')
        sec = time.perf_counter() - t0
        d = np.asarray(out.distances, np.float64)
        pal = cfg['task']['palette']
        label = f"{pal} ({cfg['train']['steps']} steps{', headline' if run == head else ''})"
        rows.append({'model': label, 'palette': pal, 'train steps': cfg['train']['steps'],
                     'palette min distance': float(min_distance(pipe.palette_tensor())),
                     **{f'within {t}': float((d <= t).mean()) for t in THRESHOLDS},
                     'median distance': float(np.median(d)), 'p95 distance': float(np.quantile(d, 0.95)),
                     'final loss': float(pd.read_csv(run/'log.csv')['loss'].iloc[-1]), 'images': args.n,
                     'sampler': args.sampler, 's / image': sec / args.n})
        dists[label] = d.ravel()
        grids[label] = out
        print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    out_dir = Path(args.figures)
    out_dir.mkdir(parents=True, exist_ok=True)
    table.to_csv(out_dir/'simgen_palette_decode.csv', index=False)
    machine = f'{platform.machine()} {os.cpu_count()} CPUs, torch {torch.__version__}, {torch.get_num_threads()} threads'
    md = ['**demo (CPU, SynthSurg 64 px)** — SimGen mask decoding per palette: the fraction of generated mask pixels whose '
          'colour lies within an absolute distance (colour cube [-1, 1]^3) of the palette colour it decodes to; higher is better.', '',
          table.to_markdown(index=False, floatfmt='.4g'), '',
          f'Seed 0; {args.n} samples per model, sampler {args.sampler}, sampling seeds 0..{args.n - 1}; {machine}. '
          'The palette arms share one budget (the ablation arms of the demo profile); the headline row is the longer CFL run.']
    (out_dir/'simgen_palette_decode.md').write_text('\n'.join(md) + '\n')
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), gridspec_kw={'width_ratios': [1.3, 1]})
    bins = np.linspace(0, 1.2, 61)
    for label, d in dists.items():
        axes[0].hist(np.clip(d, 0, 1.2), bins=bins, histtype='step', density=True, lw=1.5, label=label)
    for t in THRESHOLDS: axes[0].axvline(t, color='0.6', ls=':', lw=1)
    axes[0].set_yscale('log'); axes[0].set_xlabel('decode distance of a generated mask pixel'); axes[0].set_ylabel('density')
    axes[0].legend(fontsize=7); axes[0].set_title('distance to the nearest palette colour')
    x = np.arange(len(THRESHOLDS)); w = 0.8 / len(rows)
    for i, r in enumerate(rows):
        axes[1].bar(x + i * w, [r[f'within {t}'] for t in THRESHOLDS], w, label=r['model'])
    axes[1].set_xticks(x + 0.4 - w / 2, [f'within {t}' for t in THRESHOLDS]); axes[1].set_ylim(0, 1)
    axes[1].set_ylabel('fraction of mask pixels'); axes[1].legend(fontsize=7); axes[1].set_title('clean decoding')
    fig.suptitle(f'SimGen demo: mask decoding per palette ({args.n} samples, {args.sampler})', fontsize=10)
    fig.tight_layout(); fig.savefig(out_dir/'simgen_palette_decode.png', dpi=110); plt.close(fig)
    # one sample grid per palette arm (image / decoded mask / overlay), for the notebook
    from simgen_nb.simgen import sample_figure
    from PIL import Image
    ims = []
    for run in runs:
        cfg, pipe = load_run(run)
        label = next(l for l in grids if l.startswith(cfg['task']['palette']) and (('headline' in l) == (run == head)))
        o = grids[label]
        sub = type(o)(*(np.asarray(v)[:8] if not isinstance(v, list) else v[:8] for v in o.to_tuple()))
        ims.append((label, sample_figure(sub, pipe.class_colors(), scale=2)))
    fig, axes = plt.subplots(len(ims), 1, figsize=(10, 2.6 * len(ims)))
    for a, (label, im) in zip(np.atleast_1d(axes), ims):
        a.imshow(im); a.set_title(label, fontsize=9, loc='left'); a.axis('off')
    fig.tight_layout(); fig.savefig(out_dir/'simgen_palette_samples.png', dpi=100); plt.close(fig)
    print('\n'.join(md))


def casdm(args):
    from simgen_nb.train import load_run, make_scheduler
    from simgen_nb.casdm import heldout_figure
    from PIL import Image, ImageDraw
    run = Path(args.root)/'casdm-camse+casp-synthsurg-s0'
    cfg, pipe = load_run(run)
    pipe.set_progress_bar_config(disable=True)
    sname, ssteps = args.sampler.rsplit('-', 1)
    pipe.scheduler = make_scheduler(sname, pipe.scheduler.config)
    parts = []
    for g in (1.0, 3.0):
        im = heldout_figure(pipe, cfg['data'], 'test', n=args.n, steps=int(ssteps), guidance=g, seed=0, scale=2)
        if not parts: parts.append(im.crop((0, 0, im.width, 2 * im.height // 3)))       # maps, real images
        parts.append(im.crop((0, 2 * im.height // 3, im.width, im.height)))              # generated at guidance g
    pad = 18
    canvas = Image.new('RGB', (parts[0].width, sum(p.height for p in parts) + pad * 4), 'white')
    y, draw = pad, ImageDraw.Draw(canvas)
    titles = ['held-out maps / their real images', f'CASDM, guidance 1 (conditional only), {args.sampler}', f'CASDM, guidance 3, {args.sampler}']
    for title, p in zip(titles, parts):
        draw.text((2, y - 14), title, fill='black'); canvas.paste(p, (0, y)); y += p.height + pad
    out = Path(args.figures)/(f'casdm_heldout_{args.sampler}.png' if args.sampler != 'ddpm-50' else 'casdm_heldout.png')
    out.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(out)
    print(f'wrote {out} from {run} ({cfg["train"]["steps"]} steps, loss {cfg["task"]["loss"]}, {args.sampler})')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('what', choices=['palettes', 'casdm'])
    ap.add_argument('--root', default=str(ROOT/'runs'/'demo-64px'))
    ap.add_argument('--figures', default=str(ROOT/'figures'/'demo-64px'), help='where figures and tables go')
    ap.add_argument('--n', type=int, default=None, help='samples per model (palettes: 64) or maps (casdm: 8)')
    ap.add_argument('--sampler', default=None, help='scheduler-steps (ddpm-1000, ddim-50, dpmsolver-25, ...); default '
                    'palettes: dpmsolver-25, casdm: ddpm-50 (casdm_heldout.png; other samplers get their own file)')
    ap.add_argument('--threads', type=int, default=None)
    args = ap.parse_args()
    if args.threads: torch.set_num_threads(args.threads)
    args.n = args.n or (64 if args.what == 'palettes' else 8)
    args.sampler = args.sampler or ('dpmsolver-25' if args.what == 'palettes' else 'ddpm-50')
    {'palettes': palettes, 'casdm': casdm}[args.what](args)


if __name__ == '__main__':
    main()
