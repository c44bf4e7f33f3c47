"""Do the unified model's costs shrink with the training budget? (issue 15: E7's joint KID and mask -> image goals)

At E7's demo budget the unified model's joint pairs score about twice the joint-only model's KID
(`figures/demo/E7_goals.csv`), whatever share of the batch its conditional jobs take (`bench/results/unified_shares.md`).
The convergence study's curve offers a reason: at lr 1e-3 the joint-only model's KID falls from 0.0025 at 1,000 steps
to 0.00056 at 2,000 (`bench/results/convergence_lr_batch.md`), about as steps^-2, so any part of the minutes not spent
on the joint job costs it KID many times over; from 2,000 to 3,000 steps the curve flattens. The hypothesis predicts a
smaller ratio at a larger budget. This bench trains E7's unified, joint-only and CASDM (camse+casp, `edm`) arms
(`reproduce.e7_arms`, E7's demo recipe: independent noise on a quarter of each batch, shares 2,1,0, mask norms 16) at
`--scale` times E7's budget (still equal minutes: each arm its own steps at the measured step costs), at E7's seeds, and
scores what E7 scores at both budgets, with E7's calls (the 1 x rows are E7's own runs and sets, reused):
joint pairs (500 per seed, the unified model plain and with joint guidance 1.5) and images for E7's 400 held-out maps
(the unified model at guidance 1.25, CASDM at 1.5); EDM DPM-Solver++ 15, KID[segmenter] and alignment mIoU under the
demo judge (`Context.pair_scores`), E7's goals paired per seed. Image -> mask is not repeated here.

    python bench/unified_joint_budget.py train --seed 0 --arm unified     # one arm per process, side by side
    python bench/unified_joint_budget.py train --seed 0 --arm joint-only
    python bench/unified_joint_budget.py train --seed 0 --arm casdm       # and the same for --seed 1
    python bench/unified_joint_budget.py score                            # bench/results/unified_joint_budget.{json,md}
"""
from __future__ import annotations
import argparse, dataclasses, json, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT/'bench'/'results'/'unified_joint_budget'
NOISE, SHARES, MASK_NORM, JOINT_GUIDANCE = 0.25, (2, 1, 0), 16, 1.5   # E7's demo parameters (nbs/experiments/E7_unified.ipynb)
MAP_GUIDANCE, CASDM_GUIDANCE = 1.25, 1.5   # E7's unified_map_guidance and its CASDM guidance


def arms(ctx, seed: int, scale: float) -> dict:
    "E7's unified, joint-only and CASDM (edm) arms at `scale` x E7's budget (scale 1: E7's own runs)."
    from simgen_nb.reproduce import e7_arms
    S = ctx.settings
    if scale <= 0: raise SystemExit(f'--scale {scale}: a positive multiple of E7\'s budget')
    S2 = dataclasses.replace(S, e7_steps=round(S.e7_steps * scale))
    name, path = next(iter(ctx.datasets().items()))
    return e7_arms(S2, 'demo', name, path, seed, NOISE, ['edm'], SHARES, MASK_NORM)   # unified, joint-only, CASDM (edm)


def train(args):
    import torch
    torch.set_num_threads(args.threads)
    from simgen_nb.reproduce import Context
    ctx = Context('demo', ROOT, progress=False)
    spec = arms(ctx, args.seed, args.scale)['CASDM (edm)' if args.arm == 'casdm' else args.arm]
    t0 = time.time()
    run = getattr(ctx, spec['call'])(*spec['args'], **spec['kwargs'])
    print(f'{run} trained in {(time.time() - t0) / 60:.1f} min', flush=True)


