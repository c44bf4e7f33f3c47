"""Repairing the ambiguous pixels of SimGen's decoded masks: does it close part of the alignment gap?

`alignment_gap.py` finds the hour's headline model's masks carry 2.3 x the real masks' speckle (pixels that differ from
their 3 x 3 mode), and that a 3 x 3 mode filter lifts its alignment more than the real pairs'. The speckle comes from
the decode: where the generated mask colour lies between two palette entries (a class boundary, or a colour the network
has not settled), the nearest palette colour can be a third class. This bench redraws a scored set (same run, sampler,
seeds: the labels must equal the saved set's, checked) keeping each pixel's decode distance, and compares, under the
demo judge against the same images:

- `raw`: the nearest-colour decode (SimGen's, what the headline goal scores);
- `mode3`: every pixel takes its 3 x 3 neighbourhood's most frequent class (ties keep its own);
- `repair@t`: only pixels decoded farther than t from their palette colour (ambiguous) take the most frequent class of
  their 3 x 3 neighbours decoded within t (unchanged when none is), for t in --thresholds.

The real pairs are scored raw (their masks are not decoded, so `repair` leaves them as they are). ± = std over 200
bootstrap resamples of the images (seed 0).

    python bench/mask_repair.py RUN [--steps 25] [--seed 0] [--n 500] [--thresholds 0.05,0.1,0.2,0.3] [--threads 2]

Results: `bench/results/mask_repair.{json,md}` (one record per RUN/sampler/seed, kept across calls).
"""
from __future__ import annotations
import argparse, json, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'bench'))
from alignment_gap import boot, score_set, top_classes      # noqa: E402
from synthetic_downstream import checked_run, save_results   # noqa: E402

OUT = ROOT/'bench'/'results'/'mask_repair'


