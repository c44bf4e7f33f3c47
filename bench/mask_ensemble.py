"""Image -> mask with the unified model: does a per-pixel vote over several drawn masks, or a stronger guidance, lift mIoU?
(issue 15: the image -> mask goal is 0.8 x the real-only segmenter's mIoU; E7 measures one draw at guidance 1.5.)

The demo's unified arm (`runs/demo/<unified_base(...)>-s<seed>-abl1000`, E7's) draws K masks for each of the first
`--n` real test images (independent noise per draw: generator keyed by (seed, draw, image)), with E7's sampler
(DPM-Solver++ 15) at each guidance scale; the ensemble's mask is the per-pixel mode of the first k draws (pixels
decoded as ignore take part in the vote as a label of their own, and count as misses, as in E7). Scores as E7's
`mask_scores`: mIoU and mDice over all classes against the real masks.

    python bench/mask_ensemble.py --seed 0 --n 100 --draws 5 --guidance 1.5,3   # bench/results/mask_ensemble.{json,md}
"""
from __future__ import annotations
import argparse, json, time
from pathlib import Path
import numpy as np, torch

ROOT = Path(__file__).resolve().parents[1]


def vote(stack: torch.Tensor) -> torch.Tensor:
    "Per-pixel mode over the first dimension (k, B, H, W) of integer labels; ties go to the smallest label (torch.mode)."
    return torch.mode(stack, dim=0).values


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--seed', type=int, default=0); p.add_argument('--n', type=int, default=100)
    p.add_argument('--draws', type=int, default=5); p.add_argument('--guidance', default='1.5,3')
    p.add_argument('--independent-noise', type=float, default=0.25); p.add_argument('--threads', type=int, default=2)
    p.add_argument('--batch-size', type=int, default=50)
    p.add_argument('--out', default=str(ROOT/'bench'/'results'/'mask_ensemble'))
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    from simgen_nb.core import atomic_write_text
    from simgen_nb.reproduce import SETTINGS, unified_base
    from simgen_nb.train import load_run, make_scheduler
    from simgen_nb.core import generator
    from simgen_nb.data import SegmentationDataset, read_classes
    from simgen_nb.metrics import confusion_matrix, seg_scores
    from simgen_nb.segment import background_ids, rare_classes
    S = SETTINGS['demo']
    data = ROOT/'data'/'synthsurg-demo'
    run = ROOT/'runs'/'demo'/f"{unified_base('synthsurg', args.independent_noise)}-s{args.seed}-abl{S.ablation_for('simgen')}"
    _, pipe = load_run(run, device='cpu')
    pipe.scheduler = make_scheduler(S.sampler, pipe.scheduler.config); pipe.set_progress_bar_config(disable=True)
    real = SegmentationDataset(data, 'test', size=S.eval_size)
    n = min(args.n, len(real))
    items = [real[i] for i in range(n)]
    imgs = torch.stack([it['image'] for it in items]); truth = torch.stack([it['labels'] for it in items]).long()
    classes = read_classes(data)['classes']; K = len(classes)
    names = [c['name'] for c in classes] + ['(ignore)']; bg = background_ids(classes); rare = rare_classes(data, k=3)

    def score(pred):
        pred = pred.clone(); pred[pred >= K] = K
        s = seg_scores(confusion_matrix(pred, truth, K + 1), names, bg)
        nm = lambda v: float(np.nanmean([np.nan if x is None else x for x in v]))
        return {'miou': nm(s['iou'][:K]), 'mdice': nm(s['dice'][:K]), 'rare_iou': nm([s['iou'][k] for k in rare])}

    rows, t0 = [], time.time()
    for g in [float(x) for x in args.guidance.split(',')]:
        draws = []
        for d in range(args.draws):
            out = []
            for b in range(0, n, args.batch_size):
                idx = range(b, min(n, b + args.batch_size))
                res = pipe(num_inference_steps=S.sample_steps, image=imgs[idx.start:idx.stop], guidance_scale=g, output_type='pt',
                           generator=[generator(args.seed, 0xE5, d, i) for i in idx])
                out.append(res.masks.long())
            draws.append(torch.cat(out))
            rows.append({'guidance': g, 'k': f'draw {d}', **score(draws[-1])})   # one draw alone
            if d >= 2 and d % 2 == 0: rows.append({'guidance': g, 'k': d + 1, **score(vote(torch.stack(draws)))})   # votes of 3, 5, ...
            print(rows[-1], f'{(time.time() - t0) / 60:.1f} min', flush=True)
    rec = {'run': run.name, 'seed': args.seed, 'n_test_images': n, 'sampler': f'{S.sampler}-{S.sample_steps}', 'draws': args.draws,
           'rows': rows, 'minutes': (time.time() - t0) / 60, 'threads': args.threads}
    out = Path(args.out)
    atomic_write_text(out.with_suffix('.json'), json.dumps(rec, indent=1) + '\n')
    lines = ['# Image -> mask by the unified model: ensembles and guidance', '',
             f"Run `{run.name}` (E7's unified arm, seed {args.seed}); the first {n} real test images at {S.eval_size} px; "
             f"{rec['sampler']}; k = per-pixel vote over the first k draws (3, 5, ...); 'draw d' = draw d alone (its spread across draws is "
             "the sampling noise of one draw). Against the real masks; ignore-decoded pixels count as misses.", '',
             '| guidance | k | mIoU | mDice | rare-class IoU |', '|---|---|---|---|---|']
    lines += [f"| {r['guidance']} | {r['k']} | {r['miou']:.3f} | {r['mdice']:.3f} | {r['rare_iou']:.3f} |" for r in rows]
    lines += ['', f"{rec['minutes']:.1f} wall minutes, {args.threads} threads. Command: `python bench/mask_ensemble.py --seed {args.seed} "
              f"--n {args.n} --draws {args.draws} --guidance {args.guidance}`"]
    atomic_write_text(out.with_suffix('.md'), '\n'.join(lines) + '\n')
    print('\n'.join(lines))


if __name__ == '__main__':
    main()
