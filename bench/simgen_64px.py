"""Issue 17's 64 px goal: the demo's joint model (SimGen, CFL palette, the demo network) at its own 64 px, trained
outside the demo reproduction (at most 2 hours, resumable), scored against the real pairs at 64 px under a judge of
its own resolution.

    python bench/simgen_64px.py judge                      # the real-data judge at 64 px (the demo's judge settings)
    python bench/simgen_64px.py train [--steps 16000 --lr 1e-3 --warmup 500 --seed 0 --threads 2]
    python bench/simgen_64px.py score RUN [--steps 25 --n 500]   # 500 pairs, EDM DPM-Solver++ 25 (the goal's sampler)
    python bench/simgen_64px.py report [--notes NOTES.md]  # bench/results/simgen_64px.{json,md}
    python bench/simgen_64px.py figure RUN                 # figures/demo-64px/simgen_edm_samples.png (from the scored set)

Everything is the demo's (`reproduce.SETTINGS['demo']`: SynthSurg `data/synthsurg-demo`, 4,000 pairs made at 64 px;
the judge SegFormer-b0 to its plateau, at most 4,000 steps; KID[segmenter] over 50 subsets against the real train
split; alignment mIoU under the judge) except the evaluation size, 64 px, and the folders: runs under
`runs/demo-64px/`, generated sets under `runs/demo-64px/generated/`. The goals (issue 17): alignment >= 0.85 x the
real pairs' (the real test pairs under the same judge), KID <= 5 x the real floor (real test split against the real
train split, the same judge and extractor), and on the five largest classes (pixel share of the training split)
per-class alignment IoU >= 0.8 x the real pairs'.
"""
from __future__ import annotations
import argparse, dataclasses, json, os, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'bench'))
from casdm_recipe import load_records, save_record   # noqa: E402

RUNS = ROOT/'runs'/'demo-64px'
RECORDS = RUNS/'bench-64px'
OUT = ROOT/'bench'/'results'/'simgen_64px'
FIGURE = ROOT/'figures'/'demo-64px'/'simgen_edm_samples.png'
SIZE = 64


def context():
    "The demo's experiment context at 64 px: the demo's settings with evaluation size 64, runs under runs/demo-64px."
    from simgen_nb.reproduce import Context, SETTINGS
    ctx = Context('demo', ROOT, progress=False)
    ctx.settings = dataclasses.replace(SETTINGS['demo'], eval_size=SIZE, label='demo at 64 px (bench/simgen_64px.py)')
    ctx.runs = RUNS; ctx.figures = ROOT/'figures'/'demo-64px'
    RUNS.mkdir(parents=True, exist_ok=True)
    return ctx


def run_name(a) -> str:
    return f'simgen-cfl-edm-lr{a.lr:g}-{a.steps // 1000}k-s{a.seed}'


def cmd_judge(args) -> None:
    import torch
    torch.set_num_threads(args.threads)
    ctx = context()
    path = ctx.datasets()['synthsurg']
    t0 = time.time()
    run = ctx.judge('synthsurg', path)
    print(f'{run}: {ctx.judge_note("synthsurg")} ({(time.time() - t0) / 60:.1f} wall minutes)')


def cmd_train(args) -> None:
    "The SimGen run, through the command line (resumed when interrupted): the `edm` recipe at 64 px, cosine over --steps."
    ctx = context()
    path = ctx.datasets()['synthsurg']
    out = RUNS/run_name(args)
    argv = ['simgen-nb', 'train', 'simgen', '--data', str(path), '--profile', 'demo', '--image-size', str(SIZE), '--recipe', 'edm',
            '--palette', 'cfl', '--lr', str(args.lr), '--warmup-steps', str(args.warmup), '--steps', str(args.steps),
            '--seed', str(args.seed), '--checkpoint-every', '1000', '--keep-checkpoints', '2', '--sample-every', '0',
            '--log-every', '50', '--no-progress', '--out', str(out)]
    if (out/'config.yaml').exists(): argv += ['--resume', 'latest']
    subprocess.run(argv, check=True, env={**os.environ, 'OMP_NUM_THREADS': str(args.threads)})


def largest_classes(path: Path, k: int = 5) -> list[str]:
    "The `k` classes with the largest pixel share of the training split of `path` (`data.class_stats`)."
    import numpy as np
    from simgen_nb.data import class_stats
    st = class_stats(path, 'train')
    return [st['names'][j] for j in np.argsort(-st['pixel_share'], kind='stable')[:k]]


