"""How the unified model spends its independent part (issue 15: its mask -> image job trails CASDM's).

With `--independent-noise f` a fraction f of each batch holds one half at another level: clean (trains the
conditional the job uses), at full noise (the unconditional branch guidance needs) or at a second draw
(`--independent-shares`, default thirds). At f = 0.25 and thirds each conditional sees 1 sample in 24. This bench
trains E7's unified demo arm (`reproduce.e7_arms`: 2,000 steps at lr 1e-3, seed `--seed`) with other fractions and
shares and measures what E7 measures, on data E7 never scores:

- mask -> image on the first `--n` maps of the **validation** split, guidance 1 (E7's `unified_map_guidance` when the arms were
  screened; 1.25 since `bench/results/unified_guidance_masknorm.md`: arms stay compared at 1), KID[segmenter]
  against the real training split and alignment mIoU under the demo judge (`Context.pair_scores`);
- joint pairs (`--n`, sampling seed `--sample-seed`, not E7's 0/1), plain and with joint guidance 1.5 (E7's), scored alike.

E7's own arms (thirds at 0.25, and the joint-only model) are scored the same way as the reference. One training seed:
a screen for the recipe E7 then runs at two seeds, not a result. Each arm writes `runs/demo/bench-shares/<arm>.json`
from the sets that call asks for (reused when already sampled: a call with fewer `--joint-scales` drops the others'
rows); `report` gathers them into bench/results/unified_shares.{json,md}.

    python bench/unified_shares.py arm --fraction 0.25 --shares 2,1,0    # one arm (train + score); run arms side by side
    python bench/unified_shares.py arm --fraction 0.25                   # E7's arm (reused when E7 has trained it)
    python bench/unified_shares.py arm --fraction 0.25 --shares 2,1,0 --mask-norm 16   # its network with mask-modulated norms
    python bench/unified_shares.py arm --fraction 0.25 --shares 2,1,0 --mask-norm 32 --steps 1400   # wider norms, at their own equal-minutes steps
    python bench/unified_shares.py arm --fraction 0.25 --shares 2,1,0 --mask-norm 16 --two-stage 1,1.5   # + joint pairs in two stages
    python bench/unified_shares.py arm --joint-only                      # E7's joint-only arm
    python bench/unified_shares.py arm --casdm                           # E7's CASDM (edm) arm, mask -> image at guidance 1.5
    python bench/unified_shares.py report
"""
from __future__ import annotations
import argparse, json, re, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECORDS = ROOT/'runs'/'demo'/'bench-shares'
OUT = ROOT/'bench'/'results'/'unified_shares'


