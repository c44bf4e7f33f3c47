"""Does SimGen's `edm` recipe help CASDM at the demo size? (issue 17: "for CASDM ... measure one curve with the winner").

CASDM (camse+casp, the demo network at 32 px) trained with the `edm` recipe at the step budgets of E7's CASDM arms,
against the same arms with the `paper` recipe (epsilon, linear betas: what the demo trained before this study made
`edm` its default; E7's own runs and sets, reused). Every arm is sampled as E7 samples CASDM: the held-out maps (the whole test split), the demo sampler
(DPM-Solver++ 15; for `edm` its EDM form), guidance 1.5. Scores as E7's: KID[segmenter] (mean, std over 50 subsets) and
alignment mIoU (all classes and the 3 rarest) against the real test split under the demo judge. The demo reproduction
must have run (`runs/demo/`: data, judge, held-out maps).

    python bench/casdm_recipe.py arm --recipe edm --steps 500 --seed 0 --threads 1   # one arm (run several side by side)
    python bench/casdm_recipe.py report                                              # bench/results/casdm_recipe.{json,md}
"""
from __future__ import annotations
import argparse, json, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECORDS = ROOT/'runs'/'demo'/'bench-casdm-recipe'   # one JSON per arm (parallel processes never share a file)
OUT = ROOT/'bench'/'results'/'casdm_recipe'
GUIDANCE = 1.5


def run_name(recipe: str, steps: int, seed: int) -> str:
    "E7's CASDM run name (`reproduce.e7_casdm_run`), so E7's arms and sets are reused and this study's are E7's."
    from simgen_nb.reproduce import e7_casdm_run
    return e7_casdm_run('synthsurg', seed, recipe, steps)


def cmd_arm(args) -> None:
    import torch
    torch.set_num_threads(args.threads)
    from simgen_nb.reproduce import Context
    from simgen_nb.data import read_splits
    from simgen_nb.train import read_log
    ctx = Context('demo', ROOT, progress=False)
    S = ctx.settings; path = ctx.datasets()['synthsurg']
    maps = ctx.heldout_maps('synthsurg', path)
    flags = {'recipe': args.recipe}   # explicit, as E7 passes it: the run does not change with the profile's default
    t0 = time.time()
    run = ctx.train('casdm', path, run_name(args.recipe, args.steps, args.seed), seed=args.seed, steps=args.steps, loss='camse+casp', **flags)
    t1 = time.time()
    n_maps = min(len(read_splits(maps)['train']), S.n_samples)
    gen = ctx.sample(run, run.name, n=n_maps, seed=args.seed, maps=maps, guidance=GUIDANCE)
    sc = ctx.pair_scores('synthsurg', path, gen, rare_k=3)   # E7's scores
    log = read_log(run)
    rec = {'recipe': args.recipe, 'steps': args.steps, 'seed': args.seed, 'run': run.name, 'n': n_maps,
           'train_minutes_logged': log[-1]['seconds'] / 60, 'kid': sc['kid'], 'kid_std': sc['kid_std'], 'extractor': sc['extractor'],
           'alignment': sc['alignment'], 'alignment_rare': sc['alignment_rare'],
           'sampler': f'{S.sampler}-{S.sample_steps}', 'guidance': GUIDANCE, 'judge': ctx.judge_note('synthsurg'),
           'this_call_minutes': {'train': (t1 - t0) / 60, 'sample_and_score': (time.time() - t1) / 60}, 'threads': args.threads}
    save_record(RECORDS, run.name, rec)


