"""Joint guidance for SimGen's joint sampling (`SimGenPipeline(joint_guidance=...)`): does pushing each half toward
agreement with the other raise image/mask alignment, and at what cost in KID?

    python bench/joint_guidance.py score RUN [--scales 1,1.5,2,3] [--halves both,image,mask] [--n 200] [--steps 25]
                                         [--threads 1] [--judge runs/study/judge] [--seed 1000]
    python bench/joint_guidance.py report [--notes NOTES.md]       # bench/results/joint_guidance.{json,md}, figure

RUN is a unified SimGen run (trained with `--independent-noise`, e.g. by `bench/convergence.py run
--independent-noise 0.25`). Each scale s is drawn with `joint_guidance` s on both halves (`both`), on the image half only
(`image`: (s, 1)) or on the mask half only (`mask`: (1, s)); s = 1 is plain joint sampling. Every set: `--n` pairs
from EDM DPM-Solver++ with `--steps` steps, per-sample generators keyed (`--seed`, index) (the convergence study's
sampling), judged as the convergence study judges (`bench/convergence.py`'s `judge`: KID[segmenter] over 100 subsets
of n/2, std as the spread, and alignment mIoU, against the real **test** split under `--judge`). Records are appended
to bench/results/joint_guidance.json as they are measured; a rerun skips what is there.
"""
from __future__ import annotations
import argparse, json, os, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'bench'))
import convergence   # noqa: E402

RESULTS = ROOT/'bench'/'results'/'joint_guidance.json'


def load() -> dict:
    return json.loads(RESULTS.read_text()) if RESULTS.exists() else {'records': []}


def save(db: dict) -> None:
    tmp = RESULTS.with_suffix(f'.json.{os.getpid()}.tmp')
    tmp.write_text(json.dumps(db, indent=1) + '\n'); os.replace(tmp, RESULTS)


def scale_pair(half: str, s: float) -> tuple[float, float]:
    "The pipeline's (image, mask) scales for guiding `half` ('both', 'image' or 'mask') by s."
    return {'both': (s, s), 'image': (s, 1.0), 'mask': (1.0, s)}[half]


def cmd_score(args) -> None:
    import torch, yaml
    run = Path(args.run).resolve()
    if not (run/'config.yaml').exists(): raise SystemExit(f'{run}: not a training run (no config.yaml)')
    cfg = yaml.safe_load((run/'config.yaml').read_text())
    if cfg.get('model') != 'simgen' or not cfg['task'].get('independent_noise'):
        raise SystemExit(f'{run}: not a unified SimGen run (joint guidance needs a model trained with --independent-noise)')
    if not (Path(args.judge)/'config.yaml').exists(): raise SystemExit(f'no judge segmenter run at {args.judge}')
    scales = [float(s) for s in args.scales.split(',')]
    halves = args.halves.split(',')
    for h in halves:
        if h not in ('both', 'image', 'mask'): raise SystemExit(f'--halves: both, image or mask, got {h!r}')
    for s in scales:
        if not s >= 0: raise SystemExit(f'--scales must be >= 0, got {s}')
    torch.set_num_threads(args.threads)
    log = (run/'log.csv').read_text().strip().splitlines()
    step = int(dict(zip(log[0].split(','), log[-1].split(',')))['step'])
    name = str(run.relative_to(ROOT)) if run.is_relative_to(ROOT) else str(run)
    for h in halves:
        for s in scales:
            if s == 1 and h != halves[0]: continue           # s = 1 is the same unguided set for every half
            jg = scale_pair(h, s)
            key = dict(run=name, step=step, joint_guidance=list(jg), sampler=f'dpmsolver-{args.steps}', n=args.n, seed=args.seed)
            if any(all(r.get(k) == v for k, v in key.items()) for r in load()['records']): print(f'{key}: scored already'); continue
            t0 = time.process_time()
            pairs, classes = convergence.generate(run, 'dpmsolver', args.steps, args.n, args.seed, joint_guidance=jg)
            gen_cpu = time.process_time() - t0
            q = convergence.judge(pairs, classes, argparse.Namespace(data=args.data, judge=args.judge, kid_subsets=args.kid_subsets),
                                  f'{name} joint_guidance {jg}')
            rec = {**key, 'guided': 'none' if s == 1 else h, 'scale': s, 'independent_noise': cfg['task']['independent_noise'],
                   'sample_cpu_s': round(gen_cpu, 1), 'judge': args.judge, **q}
            db = load(); db['records'].append(rec); save(db)
            print(json.dumps(rec), flush=True)


