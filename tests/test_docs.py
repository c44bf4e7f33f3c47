"The module notebooks are committed executed (they read as tutorials); `make docs` renders every notebook, checked in a headless browser."
import json, re, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT / 'nbs'
MODULE_NBS = sorted(NBS.glob('*.ipynb'))
MAX_BYTES = 1_500_000
sys.path.insert(0, str(ROOT / 'tools'))
import build_docs, execute_notebooks  # noqa: E402
from conftest import headless_chrome


def _outputs(path):
    nb = json.loads(path.read_text(encoding='utf-8'))
    return [o for c in nb['cells'] if c['cell_type'] == 'code' for o in c.get('outputs', [])]


@pytest.mark.parametrize('path', MODULE_NBS, ids=lambda p: p.name)
def test_module_notebook_committed_with_outputs(path):
    "Executed by `make outputs` (tools/execute_notebooks.py): some output, and under the size limit."
    assert path.stat().st_size <= MAX_BYTES, f'{path.name}: {path.stat().st_size / 1e6:.2f} MB, over {MAX_BYTES / 1e6} MB'
    assert _outputs(path), f'{path.name} has no output: run `make outputs` (python tools/execute_notebooks.py) and commit nbs/'


@pytest.mark.parametrize('path', MODULE_NBS, ids=lambda p: p.name)
def test_module_notebook_outputs_not_stale(path):
    "The code cells are the ones that made the outputs: change a cell, then `make outputs` (or the script on that notebook)."
    import nbformat
    nb = nbformat.read(path, as_version=4)
    stamp = nb.metadata.get(execute_notebooks.STAMP_KEY, {}).get('executed_code_sha1')
    assert stamp, f'{path.name} was not executed by tools/execute_notebooks.py'
    assert stamp == execute_notebooks.code_digest(nb), \
        f'{path.name}: code changed since its outputs were made: python tools/execute_notebooks.py nbs/{path.name}'


@pytest.mark.parametrize('path', MODULE_NBS, ids=lambda p: p.name)
def test_committed_outputs_hold_nothing_machine_specific(path):
    "No error output, progress bar, absolute checkout path, temporary folder or memory address in what is committed."
    text = json.dumps(_outputs(path))
    assert '"output_type": "error"' not in text, f'{path.name} was committed with an error output'
    for bad in (str(ROOT), '/tmp/tmp', '\\r'):
        assert bad not in text, f'{path.name}: {bad!r} in its outputs (re-run `make outputs`)'
    assert not re.search(r' at 0x[0-9a-fA-F]{6,}', text), f'{path.name}: a memory address in its outputs'


def test_scrub_removes_volatile_bits():
    import nbformat
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('x', outputs=[
        nbformat.v4.new_output('stream', name='stderr', text='epoch:  50%|#####     | 1/2 [00:01<00:01]\r'),
        nbformat.v4.new_output('stream', name='stderr', text=f'{ROOT}/simgen_nb/x.py:3: UserWarning: careful\n'),
        nbformat.v4.new_output('stream', name='stdout', text='wrote /tmp/tmpab12_x/run/model.pt\n'),
        nbformat.v4.new_output('execute_result', data={'text/plain': '<Foo object at 0x7f3a2b1c9d80>'}),
        nbformat.v4.new_output('display_data', data={'application/vnd.jupyter.widget-view+json': {'model_id': 'a'},
                                                      'text/plain': 'HBox()'})])])
    outs = execute_notebooks.scrub(nb, execute_notebooks._roots(NBS / 'x.ipynb')).cells[0].outputs
    assert [o.get('text', o.get('data', {}).get('text/plain')) for o in outs] == [
        '../simgen_nb/x.py:3: UserWarning: careful\n', 'wrote /tmp/…/run/model.pt\n', '<Foo object at 0x…>']


@pytest.fixture(scope='module')
def docs(tmp_path_factory):
    "`make docs` into a scratch folder (the same script, every notebook)."
    out = tmp_path_factory.mktemp('docs') / 'site'
    res = subprocess.run([sys.executable, str(ROOT / 'tools' / 'build_docs.py'), '--out', str(out)],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-4000:]
    return out


def test_docs_render_every_notebook(docs):
    pages = build_docs.notebooks()
    assert len(pages) == len(MODULE_NBS) + len(list((NBS / 'experiments').glob('*.ipynb')))
    index = (docs / 'index.html').read_text(encoding='utf-8')
    for _, nb, page in pages:
        assert (docs / page).exists(), page
        assert f'href="{page}"' in index, f'index does not link {page}'
    palette = (docs / '00_palette.html').read_text(encoding='utf-8')
    assert '#| export' not in palette and 'data:image/png;base64' in palette




def test_docs_in_browser(docs, tmp_path):
    from selenium.webdriver.common.by import By
    with headless_chrome(docs, tmp_path / 'chrome-profile') as (driver, base):
        driver.get(base + '/index.html')
        assert 'simgen_nb' in driver.find_element(By.TAG_NAME, 'h1').text
        links = {a.text: a.get_attribute('href') for a in driver.find_elements(By.CSS_SELECTOR, 'li > a')}
        pages = build_docs.notebooks()
        assert len(links) == len(pages), sorted(links)
        for name in ('palette', 'synthsurg', 'reproduce'): assert name in links, f'index does not list {name}'
        assert sorted(h.rsplit('/', 1)[-1] for h in links.values()) == sorted(p.rsplit('/', 1)[-1] for _, _, p in pages)
        shown = 0
        for title, href in links.items():
            driver.get(href)
            body = driver.find_element(By.TAG_NAME, 'body').text
            assert 'Error response' not in body and 'File not found' not in body, href
            assert driver.find_elements(By.CSS_SELECTOR, '.jp-Notebook, .jp-Cell'), f'{href} is not a rendered notebook'
            assert title in driver.title, (title, driver.title)
            imgs = driver.find_elements(By.CSS_SELECTOR, '.jp-OutputArea-output img')
            shown += sum(bool(driver.execute_script('return arguments[0].complete && arguments[0].naturalWidth > 0', i)) for i in imgs)
            if href.endswith('/00_palette.html'):
                assert imgs, 'the palette page shows no figure'
                driver.find_element(By.LINK_TEXT, 'simgen_nb notebooks').click()
                assert driver.current_url.endswith('/index.html')
        assert shown, 'no rendered page shows a figure'
