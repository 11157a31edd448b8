"""The `train` stage: faces index -> trained detector, every variant an MLflow run.

loss=bce      one run: the BCE baseline.
loss=triplet  a parent run with one child run per phase: bce (only when no `init` is
              given), triplet, finetune. The parent carries the final model.

The config, the phases and the loop are the train package's (deepfake_mlflow.train:
its __init__ says what to read, in order); this module is the command line's door.
"""

from __future__ import annotations

from ..train.config import TrainConfig

HELP = "train a detector (bce or triplet); every variant a run"
EXAMPLES = """\
    deepfake-mlflow train ff --augment SELECTED
    deepfake-mlflow train dfdc --loss triplet --batch-size 16
    torchrun --nproc-per-node 4 -m deepfake_mlflow.cli train dfdc
"""
CONFIG = TrainConfig


def run(cfg: TrainConfig):
    """Train by the protocol; returns the final run's TrainResult (run_id, weights,
    best_val_loss). cfg.resume continues a bce run, or a triplet parent whose unfinished
    phases are picked up."""
    from ..train.phases import train
    return train(cfg)


def report(result) -> int:
    from ..distributed import from_environment
    if from_environment().main:  # under torchrun, one summary, not one per process
        print(f"run {result.run_id}: best validation loss {result.best_val_loss:.4f}"
              + _calibration_line(result.run_id))
    return 0


def _calibration_line(run_id: str) -> str:
    """The calibration stored with the model, as the training run's tag describes it."""
    import mlflow
    described = mlflow.get_run(run_id).data.tags.get("calibration")
    return f"\ncalibration: {described}" if described else ""
