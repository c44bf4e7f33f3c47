"The ci-profile reproduction end to end, and its HTML report in a real (headless) browser."
import os, shutil, subprocess, sys
from pathlib import Path
import pytest
from conftest import headless_chrome

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




def test_report_in_browser(ci_reproduction):
    root, res = ci_reproduction
    from selenium.webdriver.common.by import By
    with headless_chrome(root / 'report' / 'ci', root / 'chrome-profile') as (driver, base):
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
