"""Does the unified model's joint-generation cost shrink with the training budget? (issue 15: E7's joint KID goal)

At E7's demo budget the unified model's joint pairs score about twice the joint-only model's KID
(`figures/demo/E7_goals.csv`), whatever share of the batch its conditional jobs take (`bench/results/unified_shares.md`).
The convergence study's curve offers a reason: at lr 1e-3 the joint-only model's KID falls from 0.0025 at 1,000 steps
to 0.00056 at 2,000 (`bench/results/convergence_lr_batch.md`), about as steps^-2, so any part of the minutes not spent
on the joint job costs it KID many times over; from 2,000 to 3,000 steps the curve flattens. The hypothesis predicts a
smaller ratio at a larger budget. This bench trains E7's unified and joint-only arms (`reproduce.e7_arms`, its
demo recipe: independent noise on a quarter of each batch, shares 2,1,0, mask norms 16) at `--scale` times E7's
budget (equal minutes still: the mask-norm arm trains its own step count for the same minutes), at E7's seeds, and
scores E7's joint sets at both budgets: 500 pairs per seed (sampling seed = training seed), the unified model plain and
with joint guidance 1.5, EDM DPM-Solver++ 15, KID[segmenter] and alignment mIoU under the demo judge
(`Context.pair_scores`, as E7). The 1 x rows are E7's own runs and sets (reused, not retrained).

    python bench/unified_joint_budget.py train --seed 0 --arm unified     # one arm per process, side by side
    python bench/unified_joint_budget.py train --seed 0 --arm joint-only
    python bench/unified_joint_budget.py train --seed 1 --arm unified
    python bench/unified_joint_budget.py train --seed 1 --arm joint-only
    python bench/unified_joint_budget.py score                            # bench/results/unified_joint_budget.{json,md}
"""
from __future__ import annotations
import argparse, dataclasses, json, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT/'bench'/'results'/'unified_joint_budget'
NOISE, SHARES, MASK_NORM, JOINT_GUIDANCE = 0.25, (2, 1, 0), 16, 1.5   # E7's demo parameters (nbs/experiments/E7_unified.ipynb)


def arms(ctx, seed: int, scale: float) -> dict:
    "E7's unified and joint-only arms at `scale` x E7's budget (scale 1: E7's own runs)."
    from simgen_nb.reproduce import e7_arms
    S = ctx.settings
    if scale <= 0: raise SystemExit(f'--scale {scale}: a positive multiple of E7\'s budget')
    S2 = dataclasses.replace(S, e7_steps=round(S.e7_steps * scale))
    name, path = next(iter(ctx.datasets().items()))
    a = e7_arms(S2, 'demo', name, path, seed, NOISE, [], SHARES, MASK_NORM)
    return {k: a[k] for k in ('unified', 'joint-only')}


def train(args):
    import torch
    torch.set_num_threads(args.threads)
    from simgen_nb.reproduce import Context
    ctx = Context('demo', ROOT, progress=False)
    spec = arms(ctx, args.seed, args.scale)[args.arm]
    t0 = time.time()
    run = getattr(ctx, spec['call'])(*spec['args'], **spec['kwargs'])
    print(f'{run} trained in {(time.time() - t0) / 60:.1f} min', flush=True)


