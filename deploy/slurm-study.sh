#!/usr/bin/env bash
# The whole study (reproduce) over a SLURM allocation: a Dask scheduler and this script's
# coordinator on the first node, one Dask worker per GPU on every node.
#   sbatch --nodes=2 --gpus-per-node=4 deploy/slurm-study.sh paper
# Every training is a task that takes one GPU (workers declare GPU=1); evaluations, the
# champions and the report run on whichever worker is free. A worker lost with its node
# has its task run again on another (a training resumes from its checkpoint); a re-run of
# the script redoes only what is missing. Print the tasks first, starting nothing:
#   deepfake-mlflow reproduce --study paper --plan
# Needs: the team's tracking server (SQLite is for one machine; see deploy/README.md), and
# the workspace (faces indexes, crops, checkpoints) on a file system every node mounts at
# the same path.
#SBATCH --job-name=deepfake-study
#SBATCH --ntasks-per-node=4          # one Dask worker per GPU
#SBATCH --gpus-per-task=1
#SBATCH --cpus-per-task=8            # the training's loader workers
#SBATCH --time=7-00:00:00
set -euo pipefail
study=${1:-paper}
export MLFLOW_TRACKING_URI=${MLFLOW_TRACKING_URI:?set it to the team tracking server}
export DEEPFAKE_MLFLOW_WORKSPACE=${DEEPFAKE_MLFLOW_WORKSPACE:?a workspace on the shared file system}
scheduler_file=$DEEPFAKE_MLFLOW_WORKSPACE/dask-scheduler-$SLURM_JOB_ID.json

# the scheduler: a small process beside this script, on the first node
dask scheduler --scheduler-file "$scheduler_file" --no-dashboard > "scheduler-$SLURM_JOB_ID.log" 2>&1 &
while [ ! -s "$scheduler_file" ]; do sleep 1; done
# the workers: one per task of the allocation, each with its GPU (SLURM sets
# CUDA_VISIBLE_DEVICES), one task at a time; a worker that dies is restarted by its nanny
srun --overlap dask worker --scheduler-file "$scheduler_file" --nthreads 1 \
    --resources GPU=1 --memory-limit 0 > "workers-$SLURM_JOB_ID.log" 2>&1 &
exec deepfake-mlflow reproduce --study "$study" --scheduler "$scheduler_file" \
    --report "report-$study"
