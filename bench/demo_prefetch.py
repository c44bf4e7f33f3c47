"""Train and sample, in parallel one-thread processes, what the demo's experiment notebooks will ask for.

`simgen-nb reproduce` runs the notebooks one after the other, and each trains or samples its runs in one process:
on a 2-core CPU the second core idles through most of the demo. This script makes the same `reproduce.Context`
calls as the notebooks (same names, same arguments), in `--workers` processes of one torch thread each, in an order
that respects what depends on what. `reproduce` then finds every run and generated set with a matching fingerprint
and reuses it; anything that does not match (a notebook changed since) it trains or samples again itself, so this
script can only save time, never change a result.

    python bench/demo_prefetch.py --profile demo --workers 2          # then: simgen-nb reproduce --profile demo
    python bench/demo_prefetch.py --profile ci --root /tmp/x --dry-run  # list the jobs

E6 (its samplers run inside the notebook) is one job: `simgen-nb reproduce --only E6` at one thread. Its timings are
then one-thread timings on a shared machine, and the table says which machine.
"""
from __future__ import annotations
import argparse, json, os, subprocess, sys, time
from pathlib import Path

HERE = Path(__file__).resolve()

# the notebooks' parameters that change what is trained or sampled (their defaults in nbs/experiments/)
GUIDANCE = 1.5            # E3, E5, E7 map guidance (CASDM; the unified model's masks); E1's chain_guidance
UNIFIED_MAP_GUIDANCE = 1.25  # E7: the unified model's mask -> image guidance (bench/results/unified_guidance_masknorm.md)
INDEPENDENT_NOISE = 0.25  # E7
INDEPENDENT_SHARES = (2, 1, 0)  # E7: the unified arm's (clean, full noise, second draw) weights (bench/results/unified_shares.md); None: thirds
MASK_NORM = 16            # E7: the unified arm's mask-modulated norms (`--mask-norm` width, bench/results/unified_shares.md; 0: off)
JOINT_GUIDANCE = 1.5      # E7: the unified model's joint pairs, also drawn with joint guidance
MASK_DRAWS = 5            # E7: masks drawn per test image (their vote)
CASDM_RECIPES = ('paper', 'edm')   # E7's CASDM arms
PALETTES = ('cfl', 'random', 'grayscale')               # E1
LOSSES = ('mse', 'camse', 'camse+casp')                 # E3


def arm_name(S, model: str, base: str, seed: int) -> str:
    "The run name `Context.arm` gives."
    a, h = S.ablation_for(model), S.steps_for(model)
    return f'{base}-s{seed}' if a is None or a == h else f'{base}-s{seed}-abl{a}'


