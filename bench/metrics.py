"""Throughput and peak memory of simgen_nb's FID and SID-mask against torchmetrics' FID, same extractor, same images.

    python bench/metrics.py [--sizes 1000,10000] [--batch 100] [--res 64] [--threads N]

Extractor: `BenchNet`, a fixed random 3-layer conv net (3->32->64->128 channels, stride 2, global average pool,
128 features, ~20 MFLOP per 64x64 image), so the benchmark runs in minutes on a CPU; the Inception network would
measure the same metric code with a ~300x larger constant per image. Images are uint8 64x64, drawn per batch from a
seeded generator (nothing is held, so the data costs no memory); both start from the same uint8 tensor: ours takes
it as is, torchmetrics' `normalize=True` custom-extractor path takes floats in [-1, 1], converted inside the timed
region. SID-mask gets label maps of 8
classes rendered in fixed colours. Throughput: the three implementations are updated batch by batch in turn in one
process (so a change of machine load hits all three alike); images/s counts only `update` + `compute` time. Peak
memory: each (implementation, N) runs in a fresh process; peak = the process's maximum resident set size (`ru_maxrss`).
Writes bench/results/metrics.json and metrics.md.
"""
import argparse, json, os, platform, resource, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMPLS = ('simgen_nb-FID', 'simgen_nb-SID-mask', 'torchmetrics-FID', 'simgen_nb-KID')


def rss_mib() -> float:
    "Current resident set size of this process (Linux /proc)."
    with open('/proc/self/statm') as f: return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2 ** 20


def bench_net():
    import torch, torch.nn as nn
    from simgen_nb.extractors import Extractor

    class BenchNet(Extractor):
        name, num_features, preprocess = 'benchnet', 128, 'native'
        def __init__(self):
            super().__init__()
            g = torch.Generator().manual_seed(0)
            self.body = nn.Sequential(nn.Conv2d(3, 32, 3, 2, 1), nn.ReLU(), nn.Conv2d(32, 64, 3, 2, 1), nn.ReLU(),
                                      nn.Conv2d(64, 128, 3, 2, 1), nn.ReLU())
            for m in self.body:
                if isinstance(m, nn.Conv2d): nn.init.kaiming_normal_(m.weight, nonlinearity='relu', generator=g); nn.init.zeros_(m.bias)
            self.freeze()
        def forward(self, x): return self.body(x * 2 - 1).mean((2, 3))   # handed [0, 1] (the convention); works in [-1, 1], as recorded
    return BenchNet()


