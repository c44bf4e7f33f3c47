"""Prompt faithfulness of the text-prompted map generator on held-out SynthSurg prompts, per guidance scale.

    python bench/mapgen_faithfulness.py [--profile smoke] [--steps N] [--n 48] [--n-data 800] [--data DIR] [--work DIR]
    python bench/mapgen_faithfulness.py --run runs/demo/mapgen-synthsurg-s0 --n 200     # a trained run, its own data set

Trains a map generator (`simgen-nb train mapgen`, the profile's config) on SynthSurg (generated with the
map generator's size unless --data names a data set in the common format), describes the held-out maps of the data
set (split test, else val) with `describe`, generates one map per held-out prompt list at each guidance scale,
and scores presence precision/recall, location, size-bin and count accuracy (`mapgen.faithfulness`). Guidance 0
is the unconditional model: the baseline every prompt-following number must beat. Each scale is also scored
after removing regions below --min-area px (the optional post-processing), so its benefit is measured.

Writes bench/results/mapgen_faithfulness.json and .md (smoke) or mapgen_faithfulness_<profile>.json and .md, and
figures/<profile>/mapgen_prompts.png (or --figures DIR; prompts, the held-out map they describe, and the generated maps). Smoke numbers
are a pipeline check, not results.
"""
import argparse, json, os, platform, sys, tempfile, time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def make_data(root: Path, n: int, size: int) -> Path:
    "SynthSurg in the common format (`simgen-nb data synth`), n pairs at the map generator's size."
    from simgen_nb.cli import main as cli
    if (root/'classes.json').exists(): return root
    args = ['data', 'synth', '--out', str(root), '--n', str(n), '--size', str(size), '--quiet']
    if cli(args) != 0: raise SystemExit(f'simgen-nb {" ".join(args)} failed')
    return root