def cmd_report(args) -> None:
    import pandas as pd
    from simgen_nb.core import atomic_write_text
    recs = load_records(RECORDS)
    df = pd.DataFrame(recs)
    g = df.groupby(['recipe', 'steps'])
    summ = g.agg(seeds=('seed', lambda s: ','.join(map(str, sorted(s)))), n=('n', 'first'),
                 train_min=('train_minutes_logged', 'mean'),
                 kid_mean=('kid', 'mean'), kid_seed_std=('kid', 'std'), kid_subset_std=('kid_std', 'mean'),
                 align_mean=('alignment', 'mean'), align_seed_std=('alignment', 'std'),
                 rare_mean=('alignment_rare', 'mean'), rare_seed_std=('alignment_rare', 'std')).reset_index()
    atomic_write_text(OUT.with_suffix('.json'), json.dumps({'arms': recs, 'summary': summ.to_dict('records')}, indent=1) + '\n')
    f = lambda m, s: f'{m:.3g} ± {s:.2g}' if s == s else f'{m:.3g} (one seed)'
    lines = ['# CASDM with SimGen\'s `edm` recipe vs the paper\'s (demo size)', '',
             'CASDM camse+casp, demo network at 32 px, batch 8, SynthSurg demo set; each arm trained at its step budget (its own '
             'cosine schedule), sampled on the 400 held-out maps (the whole test split) with '
             f'{recs[0]["sampler"]} (EDM form for `edm`), guidance {GUIDANCE}; scored against the real test split under '
             f'{recs[0]["judge"]}. KID = {recs[0]["extractor"]}. ± = std over the seeds (a single seed: the KID std over 50 '
             'subsets is in the JSON). `paper` arms are E7\'s own runs and sets.', '',
             '| recipe | steps | seeds | train min (logged, 1 thread) | KID | alignment mIoU | rare-class IoU |', '|---|---|---|---|---|---|---|']
    for r in summ.to_dict('records'):
        lines.append(f"| {r['recipe']} | {r['steps']} | {r['seeds']} | {r['train_min']:.1f} | {f(r['kid_mean'], r['kid_seed_std'])} | "
                     f"{f(r['align_mean'], r['align_seed_std'])} | {f(r['rare_mean'], r['rare_seed_std'])} |")
    lines += ['', 'Per arm (KID ± std over 50 subsets of its one set):', '', '| recipe | steps | seed | KID | alignment | rare IoU |',
              '|---|---|---|---|---|---|']
    for r in sorted(recs, key=lambda r: (r['recipe'], r['steps'], r['seed'])):
        lines.append(f"| {r['recipe']} | {r['steps']} | {r['seed']} | {r['kid']:.3g} ± {r['kid_std']:.2g} | {r['alignment']:.3f} | {r['alignment_rare']:.3f} |")
    write_report(OUT, lines, args.notes)


def save_record(records: Path, name: str, rec: dict) -> None:
    "Write one arm's record `records/<name>.json` atomically and print it (the recipe benches' records)."
    from simgen_nb.core import atomic_write_text
    records.mkdir(parents=True, exist_ok=True)
    atomic_write_text(records/f'{name}.json', json.dumps(rec, indent=1) + '\n')
    print(json.dumps(rec, indent=1))


def load_records(records: Path) -> list[dict]:
    "Every arm's record under `records`, by name; exits with a message when there is none."
    recs = [json.loads(p.read_text()) for p in sorted(records.glob('*.json'))]
    if not recs: raise SystemExit(f'no arms scored yet under {records}')
    return recs


def recipe_arm_cli(doc: str, cmd_arm, cmd_report) -> None:
    "The command line of a recipe benchmark (this one and bench/mapgen_recipe.py): `arm` trains and scores one arm, `report` writes the tables."
    from simgen_nb.recipes import RECIPES
    p = argparse.ArgumentParser(description=doc.split('\n\n')[0])
    sub = p.add_subparsers(dest='cmd', required=True)
    a = sub.add_parser('arm'); a.add_argument('--recipe', default='edm', choices=list(RECIPES))
    a.add_argument('--steps', type=int, required=True); a.add_argument('--seed', type=int, default=0)
    a.add_argument('--threads', type=int, default=1)
    r = sub.add_parser('report'); r.add_argument('--notes', default=None, help='Markdown appended to the report (findings, commands)')
    args = p.parse_args()
    cmd_arm(args) if args.cmd == 'arm' else cmd_report(args)


def write_report(out: Path, lines: list[str], notes: str | None) -> None:
    "Write `out`.md from the report's lines, with the Markdown of `notes` (findings, commands) appended; print it."
    from simgen_nb.core import atomic_write_text
    if notes: lines = lines + ['', Path(notes).read_text().rstrip()]
    atomic_write_text(out.with_suffix('.md'), '\n'.join(lines) + '\n')
    print('\n'.join(lines))


def main():
    recipe_arm_cli(__doc__, cmd_arm, cmd_report)


if __name__ == '__main__':
    main()