def run_one(impl: str, n: int, batch: int, res: int) -> dict:
    "Run in a fresh process: one implementation over n images."
    import torch
    from simgen_nb.metrics import FID, SIDMask, KID
    from torchmetrics.image.fid import FrechetInceptionDistance
    net = bench_net()
    colors = [[(37 * k) % 256, (91 * k) % 256, (151 * k) % 256] for k in range(8)]
    if impl == 'simgen_nb-FID': m = FID(net)
    elif impl == 'simgen_nb-KID': m = KID(net, subsets=10, subset_size=1000)
    elif impl == 'simgen_nb-SID-mask': m = SIDMask(net, colors)
    else: m = FrechetInceptionDistance(feature=net, normalize=True)
    spent, start = 0.0, rss_mib()
    loop_peak = start
    for b in range(0, n, batch):
        g = torch.Generator().manual_seed(b)
        k = min(batch, n - b)
        for real in (True, False):
            if impl == 'simgen_nb-SID-mask':
                x = torch.randint(0, 8, (k, res, res), generator=g)
            else:
                x = torch.randint(0, 256, (k, 3, res, res), generator=g, dtype=torch.uint8)
            t = time.perf_counter()
            if impl == 'torchmetrics-FID': x = x.float().div(255)   # its float input ([0, 1], what ours hands the net), converted in the timed region
            m.update(x, real=real); spent += time.perf_counter() - t
            loop_peak = max(loop_peak, rss_mib())
    t = time.perf_counter(); value = m.compute(); spent += time.perf_counter() - t
    value = float(value[0] if isinstance(value, tuple) else value)
    return {'impl': impl, 'n': n, 'images': 2 * n, 'seconds': spent, 'images_per_s': 2 * n / spent,
            'rss_before_mib': start, 'rss_growth_mib': loop_peak - start,
            'peak_rss_mib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 'value': value}


def interleaved(n: int, batch: int, res: int) -> list[dict]:
    "Throughput of the three implementations in one process, batch by batch in turn (so load changes hit all alike)."
    import torch
    from simgen_nb.metrics import FID, SIDMask
    from torchmetrics.image.fid import FrechetInceptionDistance
    net = bench_net()
    colors = [[(37 * k) % 256, (91 * k) % 256, (151 * k) % 256] for k in range(8)]
    ms = {'simgen_nb-FID': FID(net), 'simgen_nb-SID-mask': SIDMask(net, colors), 'torchmetrics-FID': FrechetInceptionDistance(feature=net, normalize=True)}
    spent = dict.fromkeys(ms, 0.0)
    for b in range(0, n, batch):
        g = torch.Generator().manual_seed(b); k = min(batch, n - b)
        for real in (True, False):
            x = torch.randint(0, 256, (k, 3, res, res), generator=g, dtype=torch.uint8)
            y = torch.randint(0, 8, (k, res, res), generator=g)
            names = list(ms); r = (b // batch) % len(names)
            for name in names[r:] + names[:r]:       # rotate who goes first: the first after a fresh batch pays for cold caches
                m = ms[name]; t = time.perf_counter()
                if name == 'simgen_nb-SID-mask': m.update(y, real=real)
                elif name == 'torchmetrics-FID': m.update(x.float().div(255), real=real)
                else: m.update(x, real=real)
                spent[name] += time.perf_counter() - t
    rows = []
    for name, m in ms.items():
        t = time.perf_counter(); v = float(m.compute()); spent[name] += time.perf_counter() - t
        rows.append({'impl': name, 'n': n, 'images': 2 * n, 'seconds': spent[name], 'images_per_s': 2 * n / spent[name], 'value': v})
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--sizes', default='1000,10000'); ap.add_argument('--batch', type=int, default=100)
    ap.add_argument('--res', type=int, default=64); ap.add_argument('--threads', type=int, default=None)
    ap.add_argument('--repeats', type=int, default=1, help='runs per (impl, N); the fastest is kept')
    ap.add_argument('--throughput-n', type=int, default=2000, help='images per side of the interleaved throughput run')
    ap.add_argument('--one', default=None, help=argparse.SUPPRESS)
    ap.add_argument('--out', default=str(ROOT/'bench'/'results'/'metrics'))
    args = ap.parse_args()
    if args.threads:
        import torch; torch.set_num_threads(args.threads)
    if args.one:
        impl, n = args.one.split(':')
        print(json.dumps(run_one(impl, int(n), args.batch, args.res))); return
    speed = interleaved(args.throughput_n, args.batch, args.res)
    for r in speed: print(json.dumps(r), flush=True)
    rows = []
    for n in [int(s) for s in args.sizes.split(',')]:
        for impl in IMPLS:
            best = None
            for _ in range(args.repeats):
                cmd = [sys.executable, __file__, '--one', f'{impl}:{n}', '--batch', str(args.batch), '--res', str(args.res)]
                if args.threads: cmd += ['--threads', str(args.threads)]
                r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
                best = r if best is None or r['images_per_s'] > best['images_per_s'] else best
            rows.append(best); print(json.dumps(best), flush=True)
    import torch
    fid_values = {r['n']: {x['impl']: x['value'] for x in rows if x['n'] == r['n']} for r in rows}
    out = {'extractor': 'BenchNet: fixed random conv net 3-32-64-128, stride 2, GAP, 128-d (bench/metrics.py)',
           'resolution': args.res, 'batch': args.batch, 'torch_threads': torch.get_num_threads(), 'cpu': platform.processor() or platform.machine(),
           'cpu_count': os.cpu_count(), 'load_average': os.getloadavg(), 'torch': torch.__version__,
           'throughput_interleaved': speed, 'rows': rows,
           'fid_values': fid_values, 'note': 'images/s = 2N images (real + generated) / seconds in update+compute; peak = ru_maxrss of a fresh process'}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out + '.json').write_text(json.dumps(out, indent=1) + '\n')
    lines = ['# Metrics benchmark', '', f"Extractor: {out['extractor']}; {args.res}x{args.res} images, batch {args.batch}, "
             f"{out['torch_threads']} torch threads on {out['cpu_count']} CPUs (load average at the end {out['load_average'][0]:.1f}).", '',
             f'Throughput, the three metrics updated batch by batch in turn in one process ({args.throughput_n} real + '
             f'{args.throughput_n} generated images each; time in update + compute only):', '',
             '| implementation | images/s | relative to torchmetrics-FID | value |', '|---|---|---|---|']
    ref = next(r for r in speed if r['impl'] == 'torchmetrics-FID')['images_per_s']
    lines += [f"| {r['impl']} | {r['images_per_s']:.0f} | {r['images_per_s'] / ref:.2f} | {r['value']:.6g} |" for r in speed]
    lines += ['', 'Memory: each (implementation, N) in a fresh process. "growth" = the highest resident set size seen after any '
              'update minus the one before the first update (what the metric accumulates); "peak" = the process\'s ru_maxrss '
              '(dominated by the ~1.1 GB of imported libraries). simgen_nb-KID keeps every feature by design (KID needs '
              'them): the positive control that shows growth is measurable. images/s of these separate runs is more '
              'exposed to load changes than the interleaved run above.', '',
              '| implementation | N per side | growth (MiB) | peak RSS (MiB) | images/s | value |', '|---|---|---|---|---|---|']
    lines += [f"| {r['impl']} | {r['n']} | {r['rss_growth_mib']:.1f} | {r['peak_rss_mib']:.0f} | {r['images_per_s']:.0f} | {r['value']:.6g} |" for r in rows]
    Path(args.out + '.md').write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines))


if __name__ == '__main__':
    main()