def real_record(ctx, path: Path) -> dict:
    "The real pairs under the 64 px judge (made once): the real test split against the real train split, floor and alignment."
    from simgen_nb.data import read_classes
    if (RECORDS/'real.json').exists(): return json.loads((RECORDS/'real.json').read_text())
    if not (RUNS/'segmenters'/'real-synthsurg'/'metrics.json').exists(): raise SystemExit('no judge yet: run `python bench/simgen_64px.py judge` first')
    sc = ctx.pair_scores('synthsurg', path, path, split='test')   # ctx: the 64 px judge and evaluation size
    rec = {'what': 'real test pairs against the real train split', 'n': sc['n'], 'extractor': sc['extractor'],
           'kid': sc['kid'], 'kid_std': sc['kid_std'], 'alignment': sc['alignment'], 'alignment_iou': sc['iou'],
           'classes': [c['name'] for c in read_classes(path)['classes']], 'largest_classes': largest_classes(path),
           'judge': ctx.judge_note('synthsurg')}
    save_record(RECORDS, 'real', rec)
    return rec


def cmd_score(args) -> None:
    import torch, yaml
    from simgen_nb.data import read_classes
    run = Path(args.run).resolve()
    if not (run/'config.yaml').exists(): raise SystemExit(f'{run}: not a training run (no config.yaml)')
    cfg = yaml.safe_load((run/'config.yaml').read_text())
    if cfg.get('model') != 'simgen': raise SystemExit(f"{run}: a {cfg.get('model')} run; the goal is the joint (SimGen) model's")
    if cfg['task']['image_size'] != SIZE: raise SystemExit(f"{run}: trained at {cfg['task']['image_size']} px, not {SIZE}")
    torch.set_num_threads(args.threads)
    ctx = context()
    path = ctx.datasets()['synthsurg']
    names = [c['name'] for c in read_classes(path)['classes']]
    real_record(ctx, path)
    t = cfg['train']; log = (run/'log.csv').read_text().strip().splitlines(); last = dict(zip(log[0].split(','), log[-1].split(',')))
    key = f'{run.name}-dpmsolver-{args.steps}-seed{args.seed}'
    t0 = time.process_time()
    gen = ctx.sample(run, f'bench-64px-{run.name}-dpmsolver-{args.steps}-seed{args.seed}', n=args.n, steps=args.steps,
                     scheduler='dpmsolver', seed=args.seed)
    sc = ctx.pair_scores('synthsurg', path, gen)
    save_record(RECORDS, key, {'run': str(run.relative_to(ROOT)) if run.is_relative_to(ROOT) else str(run),
                               'steps_trained': int(last['step']), 'train_wall_minutes': float(last['seconds']) / 60,
                               **{k: t[k] for k in ('steps', 'lr', 'warmup_steps', 'ema_decay', 'batch_size', 'seed')},
                               'recipe': cfg['task']['recipe'], 'image_size': SIZE, 'sampler': f'dpmsolver-{args.steps}',
                               'sampling_seed': args.seed, 'n': args.n, 'generated': str(gen.relative_to(ROOT)),
                               'extractor': sc['extractor'], 'kid': sc['kid'], 'kid_std': sc['kid_std'], 'alignment': sc['alignment'],
                               'alignment_rare': sc['alignment_rare'], 'alignment_iou': sc['iou'], 'classes': names,
                               'judge': ctx.judge_note('synthsurg'), 'score_cpu_minutes': (time.process_time() - t0) / 60})


def verdicts(rec: dict, real: dict) -> dict:
    "The three goals of one scored run against the real pairs."
    iou, riou = dict(zip(rec['classes'], rec['alignment_iou'])), dict(zip(real['classes'], real['alignment_iou']))
    per = {c: (iou[c] / riou[c]) if iou[c] is not None and riou[c] else None for c in real['largest_classes']}
    from simgen_nb.reproduce import goal_verdict   # E1's rule: an interval wholly on the goal's side meets it
    ratio = rec['alignment'] / real['alignment']
    return {'alignment_ratio': ratio, 'alignment_goal': goal_verdict(rec['alignment'], float('nan'), 0.85 * real['alignment'], False),
            'kid_ratio_to_floor': rec['kid'] / real['kid'] if real['kid'] > 0 else None,
            'kid_goal': goal_verdict(rec['kid'], rec['kid_std'], 5 * max(real['kid'], 0.0), True)
                        + ('; interval overlaps the floor\'s' if rec['kid'] - rec['kid_std'] <= real['kid'] + real['kid_std'] else '; above the floor'),
            'largest_class_ratios': per,
            'largest_classes_goal': 'met' if all(v is not None and v >= 0.8 for v in per.values()) else 'missed'}