def figure(pipe, samples, src_maps, colors, path: Path, guidance: float, steps: int, seed: int):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from simgen_nb.palette import colorize
    n = len(samples)
    gens = [torch.Generator().manual_seed(seed + i) for i in range(n)]
    out = pipe(samples, steps, guidance, gens)
    fig, axes = plt.subplots(n, 3, figsize=(9, 2.3 * n), gridspec_kw={'width_ratios': [2.2, 1, 1]})
    for i in range(n):
        axes[i, 0].text(0, 0.5, '\n'.join(samples[i]), fontsize=7, va='center', family='monospace')
        axes[i, 1].imshow(colorize(src_maps[i], colors)); axes[i, 2].imshow(out.maps[i])
        for a in axes[i]: a.axis('off')
    axes[0, 1].set_title('held-out map\n(described)', fontsize=8)
    axes[0, 2].set_title(f'generated, guidance {guidance:g}', fontsize=8)
    fig.suptitle(f'map generator: prompts -> maps ({pipe.encoder_note[:60]}...)', fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100); plt.close(fig)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--profile', default='smoke')
    ap.add_argument('--steps', type=int, default=None, help="training steps (default: the profile's)")
    ap.add_argument('--n', type=int, default=48, help='held-out prompt lists')
    ap.add_argument('--n-data', type=int, default=800, help='SynthSurg pairs to generate (80/10/10 split by pseudo-video)')
    ap.add_argument('--guidance', default='0,1,3,5')
    ap.add_argument('--sample-steps', type=int, default=25)
    ap.add_argument('--min-area', type=int, default=4, help='post-processing: remove regions below this many px')
    ap.add_argument('--data', default=None, help='data set in the common format (default: SynthSurg)')
    ap.add_argument('--work', default=None, help='folder for the data set and the run (default: a temp dir)')
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--figures', default=None, help='folder of mapgen_prompts.png (default: figures/<profile>)')
    ap.add_argument('--run', default=None, help='a trained map-generator run (no training; its profile and data set are used)')
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from simgen_nb.cli import main as cli
    from simgen_nb.train import load_run, make_scheduler, read_log
    from simgen_nb.data import read_classes
    from simgen_nb import mapgen as M

    if args.run:
        import yaml
        run = Path(args.run)
        saved = yaml.safe_load((run/'config.yaml').read_text())
        args.profile, data = saved['profile'], Path(args.data or saved['data'])
    else:
        work = Path(args.work or tempfile.mkdtemp(prefix='mapgen-bench-'))
        data = Path(args.data) if args.data else make_data(work/'synthsurg', args.n_data, M.mapgen_config(args.profile).size)
        run = work/f'mapgen-{args.profile}'
    t0 = time.time()
    if not (run/'pipeline'/'model_index.json').exists():
        flags = ['train', 'mapgen', '--data', str(data), '--profile', args.profile, '--out', str(run), '--no-progress']
        if args.steps: flags += ['--steps', str(args.steps)]
        if cli(flags) != 0: raise SystemExit('training failed')
    train_s = time.time() - t0 if not args.run else float(read_log(run)[-1]['seconds'])
    cfg, pipe = load_run(run)
    pipe.set_progress_bar_config(disable=True)
    pipe.scheduler = make_scheduler('dpmsolver', pipe.scheduler.config)
    c = pipe.unet.config
    samples, ids = M.heldout_prompts(data, pipe.class_names, c.sample_size, c.template, None, c.ignore_index)
    samples, ids = samples[:args.n], ids[:args.n]
    scales = [float(s) for s in args.guidance.split(',')]
    rows, t1 = [], time.time()
    rows = M.evaluate_faithfulness(pipe, samples, scales, args.sample_steps, seed=0, remove_below=(0, args.min_area))
    eval_s = time.time() - t1
    log = read_log(run)
    result = {
        'what': 'prompt faithfulness of the map generator on held-out prompts (describe() of held-out maps)',
        'label': f'{args.profile}: pipeline check' if args.profile in ('ci', 'smoke') else args.profile,
        'data': str(data), 'data_name': read_classes(data)['name'], 'heldout_maps': len(samples),
        'profile': args.profile, 'train_steps': cfg['train']['steps'], 'batch_size': cfg['train']['batch_size'],
        'map_size': c.sample_size, 'prediction_type': pipe.scheduler.config.prediction_type, 'final_loss': log[-1]['loss'] if log else None,
        'sampler': 'DPMSolverMultistepScheduler (dpmsolver++)', 'sample_steps': args.sample_steps,
        'encoder_note': pipe.encoder_note, 'train_seconds': round(train_s, 1), 'eval_seconds': round(eval_s, 1),
        'machine': f'{platform.machine()} {os.cpu_count()} cpus, torch {torch.__version__}, {args.threads} threads',
        'rows': rows}
    out = ROOT/'bench'/'results'
    out.mkdir(parents=True, exist_ok=True)
    stem = 'mapgen_faithfulness' if args.profile == 'smoke' else f'mapgen_faithfulness_{args.profile}'
    (out/f'{stem}.json').write_text(json.dumps(result, indent=1) + '\n')
    cols = ['guidance', 'remove_below', 'presence_precision', 'presence_recall', 'location_acc', 'size_acc', 'count_acc']
    md = [f'# Map generator: prompt faithfulness ({result["label"]})', '',
          f'{result["heldout_maps"]} held-out prompt lists ({result["data_name"]}, {c.sample_size} px), '
          f'{result["train_steps"]} training steps x batch {result["batch_size"]}, {args.sample_steps} {result["sampler"]} steps, seed 0.',
          f'{pipe.encoder_note[0].upper()}{pipe.encoder_note[1:]}.', 'Guidance 0 = unconditional (the baseline). remove_below: regions smaller than this many px relabelled (0: off).', '',
          '| ' + ' | '.join(cols) + ' |', '|' + '---|' * len(cols)]
    md += ['| ' + ' | '.join(f'{r[k]:.3f}' if isinstance(r[k], float) else str(r[k]) for k in cols) + ' |' for r in rows]
    md += ['', f'Training {train_s:.0f} s, evaluation {eval_s:.0f} s on {result["machine"]}.']
    (out/f'{stem}.md').write_text('\n'.join(md) + '\n')
    colors = np.array(c.class_colors, np.uint8)
    from simgen_nb.data import read_mask, resize_pair
    show = list(range(min(6, len(samples))))
    src = []
    for i in show:
        lab = read_mask(Path(data)/'masks'/f'{ids[i]}.png')
        src.append(resize_pair(np.zeros(lab.shape + (3,), np.uint8), lab, c.sample_size)[1])
    figure(pipe, [samples[i] for i in show], src, colors, Path(args.figures or ROOT/'figures'/args.profile)/'mapgen_prompts.png',
           3.0, args.sample_steps, 0)
    print('\n'.join(md))


if __name__ == '__main__':
    main()