def repair(labels, dist, K: int, t: float, ignore: int):
    "Pixels decoded farther than `t` take the most frequent class among their 3 x 3 neighbours decoded within `t`."
    import torch, torch.nn.functional as F
    conf = (dist <= t) & (labels != ignore)
    oh = F.one_hot(torch.where(conf, labels, 0), K).permute(0, 3, 1, 2).float() * conf[:, None]
    counts = F.avg_pool2d(oh, 3, 1, 1, count_include_pad=False) * 9
    has = counts.sum(1) > 0.5
    return torch.where(~conf & has & (labels != ignore), counts.argmax(1), labels)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('run')
    ap.add_argument('--steps', type=int, default=25)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--n', type=int, default=500)
    ap.add_argument('--batch-size', type=int, default=8, help='pairs per forward pass (as `simgen-nb sample`)')
    ap.add_argument('--thresholds', default='0.05,0.1,0.2,0.3')
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--boot', type=int, default=200)
    args = ap.parse_args()
    run = checked_run(args.run)
    try: ts = [float(t) for t in args.thresholds.split(',')]
    except ValueError: raise SystemExit(f'--thresholds {args.thresholds!r}: comma-separated colour distances') from None
    if not ts or min(ts) <= 0: raise SystemExit(f'--thresholds {args.thresholds!r}: distances must be > 0')
    if args.n < 1 or args.steps < 1 or args.boot < 2: raise SystemExit('--n and --steps must be >= 1, --boot >= 2')
    import numpy as np, torch
    torch.set_num_threads(args.threads)
    from simgen_nb.data import read_mask
    from simgen_nb.palette import IGNORE_INDEX, mode_filter
    from simgen_nb.reproduce import Context
    from simgen_nb.scores import confusion_matrix, seg_scores
    from simgen_nb.segment import load_segmenter
    from simgen_nb.train import load_run, make_scheduler, sample_generators, sample_id
    ctx = Context('demo', ROOT, progress=False)
    data = ctx.datasets()['synthsurg']
    judge = load_segmenter(ctx.runs/'segmenters'/'real-synthsurg')
    saved = ctx.runs/'generated'/(f'bench-headline-{run.name}-dpmsolver-{args.steps}' + (f'-seed{args.seed}' if args.seed else ''))
    t0 = time.process_time()
    _, pipe = load_run(run, device='cpu')
    pipe.scheduler = make_scheduler('dpmsolver', pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    K = len(pipe.config.palette)
    variants = ['raw', 'mode3'] + [f'repair@{t:g}' for t in ts]
    cms = {v: [] for v in variants}
    changed = {v: [] for v in variants}
    far = {t: [] for t in ts}
    mismatch = 0
    with torch.no_grad():
        for s in range(0, args.n, args.batch_size):
            batch = list(range(s, min(s + args.batch_size, args.n)))
            res = pipe(batch_size=len(batch), num_inference_steps=args.steps, generator=sample_generators(args.seed, batch), output_type='pt')
            img, lab, dist = res.images, res.masks, res.distances
            if saved.is_dir():   # the redraw must be the scored set
                mismatch += sum(int((torch.from_numpy(read_mask(saved/'masks'/f'{sample_id(i)}.png').astype(np.int64)) != lab[j]).sum())
                                for j, i in enumerate(batch))
            x = (img * 255).round() / 255                       # as saved (8-bit) and read back
            pred = judge(x).argmax(1)
            labs = {'raw': lab, 'mode3': mode_filter(lab, 3, num_classes=K, ignore_index=IGNORE_INDEX)}
            for t in ts: labs[f'repair@{t:g}'] = repair(lab, dist, K, t, IGNORE_INDEX); far[t] += (dist > t).float().flatten(1).mean(1).tolist()
            for v, L in labs.items():
                changed[v] += (L != lab).float().flatten(1).mean(1).tolist()
                cms[v] += [confusion_matrix(pred[b], L[b], K, IGNORE_INDEX) for b in range(len(batch))]
    real = score_set(data, 'test', judge, ctx.settings.eval_size, IGNORE_INDEX)   # the real pairs as alignment_gap.py scores them
    miou = lambda cm: seg_scores(cm)['miou']
    real_al, real_sd = boot(real['cms']['raw'], miou, args.boot)
    names = real['names']
    top = top_classes(names)
    rec = {'run': str(run.relative_to(ROOT)) if run.is_relative_to(ROOT) else str(run), 'sampler': f'dpmsolver-{args.steps}', 'seed': args.seed,
           'n': args.n, 'saved_set': str(saved.relative_to(ROOT)) if saved.is_dir() else None,
           'label_mismatch_vs_saved': mismatch if saved.is_dir() else None,
           'judge': ctx.judge_note('synthsurg'), 'real': {'alignment': real_al, 'std': real_sd, 'n': real['n']},
           'names': names, 'top5': [names[k] for k in top], 'bootstrap': args.boot, 'variants': {}}
    for v in variants:
        c = torch.stack(cms[v]).numpy()
        al, sd = boot(c, miou, args.boot)
        rec['variants'][v] = {'alignment': al, 'std': sd, 'x_real': al / real_al, 'iou': seg_scores(c.sum(0))['iou'],
                              'changed': float(np.mean(changed[v])),
                              **({'far': float(np.mean(far[float(v.split('@')[1])]))} if v.startswith('repair') else {})}
    rec['cpu_minutes'] = (time.process_time() - t0) / 60
    rec['command'] = 'python bench/mask_repair.py ' + ' '.join(sys.argv[1:])
    key = f"{run.name}-dpmsolver-{args.steps}-seed{args.seed}"
    save_results(OUT, key, rec, report)


def report(allr: dict) -> str:
    L = ['# Repairing the ambiguous pixels of decoded masks', '',
         'Each record redraws a scored set (same run, sampler and per-sample seeds; `label mismatch` counts the pixels whose '
         'raw label differs from the saved set\'s: 0 = the same pairs) and scores its masks under the demo judge against '
         'its images: `raw` = nearest-colour decode; `mode3` = 3 x 3 mode filter on every pixel; `repair@t` = only pixels '
         'decoded farther than t from their palette colour take the most frequent class of their 3 x 3 neighbours decoded '
         'within t. x real = over the real test pairs\' alignment (raw real masks). ± = std over bootstrap resamples of '
         'the images. "changed" = share of mask pixels the variant relabels; "far" = share of pixels decoded farther than t.', '']
    for key, r in allr.items():
        names, top = r['names'], [r['names'].index(n) for n in r['top5']]
        L += [f"## `{r['run']}`, {r['sampler']}, sampling seed {r['seed']}, n = {r['n']}", '',
              f"Judge: {r['judge']}. Real test pairs: alignment {r['real']['alignment']:.3f} ± {r['real']['std']:.3f} (n = {r['real']['n']}). "
              f"Label mismatch vs `{r['saved_set']}`: {r['label_mismatch_vs_saved']} pixels.", '',
              '| variant | alignment | x real | changed | far | ' + ' | '.join(names[k] for k in top) + ' |',
              '|---|---|---|---|---|' + '---|' * len(top)]
        for v, s in r['variants'].items():
            L.append(f"| {v} | {s['alignment']:.3f} ± {s['std']:.3f} | {s['x_real']:.3f} | {s['changed']:.4f} | "
                     + (f"{s['far']:.4f}" if 'far' in s else '') + ' | ' + ' | '.join(f"{s['iou'][k]:.3f}" for k in top) + ' |')
        L += ['', f"CPU minutes: {r['cpu_minutes']:.1f}. Command: `{r['command']}`", '']
    return '\n'.join(L)


if __name__ == '__main__':
    main()
