"""Training-step cost of each SimGen recipe (and CPU compute options) on the demo network at 32 px.

    python bench/recipe_step_time.py [--threads 2] [--batch-size 8] [--steps 20] [--rounds 3]

One process times forward + backward + Adam step for each variant, interleaved over rounds (so a noisy shared
machine hits every variant alike); reports best and median seconds per step, process CPU time, and the ratio
to `paper`. Variants: every recipe; for `paper`, bf16 autocast and channels_last (this CPU has avx512_bf16).
Writes bench/results/recipe_step_time.{json,md}.
"""
import argparse, json, platform, statistics, time
from pathlib import Path
import torch

ROOT = Path(__file__).resolve().parents[1]

def step_time_args(description: str, threads: int, steps: int, rounds: int) -> argparse.ArgumentParser:
    "The flags every step-time bench shares: --threads, --batch-size, --steps (per round), --rounds."
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument('--threads', type=int, default=threads)
    ap.add_argument('--batch-size', type=int, default=8)
    ap.add_argument('--steps', type=int, default=steps)
    ap.add_argument('--rounds', type=int, default=rounds)
    return ap

def synthetic_batch(batch_size: int, size: int, classes: int = 13) -> tuple[dict, dict]:
    "(class table, batch) of random images and labels at `size` px: what the step-time benches train on."
    table = {'name': 'bench', 'ignore_index': 255, 'classes': [{'id': k, 'name': f'c{k}', 'color': [k * 19 % 256, k * 57 % 256, k * 101 % 256]} for k in range(classes)]}
    g = torch.Generator().manual_seed(0)
    return table, {'image': torch.rand(batch_size, 3, size, size, generator=g), 'labels': torch.randint(0, classes, (batch_size, size, size), generator=g)}

def main():
    ap = step_time_args(__doc__.split('\n')[0], threads=2, steps=20, rounds=3)
    ap.add_argument('--compile', action='store_true', help='also time torch.compile (slow to compile)')
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from simgen_nb.simgen import SimGenConfig, SimGenTask, RECIPES
    from simgen_nb.train import SampleRNG
    B = args.batch_size
    classes, batch = synthetic_batch(B, 32)
    variants = {}
    for r in RECIPES: variants[r] = dict(recipe=r)
    variants['paper+bf16'] = dict(recipe='paper', bf16=True)
    variants['paper+channels_last'] = dict(recipe='paper', cl=True)
    if args.compile: variants['paper+compile'] = dict(recipe='paper', compile=True)
    state = {}
    for name, v in variants.items():
        torch.manual_seed(0)
        task = SimGenTask(SimGenConfig.for_profile('demo', recipe=v['recipe'], image_size=32), classes)
        model = task.build_model()
        if v.get('cl'): model = model.to(memory_format=torch.channels_last)
        fwd = torch.compile(model) if v.get('compile') else model
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
        state[name] = (task, fwd, opt, v)
    times = {n: [] for n in variants}; cpu = {n: [] for n in variants}
    def step(name, s):
        task, model, opt, v = state[name]
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bool(v.get('bf16'))):
            loss = task.loss(model, batch, s, SampleRNG(0, s, range(B)))['loss']
        loss.backward(); opt.step(); opt.zero_grad(set_to_none=True)
    for name in variants: step(name, 0); step(name, 1)   # warm-up (and compilation)
    for r in range(args.rounds):
        for name in variants:
            t0, c0 = time.perf_counter(), time.process_time()
            for s in range(args.steps): step(name, 2 + s)
            times[name].append((time.perf_counter() - t0) / args.steps); cpu[name].append((time.process_time() - c0) / args.steps)
    base = min(times['paper'])
    rows = [{'variant': n, 'best_s': round(min(t), 4), 'median_s': round(statistics.median(t), 4), 'cpu_s_median': round(statistics.median(cpu[n]), 4),
             'ratio_best_to_paper': round(min(t) / base, 3)} for n, t in times.items()]
    meta = {'machine': f'{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}', 'batch_size': B,
            'steps_per_round': args.steps, 'rounds': args.rounds, 'network': 'demo U-Net at 32 px (6 channels)'}
    out = ROOT/'bench'/'results'/'recipe_step_time'
    out.with_suffix('.json').write_text(json.dumps({'meta': meta, 'rows': rows}, indent=1))
    import pandas as pd
    md = ['# Training-step cost per SimGen recipe', '', f"{meta['network']}, batch {B}, {meta['machine']}; "
          f"{args.rounds} interleaved rounds of {args.steps} steps (forward, backward, AdamW). Shared machine: compare ratios.", '',
          pd.DataFrame(rows).to_markdown(index=False), '', 'Command: `python bench/recipe_step_time.py ' + ' '.join(f'--{k.replace("_", "-")}' + ('' if v is True else f' {v}') for k, v in vars(args).items() if v not in (False, None)) + '`', '']
    out.with_suffix('.md').write_text('\n'.join(md))
    print('\n'.join(md))

if __name__ == '__main__':
    main()
