"Every decimal number in the README's results sections is a cell of a committed table or JSON that the section cites."
import csv, json, re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# A results section opens with <!-- results: PATH [PATH ...] --> (CSV or JSON files, relative to the repository root)
# and closes with <!-- /results -->. Inside it, every decimal number (and every number written with a thousands
# comma is left alone: counts of steps or pairs are budgets, not results) must equal, to the digits shown, a
# numeric cell of one of the cited files; image links and code spans are skipped.
OPEN, CLOSE = re.compile(r'<!--\s*results:\s*(.*?)\s*-->'), re.compile(r'<!--\s*/results\s*-->')
NUMBER = re.compile(r'(?<![\w.,/-])-?\d+\.\d+(?![\w.])')


def sections(text: str):
    "(cited paths, body, first line number) of each marked results section."
    out, pos = [], 0
    while (m := OPEN.search(text, pos)):
        end = CLOSE.search(text, m.end())
        assert end, f'README.md: results section opened at line {text[:m.start()].count(chr(10)) + 1} is never closed'
        out.append((m.group(1).split(), text[m.end():end.start()], text[:m.start()].count('\n') + 1))
        pos = end.end()
    return out


def cells(path: Path) -> list[float]:
    "Every number in a CSV (any column) or a JSON file (any leaf)."
    vals = []
    if path.suffix == '.csv':
        with path.open(newline='', encoding='utf-8') as f:
            for row in csv.reader(f):
                for v in row:
                    try: vals.append(float(v))
                    except ValueError: pass
    else:
        def walk(o):
            if isinstance(o, bool): return
            if isinstance(o, (int, float)): vals.append(float(o))
            elif isinstance(o, dict): [walk(v) for v in o.values()]
            elif isinstance(o, list): [walk(v) for v in o]
        walk(json.loads(path.read_text(encoding='utf-8')))
    return vals


def numbers(body: str) -> list[str]:
    body = re.sub(r'!\[[^\]]*\]\([^)]*\)', '', body)      # image links
    body = re.sub(r'`[^`]*`', '', body)                    # code spans (file names, commands)
    return NUMBER.findall(body)


def resolves(shown: str, vals: list[float]) -> bool:
    "`shown` equals some cell rounded to its digits (or the cell x 100: percentages)."
    d = len(shown.split('.')[1]); x = float(shown); tol = 0.5 * 10 ** -d + 1e-12
    return any(abs(v - x) <= tol or abs(100 * v - x) <= tol for v in vals)


def test_mechanism():
    text = 'a 0.5\n<!-- results: x.csv -->\nKID 0.44 ± 0.12, 1,200 steps, `E1.csv`, 3.2 %\n<!-- /results -->\n'
    [(paths, body, line)] = sections(text)
    assert paths == ['x.csv'] and line == 2 and numbers(body) == ['0.44', '0.12', '3.2']
    assert resolves('0.44', [0.4429]) and not resolves('0.44', [0.4472]) and resolves('44.3', [0.4429])


def test_readme_results_resolve():
    text = (ROOT/'README.md').read_text(encoding='utf-8')
    secs = sections(text)
    assert secs, 'README.md marks no results section (<!-- results: FILE ... --> ... <!-- /results -->)'
    bad = []
    for paths, body, line in secs:
        missing = [p for p in paths if not (ROOT/p).is_file()]
        assert not missing, f'README.md line {line}: cites {missing}, which are not committed'
        vals = [v for p in paths for v in cells(ROOT/p)]
        bad += [f'line {line}: {n} (cites {", ".join(paths)})' for n in numbers(body) if not resolves(n, vals)]
    assert not bad, 'README numbers that no cited cell rounds to:\n' + '\n'.join(bad)
