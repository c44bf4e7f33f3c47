"The ci-profile reproduction end to end, and its HTML report in a real (headless) browser."
import functools, http.server, os, shutil, subprocess, sys, threading
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope='module')
def ci_reproduction(tmp_path_factory):
    "Run `simgen-nb reproduce --profile ci` in a scratch root (the repository's own figures are never touched)."
    root = tmp_path_factory.mktemp('repro')
    shutil.copytree(ROOT / 'nbs' / 'experiments', root / 'nbs' / 'experiments')
    res = subprocess.run([sys.executable, '-m', 'simgen_nb.cli', 'reproduce', '--profile', 'ci', '--root', str(root)],
                         capture_output=True, text=True, env={**os.environ, 'HF_HUB_OFFLINE': '1'}, timeout=1500)
    return root, res


def test_ci_reproduction_runs_every_experiment(ci_reproduction):
    root, res = ci_reproduction
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-5000:]
    from simgen_nb.reproduce import EXPERIMENTS
    for e in EXPERIMENTS:
        assert (root / 'runs' / 'ci' / 'notebooks' / e.notebook).exists(), e.notebook
        assert any((root / 'figures' / 'ci').glob(f'{e.key}_*')), f'{e.key} wrote no table or figure'
    assert (root / 'report' / 'ci' / 'index.html').exists()
    assert 'report:' in res.stdout


def _chromium():
    for b in ('chromium', 'chromium-browser'):
        if shutil.which(b) and shutil.which('chromedriver'): return shutil.which(b)
    return None


def test_report_in_browser(ci_reproduction):
    root, res = ci_reproduction
    browser = _chromium()
    if browser is None:
        if os.environ.get('CI') == 'true': pytest.fail('chromium and chromedriver are required under CI (make browser-deps installs them)')
        pytest.skip('chromium/chromedriver not installed: run `make browser-deps` (Debian packages chromium, chromium-driver)')
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    report = root / 'report' / 'ci'
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(report))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f'http://127.0.0.1:{server.server_address[1]}'
    opts = webdriver.ChromeOptions()
    opts.binary_location = browser
    for a in ('--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
              '--disable-component-update', '--no-first-run', '--disable-sync', f'--user-data-dir={root / "chrome-profile"}'):
        opts.add_argument(a)
    driver = webdriver.Chrome(service=Service(shutil.which('chromedriver')), options=opts)
    try:
        driver.set_page_load_timeout(60)
        driver.get(base + '/index.html')
        assert 'simgen_nb reproduction' in driver.find_element(By.TAG_NAME, 'h1').text
        images = driver.find_elements(By.TAG_NAME, 'img')
        assert images, 'the report shows no figure'
        for img in images:
            ok = driver.execute_script('return arguments[0].complete && arguments[0].naturalWidth > 0', img)
            assert ok, f'image did not load: {img.get_attribute("src")}'
        links = [a.get_attribute('href') for a in driver.find_elements(By.TAG_NAME, 'a') if '/notebooks/' in (a.get_attribute('href') or '')]
        from simgen_nb.reproduce import EXPERIMENTS
        assert len(links) == len(EXPERIMENTS)
        for href in links:
            driver.get(href)
            body = driver.find_element(By.TAG_NAME, 'body').text
            assert 'Error response' not in body and 'File not found' not in body, href
            assert driver.find_elements(By.CSS_SELECTOR, '.jp-Notebook, .jp-Cell'), f'{href} is not a rendered notebook'
    finally:
        driver.quit(); server.shutdown()
