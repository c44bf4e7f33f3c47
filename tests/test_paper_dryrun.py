"The paper profile's path on CPU (issue 13): every model 2 steps at the paper network sizes and 256 px, sampled, evaluated. Slow."
import os, subprocess, sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_paper_profile_dry_run(tmp_path):
    env = {**os.environ, 'PYTHONPATH': str(ROOT), 'HF_HUB_OFFLINE': '1', 'OMP_NUM_THREADS': os.environ.get('OMP_NUM_THREADS', '2')}
    r = subprocess.run([sys.executable, str(ROOT/'bench'/'paper_dryrun.py'), '--work', str(tmp_path), '--no-write'],
                       env=env, capture_output=True, text=True, timeout=4 * 3600)   # on a 2-core CPU the paper map generator alone takes ~1 h (bench/results/paper_dryrun.md)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    for m in ('simgen', 'casdm', 'mapgen'):
        assert (tmp_path/f'run-{m}'/'checkpoint-2'/'state.json').is_file() and (tmp_path/f'gen-{m}'/'manifest.json').is_file(), m
    assert (tmp_path/'eval'/'metrics.json').is_file() and (tmp_path/'run-segmenter'/'model.safetensors').is_file()
