#!/usr/bin/env bash
# The paper profile on one GPU: a few hundred paper-profile steps of each model (SimGen, CASDM, map generator) at the
# paper's batch sizes and 256 px, then 1 sampled pair each and the evaluation path; records step time, peak memory
# (host RSS and CUDA peak allocated) and keeps each model's end-of-run sample grid.
#
#   bash bench/paper_gpu.sh [STEPS=300] [WORK=runs/paper-gpu]
#
# Data: the CholecSeg8K converter fixture at 256 px (8 pairs: enough to time steps; not a result). Offline weights
# (untrained CLIP text encoder, segmenter without ImageNet weights). Writes bench/results/paper_gpu.json and .md;
# the sample grids stay in $WORK/run-*/samples/. Not run in this repository's CI (no GPU); run it where one is at hand
# and commit its results.
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-${STEPS:-300}}
WORK=${2:-${WORK:-runs/paper-gpu}}
python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'paper_gpu.sh: no CUDA device (use bench/paper_dryrun.py on CPU)')"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
export HF_HUB_OFFLINE=1
python bench/paper_dryrun.py --profile paper --steps "$STEPS" --batch-size 0 --keep-grid --work "$WORK" --results-name paper_gpu
echo "sample grids:"; ls "$WORK"/run-*/samples/ 2>/dev/null || true
