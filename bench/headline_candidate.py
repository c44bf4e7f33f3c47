"""Issue 17's headline goal for a candidate training schedule of the demo's headline SimGen model: trained elsewhere
(e.g. by `bench/convergence.py run --tag=-lr1e-3-8k --lr 1e-3 --points ...,8000`), scored exactly as E1 scores the
headline (`figures/demo/E1_headline_goals.csv`): 500 pairs drawn with the demo's sampler (EDM DPM-Solver++, 15 steps,
per-sample generators keyed (seed 0, index)) and with the goal's 25-step sampler, KID[segmenter] over 50 subsets
(against the real train split) and alignment mIoU under the demo's judge (`runs/demo/segmenters/real-synthsurg`). The
real pairs' alignment and the real floor are E1's committed row (same judge, same n of real test pairs), so the
ratio is the goal's. The demo's own headline run is scored the same way first: it must reproduce E1's numbers.

    python bench/headline_candidate.py score RUN [RUN ...] [--steps 15,25] [--threads 1] [--mask-filter 3] [--joint-guidance S]
    python bench/headline_candidate.py report [--notes NOTES.md]   # bench/results/headline_candidate.{json,md}
    python bench/headline_candidate.py real                           # the real pairs under the judge as it is now
    python bench/headline_candidate.py restore                        # re-seed the records from the committed JSON
    python bench/headline_candidate.py figure RUN [--steps 25] [--out PNG]  # 8 of its scored pairs (figures/demo/headline_candidate_samples.png)

Generated sets go to `runs/demo/generated/bench-headline-<run>-dpmsolver-<steps>` (reused when made with the same
inputs, as the demo's are), records to `runs/demo/bench-headline/`. Runs do not always outlive a machine: `restore`
writes the committed report's records (`bench/results/headline_candidate.json`) back there, so a later `report` keeps
the earlier rows beside the new ones (a record already there is left alone).
"""
from __future__ import annotations
import argparse, json, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'bench'))
from casdm_recipe import load_records, save_record   # noqa: E402

RECORDS = ROOT/'runs'/'demo'/'bench-headline'
OUT = ROOT/'bench'/'results'/'headline_candidate'
REAL = ROOT/'runs'/'demo'/'bench-headline-real.json'   # `real`: the real pairs under the judge as it is now
E1_GOALS = ROOT/'figures'/'demo'/'E1_headline_goals.csv'
E0_STATS = ROOT/'figures'/'demo'/'E0_class_stats.csv'   # pixel shares of the training split


def describe(run: Path, cfg: dict) -> dict:
    "What a run was trained with (its saved config `cfg` and its log): steps, learning rate, warm-up, EMA, batch, seed, recipe."
    t, task = cfg['train'], cfg['task']
    log = (run/'log.csv').read_text().strip().splitlines()
    last = dict(zip(log[0].split(','), log[-1].split(',')))
    return {'run': str(run.relative_to(ROOT)) if run.is_relative_to(ROOT) else str(run), 'steps_trained': int(last['step']),
            **{k: t[k] for k in ('steps', 'lr', 'warmup_steps', 'ema_decay', 'batch_size', 'seed')},
            **{k: task[k] for k in ('recipe', 'palette', 'image_size', 'layers_per_block')}, 'block_out_channels': list(task['block_out_channels']),
            'attention_resolutions': list(task.get('attention_resolutions', [8])),
            'independent_noise': task.get('independent_noise', 0.0)}


def network(r: dict) -> str:
    "The U-Net in a record: channels per level, blocks per level when more than one, where it attends when not at 8 px only."
    attn = r.get('attention_resolutions', [8])   # records before the flag: the demo network's (8 px)
    return ','.join(map(str, r['block_out_channels'])) + (f" x{r['layers_per_block']}" if r['layers_per_block'] > 1 else '') \
        + ('' if list(attn) == [8] else f" attn {','.join(map(str, attn)) or 'none'}")


