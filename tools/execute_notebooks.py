#!/usr/bin/env python
"""Execute the module notebooks in place, so they are committed with their outputs and read as tutorials.

    python tools/execute_notebooks.py                      # every nbs/*.ipynb (not nbs/experiments/)
    python tools/execute_notebooks.py nbs/00_palette.ipynb # just these
    make outputs                                           # the same as the first line

Each notebook runs in a fresh `python3` kernel (this interpreter, this checkout's `simgen_nb` first on the path),
with the notebook's folder as working directory, one thread per BLAS/OpenMP pool, `HF_HUB_OFFLINE=1` and a
per-cell timeout. Cells marked `#| eval: false` are not run (as under nbdev_test); `#| slow` cells are.
What would make the outputs differ from run to run or from machine to machine is taken out: progress bars
(tqdm on stderr, widget views), absolute paths of this checkout and of temporary folders, memory addresses.
The notebook's metadata records a digest of its code cells as executed (`simgen_nb.executed_code_sha1`), so a
test can tell when a code cell changed after the outputs were made. Then `nbdev_clean` normalises them (execution counts, metadata), so `.ci/check_sync.sh` passes on the result.
A notebook that fails is left as it was and the command exits non-zero; so does one that ends up over the
size limit (1.5 MB: figures are embedded PNGs, so a notebook that plots a lot must plot smaller).

The experiment notebooks in nbs/experiments/ are not run here: `simgen-nb reproduce` runs them with papermill.
"""
import argparse, os, re, subprocess, sys, sysconfig, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT / 'nbs'
MAX_BYTES = 1_500_000
STAMP_KEY = 'simgen_nb'
KERNELSPEC = {'display_name': 'python3', 'language': 'python', 'name': 'python3'}

_eval_false = re.compile(r'^\s*#\|\s*eval\s*:\s*false\s*$', re.M | re.I)
_progress = re.compile(r'\r|\d+%\|[^\n]*\|')                          # tqdm's bar and carriage returns
_addr = re.compile(r'\b0x[0-9a-fA-F]{6,}\b')                            # object ids in reprs
_tmp = re.compile(r'(?<![\w.])(/tmp|/var/folders/[\w/]+?/T|/private/var/folders/[\w/]+?/T)/[\w.\-]+')
_WIDGET = 'application/vnd.jupyter.widget-view+json'


def module_notebooks():
    "Every notebook directly in nbs/ (the module notebooks and index.ipynb), in name order."
    return sorted(NBS.glob('*.ipynb'))


def _scrub_text(s, roots):
    for old, new in roots: s = s.replace(old + os.sep, new + os.sep if new else '').replace(old, new or '.')
    s = _tmp.sub(r'\1/…', s)
    return _addr.sub('0x…', s)


def _join(x): return ''.join(x) if isinstance(x, list) else x


def scrub(nb, roots):
    "Drop progress bars and widget views; replace checkout/temp paths and memory addresses. In place."
    for cell in nb.cells:
        if cell.cell_type != 'code': continue
        outs = []
        for o in cell.get('outputs', []):
            if o.output_type == 'stream':
                text = _join(o.text)
                if o.name == 'stderr':
                    # keep warnings and the like, drop progress-bar lines (tqdm redraws with \r)
                    lines = [l for l in text.split('\n') if not _progress.search(l)]
                    text = '\n'.join(lines)
                    if not text.strip(): continue
                o.text = _scrub_text(text, roots)
            elif o.output_type in ('display_data', 'execute_result'):
                data = o.get('data', {})
                if _WIDGET in data:
                    data.pop(_WIDGET)
                    if set(data) <= {'text/plain'}: continue     # a bare progress widget: nothing to read
                for k in list(data):
                    if k.startswith('text/'): data[k] = _scrub_text(_join(data[k]), roots)
            elif o.output_type == 'error':
                o.traceback = [_scrub_text(t, roots) for t in o.traceback]
            outs.append(o)
        cell.outputs = outs
    nb.metadata.pop('widgets', None)
    return nb


def code_digest(nb):
    "sha1 of the notebook's code cells: stored at execution, compared by tests/test_docs.py to catch stale outputs."
    import hashlib
    code = '\n\x00'.join(c.source.strip() if isinstance(c.source, str) else ''.join(c.source).strip()
                          for c in nb.cells if c.cell_type == 'code')
    return hashlib.sha1(code.encode('utf-8')).hexdigest()


