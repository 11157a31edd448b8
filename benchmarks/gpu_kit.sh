#!/usr/bin/env bash
# Prepares KIT (default .devicekit, git-ignored) for benchmarks/gpu_check.sh: what a GPU
# machine with PyTorch but no network lacks, kept under the 64 MiB a transfer may carry.
# Run from the repository root on a machine with PyPI and Debian mirrors, after `make setup`.
set -euo pipefail
KIT=${1:-.devicekit}
PY=.venv/bin/python
export HF_HUB_OFFLINE=1 NO_ALBUMENTATIONS_UPDATE=1 GLOG_minloglevel=2
mkdir -p "$KIT"/wheels "$KIT"/cache "$KIT"/corpus "$KIT"/gl
pin() { grep -iE "^($1)==" constraints.txt; }
# Python 3.12 wheels of what the GPU image lacks (torch, timm, numpy, pandas, OpenCV... it has)
for req in $(pin "mlflow-skinny|mlflow-tracing|albumentations|albucore|stringzilla|simsimd|pydantic|pydantic_core|annotated-types|typing-inspection|sqlalchemy|alembic|mako|sqlparse|opentelemetry-api|opentelemetry-sdk|opentelemetry-proto|opentelemetry-semantic-conventions|databricks-sdk|gitpython|gitdb|smmap|fastapi|starlette|uvicorn|python-dotenv|importlib.metadata|cachetools|annotated-doc|sounddevice|cryptography|cffi|pycparser"); do
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 --platform any -d "$KIT"/wheels "$req"
done
# mediapipe's wheel is 43 MB; its package re-packed with xz is 28 MB
if [ ! -f "$KIT"/mediapipe.tar.xz ]; then
    tmp=$(mktemp -d)
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
        --platform manylinux_2_28_x86_64 -d "$tmp" "$(pin mediapipe)"
    (cd "$tmp" && unzip -q mediapipe-*.whl && tar cf - mediapipe mediapipe-*.dist-info | xz -9e -T0) \
        > "$KIT"/mediapipe.tar.xz
    rm -rf "$tmp"
fi
# MediaPipe's native library links libEGL and libGLESv2 even on the CPU
(cd "$KIT"/gl && apt-get download libegl1 libgles2 libglvnd0 >/dev/null)
cp "$($PY -c 'from deepfake_mlflow import assets; print(assets.cache_dir())')"/*.tflite "$KIT"/cache/
$PY - "$KIT" <<'PY'
import os, sys
from pathlib import Path

import pandas as pd

from deepfake_mlflow.corpus import build_corpus
from deepfake_mlflow.stages import extract, index

kit = Path(sys.argv[1])
os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{kit}/../.kit-mlflow.db"
work = kit / "build"
build_corpus(work, size=6, seed=0)
os.replace(work / "ff", kit / "corpus" / "ff")  # the CUDA tests' videos (PyAV writes none there)
bench = kit / "bench_ff"  # 256-px faces for the training benchmark, half of them
index.run(index.IndexConfig("ff", str(kit / "corpus" / "ff"), out=str(bench / "videos.parquet")))
extract.run(extract.ExtractConfig("ff", str(kit / "corpus" / "ff"),
                                  index=str(bench / "videos.parquet"), frames=16, size=256,
                                  progress=False))
faces = pd.read_parquet(bench / "faces.parquet")
dropped = faces[faces["face_path"] != ""].iloc[1::2]
for path in dropped["face_path"]:
    (bench / "faces" / path).unlink()
faces.drop(dropped.index).to_parquet(bench / "faces.parquet", index=False)
sys.path.insert(0, "benchmarks")
from evaluate import write_hd_video
write_hd_video(kit / "hd_1080p_10s.mp4")
PY
rm -rf "$KIT"/build .kit-mlflow.db
du -sh "$KIT"
