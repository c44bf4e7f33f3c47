"""Run tests/test_reliability.py and write bench/results/reliability.md: every case tried, and how it ends.

    python bench/reliability_report.py

Refusal cases record their exit status and the last line of the error; the others are described by their docstring.
"""
import json, os, re, subprocess, sys, tempfile, xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main():
    with tempfile.TemporaryDirectory() as t:
        log, xml = Path(t)/'ends.jsonl', Path(t)/'junit.xml'
        env = {**os.environ, 'SIMGEN_NB_RELIABILITY_LOG': str(log), 'OMP_NUM_THREADS': '1', 'HF_HUB_OFFLINE': '1'}
        r = subprocess.run([sys.executable, '-m', 'pytest', 'tests/test_reliability.py', '-q', '-p', 'no:cacheprovider',
                            f'--junitxml={xml}'], cwd=ROOT, env=env, capture_output=True, text=True)
        ends = {}
        for line in log.read_text().splitlines() if log.exists() else []:
            e = json.loads(line); ends.setdefault(e['test'].split('::')[-1], e)
        cases = [(c.get('name'), 'failed' if c.find('failure') is not None or c.find('error') is not None else
                  'skipped' if c.find('skipped') is not None else 'passed') for c in ET.parse(xml).getroot().iter('testcase')]
    import importlib.util
    spec = importlib.util.spec_from_file_location('tr', ROOT/'tests'/'test_reliability.py'); mod = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(ROOT/'tests')); spec.loader.exec_module(mod)
    rows = []
    for name, outcome in cases:
        e = ends.get(name)
        doc = (getattr(mod, name.split('[')[0]).__doc__ or '').strip()
        if e: e['message'] = re.sub(r'/tmp/pytest-of-[^/]+/pytest-\d+/[^/ ]+/', 'TMP/', e['message'])
        how = (f'exit {e["exit"]} ({"argparse" if e["exit"] == 2 else "SimGenError"}): `{e["message"]}`' if e else doc or '-')
        rows.append(f'| `{name}` | {outcome} | {how.replace("|", "/")} |')
    npass = sum(o == 'passed' for _, o in cases)
    md = ['# Bad inputs and faults: every case, and how it ends', '',
          f'`python bench/reliability_report.py` runs `tests/test_reliability.py` ({len(cases)} cases, {npass} passed). '
          'Every refusal below was checked to leave every pre-existing file byte-for-byte unchanged and no partial output '
          '(a snapshot of the test folder before and after); messages name the file or flag. TMP/ stands for the temporary folder of the test.', '',
          '| case | outcome | how it ends |', '|---|---|---|'] + rows
    (ROOT/'bench'/'results'/'reliability.md').write_text('\n'.join(md) + '\n')
    print(f'{len(cases)} cases, {npass} passed; wrote bench/results/reliability.md')
    return r.returncode


if __name__ == '__main__':
    sys.exit(main())
