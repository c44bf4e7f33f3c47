"""A first look at another lever of "one joint model, three jobs": the unified arm's training budget, for image -> mask.

Trains E7's unified arm (independent noise on a quarter of each batch, seed 0) for `--steps` instead of E7's 1,000,
draws masks for the 400 real test images as E7 does (vote of 5 draws, DPM-Solver++ 15, guidance 1.5) and scores
them against the real masks, beside E7's own 1,000-step seed-0 set (the demo reproduction must have run). One
seed, no interval across training: a screen for the next E7 budget, not a result.

    python bench/unified_budget.py --steps 2000   # writes bench/results/unified_budget.{json,md}
"""
import argparse, json, time
from pathlib import Path
import torch

ROOT = Path(__file__).resolve().parents[1]


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--steps', type=int, default=2000); p.add_argument('--threads', type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    from simgen_nb.core import atomic_write_text
    from simgen_nb.reproduce import Context, unified_base, mask_set_scores
    from simgen_nb.data import read_splits, read_manifest
    ctx = Context('demo', ROOT, progress=False)
    S = ctx.settings; path = ctx.datasets()['synthsurg']; seed, noise, draws, guidance = 0, 0.25, 5, 1.5
    t0 = time.time()
    run = ctx.train('simgen', path, f"{unified_base('synthsurg', noise)}-s{seed}-steps{args.steps}", seed=seed, steps=args.steps,
                    palette='cfl', independent_noise=noise)
    t1 = time.time()
    n_test = len(read_splits(path)['test'])
    gen = ctx.sample(run, f'E7-images-vote{draws}-{run.name}', n=n_test, seed=seed, images=path, split='test', guidance=guidance, draws=draws)
    score = lambda g: {**{k: v for k, v in mask_set_scores(g, path, 'test', S.eval_size).items() if k in ('miou', 'mdice')},
                       'n': len(read_manifest(g)['items'])}   # E7's scores
    e7 = ctx.runs/'generated'/f"E7-images-vote{draws}-{unified_base('synthsurg', noise)}-s{seed}-abl{S.ablation_for('simgen')}"
    out = {f'{S.ablation_for("simgen")} steps (E7)': score(e7), f'{args.steps} steps': score(gen),
           'seed': seed, 'independent_noise': noise, 'mask_draws': draws, 'guidance': guidance, 'sampler': f'{S.sampler}-{S.sample_steps}',
           'real_only_segmenter_miou_E7': 'figures/demo/E7_image_to_mask.csv', 'train_minutes': (t1 - t0) / 60,
           'total_minutes': (time.time() - t0) / 60, 'threads': args.threads}
    print(json.dumps(out, indent=1))
    res = ROOT/'bench'/'results'/'unified_budget'
    atomic_write_text(res.with_suffix('.json'), json.dumps(out, indent=1) + '\n')
    a, b = out[f'{S.ablation_for("simgen")} steps (E7)'], out[f'{args.steps} steps']
    md = ['# Unified SimGen: image -> mask at two training budgets (one seed, a screen)', '',
          f"E7's unified arm (independent noise on a quarter of each batch, seed {seed}); masks for the {a['n']} real test images, "
          f"each the vote of {draws} draws ({out['sampler']}, guidance {guidance}), scored against the real masks as E7 does.", '',
          '| training steps | mIoU | mDice |', '|---|---|---|',
          f"| {S.ablation_for('simgen')} (E7's set) | {a['miou']:.3f} | {a['mdice']:.3f} |", f"| {args.steps} | {b['miou']:.3f} | {b['mdice']:.3f} |", '',
          f"Training {out['train_minutes']:.1f} min, in all {out['total_minutes']:.1f} min, {args.threads} threads. "
          f"Command: `python bench/unified_budget.py --steps {args.steps}`."]
    atomic_write_text(res.with_suffix('.md'), '\n'.join(md) + '\n')
    print('\n'.join(md))


if __name__ == '__main__':
    main()
