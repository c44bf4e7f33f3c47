"""Training throughput of the shared trainer against a plain diffusers loop on the same U-Net and batch.

    python bench/train_overhead.py [--run RUN | --profile demo] [--batch-size 8] [--steps 10] [--warmup 3]

Both loops train the SimGen task (6-channel joint sample, epsilon MSE, AdamW, warm-up + cosine LR, gradient
clipping, EMA) on the same in-memory batch source, each in its own process (so peak memory is its own). "ours" is
`simgen_nb.train.train`; "plain" is the loop of diffusers' train_unconditional example (torch.randn/randint,
diffusers EMAModel), with and without EMA. Timing skips the first --warmup steps. Goal: ours within 5 % of plain.
Writes bench/results/train_overhead.json and .md.
"""
import argparse, json, os, platform, resource, subprocess, sys, tempfile, time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


class RandomPairs(torch.utils.data.Dataset):
    "In-memory random image + label pairs (no disk I/O in either loop)."
    def __init__(self, n, size, K):
        g = torch.Generator().manual_seed(0)
        self.x = torch.rand(n, 3, size, size, generator=g)          # [0, 1], as a data set yields
        self.y = torch.randint(0, K, (n, size, size), generator=g)
    def __len__(self): return len(self.x)
    def __getitem__(self, i): return {'image': self.x[i], 'labels': self.y[i], 'id': f'r{i:04d}'}


def make_task(args):
    from simgen_nb.simgen import SimGenConfig, SimGenTask
    from simgen_nb.train import read_config
    if args.run:
        c = read_config(args.run)['task']; classes = c.pop('classes')
        return SimGenTask(SimGenConfig(**c), classes)
    classes = {'name': 'bench', 'ignore_index': 255, 'classes': [{'id': k, 'name': f'c{k}', 'color': [k * 30 % 256, 80, 160]} for k in range(8)]}
    return SimGenTask(SimGenConfig.for_profile(args.profile), classes)


def run_ours(args, task, ds):
    "Times steps warmup .. warmup+steps-1 from the task's on_step hook (so the final checkpoint is not counted)."
    from simgen_nb.train import TrainConfig, train
    total = args.warmup + args.steps + 1
    cfg = TrainConfig.for_profile('ci', steps=total, batch_size=args.batch_size, warmup_steps=2, checkpoint_every=10**9,
                                  sample_every=0, log_every=1, mixed_precision='auto', ema_decay=0.999)
    task.sample_grid = lambda pipe, step: None       # the end-of-run grid is not part of the loop
    task.pipeline = lambda ema: None
    marks = {}
    def on_step(model, step):
        if step in (args.warmup, args.warmup + args.steps):
            if torch.cuda.is_available(): torch.cuda.synchronize()
            marks[step] = (time.perf_counter(), time.process_time())
    task.on_step = on_step
    with tempfile.TemporaryDirectory() as d:
        train(task, ds, cfg, Path(d)/'run', progress=False)
    (w0, c0), (w1, c1) = marks[args.warmup], marks[args.warmup + args.steps]
    return w1 - w0, c1 - c0


def run_plain(args, task, ds, use_ema=True):
    from diffusers.optimization import get_cosine_schedule_with_warmup
    from diffusers.training_utils import EMAModel
    from simgen_nb.simgen import joint_sample
    from simgen_nb.core import pixels_to_model
    dev = torch.device(args.device)
    torch.manual_seed(0)
    model = task.build_model().to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    sched = get_cosine_schedule_with_warmup(opt, 2, args.warmup + args.steps)
    ema = EMAModel(model.parameters(), decay=0.999, use_ema_warmup=True) if use_ema else None
    if ema is not None: ema.to(dev)
    noise_sched = task.scheduler
    loader = torch.utils.data.DataLoader(ds, batch_size=args.batch_size, shuffle=True, drop_last=True)
    it, t_start, c_start = iter(loader), None, None
    amp = dev.type == 'cuda' and torch.cuda.is_bf16_supported()
    for step in range(args.warmup + args.steps):
        if step == args.warmup:
            if dev.type == 'cuda': torch.cuda.synchronize()
            t_start, c_start = time.perf_counter(), time.process_time()
        try: batch = next(it)
        except StopIteration: it = iter(loader); batch = next(it)
        x0 = joint_sample(pixels_to_model(batch['image'].to(dev)), batch['labels'].to(dev), task.palette.to(dev))   # the data set's [0, 1] -> [-1, 1]
        noise = torch.randn_like(x0)
        t = torch.randint(0, noise_sched.config.num_train_timesteps, (x0.shape[0],), device=dev)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
            pred = model(noise_sched.add_noise(x0, noise, t), t).sample
        loss = torch.nn.functional.mse_loss(pred.float(), noise)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step(); sched.step(); opt.zero_grad(set_to_none=True)
        if ema is not None: ema.step(model.parameters())
        loss.item()
    if dev.type == 'cuda': torch.cuda.synchronize()
    return time.perf_counter() - t_start, time.process_time() - c_start


