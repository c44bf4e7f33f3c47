"""Seconds per CASDM training step for each loss setting (mse, camse, camse+casp) against SimGen's, same data and size.

    python bench/casdm.py [--profile smoke] [--batch-size 8] [--steps 6] [--warmup 2]

Each setting trains its task's model (forward, loss, backward, AdamW step) on the same in-memory batch of random
image + label pairs at the profile's image size, with the randomness of the trainer's SampleRNG. The
camse+casp setting is timed *after* the warm-up (the frozen copy exists from the first timed step), so it
includes the two extra frozen-network passes. The CASDM U-Net uses SimGen's widths for the profile when the
SimGen task is importable (so the comparison is about conditioning and losses, not model size); parameter
counts are reported. The first --warmup steps are not timed; timed steps go round robin over the settings so
that the load of a shared machine affects them alike. Writes bench/results/casdm.json and .md.
"""
import argparse, json, os, platform, sys, time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
K = 8


def batch(size, bs):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(bs, 3, size, size, generator=g)          # [0, 1], as a data set yields (the task converts)
    y = torch.randint(0, K, (bs, size, size), generator=g)
    y[:, : size // 4, : size // 4] = 0                      # a large class beside small ones
    return {'image': x, 'labels': y}


class Runner:
    "One task's model and optimiser; `step()` times one training step (forward, loss, backward, AdamW)."
    def __init__(self, task, b, lr=1e-4):
        torch.manual_seed(0)
        self.task, self.b, self.s, self.times = task, b, 0, []
        self.model = task.build_model().train()
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=lr)
    def step(self, record=True):
        from simgen_nb.train import SampleRNG
        self.task.on_step(self.model, self.s)
        t0 = time.perf_counter()
        self.terms = self.task.loss(self.model, self.b, self.s, SampleRNG(0, self.s, range(len(self.b['image']))))
        self.terms['loss'].backward()
        self.opt.step(); self.opt.zero_grad(set_to_none=True)
        if record: self.times.append(time.perf_counter() - t0)
        self.s += 1
    def result(self):
        t = sorted(self.times)
        return {'sec_per_step_min': t[0], 'sec_per_step_median': t[len(t) // 2], 'sec_per_step_mean': sum(t) / len(t), 'sec_per_step_all': [round(x, 4) for x in self.times],
                'params_M': round(sum(p.numel() for p in self.model.parameters()) / 1e6, 3), 'terms': sorted(self.terms)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--profile', default='smoke')
    ap.add_argument('--batch-size', type=int, default=8)
    ap.add_argument('--steps', type=int, default=6)
    ap.add_argument('--warmup', type=int, default=2)
    ap.add_argument('--threads', type=int, default=None)
    ap.add_argument('--extra-hidden', type=int, nargs='*', default=[16],
                    help='also time camse+casp with these SPADE map-branch widths (the trade-off of spade_hidden)')
    args = ap.parse_args()
    if args.threads: torch.set_num_threads(args.threads)
    from simgen_nb.casdm import CASDMTask, casdm_config, LOSSES

    simgen, simgen_err, widths = None, None, {}
    try:
        from simgen_nb.simgen import SimGenConfig, SimGenTask
        sc = SimGenConfig.for_profile(args.profile)
        classes = {'name': 'bench', 'ignore_index': 255,
                   'classes': [{'id': k, 'name': f'c{k}', 'color': [k * 30 % 256, 80, 160]} for k in range(K)]}
        simgen = SimGenTask(sc, classes)
        widths = dict(image_size=sc.image_size, block_out_channels=list(sc.block_out_channels),
                      layers_per_block=sc.layers_per_block, norm_num_groups=sc.norm_num_groups)
    except Exception as e:                                  # SimGen not built yet, or its palette missing
        simgen_err = f'{type(e).__name__}: {e}'
    base = casdm_config(args.profile, num_classes=K, **widths)
    size = base.image_size
    b = batch(size, args.batch_size)
    runners = {f'casdm {loss}': Runner(CASDMTask(casdm_config(args.profile, num_classes=K, loss=loss, casp_warmup=0, **widths)), b)
               for loss in LOSSES}
    for h in args.extra_hidden:
        runners[f'casdm camse+casp spade_hidden={h}'] = Runner(CASDMTask(casdm_config(
            args.profile, num_classes=K, loss='camse+casp', casp_warmup=0, spade_hidden=h, **widths)), b)
    if simgen is not None: runners['simgen'] = Runner(simgen, b)
    for r in runners.values():
        for _ in range(args.warmup): r.step(record=False)
    for i in range(args.steps):                               # round robin: machine load hits every setting alike
        for r in runners.values(): r.step()
        print(f'round {i + 1}/{args.steps}', flush=True)
    results = {k: r.result() for k, r in runners.items()}
    for k, r in results.items(): print(f'{k:36s} min {r["sec_per_step_min"]:.3f} median {r["sec_per_step_median"]:.3f} s/step', flush=True)
    out = {'profile': args.profile, 'image_size': size, 'batch_size': args.batch_size, 'timed_steps': args.steps,
           'warmup_steps': args.warmup, 'casdm_widths': {'block_out_channels': base.block_out_channels,
                                                         'layers_per_block': base.layers_per_block,
                                                         'spade_hidden': base.spade_hidden or 'block width',
                                                         'casp_layers': base.casp_layers},
           'simgen_unavailable': simgen_err, 'torch_threads': torch.get_num_threads(),
           'machine': f'{platform.machine()} {os.cpu_count()} CPUs (shared), torch {torch.__version__}',
           'note': 'CPU timings on a shared 2-core build machine (other builds running); the minimum is the least disturbed; compare rows of one run only', 'results': results}
    d = ROOT / 'bench' / 'results'; d.mkdir(parents=True, exist_ok=True)
    (d / 'casdm.json').write_text(json.dumps(out, indent=1) + '\n')
    ref = results.get('simgen', {}).get('sec_per_step_min')
    lines = [f'# CASDM training step time ({args.profile}, {size} px, batch {args.batch_size})', '',
             '| setting | params (M) | s/step (min) | s/step (median) | vs SimGen (min) |', '|---|---|---|---|---|']
    for k, r in results.items():
        rel = f'{r["sec_per_step_min"] / ref:.2f}x' if ref else 'n/a'
        lines.append(f'| {k} | {r["params_M"]} | {r["sec_per_step_min"]:.3f} | {r["sec_per_step_median"]:.3f} | {rel} |')
    if simgen_err: lines += ['', f'SimGen not timed: {simgen_err}']
    lines += ['', out['machine'] + '; ' + out['note'] + '.']
    (d / 'casdm.md').write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines))


if __name__ == '__main__':
    sys.exit(main())
