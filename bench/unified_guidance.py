"""Mask -> image with the unified model: which guidance scale, chosen on the validation maps (never on E7's test maps)?
(issue 15: E7 samples the unified model and CASDM at guidance 1.5, and the unified model's alignment trails CASDM's.)

E7's demo arms (`reproduce.e7_arms`: the unified model and CASDM under `edm`, 2,000 / 900 steps at lr 1e-3) draw one
image for each of the first `--n` maps of SynthSurg's **validation** split, with E7's sampler (DPM-Solver++ 15), the
unified model at each guidance scale of `--guidance`, CASDM at each of `--casdm-guidance` as the reference. Scored as E7 scores
its images (`Context.pair_scores`: KID[segmenter] against the real training split, 50 subsets; alignment mIoU under the
demo judge, rare classes = the 3 rarest). The sets are ordinary generated data sets under
`runs/demo/generated/guidance-val<n>-*`, reused on a rerun.

    python bench/unified_guidance.py --seed 0 --n 200 --guidance 1,1.5,3 --casdm-guidance 1,1.5   # bench/results/unified_guidance.{json,md}
    python bench/unified_guidance.py --seed 0 --n 200 --guidance 1,1.25,1.5,2 --casdm-guidance '' --shares 2,1,0 --mask-norm 16 \
        --sample-seed 100 --out bench/results/unified_guidance_masknorm   # E7's arm with mask-modulated norms
"""
from __future__ import annotations
import argparse, json, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--seed', type=int, default=0); p.add_argument('--n', type=int, default=200)
    p.add_argument('--guidance', default='1.5,3,5', help='unified guidance scales, comma-separated')
    p.add_argument('--casdm-guidance', default='1.5', help='CASDM (edm) guidance scales, comma-separated')
    p.add_argument('--shares', default=None, help="the unified arm's independent_shares (clean,full,draw; default thirds), as E7's `independent_shares`")
    p.add_argument('--mask-norm', type=int, default=0, help="the unified arm's mask-modulated norms, as E7's `mask_norm` (0: none)")
    p.add_argument('--sample-seed', type=int, default=None, help='sampling seed (default: --seed)')
    p.add_argument('--out', default=str(ROOT/'bench'/'results'/'unified_guidance'))
    args = p.parse_args()
    from simgen_nb.core import atomic_write_text
    from simgen_nb.reproduce import Context, e7_arms
    from simgen_nb.simgen import check_shares
    ctx = Context('demo', ROOT, progress=False); S = ctx.settings
    name, path = next(iter(ctx.datasets().items()))
    shares = check_shares(args.shares.split(',')) if args.shares else None   # a named error for a bad value, before any work
    arms = e7_arms(S, 'demo', name, path, args.seed, 0.25, ['edm'], shares, args.mask_norm)
    sseed = args.seed if args.sample_seed is None else args.sample_seed
    runs = {a: getattr(ctx, s['call'])(*s['args'], **s['kwargs']) for a, s in arms.items()
            if a == 'unified' or (a == 'CASDM (edm)' and args.casdm_guidance)}
    maps = ctx.heldout_maps(name, path, split='val', n=args.n)   # the first n validation pairs, never a test pair
    jobs = [('unified', g) for g in (float(x) for x in args.guidance.split(','))] + [('CASDM (edm)', float(g)) for g in args.casdm_guidance.split(',') if g]
    rows, t0 = [], time.time()
    tag = '' if args.sample_seed is None else f'-s{sseed}'   # the sets of the earlier runs (sampling seed = --seed) keep their names
    for arm, g in jobs:
        run = runs[arm]
        gen = ctx.sample(run, f'guidance-val{args.n}{tag}-{run.name}-g{g:g}', n=args.n, seed=sseed, maps=maps, guidance=g)
        sc = ctx.pair_scores(name, path, gen)
        rows.append({'model': arm, 'run': run.name, 'guidance': g, 'kid': sc['kid'], 'kid_std': sc['kid_std'],
                     'alignment': sc['alignment'], 'alignment_rare': sc['alignment_rare'], 'extractor': sc['extractor']})
        print(rows[-1], f'{(time.time() - t0) / 60:.1f} min', flush=True)
    rec = {'seed': args.seed, 'sample_seed': sseed, 'shares': args.shares or 'thirds', 'mask_norm': args.mask_norm, 'n_maps': args.n, 'maps': 'validation split', 'sampler': f'{S.sampler}-{S.sample_steps}',
           'judge': ctx.judge_note(name), 'rows': rows, 'minutes': (time.time() - t0) / 60}
    out = Path(args.out)
    atomic_write_text(out.with_suffix('.json'), json.dumps(rec, indent=1) + '\n')
    norms = f', mask-modulated norms {args.mask_norm}' if args.mask_norm else ''
    lines = ['# Mask -> image: the unified model\'s guidance, chosen on validation maps', '',
             f"E7's demo arms at seed {args.seed} (the unified arm's independent_shares: {rec['shares']}{norms}; sampling seed {sseed}); the first {args.n} maps of SynthSurg's validation split at {S.eval_size} px; "
             f"{rec['sampler']}; judge {rec['judge']}. KID[segmenter] against the real training split (± its std over 50 subsets "
             "of one set); alignment = the judge's mIoU of each image against its map (one number per set).", '',
             '| model | guidance | KID[segmenter] | alignment mIoU | rare-class alignment |', '|---|---|---|---|---|']
    lines += [f"| {r['model']} | {r['guidance']:g} | {r['kid']:.5f} ± {r['kid_std']:.5f} | {r['alignment']:.4f} | {r['alignment_rare']:.4f} |"
              for r in rows]
    extra = (f' --shares {args.shares}' if args.shares else '') + (f' --mask-norm {args.mask_norm}' if args.mask_norm else '') + (f' --sample-seed {args.sample_seed}' if args.sample_seed is not None else '')
    lines += ['', f"{rec['minutes']:.1f} wall minutes (beside other jobs). Command: `python bench/unified_guidance.py --seed {args.seed} "
              f"--n {args.n} --guidance {args.guidance} --casdm-guidance {args.casdm_guidance or chr(39) * 2}{extra} --out {Path(args.out).relative_to(ROOT) if Path(args.out).is_absolute() else args.out}`"]
    atomic_write_text(out.with_suffix('.md'), '\n'.join(lines) + '\n')
    print('\n'.join(lines))


if __name__ == '__main__':
    main()
