#!/usr/bin/env bash
# The light core install, checked as a user meets it: a fresh venv, the pinned torch build, then `pip install .`
# (no extras). SimGen and CASDM are trained, sampled and scored (KID on the user's own feature module) at the ci profile; the
# commands that need an extra must stop with a message naming the `pip install` to run.
# Writes bench/results/light_install.md. Usage: bash bench/light_install.sh [WORKDIR]   (network: the package index)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${1:-$(mktemp -d)}
mkdir -p "$WORK"; cd "$WORK"
# a folder of its own: new or empty, or one this script made before (its venv is kept; its outputs are remade)
if [ -n "$(ls -A)" ]; then
    [ -x venv/bin/python ] || { echo "light_install.sh: $WORK holds files this script did not write; give a new or empty folder" >&2; exit 2; }
    rm -rf data runs gen repro kid.py log.txt err.txt
fi
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
LOG="$WORK/log.txt"; : > "$LOG"
PY=${PYTHON:-python3}
rows=()
step() {   # step NAME EXPECT(ok|fail) REGEX-ON-FAIL -- command...
    local name=$1 expect=$2 pat=$3; shift 4
    local t0=$(date +%s.%N) rc=0
    "$@" >> "$LOG" 2> "$WORK/err.txt" || rc=$?
    cat "$WORK/err.txt" >> "$LOG"
    local dt=$(echo "$(date +%s.%N) - $t0" | bc)
    local msg=""
    if [ "$expect" = ok ]; then
        [ $rc -eq 0 ] || { echo "FAILED: $name (rc $rc)"; tail -20 "$LOG"; exit 1; }
    else
        [ $rc -ne 0 ] || { echo "FAILED: $name should have stopped"; exit 1; }
        grep -qE "$pat" "$WORK/err.txt" || { echo "FAILED: $name did not name the extra"; cat "$WORK/err.txt"; exit 1; }
        msg=$(grep -oE "pip install '[^']+'" "$WORK/err.txt" | head -1)
    fi
    rows+=("| \`${name}\` | $([ $rc -eq 0 ] && echo ok || echo "stops (rc $rc): $msg") | $(printf %.1f "$dt") |")
}

[ -x venv/bin/python ] || $PY -m venv venv
venv/bin/pip install -q --disable-pip-version-check --upgrade pip wheel setuptools
venv/bin/pip install -q --disable-pip-version-check -c "$ROOT/constraints.txt" torch==2.14.1 torchvision==0.29.1
venv/bin/pip install -q --disable-pip-version-check -c "$ROOT/constraints.txt" "$ROOT"
B=venv/bin
EXTRA_MODULES="papermill nbconvert ipykernel jupyterlab seaborn open_clip segmentation_models_pytorch pytorch_fid nbdev"
present=$($B/python -c "import importlib.util as u, sys; print(' '.join(m for m in sys.argv[1:] if u.find_spec(m)))" $EXTRA_MODULES)
[ -z "$present" ] || { echo "FAILED: the core install pulled in $present"; exit 1; }
size=$(du -sm venv | cut -f1)

step "simgen-nb --help" ok "" -- $B/simgen-nb --help
step "data synth --n 24 --size 16" ok "" -- $B/simgen-nb data synth --n 24 --size 16 --seed 0 --out data
step "data validate" ok "" -- $B/simgen-nb data validate data
step "train simgen --profile ci --recipe edm --steps 4" ok "" -- $B/simgen-nb train simgen --data data --profile ci --recipe edm --steps 4 --out runs/simgen
step "sample runs/simgen --n 8" ok "" -- $B/simgen-nb sample runs/simgen --n 8 --steps 4 --out gen/simgen
step "train casdm --profile ci --loss camse+casp --steps 4" ok "" -- $B/simgen-nb train casdm --data data --profile ci --loss camse+casp --casp-warmup 2 --steps 4 --out runs/casdm
step "sample runs/casdm --maps data --n 8" ok "" -- $B/simgen-nb sample runs/casdm --maps data --n 8 --steps 4 --out gen/casdm
cat > kid.py <<'EOF'
# KID of the generated pairs against the real training images on the user's own feature network (a torch module)
import torch, torch.nn as nn
from simgen_nb.data import SegmentationDataset
from simgen_nb.metrics import KID
real, fake = SegmentationDataset('data', 'train'), SegmentationDataset('gen/simgen', 'train')
torch.manual_seed(0)
feats = nn.Sequential(nn.Conv2d(3, 16, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
kid = KID(feats, subsets=10, subset_size=4)
kid.update(torch.stack([real[i]['image'] for i in range(8)]), real=True)
kid.update(torch.stack([fake[i]['image'] for i in range(8)]), real=False)
print('KID', [float(v) for v in kid.compute()])
EOF
step "python: KID(own feature module) on the generated set" ok "" -- $B/python kid.py
step "train segmenter" fail "simgen_nb\[segment\]" -- $B/simgen-nb train segmenter --data data --profile ci --out runs/seg
step "train mapgen" fail "simgen_nb\[clip\]" -- $B/simgen-nb train mapgen --data data --profile ci --out runs/mapgen
step "evaluate --features random-inception" fail "simgen_nb\[fid\]" -- $B/simgen-nb evaluate --real data --fake gen/simgen --metrics kid --features random-inception
mkdir -p repro/nbs && cp -r "$ROOT/nbs/experiments" repro/nbs/   # a clone's notebooks: reproduce runs from a clone
step "reproduce --profile ci" fail "simgen_nb\[reproduce\]" -- $B/simgen-nb reproduce --profile ci --root repro

OUT="$ROOT/bench/results/light_install.md"
{
  echo "# The light core install"
  echo
  echo "\`bash bench/light_install.sh\` on $(date -u +%Y-%m-%d): a fresh venv ($($B/python -V)), \`torch==2.14.1 torchvision==0.29.1\`"
  echo "(PyPI's build, its CUDA libraries included; pinned by constraints.txt), then \`pip install .\` with no extra: ${size} MB installed. None of the"
  echo "extras' packages is present ($EXTRA_MODULES). Every command below ran in that venv, offline (HF_HUB_OFFLINE=1),"
  echo "${OMP_NUM_THREADS} threads, at the ci profile on a 24-pair SynthSurg set at 16 px; seconds are wall time"
  echo "(imports included) on the shared 2-core machine."
  echo
  echo "| command | result | seconds |"
  echo "|---|---|---:|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "Training and sampling SimGen and CASDM, and KID on the user's own feature network, need nothing beyond the core"
  echo "install; each command that needs an extra stops before any work with the \`pip install\` that provides it."
} > "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
cat "$OUT"