def masks(r: dict) -> str:
    "How a record's masks were made: the nearest-colour decode, or that with `--mask-filter K` (records before the flag: the decode)."
    k = r.get('mask_filter', 1)
    return 'decode' if k == 1 else f'mode {k}x{k}'


def guidance(r: dict) -> str:
    "A record's joint sampling: plain, or `--joint-guidance S` (records before the flag: plain); a unified model is marked."
    g = r.get('joint_guidance', 1.0)
    return ('plain' if g == 1 else f'joint guidance {g:g}') + (f" (unified {r['independent_noise']:g})" if r.get('independent_noise') else '')


def cmd_score(args) -> None:
    import torch, yaml
    runs = [Path(r).resolve() for r in args.runs]
    for run in runs:   # every run checked before any work
        if not (run/'config.yaml').exists(): raise SystemExit(f'{run}: not a training run (no config.yaml)')
    configs = {run: yaml.safe_load((run/'config.yaml').read_text()) for run in runs}
    for run, cfg in configs.items():
        if cfg.get('model') != 'simgen': raise SystemExit(f"{run}: a {cfg.get('model')} run; the headline is a SimGen (joint) model")
    torch.set_num_threads(args.threads)
    from simgen_nb.data import read_classes
    from simgen_nb.reproduce import Context
    ctx = Context('demo', ROOT, progress=False)
    path = ctx.datasets()['synthsurg']
    for run in runs:
        for steps in args.steps:
            mf, jg = args.mask_filter, args.joint_guidance
            key = record_key({'run': run.name, 'sampler': f'dpmsolver-{steps}', 'sampling_seed': args.seed, 'mask_filter': mf, 'joint_guidance': jg})
            if (RECORDS/f'{key}.json').exists(): print(f'{key}: scored already'); continue
            t0 = time.process_time()
            gen = ctx.sample(run, f'bench-headline-{run.name}-dpmsolver-{steps}' + (f'-seed{args.seed}' if args.seed else '')
                             + (f'-maskfilter{mf}' if mf != 1 else '') + (f'-jointguidance{jg:g}' if jg != 1 else ''),
                             n=args.n, steps=steps, scheduler='dpmsolver', seed=args.seed,
                             **({'mask_filter': mf} if mf != 1 else {}), **({'joint_guidance': jg} if jg != 1 else {}))
            sc = ctx.pair_scores('synthsurg', path, gen)
            save_record(RECORDS, key, {**describe(run, configs[run]), 'sampler': f'dpmsolver-{steps}', 'sampling_seed': args.seed, 'n': args.n, 'mask_filter': mf, 'joint_guidance': jg,
                                       'generated': str(Path(gen).resolve().relative_to(ROOT)),
                                       'extractor': sc['extractor'], 'kid': sc['kid'], 'kid_std': sc['kid_std'],
                                       'alignment': sc['alignment'], 'alignment_rare': sc['alignment_rare'], 'alignment_iou': sc['iou'],
                                       'classes': [c['name'] for c in read_classes(path)['classes']],
                                       'judge': ctx.judge_note('synthsurg'), 'cpu_minutes': (time.process_time() - t0) / 60})


def over_what(d) -> str:
    "What the spread of a group of records is over: training seeds, sampling seeds of one trained model, or both."
    train, samp = d['seed'].nunique(), d['sampling_seed'].nunique()
    return 'training seeds' if samp == 1 else f"sampling seeds (training seed {d['seed'].iloc[0]})" if train == 1 else 'training and sampling seeds'


def cmd_real(args) -> None:
    """The real pairs under the demo judge as it is now (E1's own computation: the real test split scored as if generated,
    KID against the train split, 50 subsets), recorded beside the runs' records: the check that a retrained judge still
    gives E1's reference numbers."""
    import torch
    from simgen_nb.core import atomic_write_text
    from simgen_nb.reproduce import Context
    torch.set_num_threads(args.threads)
    ctx = Context('demo', ROOT, progress=False)
    path = ctx.datasets()['synthsurg']
    sc = ctx.pair_scores('synthsurg', path, path, split='test')
    rec = {'alignment': sc['alignment'], 'kid_floor': sc['kid'], 'kid_floor_std': sc['kid_std'], 'n_real': sc['n'],
           'judge': ctx.judge_note('synthsurg')}
    atomic_write_text(REAL, json.dumps(rec, indent=1) + '\n'); print(json.dumps(rec, indent=1))


