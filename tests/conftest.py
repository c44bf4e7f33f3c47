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
