"The built wheel installs on its own, non-editable, and every module imports from there."
import os, pkgutil, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_installs_and_imports(tmp_path):
    wheels, site = tmp_path / 'wheels', tmp_path / 'site'
    pip = [sys.executable, '-m', 'pip', '--disable-pip-version-check', '--no-input']
    subprocess.run(pip + ['wheel', '--no-deps', '--no-build-isolation', '-q', '-w', str(wheels), str(ROOT)], check=True,
                   env={**os.environ, 'PIP_NO_INDEX': '1'})
    (wheel,) = wheels.glob('simgen_nb-*.whl')
    subprocess.run(pip + ['install', '--no-deps', '--no-build-isolation', '--no-index', '-q', '--target', str(site), str(wheel)],
                   check=True)
    modules = sorted(m.name for m in pkgutil.iter_modules([str(ROOT / 'simgen_nb')]))
    assert {'core', 'cli'} <= set(modules)
    code = ('import importlib, simgen_nb; '
            f'[importlib.import_module("simgen_nb." + m) for m in {modules!r}]; '
            'print(simgen_nb.__file__)')
    # run from an unrelated folder so neither the checkout nor the editable install can shadow the wheel
    out = subprocess.run([sys.executable, '-c', code], cwd=tmp_path, check=True, capture_output=True, text=True,
                         env={**os.environ, 'PYTHONPATH': str(site), 'HF_HUB_OFFLINE': '1'}).stdout.strip().splitlines()[-1]
    assert Path(out).resolve().is_relative_to(site.resolve()), out
    # the console script's entry point is declared in the wheel
    (ep,) = site.glob('simgen_nb-*.dist-info/entry_points.txt')
    assert 'simgen-nb = simgen_nb.cli:main' in ep.read_text()


def test_cli_help_runs():
    out = subprocess.run([sys.executable, '-m', 'simgen_nb.cli', '--help'], capture_output=True, text=True, check=True)
    assert 'simgen-nb' in out.stdout