DERIVED = ('alignment_ratio', 'alignment_goal', 'kid_ratio_to_floor', 'kid_goal', 'network', 'masks', 'guidance')


def record_key(r: dict) -> str:
    "A record's file name under RECORDS (as `score` names it)."
    mf, jg = r.get('mask_filter', 1), r.get('joint_guidance', 1.0)
    return (f"{Path(r['run']).name}-{r['sampler']}-seed{r['sampling_seed']}" + (f'-mf{mf}' if mf != 1 else '')
            + (f'-jg{jg:g}' if jg != 1 else ''))


def cmd_restore(args) -> None:
    "Write the committed report's records back to RECORDS (the report's own columns dropped); existing records are kept."
    from simgen_nb.core import atomic_write_text
    recs = json.loads(OUT.with_suffix('.json').read_text())['records']
    wrote = 0
    for r in recs:
        r = {k: v for k, v in r.items() if k not in DERIVED}
        if r.get('mask_filter') is None and r.get('masks', 'decode') != 'decode': raise SystemExit(f'cannot tell the mask filter of {r}')
        key = record_key(r)
        if (RECORDS/f'{key}.json').exists(): continue
        RECORDS.mkdir(parents=True, exist_ok=True)
        atomic_write_text(RECORDS/f'{key}.json', json.dumps(r, indent=1) + '\n'); wrote += 1
    print(f'restored {wrote} of {len(recs)} records to {RECORDS}')


