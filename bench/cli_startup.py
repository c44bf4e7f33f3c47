"Start-up time of `simgen-nb --help` and `simgen-nb data validate` against `import torch` (median of N fresh processes)."
import json, statistics, subprocess, sys, tempfile, time
from pathlib import Path

def timed(argv, n):
    ts = []
    for _ in range(n):
        t = time.perf_counter(); subprocess.run(argv, check=True, capture_output=True); ts.append(time.perf_counter() - t)
    return statistics.median(ts)

if __name__ == '__main__':
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    py = sys.executable
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([py, '-m', 'simgen_nb.cli', 'data', 'synth', '--n', '8', '--size', '16', '--out', f'{d}/data', '--quiet'], check=True)
        rows = {'python -c pass': timed([py, '-c', 'pass'], n),
                'python -c "import torch"': timed([py, '-c', 'import torch'], n),
                'simgen-nb --help': timed([py, '-m', 'simgen_nb.cli', '--help'], n),
                'simgen-nb data validate': timed([py, '-m', 'simgen_nb.cli', 'data', 'validate', f'{d}/data'], n),
                'simgen-nb train simgen --help': timed([py, '-m', 'simgen_nb.cli', 'train', 'simgen', '--help'], n)}
    out = Path(__file__).parent/'results'/'cli_startup.md'
    lines = [f'Median wall time of {n} fresh processes (`python bench/cli_startup.py {n}`; 2-core CPU shared with other jobs).', '',
             '| command | seconds |', '|---|---|'] + [f'| `{k}` | {v:.2f} |' for k, v in rows.items()]
    out.write_text('\n'.join(lines) + '\n'); print(out.read_text())