def child(args):
    if args.threads: torch.set_num_threads(args.threads)
    task = make_task(args)
    size = task.config.image_size
    ds = RandomPairs(max(64, args.batch_size * 4), size, len(task.classes['classes']))
    if args.device.startswith('cuda'): torch.cuda.reset_peak_memory_stats()
    sec, cpu = run_ours(args, task, ds) if args.mode == 'ours' else run_plain(args, task, ds, use_ema=args.mode == 'plain')
    res = {'mode': args.mode, 'seconds': sec, 'images_per_s': args.steps * args.batch_size / sec,
           'cpu_seconds': cpu, 'images_per_cpu_s': args.steps * args.batch_size / cpu,
           'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if args.device.startswith('cuda'): res['peak_gpu_mem_mb'] = torch.cuda.max_memory_allocated() / 2**20
    print('RESULT ' + json.dumps(res), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--run', default=None); ap.add_argument('--profile', default='demo')
    ap.add_argument('--batch-size', type=int, default=8); ap.add_argument('--steps', type=int, default=10)
    ap.add_argument('--warmup', type=int, default=3); ap.add_argument('--repeats', type=int, default=2)
    ap.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    ap.add_argument('--threads', type=int, default=None)
    ap.add_argument('--mode', default=None, help=argparse.SUPPRESS)
    ap.add_argument('--out', default=str(ROOT/'bench'/'results'/'train_overhead'))
    args = ap.parse_args()
    if args.mode: return child(args)
    results = {}
    for rep in range(args.repeats):          # interleaved, so a change in machine load hits every mode
        for mode in ('ours', 'plain', 'plain-no-ema'):
            cmd = [sys.executable, __file__, '--mode', mode, '--batch-size', str(args.batch_size), '--steps', str(args.steps),
                   '--warmup', str(args.warmup), '--device', args.device, '--profile', args.profile]
            if args.run: cmd += ['--run', args.run]
            if args.threads: cmd += ['--threads', str(args.threads)]
            r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, 'HF_HUB_OFFLINE': '1'})
            line = [l for l in r.stdout.splitlines() if l.startswith('RESULT ')]
            if not line: sys.exit(f'{mode} failed:\n{r.stderr[-3000:]}')
            res = json.loads(line[0][7:]); print(rep, json.dumps(res), flush=True)
            results.setdefault(mode, []).append(res)
    best = {m: max(rs, key=lambda r: r['images_per_s']) for m, rs in results.items()}
    overhead = {m: best[m]['images_per_s'] / best['ours']['images_per_s'] - 1 for m in ('plain', 'plain-no-ema')}
    med = lambda m: float(np.median([r['images_per_cpu_s'] for r in results[m]]))
    cpu_overhead = {m: med(m) / med('ours') - 1 for m in ('plain', 'plain-no-ema')}
    res = {'benchmark': 'train_overhead', 'model': f'run {args.run}' if args.run else f'fresh {args.profile} model',
           'batch_size': args.batch_size, 'timed_steps': args.steps, 'warmup_steps': args.warmup, 'device': args.device,
           'torch_threads': args.threads or torch.get_num_threads(), 'cpu_count': os.cpu_count(), 'load_average': os.getloadavg(),
           'platform': platform.platform(), 'torch': torch.__version__, 'runs': results, 'best': best,
           'overhead_vs_plain': overhead, 'cpu_time_overhead_vs_plain': cpu_overhead, 'goal': 'ours within 5 % of plain (overhead_vs_plain["plain"] <= 0.05)'}
    out = Path(args.out); out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix('.json').write_text(json.dumps(res, indent=1))
    md = [f'# Training overhead ({res["model"]}, batch {args.batch_size}, {args.steps} timed steps, {args.device})', '',
          f'{res["torch_threads"]} torch threads on {res["cpu_count"]} CPUs; load average at the end {res["load_average"][0]:.1f} '
          '(shared machine: absolute numbers are noisy; best of the repeats is shown)', '',
          '| loop | images/s wall (best) | all repeats | images per CPU-second (median) | peak RSS MB |', '|---|---|---|---|---|']
    for m in ('ours', 'plain', 'plain-no-ema'):
        reps = ', '.join('%.2f' % r['images_per_s'] for r in results[m])
        md.append(f"| {m} | {best[m]['images_per_s']:.2f} | {reps} | {med(m):.2f} | {best[m]['peak_rss_mb']:.0f} |")
    md += ['', f"Overhead of ours (wall, best of repeats): {100 * overhead['plain']:+.1f} % vs the plain diffusers loop with EMA, "
               f"{100 * overhead['plain-no-ema']:+.1f} % vs without EMA (positive = ours slower).",
           f"Overhead of ours (CPU time, median): {100 * cpu_overhead['plain']:+.1f} % vs plain with EMA, "
           f"{100 * cpu_overhead['plain-no-ema']:+.1f} % vs without EMA. On a shared machine CPU time is the steadier measure."]
    out.with_suffix('.md').write_text('\n'.join(md) + '\n')
    print('\n'.join(md))


if __name__ == '__main__':
    main()