def cmd_report(args) -> None:
    import pandas as pd
    from simgen_nb.core import atomic_write_text
    recs = load_records(RECORDS)
    e1 = pd.read_csv(E1_GOALS).set_index('goal')
    real = {'alignment': float(e1.loc['alignment >= 0.95 x real pairs', 'real mean']),
            'kid_floor': float(e1.loc['KID <= 2 x real floor', 'real mean']), 'kid_floor_std': float(e1.loc['KID <= 2 x real floor', 'real std']),
            'n_real': int(e1.loc['KID <= 2 x real floor', 'n real']), 'source': str(E1_GOALS.relative_to(ROOT))}
    judge = json.loads((ROOT/'runs'/'demo'/'segmenters'/'real-synthsurg'/'metrics.json').read_text())
    real['iou'] = dict(zip(judge['names'], judge['iou']))
    if REAL.exists(): real['now'] = json.loads(REAL.read_text())   # the real pairs under the judge that scored the latest runs
    stats = pd.read_csv(E0_STATS)
    largest = stats.sort_values('pixel share %', ascending=False)['class'].head(5).tolist()
    real['largest_classes'] = largest
    for r in recs:
        r['alignment_ratio'] = r['alignment'] / real['alignment']
        r['alignment_goal'] = 'met' if r['alignment_ratio'] >= 0.95 else 'missed'
        r['kid_ratio_to_floor'] = r['kid'] / real['kid_floor'] if real['kid_floor'] > 0 else None
        r['kid_goal'] = 'met' if r['kid'] <= 2 * max(real['kid_floor'], 0.0) else 'missed'
    for r in recs: r['network'], r['masks'], r['guidance'] = network(r), masks(r), guidance(r)
    recs.sort(key=lambda r: (r['steps'], r['lr'], r['network'], r['seed'], r['guidance'], r['masks'], r['sampler'], r['sampling_seed']))
    # mean +- std of every (network, steps, lr, sampler) scored more than once: over training seeds, sampling seeds or both
    groups = pd.DataFrame(recs).groupby(['network', 'steps', 'lr', 'sampler', 'guidance', 'masks'])
    summary = [{'network': net, 'steps': int(s), 'lr': lr, 'sampler': smp, 'guidance': gd, 'masks': mk, 'seeds': sorted(int(x) for x in d['seed']),
                'sampling_seeds': sorted(int(x) for x in d['sampling_seed']), 'over': over_what(d),
                'alignment_mean': float(d['alignment'].mean()), 'alignment_std': float(d['alignment'].std(ddof=1)),
                'alignment_ratio_mean': float(d['alignment_ratio'].mean()),
                'kid_mean': float(d['kid'].mean()), 'kid_std_over_seeds': float(d['kid'].std(ddof=1))}
               for (net, s, lr, smp, gd, mk), d in groups if len(d) > 1]
    atomic_write_text(OUT.with_suffix('.json'), json.dumps({'real': real, 'records': recs, 'summary': summary}, indent=1) + '\n')
    lines = ['# The headline SimGen model: candidate training schedules against the headline goal', '',
             f"Each run's 500 pairs are drawn and scored as E1 scores the demo's headline ({recs[0]['extractor']}, ± = std over 50 "
             f"subsets of one set, against the real train split; alignment mIoU under {recs[0]['judge']}). Real pairs "
             f"(E1, {real['n_real']} real test pairs): alignment {real['alignment']:.3f}, KID floor {real['kid_floor']:.2g} ± "
             f"{real['kid_floor_std']:.2g} (`{real['source']}`). Goals: alignment >= 0.95 x real, KID <= 2 x the floor." +
             (f" The same computation under the judge as it is now (`real`; {real['now']['judge']}): alignment "
              f"{real['now']['alignment']:.3f}, KID floor {real['now']['kid_floor']:.2g} ± {real['now']['kid_floor_std']:.2g}." if 'now' in real else ''), '',
             'Network: the U-Net\'s channels per resolution level (x2: two residual blocks per level); the demo network is '
             '32,64,96,128. Masks: `decode` = the nearest-colour decode (SimGen\'s, the goal\'s); `mode 3x3` = the same pairs with '
             '`--mask-filter 3` (a 3 x 3 mode filter on each generated mask; the images are the same). Sampling: `plain` joint '
             'sampling, or `joint guidance S` (`--joint-guidance S`, a unified model trained with `--independent-noise F`: '
             'each half pushed toward agreement with the other by S).', '',
             '| run | network | seed | steps | lr | sampler | sampling | masks | sampling seed | n | KID | alignment | x real | alignment goal | KID goal |',
             '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|']
    for r in recs:
        lines.append(f"| `{Path(r['run']).name}` | {r['network']} | {r['seed']} | {r['steps_trained']:,} | {r['lr']:g} | {r['sampler']} | {r['guidance']} | {r['masks']} | {r['sampling_seed']} | {r['n']} | "
                     f"{r['kid']:.2g} ± {r['kid_std']:.2g} | {r['alignment']:.3f} | {r['alignment_ratio']:.3f} | {r['alignment_goal']} | {r['kid_goal']} |")
    if summary:
        lines += ['', 'Scored more than once (mean ± std):', '', '| network | steps | lr | sampler | sampling | masks | over | alignment | x real | KID |', '|---|---|---|---|---|---|---|---|---|---|']
        for s in summary:
            lines.append(f"| {s['network']} | {s['steps']:,} | {s['lr']:g} | {s['sampler']} | {s['guidance']} | {s['masks']} | {s['over']}: {', '.join(map(str, s['seeds'] if s['over'] == 'training seeds' else s['sampling_seeds']))} | "
                         f"{s['alignment_mean']:.3f} ± {s['alignment_std']:.3f} | {s['alignment_ratio_mean']:.3f} | "
                         f"{s['kid_mean']:.2g} ± {s['kid_std_over_seeds']:.2g} |")
    lines += ['', f"Per-class alignment IoU on the five largest classes (pixel share of the training split, `{E0_STATS.relative_to(ROOT)}`), "
              f"against the judge's IoU on the real test pairs (`runs/demo/segmenters/real-synthsurg/metrics.json`, stored in the JSON):", '',
              '| run | seed | sampler | sampling | masks | sampling seed | ' + ' | '.join(largest) + ' |', '|---|---|---|---|---|---|' + '---|' * len(largest),
              '| real test pairs | | | | | | ' + ' | '.join(f"{real['iou'][c]:.3f}" for c in largest) + ' |']
    for r in recs:
        iou = dict(zip(r['classes'], r['alignment_iou']))
        lines.append(f"| `{Path(r['run']).name}` | {r['seed']} | {r['sampler']} | {r['guidance']} | {r['masks']} | {r['sampling_seed']} | " + ' | '.join(f"{iou[c]:.3f}" for c in largest) + ' |')
    if args.notes: lines += ['', Path(args.notes).read_text().rstrip()]
    atomic_write_text(OUT.with_suffix('.md'), '\n'.join(lines) + '\n')
    print('\n'.join(lines))


