"""Cost of the pre-training data check (`SegmentationDataset.check`) against the SimGen training it protects.

    python bench/validation_cost.py [--cases smoke demo] [--measure-steps 20] [--workers N]

Cases (issue 13's budget: the check costs at most 5 % of the training):
  smoke: the smoke data set (SynthSurg 600 x 64 px, as `reproduce --profile smoke` makes it) against a smoke SimGen
         training (the smoke profile's networks, reproduce's smoke budget of 200 steps).
  demo:  the demo's SynthSurg (4,000 x 64 px) against the demo SimGen headline training (demo networks at 32 px,
         1,200 steps, as `reproduce.SETTINGS['demo']`).
The check reads and decodes every pair of the train split (threads, `--workers`). The training time is measured over
`--measure-steps` steps (log.csv seconds between the first and last logged step, no checkpoint or grid inside) and
scaled to the full budget: checkpoints, sample grids and start-up are left out, so the training is under-estimated
and the ratio over-estimated. Writes bench/results/validation_cost.json and .md.
"""
import argparse, json, os, platform, sys, tempfile, time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from simgen_nb.data import SegmentationDataset, read_classes  # noqa: E402
from simgen_nb.synthsurg import make_synthsurg  # noqa: E402
from simgen_nb.simgen import SimGenConfig, SimGenTask  # noqa: E402
from simgen_nb.train import TrainConfig, train, read_log  # noqa: E402

E1_SECONDS = 1976.0   # bench/results/reproduce_demo_timings.md, experiment E1
CASES = {'smoke': dict(n=600, size=64, profile='smoke', image_size=None, steps=200),
         'demo': dict(n=4000, size=64, profile='demo', image_size=32, steps=1200)}


def check_seconds(root, image_size, workers, repeats=2):
    "Best of `repeats` full checks of the train split (the first also warms the page cache, as training would)."
    ds = SegmentationDataset(root, 'train', size=image_size)
    best = float('inf')
    for _ in range(repeats):
        t = time.perf_counter(); ds.check(workers=workers, progress=False); best = min(best, time.perf_counter() - t)
    return best, len(ds)


def step_seconds(root, case, measure, work):
    "Seconds per SimGen training step of `case`, from log.csv over `measure` steps."
    scfg = SimGenConfig.for_profile(case['profile'], **({'image_size': case['image_size']} if case['image_size'] else {}))
    cfg = TrainConfig.for_profile(case['profile'], steps=case['steps'], log_every=1, sample_every=0)
    ds = SegmentationDataset(root, 'train', size=scfg.image_size)
    out = Path(work)/f'run-{case["profile"]}'
    train(SimGenTask(scfg, read_classes(root)), ds, cfg, out, stop_at_step=measure + 2, progress=False, validate=False)
    log = read_log(out)[2:]                                    # the first 2 steps warm up
    return (log[-1]['seconds'] - log[0]['seconds']) / (log[-1]['step'] - log[0]['step']), scfg.image_size


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--cases', nargs='+', default=list(CASES), choices=list(CASES))
    p.add_argument('--measure-steps', type=int, default=20)
    p.add_argument('--workers', type=int, default=None, help='check threads (default: min(8, cores))')
    args = p.parse_args(argv)
    torch.set_num_threads(int(os.environ.get('OMP_NUM_THREADS', '2')))
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for name in args.cases:
            c = CASES[name]
            root = Path(work)/f'synthsurg-{c["n"]}'
            if not root.exists(): make_synthsurg(root, c['n'], size=c['size'], seed=0, progress=False)
            sps, img = step_seconds(root, c, args.measure_steps, work)
            chk, n = check_seconds(root, img, args.workers)
            train_s = sps * c['steps']
            rows.append({'case': name, 'pairs_checked': n, 'pair_px': c['size'], 'check_seconds': round(chk, 2),
                         'train_profile': c['profile'], 'train_px': img, 'train_steps': c['steps'],
                         'seconds_per_step': round(sps, 4), 'train_seconds_est': round(train_s, 1),
                         'check_share_pct': round(100 * chk / train_s, 2)})
            print(rows[-1], flush=True)
    env = {'machine': platform.machine(), 'cores': os.cpu_count(), 'torch': torch.__version__, 'threads': torch.get_num_threads(),
           'workers': args.workers or min(8, os.cpu_count() or 1), 'measure_steps': args.measure_steps,
           'load_avg_at_end': os.getloadavg(), 'date': time.strftime('%Y-%m-%d')}
    res = ROOT/'bench'/'results'
    (res/'validation_cost.json').write_text(json.dumps({'rows': rows, 'env': env}, indent=1) + '\n')
    md = ['# Pre-training data check: cost against the training it protects', '',
          f'`python bench/validation_cost.py` on {env["cores"]} cores ({env["machine"]}), torch {env["torch"]} with '
          f'{env["threads"]} threads, {env["workers"]} check threads, {env["date"]}; load average at the end '
          f'{", ".join(f"{x:.1f}" for x in env["load_avg_at_end"])} (the machine was shared). Training time = seconds per step '
          f'over {args.measure_steps} steps x the budget (no checkpoints or grids: an under-estimate, so the share is an over-estimate).', '',
          '| case | pairs checked | check (s) | training | s/step | training (s, est.) | check / training |',
          '|---|---:|---:|---|---:|---:|---:|']
    md += [f'| {r["case"]} | {r["pairs_checked"]} x {r["pair_px"]} px | {r["check_seconds"]} | SimGen {r["train_profile"]}, '
           f'{r["train_steps"]} steps at {r["train_px"]} px | {r["seconds_per_step"]} | {r["train_seconds_est"]} | '
           f'{r["check_share_pct"]} % |' for r in rows]
    md += ['', 'Budget (issue 13): at most 5 % in each case.']
    demo = next((r for r in rows if r['case'] == 'demo'), None)
    if demo:   # a cross-check that does not depend on this machine's load
        md += ['', f'Cross-check against the recorded demo reproduction (bench/results/reproduce_demo_timings.md, unloaded machine): '
               f'E1 trained 9 demo SimGen runs of 1,200 steps *and* a map generator, 3 CASDM runs, 12 generated sets and their '
               f'metrics in {E1_SECONDS} s, so one SimGen run took at most {E1_SECONDS / 9:.0f} s; the {demo["check_seconds"]} s check '
               f'is at most {100 * demo["check_seconds"] / (E1_SECONDS / 9):.2f} % of it.']
    (res/'validation_cost.md').write_text('\n'.join(md) + '\n')


if __name__ == '__main__':
    main()