def _roots(path):
    "(absolute prefix, replacement) pairs, longest first: notebook folder and checkout become relative, the rest named."
    pairs = {str(path.parent): '', str(ROOT): os.path.relpath(ROOT, path.parent), sysconfig.get_paths()['purelib']: 'site-packages',
             sysconfig.get_paths()['stdlib']: 'python-stdlib', os.path.expanduser('~'): '~'}
    return sorted(((k, v) for k, v in pairs.items() if len(k) > 1), key=lambda kv: len(kv[0]), reverse=True)


def _kernel_env():
    env = dict(os.environ)
    env['PATH'] = os.pathsep.join([str(Path(sys.executable).parent), env.get('PATH', '')])   # kernel.json runs `python`
    env['PYTHONPATH'] = os.pathsep.join(p for p in [str(ROOT), env.get('PYTHONPATH', '')] if p)
    env.update(OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', OPENBLAS_NUM_THREADS='1', HF_HUB_OFFLINE='1',
               TRANSFORMERS_OFFLINE='1', PYDEVD_DISABLE_FILE_VALIDATION='1', TQDM_DISABLE='1', PYTHONHASHSEED='0')
    env.pop('MPLBACKEND', None)                                   # the kernel's inline backend embeds the figures
    return env


def execute(path, timeout=900):
    "Run one notebook; return (path, seconds, error or None). The file is rewritten only on success."
    import nbformat
    from nbclient import NotebookClient

    class Client(NotebookClient):
        async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
            if cell.cell_type == 'code' and _eval_false.search(cell.source):
                cell.outputs = []
                return cell
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)

    path = Path(path).resolve()
    t0 = time.time()
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == 'code': cell.outputs, cell.execution_count = [], None
    nb.metadata['kernelspec'] = dict(KERNELSPEC)
    client = Client(nb, timeout=timeout, kernel_name='python3', allow_errors=False, record_timing=False,
                    store_widget_state=False,
                    extra_arguments=['--IPKernelApp.log_level=ERROR'], resources={'metadata': {'path': str(path.parent)}})
    try:
        client.execute(env=_kernel_env())
    except Exception as e:                                        # CellExecutionError, timeout, dead kernel
        return path, time.time() - t0, f'{type(e).__name__}: {str(e)[-3000:]}'
    scrub(nb, _roots(path))
    nb.metadata[STAMP_KEY] = {'executed_code_sha1': code_digest(nb)}   # kept by nbdev_clean: settings.ini allowed_metadata_keys
    nbformat.write(nb, path)
    return path, time.time() - t0, None


def clean(paths):
    "nbdev_clean each notebook (execution counts, cell metadata, output ids), from the repository root."
    for p in paths:
        subprocess.run([str(Path(sys.executable).parent / 'nbdev_clean'), '--fname', str(p)], cwd=ROOT, check=True)


def check(path):
    "Problems that keep an executed notebook from being committed: too big, or no output at all."
    import nbformat
    problems, size = [], Path(path).stat().st_size
    if size > MAX_BYTES: problems.append(f'{size / 1e6:.2f} MB, over the {MAX_BYTES / 1e6:.1f} MB limit')
    nb = nbformat.read(path, as_version=4)
    if not any(c.get('outputs') for c in nb.cells if c.cell_type == 'code'): problems.append('no code cell has an output')
    return problems


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument('notebooks', nargs='*', help='notebooks to execute (default: every nbs/*.ipynb)')
    ap.add_argument('--timeout', type=int, default=900, help='seconds one cell may run')
    ap.add_argument('--jobs', type=int, default=1, help='notebooks executed at once (each kernel uses one thread)')
    a = ap.parse_args(argv)
    paths = [Path(p).resolve() for p in a.notebooks] or module_notebooks()
    for p in paths:
        if 'experiments' in p.relative_to(ROOT).parts:
            ap.error(f'{p.name}: experiment notebooks are run by `simgen-nb reproduce` (papermill), not here')
    failed, done = [], []
    with ThreadPoolExecutor(max(1, a.jobs)) as pool:
        for path, secs, err in pool.map(lambda p: execute(p, a.timeout), paths):
            rel = path.relative_to(ROOT)
            if err: failed.append(rel); print(f'FAILED {rel} ({secs:.0f} s)\n{err}', file=sys.stderr, flush=True)
            else: done.append(path); print(f'executed {rel} ({secs:.0f} s)', flush=True)
    clean(done)
    for path in done:
        for problem in check(path):
            failed.append(path.relative_to(ROOT)); print(f'FAILED {path.relative_to(ROOT)}: {problem}', file=sys.stderr)
    print(f'{len(done)} notebook(s) executed in place and cleaned; {len(set(failed))} failed'
          + ('' if failed else '; next: bash .ci/check_sync.sh, then commit nbs/'))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