def cmd_figure(args) -> None:
    "Eight of a scored run's pairs (its sampling seed 0 set): image, decoded mask and overlay rows, with the class legend."
    from simgen_64px import pair_grid_figure
    run = Path(args.run).resolve()
    key = f'{run.name}-dpmsolver-{args.steps}-seed0'
    if not (RECORDS/f'{key}.json').exists(): raise SystemExit(f'{key}: not scored yet (run `score {args.run} --steps {args.steps}` first)')
    rec = json.loads((RECORDS/f'{key}.json').read_text())
    gen = ROOT/rec.get('generated', f'runs/demo/generated/bench-headline-{run.name}-dpmsolver-{args.steps}')
    net = ','.join(map(str, rec['block_out_channels']))
    pair_grid_figure(gen, f"SimGen at 32 px ({rec['recipe']}, network {net}, {rec['steps_trained']:,} steps at lr {rec['lr']:g}, "
                     f"seed {rec['seed']}): the first 8 of {rec['n']} pairs, {rec['sampler']}", Path(args.out).resolve())


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    sub = p.add_subparsers(dest='cmd', required=True)
    s = sub.add_parser('score'); s.add_argument('runs', nargs='+')
    s.add_argument('--steps', default='15,25', help='DPM-Solver++ steps, comma-separated (15: the demo sampler; 25: the goal\'s)')
    s.add_argument('--n', type=int, default=500); s.add_argument('--seed', type=int, default=0); s.add_argument('--threads', type=int, default=1)
    s.add_argument('--mask-filter', type=int, default=1, help='`simgen-nb sample --mask-filter K` (odd; default 1: the plain decode)')
    s.add_argument('--joint-guidance', type=float, default=1.0, help='`simgen-nb sample --joint-guidance S` (a unified run; default 1: plain joint sampling)')
    r = sub.add_parser('report'); r.add_argument('--notes', default=None)
    q = sub.add_parser('real'); q.add_argument('--threads', type=int, default=1)
    sub.add_parser('restore')
    f = sub.add_parser('figure'); f.add_argument('run'); f.add_argument('--steps', type=int, default=25)
    f.add_argument('--out', default=str(ROOT/'figures'/'demo'/'headline_candidate_samples.png'))
    args = p.parse_args()
    if args.cmd == 'score':
        try: args.steps = [int(x) for x in args.steps.split(',')]
        except ValueError: p.error(f'--steps {args.steps!r}: comma-separated integers')
        if any(not 1 <= x <= 1000 for x in args.steps): p.error(f'--steps {args.steps}: each in [1, 1000]')
        if args.n < 2: p.error(f'--n {args.n}: KID needs at least 2 pairs')
        if args.mask_filter < 1 or args.mask_filter % 2 == 0: p.error(f'--mask-filter {args.mask_filter}: an odd window size (1 = off)')
        if not args.joint_guidance >= 0: p.error(f'--joint-guidance {args.joint_guidance}: a scale >= 0 (1 = plain joint sampling)')
        cmd_score(args)
    elif args.cmd == 'figure': cmd_figure(args)
    elif args.cmd == 'real': cmd_real(args)
    elif args.cmd == 'restore': cmd_restore(args)
    else: cmd_report(args)


if __name__ == '__main__':
    main()
