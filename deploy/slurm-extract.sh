#!/usr/bin/env bash
# Face extraction of one dataset spread over a SLURM array: one shard per array task.
#   sbatch --array=1-16 deploy/slurm-extract.sh dfdc /data/dfdc
# then, once every task is done:
#   deepfake-mlflow extract dfdc /data/dfdc --merge
# Every task reads the same video index (built once below by the first task, or beforehand
# with `deepfake-mlflow index dfdc /data/dfdc`) and writes workspace/dfdc/faces-k-of-n.parquet;
# the merge checks that every video is in exactly one shard.
#SBATCH --job-name=deepfake-extract
#SBATCH --cpus-per-task=16
#SBATCH --time=12:00:00
set -euo pipefail
dataset=$1 root=$2
k=$SLURM_ARRAY_TASK_ID                                  # 1-based, as --shard wants
n=${SLURM_ARRAY_TASK_COUNT:?run as an array job: sbatch --array=1-N}
# one tracking server for the whole array (see deploy/README.md); SQLite is for one machine
export MLFLOW_TRACKING_URI=${MLFLOW_TRACKING_URI:?set it to the team tracking server}
exec deepfake-mlflow extract "$dataset" "$root" --shard "$k/$n" --workers "$SLURM_CPUS_PER_TASK" \
    --no-progress
