import os
os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TRANSFORMERS_OFFLINE', '1')

import pytest


def pytest_addoption(parser):
    parser.addoption('--runslow', action='store_true', default=False, help='also run tests marked slow')


def pytest_configure(config):
    config.addinivalue_line('markers', 'slow: slow test (minutes), skipped unless --runslow or SIMGEN_NB_SLOW=1')


def pytest_collection_modifyitems(config, items):
    if config.getoption('--runslow') or os.environ.get('SIMGEN_NB_SLOW') == '1': return
    skip = pytest.mark.skip(reason='slow: run with --runslow (or SIMGEN_NB_SLOW=1)')
    for item in items:
        if 'slow' in item.keywords: item.add_marker(skip)


def headless_chrome(directory, profile_dir):
    """A context manager serving `directory` over local HTTP and driving headless Chromium on it: yields (driver, base URL).
    Skips the test where chromium/chromedriver are missing, and fails instead under CI (make browser-deps installs them)."""
    import contextlib, functools, http.server, shutil, threading

    @contextlib.contextmanager
    def session():
        browser = next((shutil.which(b) for b in ('chromium', 'chromium-browser') if shutil.which(b)), None)
        if browser is None or not shutil.which('chromedriver'):
            if os.environ.get('CI') == 'true': pytest.fail('chromium and chromedriver are required under CI (make browser-deps installs them)')
            pytest.skip('chromium/chromedriver not installed: run `make browser-deps` (Debian packages chromium, chromium-driver)')
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
        handler.log_message = lambda *a, **k: None
        server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        opts = webdriver.ChromeOptions()
        opts.binary_location = browser
        for a in ('--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
                  '--disable-component-update', '--no-first-run', '--disable-sync', f'--user-data-dir={profile_dir}'):
            opts.add_argument(a)
        driver = webdriver.Chrome(service=Service(shutil.which('chromedriver')), options=opts)
        try:
            driver.set_page_load_timeout(60)
            yield driver, f'http://127.0.0.1:{server.server_address[1]}'
        finally:
            driver.quit(); server.shutdown()
    return session()