def score(args):
    import torch
    torch.set_num_threads(args.threads)
    import numpy as np
    from simgen_nb.core import atomic_write_text
    from simgen_nb.reproduce import Context, joint_guided_set
    from simgen_nb.train import read_log
    ctx = Context('demo', ROOT, progress=False); S = ctx.settings
    name, path = next(iter(ctx.datasets().items()))
    rows, t0 = [], time.time()
    for scale in sorted({1.0, args.scale}):
        for seed in S.seeds:
            a = arms(ctx, seed, scale)
            runs = {k: ctx.runs/v['run'] for k, v in a.items()}
            missing = [str(r) for r in runs.values() if not (r/'pipeline'/'model_index.json').exists()]
            if missing: raise SystemExit(f'not trained yet: {missing}; run `train` first')
            sets = {'unified': ctx.sample(runs['unified'], runs['unified'].name, seed=seed),
                    f'unified (joint guidance {JOINT_GUIDANCE:g})': ctx.sample(runs['unified'], joint_guided_set(runs['unified'].name, JOINT_GUIDANCE),
                                                                                seed=seed, joint_guidance=f'{JOINT_GUIDANCE:g}'),
                    'joint-only': ctx.sample(runs['joint-only'], runs['joint-only'].name, seed=seed)}
            for method, gen in sets.items():
                sc = ctx.pair_scores(name, path, gen)
                run = runs['joint-only' if method == 'joint-only' else 'unified']
                log = read_log(run)
                rows.append({'scale': scale, 'seed': seed, 'method': method, 'run': run.name, 'steps': log[-1]['step'],
                             'train_minutes': log[-1]['seconds'] / 60, 'kid': sc['kid'], 'kid_std': sc['kid_std'],
                             'alignment': sc['alignment'], 'extractor': sc['extractor']})
                print(rows[-1], f'{(time.time() - t0) / 60:.1f} min', flush=True)
    ratios = []
    for scale in sorted({1.0, args.scale}):
        for method in ('unified', f'unified (joint guidance {JOINT_GUIDANCE:g})'):
            per = [(next(r for r in rows if r['scale'] == scale and r['seed'] == s and r['method'] == method),
                    next(r for r in rows if r['scale'] == scale and r['seed'] == s and r['method'] == 'joint-only')) for s in S.seeds]
            k = np.array([u['kid'] / j['kid'] for u, j in per]); al = np.array([u['alignment'] / j['alignment'] for u, j in per])
            ratios.append({'scale': scale, 'method': method, 'kid_ratio': float(k.mean()), 'kid_ratio_std': float(k.std(ddof=1)) if len(k) > 1 else None,
                           'alignment_ratio': float(al.mean()), 'alignment_ratio_std': float(al.std(ddof=1)) if len(al) > 1 else None,
                           'seeds': list(S.seeds)})
    rec = {'scale': args.scale, 'seeds': list(S.seeds), 'n': S.n_samples, 'sampler': f'{S.sampler}-{S.sample_steps}',
           'judge': ctx.judge_note(name), 'recipe': {'independent_noise': NOISE, 'independent_shares': list(SHARES), 'mask_norm': MASK_NORM},
           'rows': rows, 'ratios': ratios, 'minutes': (time.time() - t0) / 60}
    atomic_write_text(OUT.with_suffix('.json'), json.dumps(rec, indent=1) + '\n')
    sd = lambda m, s: f'{m:.3f}' if s is None else f'{m:.3f} ± {s:.3f}'
    lines = ["# The unified model's joint job at E7's budget and at a larger one", '',
             f"E7's demo arms (`reproduce.e7_arms`: unified = independent noise on {NOISE:g} of each batch, shares "
             f"{','.join(map(str, SHARES))}, mask norms {MASK_NORM}; joint-only = CFL SimGen; lr 1e-3, a quarter of the steps of warm-up, "
             f"equal minutes) at 1 x and {args.scale:g} x E7's budget; seeds {', '.join(map(str, S.seeds))}; {S.n_samples} joint pairs per "
             f"seed (sampling seed = training seed), {rec['sampler']}; judge {rec['judge']}. KID[segmenter] against the real training "
             "split (± its std over 50 subsets of one set); alignment = the judge's mIoU of each image against its mask. The 1 x rows are "
             "E7's runs and sets.", '',
             '| budget | seed | model | steps | training min | KID | alignment |', '|---|---|---|---|---|---|---|']
    lines += [f"| {r['scale']:g} x | {r['seed']} | {r['method']} | {r['steps']} | {r['train_minutes']:.1f} | {r['kid']:.5f} ± {r['kid_std']:.5f} | {r['alignment']:.4f} |"
              for r in rows]
    lines += ['', 'Paired per seed: the unified model over the joint-only model (mean ± std over seeds; E7\'s goals: KID at most 1.1, '
              'alignment at least 0.9):', '', '| budget | unified | KID ratio | alignment ratio |', '|---|---|---|---|']
    lines += [f"| {r['scale']:g} x | {r['method']} | {sd(r['kid_ratio'], r['kid_ratio_std'])} | {sd(r['alignment_ratio'], r['alignment_ratio_std'])} |"
              for r in ratios]
    lines += ['', f"Scoring {rec['minutes']:.1f} wall minutes. Commands: `python bench/unified_joint_budget.py train --seed S --arm A --scale {args.scale:g}` "
              f"(each arm and seed in its own one-thread process), then `python bench/unified_joint_budget.py score --scale {args.scale:g}`."]
    from unified_shares import write_report   # bench/ is on sys.path when this script runs
    write_report(OUT, lines, args.notes)


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    sub = p.add_subparsers(dest='cmd', required=True)
    t = sub.add_parser('train'); t.set_defaults(func=train)
    t.add_argument('--seed', type=int, required=True); t.add_argument('--arm', choices=('unified', 'joint-only'), required=True)
    t.add_argument('--scale', type=float, default=2.0, help="multiple of E7's training budget (default 2)")
    t.add_argument('--threads', type=int, default=1)
    s = sub.add_parser('score'); s.set_defaults(func=score)
    s.add_argument('--scale', type=float, default=2.0); s.add_argument('--threads', type=int, default=1)
    s.add_argument('--notes', default=None)
    args = p.parse_args(); args.func(args)


if __name__ == '__main__':
    main()