def score(args):
    import torch
    torch.set_num_threads(args.threads)
    import numpy as np
    from simgen_nb.core import atomic_write_text
    from simgen_nb.data import read_splits
    from simgen_nb.reproduce import Context, joint_guided_set, goal_verdict
    from simgen_nb.train import read_log
    ctx = Context('demo', ROOT, progress=False); S = ctx.settings
    name, path = next(iter(ctx.datasets().items()))
    jobs = args.jobs.split(',')
    if set(jobs) - {'joint', 'm2i'}: raise SystemExit(f'--jobs {args.jobs}: joint and/or m2i')
    scales = sorted({1.0, args.scale})
    maps = ctx.heldout_maps(name, path) if 'm2i' in jobs else None   # E7's held-out maps (the test split's)
    n_maps = min(len(read_splits(maps)['train']), S.n_samples) if maps else None
    rows, t0 = [], time.time()
    for scale in scales:
        for seed in S.seeds:
            runs = {k: ctx.runs/v['run'] for k, v in arms(ctx, seed, scale).items()}
            need = ['unified'] + ['joint-only'] * ('joint' in jobs) + ['CASDM (edm)'] * ('m2i' in jobs)
            missing = [str(runs[k]) for k in need if not (runs[k]/'pipeline'/'model_index.json').exists()]
            if missing: raise SystemExit(f'not trained yet: {missing}; run `train` first')
            uni = runs['unified']
            sets = []   # (job, method, run, generated set): E7's calls, so the 1 x sets are E7's own
            if 'joint' in jobs:
                sets += [('joint', 'unified', uni, ctx.sample(uni, uni.name, seed=seed)),
                         ('joint', f'unified (joint guidance {JOINT_GUIDANCE:g})', uni,
                          ctx.sample(uni, joint_guided_set(uni.name, JOINT_GUIDANCE), seed=seed, joint_guidance=f'{JOINT_GUIDANCE:g}')),
                         ('joint', 'joint-only', runs['joint-only'], ctx.sample(runs['joint-only'], runs['joint-only'].name, seed=seed))]
            if 'm2i' in jobs:
                cas = runs['CASDM (edm)']
                sets += [('mask -> image', 'unified', uni, ctx.sample(uni, f'E7-maps-{uni.name}', n=n_maps, seed=seed, maps=maps, guidance=MAP_GUIDANCE)),
                         ('mask -> image', 'CASDM (edm)', cas, ctx.sample(cas, cas.name, n=n_maps, seed=seed, maps=maps, guidance=CASDM_GUIDANCE))]
            for job, method, run, gen in sets:
                sc = ctx.pair_scores(name, path, gen, **({'rare_k': 3} if job == 'mask -> image' else {}))
                log = read_log(run)
                rows.append({'scale': scale, 'seed': seed, 'job': job, 'method': method, 'run': run.name, 'steps': log[-1]['step'],
                             'train_minutes': log[-1]['seconds'] / 60, 'kid': sc['kid'], 'kid_std': sc['kid_std'],
                             'alignment': sc['alignment'], 'extractor': sc['extractor']})
                print(rows[-1], f'{(time.time() - t0) / 60:.1f} min', flush=True)
    get = lambda scale, seed, job, method: next(r for r in rows if (r['scale'], r['seed'], r['job'], r['method']) == (scale, seed, job, method))
    mean_std = lambda v: (float(np.mean(v)), float(np.std(v, ddof=1)) if len(v) > 1 else None)
    goals = []   # E7's goals, paired per seed
    for scale in scales:
        checks = []
        if 'joint' in jobs:
            for m in ('unified', f'unified (joint guidance {JOINT_GUIDANCE:g})'):
                checks += [(f'joint: KID {m} / joint-only', 'kid', m, 'joint-only', 'joint', np.divide, 1.1, True),
                           (f'joint: alignment {m} / joint-only', 'alignment', m, 'joint-only', 'joint', np.divide, 0.9, False)]
        if 'm2i' in jobs:
            checks += [('mask -> image: KID unified / CASDM (edm)', 'kid', 'unified', 'CASDM (edm)', 'mask -> image', np.divide, 1.1, True),
                       ('mask -> image: alignment unified - CASDM (edm)', 'alignment', 'unified', 'CASDM (edm)', 'mask -> image', np.subtract, 0, False)]
        for what, col, a, b, job, op, goal, lower in checks:
            m, sd = mean_std([float(op(get(scale, s, job, a)[col], get(scale, s, job, b)[col])) for s in S.seeds])
            goals.append({'scale': scale, 'comparison': what, 'goal': f"{'<=' if lower else '>='} {goal:g}", 'mean': m, 'std': sd,
                          'verdict': goal_verdict(m, sd, goal, lower), 'seeds': list(S.seeds)})
    rec = {'scale': args.scale, 'seeds': list(S.seeds), 'n_joint': S.n_samples, 'n_maps': n_maps, 'sampler': f'{S.sampler}-{S.sample_steps}',
           'guidance': {'unified mask -> image': MAP_GUIDANCE, 'CASDM': CASDM_GUIDANCE, 'joint': JOINT_GUIDANCE},
           'judge': ctx.judge_note(name), 'recipe': {'independent_noise': NOISE, 'independent_shares': list(SHARES), 'mask_norm': MASK_NORM},
           'rows': rows, 'goals': goals, 'minutes': (time.time() - t0) / 60}
    atomic_write_text(OUT.with_suffix('.json'), json.dumps(rec, indent=1) + '\n')
    fmt = lambda m, s: f'{m:.3f}' if s is None else f'{m:.3f} ± {s:.3f}'
    lines = ["# E7's goals at E7's demo budget and at a larger one", '',
             f"E7's demo arms (`reproduce.e7_arms`: unified = independent noise on {NOISE:g} of each batch, shares "
             f"{','.join(map(str, SHARES))}, mask norms {MASK_NORM}; joint-only = CFL SimGen; CASDM camse+casp under `edm`; lr 1e-3, a quarter "
             f"of the steps of warm-up, equal minutes at the measured step costs) at 1 x and {args.scale:g} x E7's budget; seeds "
             f"{', '.join(map(str, S.seeds))} (sampling seed = training seed); {rec['sampler']}; judge {rec['judge']}. Joint: {S.n_samples} pairs "
             f"per seed, the unified model plain and with joint guidance {JOINT_GUIDANCE:g}. Mask -> image: E7's {n_maps} held-out maps (the test "
             f"split's masks), the unified model at guidance {MAP_GUIDANCE:g}, CASDM at {CASDM_GUIDANCE:g}. KID[segmenter] against the real "
             "training split (± its std over 50 subsets of one set); alignment = the judge's mIoU of each image against its mask. The 1 x "
             "rows are E7's runs and sets (`figures/demo/E7_*.csv`).", '',
             '| budget | seed | job | model | steps | training min | KID | alignment |', '|---|---|---|---|---|---|---|---|']
    lines += [f"| {r['scale']:g} x | {r['seed']} | {r['job']} | {r['method']} | {r['steps']} | {r['train_minutes']:.1f} | "
              f"{r['kid']:.5f} ± {r['kid_std']:.5f} | {r['alignment']:.4f} |" for r in rows]
    lines += ['', "E7's goals, paired per seed (mean ± std over seeds):", '', '| budget | comparison | goal | value | verdict |', '|---|---|---|---|---|']
    lines += [f"| {g['scale']:g} x | {g['comparison']} | {g['goal']} | {fmt(g['mean'], g['std'])} | {g['verdict']} |" for g in goals]
    lines += ['', f"Scoring {rec['minutes']:.1f} wall minutes. Commands: `python bench/unified_joint_budget.py train --seed S --arm A --scale {args.scale:g}` "
              f"(each arm and seed in its own one-thread process), then `python bench/unified_joint_budget.py score --scale {args.scale:g} --jobs {args.jobs}`."]
    from unified_shares import write_report   # bench/ is on sys.path when this script runs
    write_report(OUT, lines, args.notes)


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    sub = p.add_subparsers(dest='cmd', required=True)
    t = sub.add_parser('train'); t.set_defaults(func=train)
    t.add_argument('--seed', type=int, required=True); t.add_argument('--arm', choices=('unified', 'joint-only', 'casdm'), required=True)
    t.add_argument('--scale', type=float, default=2.0, help="multiple of E7's training budget (default 2)")
    t.add_argument('--threads', type=int, default=1)
    s = sub.add_parser('score'); s.set_defaults(func=score)
    s.add_argument('--scale', type=float, default=2.0); s.add_argument('--threads', type=int, default=1)
    s.add_argument('--notes', default=None)
    s.add_argument('--jobs', default='joint,m2i', help="what to score: joint (pairs) and/or m2i (images for E7's held-out maps, against CASDM)")
    args = p.parse_args(); args.func(args)


if __name__ == '__main__':
    main()
