"""A training run once: the studies (reproduce, the ablation) ask for a training by its
config and get the finished run of the same training when there is one.

The same training means the same config hash (TrainConfig.config_hash: what it learns
from and how, the faces' digest and the code version; not the device it ran on).
"""

from __future__ import annotations

from dataclasses import replace

from mlflow.entities import Run

from .. import queries
from . import phases
from .config import TrainConfig
from .phases import TrainResult

UNFINISHED = ("KILLED", "FAILED", "RUNNING")


def final_runs(cfg: TrainConfig) -> list[Run]:
    """The final runs of this very training, newest first, whatever their status."""
    return queries.final_trainings(config_hash=cfg.config_hash())


def train_or_reuse(cfg: TrainConfig, on_validation=None) -> TrainResult:
    """The training's newest FINISHED run (reused: nothing is trained), else its newest
    interrupted run resumed from its checkpoint, else a new training. A run stopped on
    purpose (a pruned trial, tagged ended_early) is not resumed: it ended as decided."""
    found = final_runs(cfg)
    done = next((r for r in found if r.info.status == "FINISHED"), None)
    if done is not None:
        return TrainResult.of_run(done, reused=True)
    interrupted = [r for r in found if r.info.status in UNFINISHED
                   and "ended_early" not in r.data.tags]
    if interrupted:
        cfg = replace(cfg, resume=interrupted[0].info.run_id)
    return phases.train(cfg, on_validation)
