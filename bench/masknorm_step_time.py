"""Training-step cost of E7's unified SimGen arm with and without the mask-modulated norms (`--mask-norm`), demo size.

    python bench/masknorm_step_time.py [--threads 1] [--batch-size 8] [--steps 10] [--rounds 4] [--hidden 16,32]

One process times forward + backward + AdamW of `SimGenTask.loss` for E7's unified demo configuration (EDM, 64 px,
independent noise on 1/4 of each batch, shares 2,1,0) as a plain `UNet2DModel` and as a `MaskNormUNet`, interleaved
over rounds (a noisy shared machine hits both alike); reports best and median wall seconds per step, median process
CPU seconds, and the ratio of the best times. E7 gives an arm with the norms `1 / ratio` of the plain arm's steps, so
both train for equal minutes (`reproduce.STEP_SECONDS`). Writes bench/results/masknorm_step_time.{json,md}.
"""
import json, platform, statistics, time
from pathlib import Path
import torch

ROOT = Path(__file__).resolve().parents[1]

def main():
    from recipe_step_time import step_time_args, synthetic_batch   # its sibling in bench/ (this script's folder is on sys.path)
    ap = step_time_args(__doc__.split('\n')[0], threads=1, steps=10, rounds=4)   # one thread: E7 trains its arms one thread each
    ap.add_argument('--hidden', default='16', help='--mask-norm widths to time, comma-separated')
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from simgen_nb.simgen import SimGenConfig, SimGenTask
    from simgen_nb.train import SampleRNG
    B = args.batch_size
    classes, batch = synthetic_batch(B, 64)
    base = dict(recipe='edm', independent_noise=0.25, independent_shares=(2, 1, 0))
    variants = {'unified (UNet2DModel)': base}
    for h in (int(x) for x in args.hidden.split(',')): variants[f'unified + mask norms {h} (MaskNormUNet)'] = {**base, 'mask_norm': h}
    state = {}
    for name, v in variants.items():
        torch.manual_seed(0)
        task = SimGenTask(SimGenConfig.for_profile('demo', **v), classes)
        model = task.build_model()
        state[name] = (task, model, torch.optim.AdamW(model.parameters(), lr=1e-4), sum(p.numel() for p in model.parameters()))
    def step(name, s):
        task, model, opt, _ = state[name]
        task.loss(model, batch, s, SampleRNG(0, s, range(B)))['loss'].backward(); opt.step(); opt.zero_grad(set_to_none=True)
    for name in variants: step(name, 0); step(name, 1)   # warm-up
    times = {n: [] for n in variants}; cpu = {n: [] for n in variants}
    for r in range(args.rounds):
        for name in variants:
            t0, c0 = time.perf_counter(), time.process_time()
            for s in range(args.steps): step(name, 2 + s)
            times[name].append((time.perf_counter() - t0) / args.steps); cpu[name].append((time.process_time() - c0) / args.steps)
    first = min(times[next(iter(variants))])
    rows = [{'variant': n, 'parameters_M': round(state[n][3] / 1e6, 3), 'best_s': round(min(t), 4), 'median_s': round(statistics.median(t), 4),
             'cpu_s_median': round(statistics.median(cpu[n]), 4), 'ratio_best': round(min(t) / first, 3),
             'ratio_cpu_median': round(statistics.median(cpu[n]) / statistics.median(cpu[next(iter(variants))]), 3)} for n, t in times.items()]
    meta = {'machine': f'{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}', 'batch_size': B,
            'steps_per_round': args.steps, 'rounds': args.rounds, 'network': "demo U-Net at 64 px (E7's unified configuration)"}
    out = ROOT/'bench'/'results'/'masknorm_step_time'
    from simgen_nb.core import atomic_write_text
    atomic_write_text(out.with_suffix('.json'), json.dumps({'meta': meta, 'rows': rows}, indent=1) + '\n')
    import pandas as pd
    cmd = 'python bench/masknorm_step_time.py ' + ' '.join(f'--{k.replace("_", "-")} {v}' for k, v in vars(args).items())
    md = ['# Training-step cost of the mask-modulated norms', '', f"{meta['network']}, batch {B}, {meta['machine']}; "
          f"{args.rounds} interleaved rounds of {args.steps} steps (forward, backward, AdamW). Shared machine: compare ratios.", '',
          pd.DataFrame(rows).to_markdown(index=False), '', f'Command: `{cmd}`', '']
    atomic_write_text(out.with_suffix('.md'), '\n'.join(md))
    print('\n'.join(md))

if __name__ == '__main__':
    main()