def cmd_report(args) -> None:
    from simgen_nb.core import atomic_write_text
    recs = load_records(RECORDS)
    real = next(r for r in recs if r.get('what'))
    runs = sorted((r for r in recs if not r.get('what')), key=lambda r: (r['run'], r['sampler'], r['sampling_seed']))
    if not runs: raise SystemExit('no run scored yet')
    for r in runs: r.update(verdicts(r, real))
    big = real['largest_classes']
    riou = dict(zip(real['classes'], real['alignment_iou']))
    import statistics
    from simgen_nb.reproduce import goal_verdict
    summary, groups = [], {}
    for r in runs: groups.setdefault((r['run'], r['sampler']), []).append(r)
    for (run, smp), g in groups.items():
        if len(g) < 2: continue
        al = [r['alignment'] for r in g]; m, sd = statistics.mean(al), statistics.stdev(al)
        summary.append({'run': run, 'sampler': smp, 'sampling_seeds': sorted(r['sampling_seed'] for r in g), 'alignment_mean': m,
                        'alignment_std': sd, 'alignment_ratio_mean': m / real['alignment'],
                        'alignment_goal': goal_verdict(m, sd, 0.85 * real['alignment'], False),
                        'kid_mean': statistics.mean(r['kid'] for r in g), 'kid_std_over_seeds': statistics.stdev(r['kid'] for r in g)})
    atomic_write_text(OUT.with_suffix('.json'), json.dumps({'real': real, 'records': runs, 'summary': summary}, indent=1) + '\n')
    lines = ['# The joint model at 64 px against issue 17\'s 64 px goals', '',
             f"SynthSurg demo data at 64 px (`data/synthsurg-demo`), the demo network, CFL palette. Each run's pairs are "
             f"scored as E1 scores the headline, at 64 px: {real['extractor']} (± = std over 50 subsets of one set) against "
             f"the real train split, alignment mIoU under the judge ({real['judge']}, trained at 64 px on the real train split). "
             f"Real pairs ({real['n']} real test pairs): alignment {real['alignment']:.3f}, KID floor {real['kid']:.2g} ± "
             f"{real['kid_std']:.2g}. Goals: alignment >= 0.85 x real, KID <= 5 x the floor (E1's rule: met when the "
             f"KID interval lies below it, missed when above), per-class alignment >= 0.8 x real on the five largest classes.", '',
             '| run | steps | lr | train wall min | sampler | sampling seed | n | KID | alignment | x real | alignment goal | KID goal | five largest classes |',
             '|---|---|---|---|---|---|---|---|---|---|---|---|---|']
    for r in runs:
        lines.append(f"| `{Path(r['run']).name}` | {r['steps_trained']:,} | {r['lr']:g} | {r['train_wall_minutes']:.0f} | {r['sampler']} | {r['sampling_seed']} | "
                     f"{r['n']} | {r['kid']:.2g} ± {r['kid_std']:.2g} | {r['alignment']:.3f} | {r['alignment_ratio']:.3f} | "
                     f"{r['alignment_goal']} | {r['kid_goal']} | {r['largest_classes_goal']} |")
    lines += ['', 'Per-class alignment IoU on the five largest classes (pixel share of the training split), real test pairs first:', '',
              '| pairs | ' + ' | '.join(big) + ' |', '|---|' + '---|' * len(big),
              '| real test pairs | ' + ' | '.join(f'{riou[c]:.3f}' for c in big) + ' |']
    for r in runs:
        iou = dict(zip(r['classes'], r['alignment_iou']))
        lines.append(f"| `{Path(r['run']).name}` {r['sampler']}, sampling seed {r['sampling_seed']} | " +
                     ' | '.join(f"{iou[c]:.3f} ({r['largest_class_ratios'][c]:.2f} x)" if iou[c] is not None else 'n/a' for c in big) + ' |')
    if summary:
        lines += ['', 'Over sampling seeds of one trained model (mean ± std; the spread leaves out training randomness):', '',
                  '| run | sampler | sampling seeds | alignment | x real | alignment goal | KID |', '|---|---|---|---|---|---|---|']
        for g in summary:
            lines.append(f"| `{Path(g['run']).name}` | {g['sampler']} | {', '.join(map(str, g['sampling_seeds']))} | "
                         f"{g['alignment_mean']:.4f} ± {g['alignment_std']:.4f} | {g['alignment_ratio_mean']:.3f} | {g['alignment_goal']} | "
                         f"{g['kid_mean']:.2g} ± {g['kid_std_over_seeds']:.2g} |")
    if args.notes: lines += ['', Path(args.notes).read_text().rstrip()]
    atomic_write_text(OUT.with_suffix('.md'), '\n'.join(lines) + '\n')
    print('\n'.join(lines))


