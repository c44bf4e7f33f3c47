"""SimGen convergence study: sample quality against training compute, one curve per training recipe.

    python bench/convergence.py run   --data DATA --judge SEG_RUN [--recipes paper,v-cosine,...] [--points 500,1000,...]
                                      [--seeds 0] [--n 200] [--threads 1] [--runs runs/convergence]
    python bench/convergence.py floor --data DATA --judge SEG_RUN [--n 200]
    python bench/convergence.py report [--figure figures/demo/convergence.png]

`run` trains the joint model (SimGen, CFL palette, the demo network at 32 px, batch 8, the demo learning-rate
schedule for the largest point; `--block-out-channels` / `--layers-per-block` size the network otherwise, an arm of its
own with `--tag`) once per recipe and seed, stopping at each point (training steps) to judge it:
`--n` pairs from the recipe's few-step sampler (25 steps) and, at the last point, from the 10-step sampler and
`--n-ref` pairs from the recipe's reference sampler (DDPM-1000 for the VP recipes, EDM Euler-256 for EDM).
Quality is fixed in advance: KID[segmenter] (unbiased, `--kid-subsets` subsets of n/2, their std as the spread)
and alignment mIoU (the judge's prediction on the generated image against the generated mask), both against the
real **test** split under the judge segmenter `--judge`. Training compute is the training process's CPU time
(each run is one process with `--threads` torch threads; the machine is shared, so wall time would lie).
Every record is appended to bench/results/convergence.json as it is measured; a rerun skips what is there and
resumes training runs from their last checkpoint (`--resume latest`), so the study survives interruptions.
`floor` measures the real floor (the real val split judged as if generated, against the test split, same n).
`report` writes bench/results/convergence.md and the figure.
Learning-rate and batch-size arms of one recipe (`--lr`, `--batch-size`, `--warmup` with `--tag=-lr1e-3`: the run name
and the arm) can live in a study of their own (`--results bench/results/convergence_lr_batch.json`; `report` then writes
the Markdown beside it and one figure of the arms against training CPU minutes). `report` also stores the mean and std
over seeds of every arm and point in the JSON (`summary`).
"""
import argparse, json, os, resource, shutil, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT/'bench'/'results'/'convergence.json'


def load():
    return json.loads(RESULTS.read_text()) if RESULTS.exists() else {'records': [], 'floor': None, 'meta': {}}


def save(db):
    tmp = RESULTS.with_suffix(f'.json.{os.getpid()}.tmp')
    tmp.write_text(json.dumps(db, indent=1)); os.replace(tmp, RESULTS)