def cmd_report(args) -> None:
    import pandas as pd
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from simgen_nb.core import atomic_write_text
    db = load()
    df = pd.DataFrame(db['records'])
    if df.empty: raise SystemExit('no records: run `score` first')
    intro = next(x for x in __doc__.split('\n\n') if x.startswith('RUN is'))
    lines = ['# Joint guidance for SimGen joint sampling', '', intro.replace('\n', ' '), '']
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for (run, step), g in df.groupby(['run', 'step']):
        base = g[g['guided'] == 'none']
        lines += [f'## `{run}` at step {step}', '', '| guided | scale | sampler | n | KID ± std | alignment mIoU | sampling CPU s |',
                  '|---|---|---|---|---|---|---|']
        for _, r in g.assign(o=g['guided'] != 'none').sort_values(['o', 'guided', 'scale']).iterrows():
            lines.append(f"| {r['guided']} | {r['scale']:g} | {r['sampler']} | {r['n']} | {r['kid']:.2g} ± {r['kid_std']:.2g} | "
                         f"{r['alignment_miou']:.3f} | {r['sample_cpu_s']:.0f} |")
        lines.append('')
        for h in ('both', 'image', 'mask'):
            gh = pd.concat([base, g[g['guided'] == h]]).sort_values('scale')
            if len(gh) < 2: continue
            lab = f"{Path(run).name}: {h} guided"
            axes[0].errorbar(gh['scale'], gh['kid'], yerr=gh['kid_std'], marker='o', capsize=2, label=lab)
            axes[1].plot(gh['scale'], gh['alignment_miou'], marker='o', label=lab)
    if args.reference:                                   # a joint-only arm at the same step and sampler: mean and seed range
        ref_file, arm = args.reference.split(':')
        rr = pd.DataFrame(json.loads((ROOT/ref_file).read_text())['records'])
        steps, samplers = set(df['step']), set(df['sampler'])
        rr = rr[(rr['arm'] == arm) & rr['step'].isin(steps) & rr['sampler'].isin(samplers)].drop_duplicates(['run', 'step', 'sampler'])
        if rr.empty: raise SystemExit(f'--reference {args.reference}: no records of that arm at steps {sorted(steps)}')
        for ax, col in zip(axes, ('kid', 'alignment_miou')):
            ax.axhline(rr[col].mean(), color='k', ls='--', lw=1, label=f'joint-only {arm} ({rr["seed"].nunique()} seeds, mean)')
            ax.axhspan(rr[col].min(), rr[col].max(), color='k', alpha=0.1)
        lines += [f"Reference (dashed line, band = range over seeds): the joint-only arm `{arm}` of `{ref_file}` at the same step "
                  f"and sampler: alignment {', '.join(f'{v:.3f}' for v in rr['alignment_miou'])}, KID "
                  f"{', '.join(f'{v:.2g}' for v in rr['kid'])} (seeds {', '.join(str(int(x)) for x in rr['seed'])}).", '']
    for ax, yl in zip(axes, ('KID[segmenter] vs real test', 'alignment mIoU (judge)')):
        ax.set_xlabel('joint guidance scale s (1 = plain joint sampling)'); ax.set_ylabel(yl); ax.grid(alpha=0.3); ax.legend(fontsize=7)
    fig.suptitle('SimGen joint guidance (EDM DPM-Solver++, study judge)'); fig.tight_layout()
    out = Path(args.figure); out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.stem + '.tmp.png'); fig.savefig(tmp, dpi=120); os.replace(tmp, out)
    if args.notes: lines += ['', Path(args.notes).read_text().strip(), '']
    atomic_write_text(RESULTS.with_suffix('.md'), '\n'.join(lines) + '\n')
    print('\n'.join(lines))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = p.add_subparsers(dest='cmd', required=True)
    s = sub.add_parser('score'); s.add_argument('run')
    s.add_argument('--scales', default='1,1.5,2,3'); s.add_argument('--halves', default='both')
    s.add_argument('--n', type=int, default=200); s.add_argument('--steps', type=int, default=25)
    s.add_argument('--seed', type=int, default=1000, help='sampling seed (the convergence study samples with 1000)')
    s.add_argument('--threads', type=int, default=1); s.add_argument('--kid-subsets', type=int, default=100)
    s.add_argument('--data', default=str(ROOT/'data'/'synthsurg-demo')); s.add_argument('--judge', default=str(ROOT/'runs'/'study'/'judge'))
    r = sub.add_parser('report'); r.add_argument('--notes', default=None)
    r.add_argument('--reference', default='bench/results/headline_budget.json:edm-lr1e-3-8k',
                   help='FILE:ARM, a joint-only arm of a convergence-style results file drawn as a reference (default: the 8,000-step arm)')
    r.add_argument('--figure', default=str(ROOT/'figures'/'demo'/'joint_guidance.png'))
    a = p.parse_args()
    {'score': cmd_score, 'report': cmd_report}[a.cmd](a)


if __name__ == '__main__':
    main()
