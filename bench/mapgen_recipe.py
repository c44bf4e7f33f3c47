"""Does SimGen's `edm` recipe help the text-prompted map generator at the demo size? (issue 17: "for CASDM and the map
generator, measure one curve each with the winner").

The map generator (the demo network and text encoder at 32 px, as the demo trains it) under `edm` against its demo
profile's own recipe (`paper` with the profile's x0 prediction and cosine betas: what the demo trains), at the demo's
400 steps and at 1,000. The 400-step `paper` arm of a seed is the demo's own run (`mapgen-synthsurg-s<seed>`, E1/E4/E5),
reused. Each arm draws one map for each of the first 200 held-out prompt lists (`mapgen.heldout_prompts`: the test split's
maps described in words) with the demo sampler (DPM-Solver++ 15, EDM form for `edm`), at guidance 0 (unconditional: the
baseline every prompt-following number must beat) and 3 (the chain's map guidance), seed 0 per prompt. Scores:
`mapgen.faithfulness` (presence precision / recall, location, size and count accuracy) and the total-variation distance
between the generated maps' class pixel shares and the held-out maps' (0: the same class mix). The ± of one arm is the
std over 5 disjoint subsets of 40 prompts divided by sqrt(5) (a standard error); over seeds, the std of the seeds' means.

    python bench/mapgen_recipe.py arm --recipe edm --steps 1000 --seed 0 --threads 1   # one arm (run several side by side)
    python bench/mapgen_recipe.py report                                               # bench/results/mapgen_recipe.{json,md}
"""
from __future__ import annotations
import json, time
from pathlib import Path
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RECORDS = ROOT/'runs'/'demo'/'bench-mapgen-recipe'   # one JSON per arm (parallel processes never share a file)
OUT = ROOT/'bench'/'results'/'mapgen_recipe'
SCALES = (0.0, 3.0)
N_PROMPTS, SUBSETS = 200, 5
METRICS = ('presence_precision', 'presence_recall', 'location_acc', 'size_acc', 'count_acc', 'share_tv')


def run_name(recipe: str, steps: int, seed: int) -> str:
    "The demo's own run for its recipe at its steps (reused); a name of its own for every other arm."
    from simgen_nb.reproduce import SETTINGS, profile_recipe
    if recipe == profile_recipe('mapgen', 'demo') and steps == SETTINGS['demo'].steps_for('mapgen'): return f'mapgen-synthsurg-s{seed}'
    return f'mapgen-synthsurg-s{seed}-{recipe}-{steps}'


def shares(maps, K: int) -> np.ndarray:
    "Class pixel shares of a list of label maps (ignore and out-of-range pixels left out)."
    h = sum(np.bincount(np.asarray(m).ravel()[np.asarray(m).ravel() < K], minlength=K) for m in maps)
    return h / max(h.sum(), 1)


def cmd_arm(args) -> None:
    import torch
    torch.set_num_threads(args.threads)
    from simgen_nb.reproduce import Context, profile_recipe
    from simgen_nb.train import load_run, make_scheduler, read_log
    from simgen_nb.data import read_mask, resize_pair
    from simgen_nb import mapgen as M
    ctx = Context('demo', ROOT, progress=False)
    S = ctx.settings; path = ctx.datasets()['synthsurg']
    flags = {} if args.recipe == profile_recipe('mapgen', 'demo') else {'recipe': args.recipe}   # the demo's run passes none
    t0 = time.time()
    run = ctx.train('mapgen', path, run_name(args.recipe, args.steps, args.seed), seed=args.seed, steps=args.steps, **flags)
    t1 = time.time()
    cfg, pipe = load_run(run)
    pipe.set_progress_bar_config(disable=True)
    pipe.scheduler = make_scheduler(S.sampler, pipe.scheduler.config)
    c = pipe.unet.config; K = c.num_classes
    samples, ids = M.heldout_prompts(path, pipe.class_names, c.sample_size, c.template, N_PROMPTS, c.ignore_index)
    held = [resize_pair(np.zeros(read_mask(path/'masks'/f'{i}.png').shape + (3,), np.uint8), read_mask(path/'masks'/f'{i}.png'),
                        c.sample_size)[1] for i in ids]
    parsed = pipe.parse([list(s) for s in samples])
    ref = shares(held, K)
    rows = []
    for g in SCALES:
        labels = M.prompt_maps(pipe, parsed, g, S.sample_steps, seed=0, batch_size=16)   # as evaluate_faithfulness draws them
        score = lambda sl: {**{k: v for k, v in M.faithfulness(parsed[sl], labels[sl], K).items() if k in METRICS},
                            'share_tv': float(np.abs(shares(labels[sl], K) - ref).sum() / 2)}
        whole = score(slice(None))
        size = len(parsed) // SUBSETS
        subs = [score(slice(s * size, (s + 1) * size)) for s in range(SUBSETS)]
        rows.append({'guidance': g, **whole,
                     **{f'{k}_se': float(np.nanstd([d[k] for d in subs], ddof=1) / np.sqrt(SUBSETS)) for k in METRICS}})
    log = read_log(run)
    rec = {'recipe': args.recipe, 'steps': args.steps, 'seed': args.seed, 'run': run.name, 'prompts': len(parsed),
           'train_minutes_logged': log[-1]['seconds'] / 60, 'final_loss': log[-1]['loss'],
           'prediction_type': cfg['task'].get('prediction_type'), 'sampler': f'{S.sampler}-{S.sample_steps}',
           'encoder_note': pipe.encoder_note, 'rows': rows, 'threads': args.threads,
           'this_call_minutes': {'train': (t1 - t0) / 60, 'sample_and_score': (time.time() - t1) / 60}}
    from casdm_recipe import save_record
    save_record(RECORDS, run.name, rec)