def append(rec):
    "Add one record under an exclusive lock (several recipes run as parallel processes)."
    import fcntl
    with open(RESULTS.with_suffix('.lock'), 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        db = load(); db['records'].append(rec); save(db)


def judge(gen_pairs, classes, args, tag):
    "KID[segmenter] and alignment mIoU of generated pairs (list of (uint8 image, labels)) against the real test split."
    import numpy as np
    from simgen_nb.data import save_pair, write_metadata
    from simgen_nb.metrics import evaluate
    with tempfile.TemporaryDirectory(prefix='convergence-') as d:
        ids = [f'gen_{i:05d}' for i in range(len(gen_pairs))]
        for k, (img, lab) in zip(ids, gen_pairs): save_pair(d, k, img, lab.astype(np.uint8))
        write_metadata(d, classes, {'train': ids}, source=f'bench/convergence.py {tag}')
        n = len(ids)
        res = evaluate(args.data, d, metrics=('kid', 'alignment'), features='segmenter', segmenter=args.judge,
                       real_split='test', size=32, kid_subsets=args.kid_subsets, kid_subset_size=max(2, n // 2),
                       cache=True, device='cpu')
    m = res['metrics']
    kid = next(k for k in m if k.startswith('KID')); al = next(k for k in m if k.startswith('alignment'))
    return {'kid': m[kid]['mean'], 'kid_std': m[kid]['std'], 'kid_subset_size': m[kid]['subset_size'],
            'alignment_miou': m[al]['miou'], 'n': n}


def generate(run, sampler, steps, n, seed=1000, **pipe_kwargs):
    "n pairs (uint8 image, labels) from the run's `sampler` with `steps` steps (per-sample generators keyed (seed, index)); "
    "`pipe_kwargs` go to the pipeline call (e.g. joint_guidance). Returns (pairs, the run's class table)."
    import numpy as np
    from simgen_nb.train import load_run, make_scheduler, sample_generators
    _, pipe = load_run(run, device='cpu')
    pipe.scheduler = make_scheduler(sampler, pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    pairs, bs = [], 50
    for s in range(0, n, bs):
        idx = list(range(s, min(n, s + bs)))
        o = pipe(batch_size=len(idx), num_inference_steps=steps, generator=sample_generators(seed, idx), output_type='np', **pipe_kwargs)
        pairs += [((o.images[j] * 255).round().astype(np.uint8), o.masks[j]) for j in range(len(idx))]
    return pairs, dict(pipe.config.classes)


def train_to(run, recipe, seed, step, total, args):
    "Train (or resume) the run up to `step`; return the CPU seconds this call's training process used."
    cmd = [str(Path(sys.executable).parent/'simgen-nb'), 'train', 'simgen', '--data', args.data, '--out', str(run), '--stop-at', str(step),
           '--no-progress']
    if (run/'config.yaml').exists(): cmd += ['--resume', 'latest']
    else:
        cmd += ['--profile', 'demo', '--image-size', '32', '--recipe', recipe, '--seed', str(seed), '--steps', str(total),
                '--batch-size', str(args.batch_size), '--checkpoint-every', str(args.checkpoint_every), '--keep-checkpoints', '2',
                '--sample-every', '0', '--log-every', '50'] + (['--lr', str(args.lr)] if args.lr else []) \
               + (['--warmup-steps', str(args.warmup)] if args.warmup is not None else []) \
               + (['--block-out-channels', args.block_out_channels] if args.block_out_channels else []) \
               + (['--layers-per-block', str(args.layers_per_block)] if args.layers_per_block else []) \
               + (['--attention-resolutions', args.attention_resolutions] if args.attention_resolutions else []) \
               + (['--mask-weight', str(args.mask_weight)] if args.mask_weight is not None else []) \
               + (['--independent-noise', str(args.independent_noise)] if args.independent_noise else [])
    env = {**os.environ, 'OMP_NUM_THREADS': str(args.threads), 'MKL_NUM_THREADS': str(args.threads), 'HF_HUB_OFFLINE': '1'}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def cmd_run(args):
    import torch
    # import every module this process uses now: the library may change on disk while the study runs (training
    # itself runs in a fresh subprocess at each point)
    import simgen_nb.metrics, simgen_nb.simgen, simgen_nb.train, simgen_nb.data, simgen_nb.segment, simgen_nb.extractors  # noqa: F401
    torch.set_num_threads(args.threads)
    db = load()
    points = sorted(int(p) for p in args.points.split(','))
    tag = args.tag or ''
    from simgen_nb.simgen import RECIPES
    if not (Path(args.judge)/'config.yaml').exists(): raise SystemExit(f'no judge segmenter run at {args.judge} (see the docstring)')
    for seed in [int(s) for s in args.seeds.split(',')]:
        for recipe in args.recipes.split(','):
            r = RECIPES[recipe]
            name = f'{recipe}{tag}-s{seed}'
            run = Path(args.runs)/name
            done = {(x['step'], x['sampler']) for x in db['records'] if x['run'] == name and x.get('n') == args.n}
            for p in points:
                few = f"{r['few'][0]}-{r['few'][1]}"
                want = [few] + ([f"{r['few'][0]}-10", f"{r['reference'][0]}-{r['reference'][1]}"] if p == points[-1] and args.final_samplers else [])
                if all((p, s) in done for s in want): continue
                cpu = train_to(run, recipe, seed, p, points[-1], args)
                state = json.loads((run/f'checkpoint-{p}'/'state.json').read_text()) if (run/f'checkpoint-{p}'/'state.json').exists() else {}
                prev = [x for x in db['records'] if x['run'] == name and x['step'] < p]
                # CPU seconds of training so far: this call's plus the last recorded point's (None once a call was lost)
                base = max(prev, key=lambda x: x['step'])['train_cpu_s'] if prev else (0.0 if p == points[0] else None)
                cpu_total = None if base is None or (not prev and cpu < 1) else cpu + base
                for spec in want:
                    if (p, spec) in done: continue
                    sampler, steps = spec.rsplit('-', 1)
                    n = args.n if spec != want[-1] or len(want) == 1 or not args.final_samplers else args.n_ref
                    t0 = time.time()
                    pairs, classes = generate(run, sampler, int(steps), n)
                    q = judge(pairs, classes, args, f'{name} step {p} {spec}')
                    rec = {'run': name, 'recipe': recipe, 'arm': f'{recipe}{tag}', 'seed': seed, 'step': p, 'batch_size': args.batch_size,
                           'lr': args.lr, 'warmup': args.warmup, **({'block_out_channels': args.block_out_channels} if args.block_out_channels else {}),
                           **({'layers_per_block': args.layers_per_block} if args.layers_per_block else {}),
                           **({'attention_resolutions': args.attention_resolutions} if args.attention_resolutions else {}),
                           **({'mask_weight': args.mask_weight} if args.mask_weight is not None else {}),
                           **({'independent_noise': args.independent_noise} if args.independent_noise else {}), 'train_cpu_s': None if cpu_total is None else round(cpu_total, 1), 'train_wall_s': state.get('seconds'),
                           'threads': args.threads, 'sampler': spec, 'sample_s': round(time.time() - t0, 1), **q}
                    if spec == few and n != args.n: rec['n'] = n
                    append(rec); db = load()
                    print(json.dumps(rec), flush=True)
            if args.cleanup: shutil.rmtree(run/'samples', ignore_errors=True)


def cmd_floor(args):
    "The real floor: the real val split judged as a generated set against the real test split, at the study's n."
    import numpy as np
    from simgen_nb.data import read_classes, read_splits, read_image, read_mask
    from PIL import Image
    db = load()
    ids = read_splits(args.data)['val'][:args.n]
    pairs = []
    for i in ids:
        img = np.asarray(Image.fromarray(read_image(Path(args.data)/'images'/f'{i}.png')).resize((32, 32), Image.BICUBIC))
        lab = np.asarray(Image.fromarray(read_mask(Path(args.data)/'masks'/f'{i}.png')).resize((32, 32), Image.NEAREST))
        pairs.append((img, lab))
    db['floor'] = {'what': f'real val split (first {len(ids)} ids, 32 px) vs real test split', **judge(pairs, read_classes(args.data), args, 'floor')}
    db['meta'] = {'judge': str(args.judge), 'data': str(args.data)}
    save(db); print(json.dumps(db['floor']))


def cpu_per_step(df):
    "Training CPU seconds per step of each run, from consecutive points whose CPU time was measured."
    out = {}
    for run, g in df.dropna(subset=['train_cpu_s']).drop_duplicates(['run', 'step']).sort_values('step').groupby('run'):
        d = g[['step', 'train_cpu_s']].diff().dropna()
        d = d[d['step'] > 0]
        if len(d): out[run] = float(d['train_cpu_s'].sum() / d['step'].sum())
    return out


def plot_curve(axes, g, label, x=None):
    "One curve per axis (KID, alignment) of one recipe or arm: mean over seeds at each step against `x` (default the step); "
    "a band of the std over seeds when there are several, else KID's subset std as bars."
    agg = g.groupby('step').agg(x=(x or 'step', 'mean'), kid=('kid', 'mean'), kid_sd=('kid', 'std'), kid_sub=('kid_std', 'mean'),
                                al=('alignment_miou', 'mean'), al_sd=('alignment_miou', 'std'), seeds=('seed', 'nunique'))
    ns = int(agg['seeds'].max())
    for ax, col in zip(axes, ('kid', 'al')):
        line, = ax.plot(agg['x'], agg[col], marker='o', label=f'{label} ({ns} seed{"s" if ns > 1 else ""})')
        if ns > 1: ax.fill_between(agg['x'], agg[col] - agg[col + '_sd'], agg[col] + agg[col + '_sd'], alpha=0.2, color=line.get_color())
        elif col == 'kid': ax.errorbar(agg['x'], agg[col], yerr=agg['kid_sub'], fmt='none', color=line.get_color(), capsize=2)


def threads_text(df) -> str:
    "The torch threads of the training processes in `df`'s records, e.g. '1 thread' or '2 threads'."
    th = sorted({int(t) for t in df['threads'].dropna()}) if 'threads' in df else [1]
    return f"{' and '.join(map(str, th))} thread{'s' if th != [1] else ''}"


def arm_figure(allfew, fl, path, plt, title='Learning rate and batch size at equal compute', x='cpu'):
    """The learning-rate / batch / network arms of one recipe against training CPU minutes (equal compute; `x='wall'`: the
    training process's wall minutes); returns their description."""
    recipes = allfew.loc[allfew['arm'] != allfew['recipe'], 'recipe'].unique()
    if len(recipes) == 0: return ''
    g = allfew[allfew['recipe'].isin(recipes)]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    desc = []
    for arm, a in g.groupby('arm'):
        lr, bs, wu = a['lr'].iloc[0], int(a['batch_size'].iloc[0]), a['warmup'].iloc[0] if 'warmup' in a else None
        lr = 3e-4 if lr is None or lr != lr else lr; wu = 500 if wu is None or wu != wu else int(wu)
        net = a['block_out_channels'].dropna() if 'block_out_channels' in a else []
        net = f', network {net.iloc[0]}' if len(net) else ''
        mw = a['mask_weight'].dropna() if 'mask_weight' in a else []
        net += f', mask weight {mw.iloc[0]:g}' if len(mw) else ''
        label = f'{arm}: lr {lr:g}, batch {bs}, warm-up {wu}{net}'
        desc.append(f'`{arm}` (lr {lr:g}, batch {bs}, warm-up {wu} steps{net}, seed{"s" if a["seed"].nunique() > 1 else ""} {", ".join(str(s) for s in sorted(a["seed"].unique()))})')
        plot_curve(axes, a, label, x={'wall': 'train_wall_min', 'step': 'step'}.get(x, 'train_cpu_min'))
    if fl:
        axes[0].axhline(fl['kid'], color='k', ls=':', label='real floor (val vs test)')
        axes[1].axhline(fl['alignment_miou'], color='k', ls=':', label='real pairs (val)')
    axes[0].set_yscale('log'); axes[0].set_ylabel('KID[segmenter] vs real test (log scale)'); axes[1].set_ylabel('alignment mIoU (judge)')
    xlabel = 'training steps' if x == 'step' else f"training {'wall' if x == 'wall' else 'CPU'} minutes ({threads_text(g)})"
    for ax in axes: ax.set_xlabel(xlabel); ax.grid(alpha=0.3)
    handles = {l: h for ax in axes for h, l in zip(*ax.get_legend_handles_labels())}   # one legend under both panels, off the curves
    fig.legend(handles.values(), handles.keys(), loc='lower center', ncol=2, fontsize=7)
    fig.suptitle(f'{title} ({", ".join(recipes)}; 25-step sampler, n = {int(g["n"].iloc[0])}); '
                 'bands: std over seeds; bars (one seed): KID std over subsets', fontsize=9)
    fig.tight_layout(rect=(0, 0.05 + 0.035 * ((len(handles) + 1) // 2), 1, 1)); fig.savefig(path, dpi=110); plt.close(fig)
    return (f"Arms (figure `{path.relative_to(ROOT)}`, against " + ('training steps' if x == 'step' else f"{'wall' if x == 'wall' else 'CPU'} minutes") + "): " + '; '.join(desc) +
            '. Arms without a suffix use the demo schedule (lr 3e-4, batch 8, 500 warm-up steps, cosine to the last point).')


def cmd_report(args):
    import pandas as pd
    import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt
    db = load()
    df = pd.DataFrame(db['records'])
    if df.empty: raise SystemExit('no records yet')
    per_step = cpu_per_step(df)
    df['cpu_s_per_step'] = df['run'].map(per_step)
    df['train_cpu_min'] = df['step'] * df['cpu_s_per_step'] / 60      # steps x the run's measured CPU cost per step
    df['train_wall_min'] = df['train_wall_s'] / 60 if 'train_wall_s' in df else float('nan')
    df['arm'] = df['run'].str.replace(r'-s\d+$', '', regex=True)      # recipe + tag (learning-rate / batch arms)
    allfew = df[df['sampler'].str.endswith('-25')]
    few = allfew[allfew['arm'] == allfew['recipe']]                     # the recipe curves: demo learning rate and batch
    fl = db.get('floor') or {}
    out = Path(args.figure).resolve(); out.parent.mkdir(parents=True, exist_ok=True)
    if (allfew['arm'] != allfew['recipe']).any() and allfew['recipe'].nunique() == 1:
        return report_text(args, db, df, per_step, fl, arm_figure(allfew, fl, out, plt, args.title, args.x), out)   # one recipe's arms: one figure
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for recipe, g in few.groupby('recipe'): plot_curve(axes, g, recipe)
    if fl:
        axes[0].axhline(fl['kid'], color='k', ls=':', label=f"real floor (val vs test, {fl['kid']:.1g})")
        axes[1].axhline(fl['alignment_miou'], color='k', ls=':', label='real pairs (val)')
    axes[0].set_yscale('log'); axes[0].set_ylabel('KID[segmenter] vs real test (log scale)'); axes[1].set_ylabel('alignment mIoU (judge)')
    for ax in axes: ax.set_xlabel('training steps (batch 8)'); ax.grid(alpha=0.3); ax.legend(fontsize=7)
    n = int(few['n'].iloc[0])
    fig.suptitle(f'SimGen convergence per recipe: SynthSurg 32 px, demo network; 25-step sampler, n = {n} pairs; '
                 f'bands: std over seeds; bars (one seed): KID std over subsets of n/2', fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    arms = arm_figure(allfew, fl, out.with_name(out.stem + '_lr_batch.png'), plt)
    return report_text(args, db, df, per_step, fl, arms, out)


def report_text(args, db, df, per_step, fl, arms, out):
    cols = ['arm', 'seed', 'step', 'train_cpu_min', 'sampler', 'n', 'kid', 'kid_std', 'alignment_miou']
    t = df[cols].sort_values(['arm', 'seed', 'step', 'sampler']).copy()
    t['KID ± std'] = [f'{k:.2g} ± {s:.1g}' for k, s in zip(t['kid'], t['kid_std'])]
    t['alignment'] = t['alignment_miou'].round(3)
    t['CPU min'] = t['train_cpu_min'].round(1)
    wall = 'train_wall_s' in df and df['train_wall_s'].notna().any()
    if wall: t['wall min'] = (df.loc[t.index, 'train_wall_s'] / 60).round(1)   # the training process's own clock (its state.json)
    t = t[['arm', 'seed', 'step', 'CPU min', *(['wall min'] if wall else []), 'sampler', 'n', 'KID ± std', 'alignment']]
    steps = ', '.join(f'{r}: {v:.2f} s' for r, v in sorted(per_step.items()))
    setup = Path(args.setup).read_text().strip() if args.setup else (
             'Joint model (SimGen, CFL palette) on SynthSurg (4,000 pairs made at 64 px; trained and judged at 32 px), the demo '
             'network, batch 8, learning rate 3e-4 (500 warm-up steps, cosine over 3,000), seeds 0 (every recipe) and 1 (edm, v-cosine-minsnr), one training process per run '
             '(1 torch thread; the four ran side by side on the shared 2-core machine). Judge: the segmenter run '
             f"`{db['meta'].get('judge')}` (SegFormer-b0 trained 3,000 steps on the real training split at 32 px; real test "
             f"mIoU {args.judge_miou}). KID[segmenter] is unbiased KID on the judge's features (± = std over 100 subsets of "
             'n/2); alignment = mIoU of the judge\'s prediction on each generated image against the generated mask. Both '
             'against the real **test** split.')
    lines = [f'# {args.title}', '', setup, '',
             f"Real floor ({fl.get('what', 'not measured')}): KID {fl.get('kid', float('nan')):.2g} ± {fl.get('kid_std', float('nan')):.1g}, "
             f"alignment {fl.get('alignment_miou', float('nan')):.3f} (n = {fl.get('n')}).", '',
             f'CPU seconds per training step, measured between points ({threads_text(df)}, shared machine): {steps}. '
             '"CPU min" = steps x that cost' + ('; "wall min" = the training process\'s own clock at that step.' if wall else '.'), '',
             *([arms, ''] if arms else []),
             t.to_markdown(index=False), '']
    # per arm and point: mean and std over seeds (the numbers the README quotes), kept in the JSON beside the records
    few = df[df['sampler'].str.endswith('-25')]
    summ = few.groupby(['arm', 'step']).agg(seeds=('seed', 'nunique'), cpu_min=('train_cpu_min', 'mean'), kid=('kid', 'mean'),
                                            kid_sd_seeds=('kid', 'std'), alignment=('alignment_miou', 'mean'),
                                            alignment_sd_seeds=('alignment_miou', 'std')).reset_index()
    db['summary'] = [{k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()} for r in
                     summ.round(6).to_dict('records')]
    save(db)
    if (summ['seeds'] > 1).any():
        m = summ[summ['seeds'] > 1].copy()
        m['KID (mean ± std over seeds)'] = [f'{k:.2g} ± {s:.1g}' for k, s in zip(m['kid'], m['kid_sd_seeds'])]
        m['alignment (mean ± std over seeds)'] = [f'{a:.3f} ± {s:.2g}' for a, s in zip(m['alignment'], m['alignment_sd_seeds'])]
        lines += ['Arms and points with more than one seed (25-step sampler):', '',
                  m[['arm', 'step', 'seeds', 'KID (mean ± std over seeds)', 'alignment (mean ± std over seeds)']].to_markdown(index=False), '']
    notes = Path(args.notes).read_text() if args.notes else ''
    from simgen_nb.core import atomic_write_text
    md = RESULTS.with_suffix('.md')
    atomic_write_text(md, '\n'.join(lines) + ('\n' + notes if notes else ''))
    print('wrote', out, 'and', md)


def main():
    global RESULTS
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = ap.add_subparsers(dest='cmd', required=True)
    for name in ('run', 'floor', 'report'):
        p = sub.add_parser(name)
        p.add_argument('--data', default=str(ROOT/'data'/'synthsurg-demo'))
        p.add_argument('--judge', default=str(ROOT/'runs'/'study'/'judge'))
        p.add_argument('--n', type=int, default=200)
        p.add_argument('--kid-subsets', type=int, default=100)
        p.add_argument('--threads', type=int, default=1)
        p.add_argument('--results', default=str(RESULTS), help='the study\'s records (JSON); the report is written beside it (.md)')
    r = sub.choices['run']
    r.add_argument('--recipes', default='paper,v-cosine,v-cosine-minsnr,edm')
    r.add_argument('--points', default='500,1000,2000,4000')
    r.add_argument('--seeds', default='0')
    r.add_argument('--n-ref', type=int, default=100, help='pairs from the reference sampler at the last point')
    r.add_argument('--final-samplers', action=argparse.BooleanOptionalAction, default=True)
    r.add_argument('--batch-size', type=int, default=8)
    r.add_argument('--lr', type=float, default=None)
    r.add_argument('--warmup', type=int, default=None)
    r.add_argument('--block-out-channels', default=None, help="the U-Net's channels per level (default: the demo network; with --tag, an arm of its own)")
    r.add_argument('--layers-per-block', type=int, default=None, help="residual blocks per level (default: the demo network's)")
    r.add_argument('--attention-resolutions', default=None,
                   help="feature-map sizes (px) where the U-Net attends, e.g. 16,8 or none (default: the demo network's, 8; with --tag, an arm of its own)")
    r.add_argument('--mask-weight', type=float, default=None, help='w in (L_image + w L_mask) / (1 + w) (default: 1, the profile\'s; with --tag, an arm of its own)')
    r.add_argument('--independent-noise', type=float, default=None,
                   help='fraction of each batch whose halves get separate noise levels (a unified model; with --tag, an arm of its own)')
    r.add_argument('--tag', default='', help='suffix of the run names (e.g. -lr1e-3)')
    r.add_argument('--checkpoint-every', type=int, default=250)
    r.add_argument('--runs', default=str(ROOT/'runs'/'convergence'))
    r.add_argument('--cleanup', action='store_true')
    sub.choices['report'].add_argument('--figure', default=str(ROOT/'figures'/'demo'/'convergence.png'))
    sub.choices['report'].add_argument('--judge-miou', default='0.481', help="the judge's real test mIoU (its metrics.json)")
    sub.choices['report'].add_argument('--notes', default=None, help='Markdown appended to the report (findings, commands)')
    sub.choices['report'].add_argument('--setup', default=None, help="Markdown describing the study's setup (default: the recipe study's)")
    sub.choices['report'].add_argument('--title', default='SimGen convergence study')
    sub.choices['report'].add_argument('--x', choices=['cpu', 'wall', 'step'], default='cpu',
                                       help="the arm figure's axis: training CPU minutes, the training process's wall minutes, or steps")
    args = ap.parse_args()
    RESULTS = Path(args.results).resolve()
    {'run': cmd_run, 'floor': cmd_floor, 'report': cmd_report}[args.cmd](args)


if __name__ == '__main__':
    main()