def pair_grid_figure(gen: Path, title: str, path: Path, k: int = 8) -> None:
    "The first `k` pairs of the generated set `gen`: image, decoded mask and overlay rows, the class legend; written atomically to `path`."
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt, numpy as np
    from simgen_nb.data import read_classes, read_image, read_mask
    from simgen_nb.palette import colorize
    from simgen_nb.reproduce import Context
    cls = read_classes(gen)['classes']
    colours = np.array([c['color'] for c in cls], dtype=np.uint8)
    ids = sorted(p.stem for p in (gen/'images').glob('*.png'))[:k]
    fig, axes = plt.subplots(3, len(ids), figsize=(1.6 * len(ids), 5.8))
    for j, i in enumerate(ids):
        img, lab = read_image(gen/'images'/f'{i}.png'), read_mask(gen/'masks'/f'{i}.png')
        col = colorize(lab, colours)
        for row, pic in enumerate((img, col, (0.55 * img + 0.45 * col).astype(np.uint8))):
            axes[row, j].imshow(pic); axes[row, j].set_xticks([]); axes[row, j].set_yticks([])
    for row, name in enumerate(('image', 'decoded mask', 'overlay')): axes[row, 0].set_ylabel(name)
    Context.class_legend(fig, cls, loc='lower center', bbox_to_anchor=(0.5, 0.0), ncol=5)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0.12, 1, 0.95))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + '.tmp.png'); fig.savefig(tmp, dpi=110); os.replace(tmp, path); plt.close(fig)
    print(f'wrote {path}')


def cmd_figure(args) -> None:
    "Eight pairs of the scored set: image, decoded mask and overlay rows, with the class legend."
    run = Path(args.run).resolve()
    rec = json.loads((RECORDS/f'{run.name}-dpmsolver-{args.steps}-seed0.json').read_text())
    pair_grid_figure(ROOT/rec['generated'], f"SimGen at 64 px ({rec['recipe']}, {rec['steps_trained']:,} steps at lr {rec['lr']:g}, "
                     f"seed {rec['seed']}): the first 8 of {rec['n']} pairs, {rec['sampler']}", FIGURE)


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    sub = p.add_subparsers(dest='cmd', required=True)
    j = sub.add_parser('judge'); j.add_argument('--threads', type=int, default=1)
    t = sub.add_parser('train')
    t.add_argument('--steps', type=int, default=16000); t.add_argument('--lr', type=float, default=1e-3)
    t.add_argument('--warmup', type=int, default=500); t.add_argument('--seed', type=int, default=0); t.add_argument('--threads', type=int, default=2)
    s = sub.add_parser('score'); s.add_argument('run')
    s.add_argument('--steps', type=int, default=25); s.add_argument('--n', type=int, default=500)
    s.add_argument('--seed', type=int, default=0); s.add_argument('--threads', type=int, default=2)
    r = sub.add_parser('report'); r.add_argument('--notes', default=None)
    f = sub.add_parser('figure'); f.add_argument('run'); f.add_argument('--steps', type=int, default=25)
    args = p.parse_args()
    if args.cmd == 'train' and not (1 <= args.warmup < args.steps): p.error(f'--warmup {args.warmup}: in [1, --steps)')
    if args.cmd == 'score' and args.n < 2: p.error(f'--n {args.n}: KID needs at least 2 pairs')
    if args.cmd == 'score' and not 1 <= args.steps <= 1000: p.error(f'--steps {args.steps}: in [1, 1000]')
    {'judge': cmd_judge, 'train': cmd_train, 'score': cmd_score, 'report': cmd_report, 'figure': cmd_figure}[args.cmd](args)


if __name__ == '__main__':
    main()
