"Time SynthSurg: 2,000 scenes at 64 px (render only, and written to disk in the common format), a few at 256 px."
import json, os, platform, shutil, tempfile, time
from pathlib import Path
from simgen_nb.core import derive_seed
from simgen_nb.synthsurg import synth_scene, make_synthsurg

def best(f, repeats=2):
    "Best wall time of `repeats` runs, the runs, and the best CPU time of this process (less sensitive to other users)."
    ts, cs = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time(); f(); ts.append(time.perf_counter() - t); cs.append(time.process_time() - c)
    return min(ts), ts, min(cs)

def render(n, size):
    for i in range(n): synth_scene(size, derive_seed(0, i))

def write(n, size, workers):
    d = Path(tempfile.mkdtemp())
    try: make_synthsurg(d/'s', n, size=size, seed=0, progress=False, workers=workers)
    finally: shutil.rmtree(d)

if __name__ == '__main__':
    res = {'machine': f'{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, measured on a quiet machine (no other builders)',
           'load_avg_before': os.getloadavg()[0], 'note': 'best of the runs listed (seconds)'}
    for name, f in [('render_2000_64px', lambda: render(2000, 64)),
                    ('write_2000_64px_1_worker', lambda: write(2000, 64, 1)),
                    ('write_2000_64px_2_workers', lambda: write(2000, 64, 2)),
                    ('render_20_256px', lambda: render(20, 256))]:
        b, ts, c = best(f); res[name] = {'best_s': round(b, 2), 'runs_s': [round(t, 2) for t in ts], 'cpu_s_main_process': round(c, 2)}
        print(name, res[name], flush=True)
    res['ms_per_image_64px_render'] = round(res['render_2000_64px']['best_s'] / 2000 * 1000, 2)
    res['ms_per_image_256px_render'] = round(res['render_20_256px']['best_s'] / 20 * 1000, 1)
    res['load_avg_after'] = os.getloadavg()[0]
    out = Path(__file__).parent/'results'; out.mkdir(exist_ok=True)
    (out/'synthsurg.json').write_text(json.dumps(res, indent=1) + '\n')
    md = ['# SynthSurg speed', '', f"Machine: {res['machine']}; 1-min load average {res['load_avg_before']:.1f} before, {res['load_avg_after']:.1f} after.",
          'Target: 2,000 images at 64 px in under 30 s.', '', '| what | best wall (s) | runs (s) | CPU of main process (s) |', '|---|---|---|---|']
    md += [f"| {k} | {v['best_s']} | {', '.join(map(str, v['runs_s']))} | {v['cpu_s_main_process']} |" for k, v in res.items() if isinstance(v, dict)]
    md += ['', f"Render only: {res['ms_per_image_64px_render']} ms per 64 px image, {res['ms_per_image_256px_render']} ms per 256 px image.",
           'CPU time excludes waiting for the shared cores (and, with 2 workers, the workers themselves).',
           '"write" includes PNG encoding, atomic writes and the manifest (SHA-256 of every file) via simgen_nb.data.']
    (out/'synthsurg.md').write_text('\n'.join(md) + '\n')
