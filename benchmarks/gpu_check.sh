#!/usr/bin/env bash
# The GPU check: one script, run once on a machine with a CUDA GPU and no network.
#   bash benchmarks/gpu_check.sh [KIT] [OUT]
# KIT (default .devicekit) holds what such a machine lacks, prepared on a networked one:
#   wheels/*.whl (mlflow-skinny and its needs, albumentations...), mediapipe.tar.xz (the
#   mediapipe package, recompressed to fit a 64 MiB transfer), cache/ (BlazeFace models),
#   corpus/ff (demo corpus videos: PyAV's H.264 encoder is not needed there),
#   bench_ff/ (256-px faces index for the training benchmark), hd_1080p_10s.mp4,
#   gl/*.deb (libEGL/libGLESv2, which MediaPipe's native library links even on the CPU).
# benchmarks/gpu_kit.sh builds it.
# Runs the CUDA tests, then the benchmarks; every result is a JSON line in OUT/.
set -uo pipefail
KIT=${1:-.devicekit}
OUT=${2:-${OUT:-gpu-check}}
mkdir -p "$OUT" /tmp/site
export PYTHONPATH="/tmp/site:$PWD" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 \
       NO_ALBUMENTATIONS_UPDATE=1 GLOG_minloglevel=2 MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR=false \
       DEEPFAKE_MLFLOW_CACHE="$PWD/$KIT/cache" DEEPFAKE_MLFLOW_TEST_CORPUS="$PWD/$KIT/corpus"
step() { echo "=== $1 ($(date +%T))"; }

step install
for deb in "$KIT"/gl/*.deb; do [ -f "$deb" ] && dpkg -x "$deb" /; done; ldconfig
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site "$KIT"/wheels/*.whl
python3 -c "import tarfile; tarfile.open('$KIT/mediapipe.tar.xz').extractall('/tmp/site')"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
python3 -c "import torch, timm, mlflow, mediapipe, albumentations, cv2; print('torch', torch.__version__, 'timm', timm.__version__, 'mlflow', mlflow.__version__, 'mediapipe', mediapipe.__version__, 'cv2', cv2.__version__, 'cores', __import__('os').cpu_count())" | tee -a "$OUT/gpu.txt"

step "CUDA tests"
timeout 240 python3 -m pytest -q -x -p no:cacheprovider tests/test_cuda.py 2>&1 | tail -25 | tee "$OUT/tests.txt"

step "train step: 1 GPU, fp32 and bf16"
timeout 240 python3 benchmarks/train_step.py --faces "$KIT/bench_ff/faces.parquet" --device cuda \
    --iters 200 --warmup 40 2>"$OUT/train_step.err" | tee "$OUT/train_step.json"
tail -3 "$OUT/train_step.err"

step "scoring and predict"
timeout 150 python3 benchmarks/evaluate.py --device cuda --video "$KIT/hd_1080p_10s.mp4" \
    2>"$OUT/evaluate.err" | tee "$OUT/evaluate.json"
tail -3 "$OUT/evaluate.err"

step "train step: torchrun, 1 process (the DDP path: NCCL, SyncBatchNorm), bf16"
timeout 120 python3 -m torch.distributed.run --nproc-per-node 1 benchmarks/train_step.py \
    --faces "$KIT/bench_ff/faces.parquet" --device cuda --precision bf16 --iters 200 \
    --warmup 40 2>"$OUT/torchrun.err" | tee "$OUT/torchrun.json"
tail -3 "$OUT/torchrun.err"
step done
