"""A training run once: the studies (reproduce, the ablation) ask for a training by its
config and get the finished run of the same training when there is one.

The same training means the same config hash (TrainConfig.config_hash: what it learns
from and how, the faces' digest and the code version; not the device it ran on).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from mlflow.entities import Run

from .. import queries
from . import phases
from .config import TrainConfig
from .phases import TrainResult

UNFINISHED = ("KILLED", "FAILED", "RUNNING")


def final_runs(cfg: TrainConfig) -> list[Run]:
    """The final runs of this very training, newest first, whatever their status."""
    return queries.final_trainings(config_hash=cfg.config_hash())


@dataclass(frozen=True)
class Earlier:
    """What earlier runs of a training left: its newest FINISHED run, else its newest
    interrupted one. A run stopped on purpose (a pruned trial, tagged ended_early) is
    neither: it ended as decided."""
    done: Run | None
    interrupted: Run | None


def earlier_runs(cfg: TrainConfig) -> Earlier:
    found = final_runs(cfg)
    done = next((r for r in found if r.info.status == "FINISHED"), None)
    interrupted = next((r for r in found if r.info.status in UNFINISHED
                        and "ended_early" not in r.data.tags), None)
    return Earlier(done, interrupted if done is None else None)


def train_or_reuse(cfg: TrainConfig, on_validation=None) -> TrainResult:
    """The training's newest FINISHED run (reused: nothing is trained), else its newest
    interrupted run resumed from its checkpoint, else a new training."""
    earlier = earlier_runs(cfg)
    if earlier.done is not None:
        return TrainResult.of_run(earlier.done, reused=True)
    if earlier.interrupted is not None:
        cfg = replace(cfg, resume=earlier.interrupted.info.run_id)
    return phases.train(cfg, on_validation)
