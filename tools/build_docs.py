#!/usr/bin/env python
"""Render every notebook to static HTML with nbconvert, plus an index page: `make docs`.

    python tools/build_docs.py               # into _docs/ (settings.ini's doc_path; git-ignored)
    python tools/build_docs.py --out DIR

Nothing is executed: the pages show the outputs committed in the notebooks (`make outputs` refreshes them for
the module notebooks; the experiment notebooks in nbs/experiments/ are shown as source: their executed copies
are in the reproduction's report). As in nbdev's own docs, `#| hide` cells are left out and `#| ...`
directive lines are not shown. index.ipynb, the tour, becomes tour.html; index.html lists every page with the
notebook's first heading and its one-line summary (the `> ...` line under the heading).
"""
import argparse, configparser, html, re, shutil, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT / 'nbs'
_directive = re.compile(r'^\s*#\|\s*([\w-]+)')


def notebooks():
    "(section, notebook path, page path relative to the docs folder), in reading order."
    out = [('Tour', NBS / 'index.ipynb', 'tour.html')] if (NBS / 'index.ipynb').exists() else []
    out += [('Modules', p, p.stem + '.html') for p in sorted(NBS.glob('*.ipynb')) if p.name != 'index.ipynb']
    out += [('Experiments', p, f'experiments/{p.stem}.html') for p in sorted((NBS / 'experiments').glob('*.ipynb'))]
    return out


def title_and_summary(nb, fallback):
    "The first markdown heading and the `> ...` summary under it (nbdev's convention)."
    for cell in nb.cells:
        if cell.cell_type != 'markdown': continue
        lines, title, summary = cell.source.splitlines(), None, []
        for i, line in enumerate(lines):
            if title is None and line.startswith('#'):
                title = line.lstrip('#').strip()
                rest = lines[i + 1:]
                while rest and not rest[0].strip(): rest = rest[1:]
                while rest and rest[0].startswith('>'): summary.append(rest.pop(0).lstrip('>').strip())
                break
        if title: return title, ' '.join(summary)
    return fallback, ''


def for_reading(nb):
    "Drop `#| hide` cells and the `#| ...` directive lines, as nbdev's docs do."
    cells = []
    for cell in nb.cells:
        if cell.cell_type == 'code':
            lines = cell.source.splitlines()
            if any(_directive.match(l) and _directive.match(l).group(1) == 'hide' for l in lines): continue
            cell.source = '\n'.join(l for l in lines if not _directive.match(l)).strip('\n')
            if not cell.source and not cell.get('outputs'): continue
        cells.append(cell)
    nb.cells = cells
    return nb


def _nav(depth, title):
    up = '../' * depth
    return (f'<nav style="font:14px system-ui,sans-serif;padding:8px 16px;border-bottom:1px solid #ddd">'
            f'<a href="{up}index.html">simgen_nb notebooks</a> / {html.escape(title)}</nav>')


def render(path, page, out):
    import nbformat
    from nbconvert import HTMLExporter
    nb = nbformat.read(path, as_version=4)
    title, summary = title_and_summary(nb, path.stem)
    nb.metadata['title'] = f'{title} — simgen_nb'
    exporter = HTMLExporter(template_name='lab', embed_images=True, exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(for_reading(nb), resources={'metadata': {'name': path.stem, 'path': str(path.parent)}})
    body = re.sub(r'(<body[^>]*>)', lambda m: m.group(1) + _nav(page.count('/'), title), body, count=1)
    dest = out / page
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(body, encoding='utf-8')
    return title, summary


def _inline_code(text):
    return re.sub(r'`([^`]+)`', r'<code>\1</code>', html.escape(text))


def index_page(entries, cfg):
    parts = [f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(cfg["title"])} — notebooks</title>',
             '<style>body{font:16px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}'
             'li{margin:.4rem 0}.src{color:#777;font-size:.85em}.sum{display:block;color:#333}</style></head><body>',
             f'<h1>{html.escape(cfg["title"])}</h1><p>{html.escape(cfg.get("description", ""))}</p>']
    for section in ('Tour', 'Modules', 'Experiments'):
        rows = [e for e in entries if e[0] == section]
        if not rows: continue
        parts.append(f'<h2>{section}</h2>')
        if section == 'Experiments':
            parts.append('<p>The experiment notebooks as committed (parameters and code); <code>simgen-nb reproduce</code> '
                         'runs them with papermill and its report holds the executed copies.</p>')
        parts.append('<ul>')
        for _, nb, page, title, summary in rows:
            parts.append(f'<li><a href="{page}">{html.escape(title)}</a> <span class="src">{nb.relative_to(ROOT)}</span>'
                         + (f'<span class="sum">{_inline_code(summary)}</span>' if summary else '') + '</li>')
        parts.append('</ul>')
    parts.append('</body></html>\n')
    return '\n'.join(parts)


def build(out):
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(ROOT / 'settings.ini')
    cfg = cfg['DEFAULT']
    out = Path(out)
    if out.exists(): shutil.rmtree(out)
    out.mkdir(parents=True)
    entries = []
    for section, nb, page in notebooks():
        title, summary = render(nb, page, out)
        entries.append((section, nb, page, title, summary))
    (out / 'index.html').write_text(index_page(entries, cfg), encoding='utf-8')
    return out, entries


def main(argv=None):
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(ROOT / 'settings.ini')
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--out', default=str(ROOT / cfg['DEFAULT'].get('doc_path', '_docs')), help='folder to write (replaced)')
    a = ap.parse_args(argv)
    out, entries = build(a.out)
    print(f'docs: {len(entries)} notebooks rendered; open {out / "index.html"}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