def jobs_for(profile: str, root: Path, seeds: list[int] | None = None, only: set[str] | None = None) -> list[dict]:
    "Every job as {'id', 'deps', 'call', 'args', 'kwargs'}, in priority order (seed by seed)."
    from simgen_nb.reproduce import SETTINGS, e7_arms, mask_vote_set, joint_guided_set
    S = SETTINGS[profile]
    seeds = list(S.seeds) if seeds is None else seeds
    name = 'synthsurg'
    runs = root/'runs'/profile
    path = str(root/'data'/f'synthsurg-{profile}')
    gen = lambda n: str(runs/'generated'/n)
    run = lambda n: str(runs/n)
    J = []
    def job(id, call, *args, deps=(), prio=0, **kw):
        if only is not None and not any(id.startswith(o) for o in only): return
        if any(j['id'] == id for j in J): return   # one run or set asked for by two experiments
        J.append({'id': id, 'deps': [d for d in deps if any(j['id'] == d for j in J)], 'call': call, 'args': list(args), 'kwargs': kw,
                  'prio': prio})

    job('judge', 'judge', name, path)
    head = f'simgen-cfl-{name}-s{S.seeds[0]}'
    job('train:headline', 'train', 'simgen', path, head, seed=S.seeds[0], palette='cfl')
    job('maps:heldout', 'heldout_maps', name, path)
    e7 = {seed: e7_arms(S, profile, name, path, seed, INDEPENDENT_NOISE, CASDM_RECIPES, INDEPENDENT_SHARES, MASK_NORM) for seed in seeds}   # E7_unified's arms
    for seed in seeds:
        for pal in PALETTES:
            r = arm_name(S, 'simgen', f'simgen-{pal}-{name}', seed)
            job(f'train:{r}', 'simgen_arm', path, name, pal, seed)
        for loss in LOSSES:
            r = arm_name(S, 'casdm', f'casdm-{loss}-{name}', seed)
            job(f'train:{r}', 'arm', 'casdm', path, f'casdm-{loss}-{name}', seed, loss=loss, prio=0 if loss == 'camse+casp' else 4)
        job(f'train:mapgen-s{seed}', 'train', 'mapgen', path, f'mapgen-{name}-s{seed}', seed=seed)
        for arm, spec in e7[seed].items():   # (the joint-only arm, E1's CFL arm, or E7's CASDM arm may be E3's: listed once)
            job(f"train:{spec['run']}", spec['call'], *spec['args'], **spec['kwargs'])
        job(f'seg:E5-real-s{seed}', 'segmenter', f'E5-real-{name}-s{seed}', [path], seed=seed)
    if seeds and seeds[0] == S.seeds[0] and S.steps_for('simgen') != S.ablation_for('simgen'):
        job('sample:headline', 'sample', run(head), head, seed=S.seeds[0], deps=['train:headline'])
        job('E6', 'reproduce_only', 'E6', deps=['judge', 'train:headline'], prio=3)
    for seed in seeds:
        cfl = arm_name(S, 'simgen', f'simgen-cfl-{name}', seed)
        for pal in PALETTES:
            r = arm_name(S, 'simgen', f'simgen-{pal}-{name}', seed)
            job(f'sample:{r}', 'sample', run(r), r, seed=seed, deps=[f'train:{r}'])
        cc = arm_name(S, 'casdm', f'casdm-camse+casp-{name}', seed)
        job(f'prompts-s{seed}', 'train_prompts', name, path, seed)
        job(f'sample:E5-chain-s{seed}', 'generate', gen(f'E5-prompts-{name}-s{seed}.jsonl'), run(f'mapgen-{name}-s{seed}'), run(cc),
            f'E5-chain-{name}-s{seed}', seed=seed, guidance_image=GUIDANCE, deps=[f'prompts-s{seed}', f'train:mapgen-s{seed}', f'train:{cc}'])
        job(f'sample:E5-casdm-s{seed}', 'sample', run(cc), f'E5-casdm-{name}-s{seed}', n='n_syn', seed=seed, maps=path, split='train',
            guidance=GUIDANCE, deps=[f'train:{cc}'])
        for loss in LOSSES:
            r = arm_name(S, 'casdm', f'casdm-{loss}-{name}', seed)
            job(f'sample:{r}', 'sample', run(r), r, n='n_maps', seed=seed, maps=gen(f'heldout-maps-{name}'), guidance=GUIDANCE,
                deps=[f'train:{r}', 'maps:heldout'], prio=4)
        u, j = e7[seed]['unified']['run'], e7[seed]['joint-only']['run']
        job(f'sample:{u}', 'sample', run(u), u, seed=seed, deps=[f'train:{u}'])
        job(f'sample:{j}', 'sample', run(j), j, seed=seed, deps=[f'train:{j}'])   # (E1's set where it is E1's arm: listed once)
        g = joint_guided_set(u, JOINT_GUIDANCE)
        job(f'sample:{g}', 'sample', run(u), g, seed=seed, joint_guidance=f'{JOINT_GUIDANCE:g}', deps=[f'train:{u}'])
        job(f'sample:E7-maps-{u}', 'sample', run(u), f'E7-maps-{u}', n='n_maps', seed=seed, maps=gen(f'heldout-maps-{name}'),
            guidance=UNIFIED_MAP_GUIDANCE, deps=[f'train:{u}', 'maps:heldout'])
        job(f'sample:E7-maps-{j}', 'sample', run(j), f'E7-maps-{j}', n='n_maps', seed=seed, maps=gen(f'heldout-maps-{name}'),
            deps=[f'train:{j}', 'maps:heldout'])
        for rec in CASDM_RECIPES:
            c = e7[seed][f'CASDM ({rec})']['run']   # (E3's set where it is E3's arm: listed once)
            job(f'sample:{c}', 'sample', run(c), c, n='n_maps', seed=seed, maps=gen(f'heldout-maps-{name}'), guidance=GUIDANCE,
                deps=[f'train:{c}', 'maps:heldout'])
        i2m = lambda r: mask_vote_set(r, MASK_DRAWS)
        draws = {'draws': MASK_DRAWS} if MASK_DRAWS > 1 else {}
        job(f'sample:{i2m(u)}', 'sample', run(u), i2m(u), n='n_test', seed=seed, images=path, split='test',
            guidance=GUIDANCE, deps=[f'train:{u}'], **draws)
        job(f'sample:{i2m(j)}', 'sample', run(j), i2m(j), n='n_test', seed=seed, images=path, split='test',
            deps=[f'train:{j}'], **draws)
        # E5's downstream segmenters (the arm names and roots of E5_downstream)
        g_sim, g_cas, g_chain = gen(cfl), gen(f'E5-casdm-{name}-s{seed}'), gen(f'E5-chain-{name}-s{seed}')
        arms = {'SimGen only': [g_sim], 'real + SimGen': [path, g_sim], 'CASDM only': [g_cas], 'real + CASDM': [path, g_cas],
                'chain only': [g_chain]}
        src = {g_sim: f'sample:{cfl}', g_cas: f'sample:E5-casdm-s{seed}', g_chain: f'sample:E5-chain-s{seed}'}
        for arm, roots in arms.items():
            job(f'seg:E5-{arm}-s{seed}', 'segmenter', f'E5-{arm.replace(" ", "").replace("+", "-")}-{name}-s{seed}', roots, seed=seed,
                deps=[src[r] for r in roots if r in src], prio=2)
    return sorted(J, key=lambda j: j['prio'])   # stable: seed by seed within a priority; E3's own runs and sets last


