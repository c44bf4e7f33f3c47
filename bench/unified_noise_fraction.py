"""A first look at one lever of "one joint model, three jobs": the fraction of each batch trained with independent noise
levels. Trains the demo's unified arm (seed 0, 1,000 steps) at `independent_noise=0.25` and scores its joint pairs
as E7 does, beside the demo's 0.5 arm and the joint-only arm (their sets from the demo reproduction, which must have
run: `runs/demo/`). One seed: no interval across training; the KID std is over 50 subsets of one set.

    python bench/unified_noise_fraction.py   # writes bench/results/unified_noise_fraction.json
"""
import json, time, torch
from pathlib import Path
from simgen_nb.core import atomic_write_text
from simgen_nb.reproduce import Context

ROOT = Path(__file__).resolve().parents[1]
torch.set_num_threads(2)
ctx = Context('demo', ROOT, progress=False)
S = ctx.settings; path = ctx.datasets()['synthsurg']


def score(gen) -> dict:
    "E7's joint-generation scores of a generated set: KID[extractor] (mean, std over 50 subsets) and alignment mIoU."
    sc = ctx.pair_scores('synthsurg', path, gen)
    return {k: sc[k] for k in ('kid', 'kid_std', 'alignment')}


t0 = time.time()
run = ctx.arm('simgen', path, 'simgen-unified25-synthsurg', 0, palette='cfl', independent_noise=0.25)
t1 = time.time()
out = {'unified 0.25': score(ctx.sample(run, run.name, seed=0)),
       'unified 0.5': score(ctx.runs/'generated'/'simgen-unified-synthsurg-s0-abl1000'),   # E7's seed-0 sets
       'joint-only': score(ctx.runs/'generated'/'simgen-cfl-synthsurg-s0-abl1000'),
       'train_minutes': (t1 - t0) / 60}
out['total_minutes'] = (time.time() - t0) / 60
print(json.dumps(out, indent=1))
atomic_write_text(ROOT/'bench'/'results'/'unified_noise_fraction.json', json.dumps(out, indent=1) + '\n')