def cmd_report(args) -> None:
    import pandas as pd
    from simgen_nb.core import atomic_write_text
    from casdm_recipe import load_records
    recs = load_records(RECORDS)
    flat = pd.DataFrame([{k: r[k] for k in ('recipe', 'steps', 'seed', 'train_minutes_logged')} | row for r in recs for row in r['rows']])
    g = flat.groupby(['recipe', 'steps', 'guidance'])
    summ = g.agg(seeds=('seed', lambda s: ','.join(map(str, sorted(s)))), train_min=('train_minutes_logged', 'mean'),
                 **{f'{k} mean': (k, 'mean') for k in METRICS}, **{f'{k} seed_std': (k, 'std') for k in METRICS},
                 **{f'{k} se': (f'{k}_se', 'mean') for k in METRICS}).reset_index()
    atomic_write_text(OUT.with_suffix('.json'), json.dumps({'arms': recs, 'summary': summ.to_dict('records')}, indent=1) + '\n')
    def cell(r, k):
        s = r[f'{k} seed_std']
        return f"{r[f'{k} mean']:.3f} ± {s:.3f}" if s == s else f"{r[f'{k} mean']:.3f} ± {r[f'{k} se']:.3f}"
    r0 = recs[0]
    lines = ["# The map generator with SimGen's `edm` recipe vs its demo recipe (demo size)", '',
             f'Map generator, demo network and text encoder at 32 px, batch 8, SynthSurg demo set; one map per held-out prompt list '
             f'(the first {r0["prompts"]} of the test split, described by `describe`), {r0["sampler"]} (EDM form for `edm`), seed 0 per '
             f'prompt. `paper` = the demo profile\'s own recipe (x0 prediction, diffusers\' `sample`, on '
             'cosine betas); its 400-step arm is the demo\'s own run. Guidance 0 is the unconditional model (the baseline). '
             'share TV: total-variation distance of the class pixel shares from the held-out maps\' (lower is better). '
             '± = std over the seeds where there are two; for one seed, the standard error over 5 disjoint subsets of prompts. '
             f'{r0["encoder_note"][0].upper()}{r0["encoder_note"][1:]}.', '',
             '| recipe | steps | guidance | seeds | train min (logged) | ' + ' | '.join(METRICS) + ' |', '|' + '---|' * (5 + len(METRICS))]
    for r in summ.to_dict('records'):
        lines.append(f"| {r['recipe']} | {r['steps']} | {r['guidance']:g} | {r['seeds']} | {r['train_min']:.1f} | "
                     + ' | '.join(cell(r, k) for k in METRICS) + ' |')
    from casdm_recipe import write_report
    write_report(OUT, lines, args.notes)


def main():
    from casdm_recipe import recipe_arm_cli   # bench/ is the script's folder, so its sibling imports
    recipe_arm_cli(__doc__, cmd_arm, cmd_report)


if __name__ == '__main__':
    main()