def run_job(spec: dict, profile: str, root: Path) -> None:
    "Carry out one job in this process (one torch thread)."
    import torch
    torch.set_num_threads(1)
    from simgen_nb.reproduce import Context
    from simgen_nb.data import read_splits
    ctx = Context(profile, root, progress=False)
    S = ctx.settings
    call, args, kw = spec['call'], list(spec['args']), dict(spec['kwargs'])
    P = lambda a: Path(a) if isinstance(a, str) and a.startswith('/') else a
    args = [[P(x) for x in a] if isinstance(a, list) else P(a) for a in args]
    kw = {k: P(v) for k, v in kw.items()}
    path = root/'data'/f'synthsurg-{profile}'
    if kw.get('n') == 'n_syn': kw['n'] = min(len(read_splits(path)['train']), S.n_samples)
    if kw.get('n') == 'n_test': kw['n'] = len(read_splits(path)['test'])
    if kw.get('n') == 'n_maps': kw['n'] = min(len(read_splits(ctx.runs/'generated'/'heldout-maps-synthsurg')['train']), S.n_samples)
    if call == 'reproduce_only':
        subprocess.run([sys.executable, '-m', 'simgen_nb.cli', 'reproduce', '--profile', profile, '--only', args[0], '--root', str(root)],
                       check=True, env=_one_thread_env())
        return
    getattr(ctx, call)(*args, **kw)


def _one_thread_env():
    return {**os.environ, 'OMP_NUM_THREADS': '1', 'MKL_NUM_THREADS': '1', 'HF_HUB_OFFLINE': '1'}


def schedule(J: list[dict], profile: str, root: Path, workers: int, log: Path) -> int:
    "Run the jobs in `workers` one-thread processes, each as soon as its dependencies finished; returns the failures."
    done, failed, running, pending = set(), set(), {}, list(J)
    log.parent.mkdir(parents=True, exist_ok=True)
    def note(msg):
        line = f'{time.strftime("%H:%M:%S")} {msg}'
        print(line, flush=True)
        with open(log, 'a') as f: f.write(line + '\n')
    while pending or running:
        for j in list(pending):
            if len(running) >= workers: break
            if any(d in failed for d in j['deps']):
                pending.remove(j); failed.add(j['id']); note(f'skip {j["id"]} (a dependency failed)'); continue
            if all(d in done for d in j['deps']):
                pending.remove(j)
                out = open(log.with_name(f'job-{j["id"].replace("/", "_").replace(":", "_")}.log'), 'w')
                p = subprocess.Popen([sys.executable, str(HERE), '--profile', profile, '--root', str(root), '--job', json.dumps(j)],
                                     env=_one_thread_env(), stdout=out, stderr=subprocess.STDOUT)
                running[j['id']] = (p, time.time(), time.process_time())
                note(f'start {j["id"]}')
        time.sleep(2)
        for id, (p, t0, _) in list(running.items()):
            if p.poll() is None: continue
            del running[id]
            (done if p.returncode == 0 else failed).add(id)
            note(f'{"done" if p.returncode == 0 else "FAILED"} {id} in {time.time() - t0:.0f} s')
    note(f'finished: {len(done)} done, {len(failed)} failed')
    return len(failed)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--profile', default='demo', help='the reproduce profile (default: demo)')
    ap.add_argument('--root', default='.', help='the repository root reproduce will run in (default: .)')
    ap.add_argument('--workers', type=int, default=2, help='parallel one-thread processes (default: 2)')
    ap.add_argument('--seeds', help='comma-separated seeds (default: the profile\'s)')
    ap.add_argument('--only', help='comma-separated job id prefixes (default: every job)')
    ap.add_argument('--dry-run', action='store_true', help='list the jobs and exit')
    ap.add_argument('--job', help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    root = Path(a.root).resolve()
    if a.job: run_job(json.loads(a.job), a.profile, root); return 0
    if a.workers < 1: ap.error(f'--workers must be at least 1, got {a.workers}')
    from simgen_nb.reproduce import Context
    Context(a.profile, root).datasets()   # SynthSurg, made once before the workers start
    seeds = [int(s) for s in a.seeds.split(',')] if a.seeds else None
    J = jobs_for(a.profile, root, seeds, set(a.only.split(',')) if a.only else None)
    if a.dry_run:
        for j in J: print(j['id'], '<-', ', '.join(j['deps']) or '-')
        return 0
    return 1 if schedule(J, a.profile, root, a.workers, root/'runs'/a.profile/'prefetch'/'prefetch.log') else 0


if __name__ == '__main__':
    sys.exit(main())
