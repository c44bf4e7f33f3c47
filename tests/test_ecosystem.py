"Fitting the ecosystem (issue 14): Hub-style pipeline folders, one pixel convention, papermill as written, a light CLI, no import circle."
import json, os, shutil, subprocess, sys, warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from simgen_nb.cli import main

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
torch.set_num_threads(1)
MODELS = {'simgen': 'SimGenPipeline', 'casdm': 'CASDMPipeline', 'mapgen': 'MapGenPipeline'}


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    "A tiny SynthSurg set and a ci run of each of the three models."
    d = tmp_path_factory.mktemp('eco')
    assert main(['data', 'synth', '--n', '16', '--size', '16', '--seed', '0', '--out', str(d/'data'), '--quiet']) == 0
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        for m in MODELS:
            assert main(['train', m, '--data', str(d/'data'), '--profile', 'ci', '--out', str(d/m), '--no-progress']) == 0
    return d


@pytest.mark.parametrize('model', list(MODELS))
def test_generic_diffusers_loader_opens_every_run(runs, model):
    import diffusers, simgen_nb
    from simgen_nb.train import load_run
    cls = getattr(__import__(f'simgen_nb.{model}', fromlist=['x']), MODELS[model])
    pdir = runs/model/'pipeline'
    idx = json.loads((pdir/'model_index.json').read_text())
    assert idx['_class_name'] == ['pipeline', MODELS[model]]
    assert f'from simgen_nb.{model} import {MODELS[model]}' in (pdir/'pipeline.py').read_text()
    card = (pdir/'README.md').read_text()
    assert f'simgen-nb train {model}' in card and 'profile: `ci`' in card and 'steps: 4 of 4' in card and '## Metrics' in card
    generic = diffusers.DiffusionPipeline.from_pretrained(pdir, trust_remote_code=True)
    assert type(generic) is cls
    direct = cls.from_pretrained(pdir)                       # no trust_remote_code needed: no code of the folder runs
    assert type(direct) is cls
    for k, v in generic.unet.state_dict().items(): assert torch.equal(v, direct.unet.state_dict()[k])
    assert type(load_run(runs/model)[1]) is cls
    # a run saved before this convention (plain class name, no pipeline.py) still loads
    old = runs/f'{model}-old'/'pipeline'
    shutil.copytree(pdir, old); (old/'pipeline.py').unlink()
    idx['_class_name'] = MODELS[model]; (old/'model_index.json').write_text(json.dumps(idx))
    shutil.copy(runs/model/'config.yaml', old.parent/'config.yaml')
    assert type(cls.from_pretrained(old)) is cls and type(load_run(old.parent)[1]) is cls


def test_loading_through_the_wrong_class_is_refused(runs):
    from simgen_nb.casdm import CASDMPipeline
    from simgen_nb.core import SimGenError
    with pytest.raises(SimGenError, match='holds a SimGenPipeline, not a CASDMPipeline'):
        CASDMPipeline.from_pretrained(runs/'simgen'/'pipeline')