def arm(args):
    import torch
    torch.set_num_threads(args.threads)
    from simgen_nb.core import atomic_write_text
    from simgen_nb.reproduce import Context, e7_arms
    from simgen_nb.simgen import check_shares
    from simgen_nb.train import read_log
    ctx = Context('demo', ROOT, progress=False); S = ctx.settings
    name, path = next(iter(ctx.datasets().items()))
    shares = check_shares(args.shares.split(',')) if args.shares else (1.0, 1.0, 1.0)
    try: two_stage = [float(x) for x in args.two_stage.split(',')] if args.two_stage else []
    except ValueError: raise SystemExit(f'--two-stage {args.two_stage!r}: comma-separated guidance scales, e.g. 1,1.5')
    if two_stage and (args.casdm or args.joint_only): raise SystemExit('--two-stage applies to a unified arm (its own mask -> image job)')
    arms = e7_arms(S, 'demo', name, path, args.seed, args.fraction, ['edm'] if args.casdm else [], shares, args.mask_norm)
    spec = arms['CASDM (edm)' if args.casdm else 'joint-only' if args.joint_only else 'unified']
    key = 'CASDM (edm)' if args.casdm else 'joint-only' if args.joint_only else f"f{args.fraction:g}-shares{'_'.join(f'{s:g}' for s in shares)}" + (f'-masknorm{args.mask_norm}' if args.mask_norm else '')
    if args.steps:   # another budget for the unified arm (e.g. equal minutes for a network STEP_SECONDS does not list)
        if args.casdm or args.joint_only: raise SystemExit('--steps applies to a unified arm')
        from simgen_nb.reproduce import e7_run, unified_base
        run_name = e7_run(unified_base(name, args.fraction, shares, args.mask_norm), args.seed, args.steps, S.e7_lr)
        spec = {**spec, 'run': run_name, 'args': [*spec['args'][:-1], run_name],
                'kwargs': {**spec['kwargs'], 'steps': args.steps, 'warmup_steps': args.steps // 4}}
        key += f'-{args.steps}steps'
    t0 = time.time()
    run = getattr(ctx, spec['call'])(*spec['args'], **spec['kwargs'])
    log = read_log(run)
    single = args.joint_only or args.casdm   # not a unified arm
    rec = {'arm': key, 'run': run.name, 'fraction': None if single else args.fraction, 'mask_norm': None if single else args.mask_norm,
           'steps': log[-1]['step'] if log else None,
           'shares': None if single else list(shares), 'seed': args.seed,
           'train_minutes': log[-1]['seconds'] / 60 if log and 'seconds' in log[-1] else None,
           'judge': ctx.judge_note(name), 'sampler': f'{S.sampler}-{S.sample_steps}', 'n': args.n,
           'sample_seed': args.sample_seed, 'rows': []}
    def score(job, gen, **extra):
        sc = ctx.pair_scores(name, path, gen)
        rec['rows'].append({'job': job, **extra, 'kid': sc['kid'], 'kid_std': sc['kid_std'], 'alignment': sc['alignment'],
                            'alignment_rare': sc.get('alignment_rare'), 'extractor': sc['extractor']})
        print(key, rec['rows'][-1], f'{(time.time() - t0) / 60:.1f} min', flush=True)
    tag = f'shares-n{args.n}-s{args.sample_seed}-{run.name}'
    if not args.joint_only:
        maps = ctx.heldout_maps(name, path, split='val', n=args.n)   # the first n validation pairs, never a test pair
        g = 1.5 if args.casdm else 1.0   # E7's guidance for CASDM, and the unified arms' common scale (E7's unified_map_guidance at the screens)
        score('mask -> image (val maps)', ctx.sample(run, f'm2i-val-{tag}', n=args.n, seed=args.sample_seed, maps=maps, guidance=g), guidance=g)
    if not args.casdm:
        joint = ctx.sample(run, f'joint-{tag}', n=args.n, seed=args.sample_seed)
        score('joint', joint, joint_guidance=1.0)
    for g in two_stage:
        # the pair in two stages: the plain joint set's masks, then new images for them (mask -> image at guidance g)
        score('joint, two-stage', ctx.sample(run, f'joint-2stage-g{g:g}-{tag}', n=args.n, seed=args.sample_seed + 1, maps=joint, guidance=g),
              guidance=g)
    for jg in ([] if single else args.joint_scales.split(',')):   # 's' (both halves) or 'image_mask' (e.g. 1_1.5)
        si, sm = (float(x) for x in (jg.split('_') if '_' in jg else (jg, jg)))
        name_ = f'{si:g}' if si == sm else f'{si:g}_{sm:g}'
        score('joint', ctx.sample(run, f'joint-jg{name_}-{tag}', n=args.n, seed=args.sample_seed, joint_guidance=f'{si:g},{sm:g}' if si != sm else f'{si:g}'),
              joint_guidance=si if si == sm else [si, sm])
    rec['minutes'] = (time.time() - t0) / 60
    RECORDS.mkdir(parents=True, exist_ok=True)
    fname = re.sub(r'[^\w.-]+', '_', key).strip('_')   # 'CASDM (edm)' -> CASDM_edm
    atomic_write_text(RECORDS/f'{fname}.json', json.dumps(rec, indent=1) + '\n')


def report(args):
    from simgen_nb.core import atomic_write_text
    recs = [json.loads(p.read_text()) for p in sorted(RECORDS.glob('*.json'))]
    if not recs: raise SystemExit(f'no records under {RECORDS}: run `arm` first')
    atomic_write_text(OUT.with_suffix('.json'), json.dumps(recs, indent=1) + '\n')
    r0 = recs[0]
    lines = ['# How the unified model spends its independent part (one training seed: a screen)', '',
             f"E7's demo arms (lr 1e-3, training seed {r0['seed']}; equal training minutes at the measured step costs: 2,000 SimGen steps, fewer for a costlier network); {r0['n']} maps of SynthSurg's validation split "
             f"(mask -> image: the unified arms at guidance 1, CASDM at 1.5, as E7 samples them) and {r0['n']} joint pairs (sampling seed {r0['sample_seed']}), {r0['sampler']}; judge "
             f"{r0['judge']}. KID[segmenter] against the real training split, ± its std over 50 subsets of one set. "
             "The conditional share is the fraction of all samples training mask -> image (f x 1/2 x the clean share).", '',
             '| arm | f | shares (clean, full, draw) | conditional share | steps | training min | m2i KID | m2i alignment | joint KID | joint alignment | joint KID, guided 1.5 | joint alignment, guided 1.5 |',
             '|---|---|---|---|---|---|---|---|---|---|---|---|']
    for r in recs:
        get = lambda job, jg=None: next((x for x in r['rows'] if x['job'] == job and (jg is None or x.get('joint_guidance') == jg)), None)
        cell = lambda x: ('-', '-') if x is None else (f"{x['kid']:.5f} ± {x['kid_std']:.5f}", f"{x['alignment']:.4f}")
        m, j, g = cell(get('mask -> image (val maps)')), cell(get('joint', 1.0)), cell(get('joint', 1.5))
        sh = r['shares']
        cond = '-' if sh is None else f"1/{1 / (r['fraction'] * 0.5 * sh[0] / sum(sh)):.0f}"
        tm = '-' if r['train_minutes'] is None else f"{r['train_minutes']:.1f}"
        lines.append(f"| {r['arm']} | {r['fraction'] if r['fraction'] is not None else '-'} | {'-' if sh is None else ', '.join(f'{s:g}' for s in sh)} "
                     f"| {cond} | {r.get('steps') or r['run'].split('-')[-2]} | {tm} | {m[0]} | {m[1]} | {j[0]} | {j[1]} | {g[0]} | {g[1]} |")
    lines += ['', 'Every joint set (joint guidance as (image, mask) scales; 1 = plain):', '',
              '| arm | joint guidance | joint KID | joint alignment |', '|---|---|---|---|']
    for r in recs:
        for x in r['rows']:
            if not x['job'].startswith('joint'): continue
            jg = x.get('joint_guidance')
            jg = (f"two stages: joint masks, then images at guidance {x['guidance']:g}" if x['job'] == 'joint, two-stage'
                  else f'{jg:g}' if not isinstance(jg, list) else f'({jg[0]:g}, {jg[1]:g})')
            lines.append(f"| {r['arm']} | {jg} | {x['kid']:.5f} ± {x['kid_std']:.5f} | {x['alignment']:.4f} |")
    write_report(OUT, lines, args.notes)


def write_report(out: Path, lines: list, notes: str | None = None) -> None:
    "Write `lines` (and the notes file `notes`, when it exists, after them) to `out`.md atomically, and print them."
    from simgen_nb.core import atomic_write_text
    if notes and Path(notes).exists(): lines = [*lines, '', Path(notes).read_text().strip()]
    atomic_write_text(out.with_suffix('.md'), '\n'.join(lines) + '\n')
    print('\n'.join(lines))


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    sub = p.add_subparsers(dest='cmd', required=True)
    a = sub.add_parser('arm'); a.set_defaults(func=arm)
    a.add_argument('--fraction', type=float, default=0.25); a.add_argument('--shares', default=None, help='clean,full,draw weights (default 1,1,1)')
    a.add_argument('--joint-only', action='store_true', help="E7's joint-only arm (joint pairs only)")
    a.add_argument('--casdm', action='store_true', help="E7's CASDM (edm) arm at guidance 1.5 (mask -> image only), the reference")
    a.add_argument('--seed', type=int, default=0)
    a.add_argument('--steps', type=int, default=None, help="the unified arm's steps instead of E7's (another run folder; e.g. equal minutes for --mask-norm 32)")
    a.add_argument('--mask-norm', type=int, default=0, help="the unified arm's mask-modulated norms (`--mask-norm`; trained for equal minutes, fewer steps)")
    a.add_argument('--n', type=int, default=200); a.add_argument('--sample-seed', type=int, default=100)
    a.add_argument('--joint-scales', default='1.5', help="joint guidance for the joint pairs, comma-separated: S (both halves) or "
                   "IMAGE_MASK (e.g. 1_1.5); default E7's 1.5")
    a.add_argument('--two-stage', default='', help="also draw each joint pair in two stages: the plain joint set's masks, then "
                   "images for them by the arm's mask -> image job at these guidance scales (comma-separated, e.g. 1,1.5)")
    a.add_argument('--threads', type=int, default=1)
    r = sub.add_parser('report'); r.set_defaults(func=report); r.add_argument('--notes', default=None)
    args = p.parse_args(); args.func(args)


if __name__ == '__main__':
    main()
