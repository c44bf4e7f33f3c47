"The shared trainer: exact resume, NaN handling, and 2-process DDP (accelerate launch --multi_gpu on CPU, gloo) against 1 process."
import json, os, socket, subprocess, sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from toy_train import ToyTask, ToyData  # noqa: E402
from simgen_nb.core import SimGenError
from simgen_nb.train import TrainConfig, train, read_log, checkpoints, load_checkpoint_weights, read_config

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
torch.set_num_threads(1)


def _env():
    return {**os.environ, 'OMP_NUM_THREADS': '1', 'HF_HUB_OFFLINE': '1', 'PYTHONPATH': str(ROOT)}


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


def _weights_equal(a, b, which='model'):
    wa, wb = load_checkpoint_weights(a, which), load_checkpoint_weights(b, which)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def test_resume_is_exact(tmp_path):
    cfg = TrainConfig.for_profile('ci', steps=5, batch_size=4, checkpoint_every=10, keep_checkpoints=1)
    train(ToyTask(), ToyData(), cfg, tmp_path/'a', progress=False)
    train(ToyTask(), ToyData(), cfg, tmp_path/'b', stop_at_step=2, progress=False)
    assert [p.name for p in checkpoints(tmp_path/'b')] == ['checkpoint-2']
    train(ToyTask(), ToyData(), cfg, tmp_path/'b', resume='latest', progress=False)
    assert [p.name for p in checkpoints(tmp_path/'b')] == ['checkpoint-5']          # keep_checkpoints=1 pruned step 2
    for which in ('model', 'ema'):
        assert _weights_equal(tmp_path/'a'/'checkpoint-5', tmp_path/'b'/'checkpoint-5', which), which
    assert [r['loss'] for r in read_log(tmp_path/'a')] == [r['loss'] for r in read_log(tmp_path/'b')]
    assert [r['step'] for r in read_log(tmp_path/'b')] == [1, 2, 3, 4, 5]


def test_nan_stops_and_keeps_last_good_checkpoint(tmp_path):
    cfg = TrainConfig.for_profile('ci', steps=6, batch_size=2, checkpoint_every=2)
    with pytest.raises(SimGenError, match=r'step 4: the loss is nan.*checkpoint-2'):
        train(ToyTask(nan_at=3), ToyData(), cfg, tmp_path/'run', progress=False)
    assert [p.name for p in checkpoints(tmp_path/'run')] == ['checkpoint-2']
    good = load_checkpoint_weights(tmp_path/'run'/'checkpoint-2')
    assert all(torch.isfinite(v).all() for v in good.values())


def test_two_processes_match_one(tmp_path):
    "accelerate launch --multi_gpu --num_processes 2 on CPU (torchrun; DDP over gloo) follows the 1-process run with the same global batch."
    args = ['steps=4', 'batch_size=4', 'checkpoint_every=4']
    train(ToyTask(), ToyData(), TrainConfig.for_profile('ci', steps=4, batch_size=4, checkpoint_every=4), tmp_path/'one', progress=False)
    cmd = [str(BIN/'accelerate'), 'launch', '--multi_gpu', '--num_processes', '2', '--num_machines', '1', '--mixed_precision', 'no',
           '--dynamo_backend', 'no', '--main_process_port', str(_free_port()), str(ROOT/'tests'/'toy_train.py'), str(tmp_path/'two'), *args]
    r = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    one, two = read_log(tmp_path/'one'), read_log(tmp_path/'two')
    assert [r['step'] for r in two] == [1, 2, 3, 4]
    assert read_config(tmp_path/'two')['train']['batch_size'] == 4
    for a, b in zip(one, two):
        assert abs(a['loss'] - b['loss']) <= 1e-5 * max(1.0, abs(a['loss'])), (a, b)
    w1, w2 = load_checkpoint_weights(tmp_path/'one'/'checkpoint-4'), load_checkpoint_weights(tmp_path/'two'/'checkpoint-4')
    # Adam divides each update by the gradient's running RMS, so a parameter whose gradient is near zero can move by a
    # sizeable part of a step on the rounding of DDP's all-reduce alone (seen: 2.6e-5 here, 2.6 % of the ci lr).
    # A wrong batch split or unsynchronised gradients move every weight by whole steps (~lr): allow a tenth of one.
    lr = TrainConfig.for_profile('ci').lr
    for k in w1: torch.testing.assert_close(w1[k], w2[k], rtol=1e-3, atol=0.1 * lr)
    assert json.loads((tmp_path/'two'/'checkpoint-4'/'state.json').read_text())['processes'] == 2   # really DDP
