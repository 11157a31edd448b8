"""The `train` stage: faces index -> trained detector, every variant an MLflow run.

loss=bce      one run: the BCE baseline.
loss=triplet  a parent run with one child run per phase: bce (only when no `init` is
              given), triplet, finetune. The parent carries the final model.

The phases, their runs, checkpoints and resuming are in deepfake_mlflow.train.phases;
the loop itself in deepfake_mlflow.train.loop.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from .. import config, paths
from ..vocabulary import Loss, choices
from .options import at_least, one_of, option, positive, require

HELP = "train a detector (bce or triplet); every variant a run"
# where a training runs, not what it learns: may differ between a run and its resume
RUNTIME_OPTIONS = ("device", "precision", "workers")
# options only the triplet and finetune phases read: a BCE run does not log them
TRIPLET_ONLY = ("triplets", "triplet_lr", "finetune_lr", "triplet_patience",
                "finetune_patience")


@dataclass(frozen=True)
class TrainConfig:
    dataset: str = option(help="training dataset (its faces index is workspace/<dataset>/"
                               "faces.parquet unless --faces says otherwise)")
    faces: str = option("", help="faces index (default workspace/<dataset>/faces.parquet)")
    loss: str = option(Loss.BCE.value, choices=choices(Loss),
                       help="bce, or triplet (bce -> triplet -> finetune)")
    augment: str = option("NONE", help="comma list of augmentations or groups "
                                       "(deepfake_mlflow.augment: NONE, SELECTED, MIX, HF, ...)")
    model: str = option(config.MODEL_NAME, help="timm model name")
    pretrained: str = option("imagenet", help="imagenet, none, or a weights file")
    size: int = option(config.FACE_SIZE, help="input side in pixels")
    batch_size: int = option(config.BCE["batch_size"], help="bce and finetune: faces per "
                                                           "batch, half real, half fake")
    triplets: int = option(config.TRIPLET["batch_size"], help="triplet: triplets per batch")
    lr: float = option(config.BCE["lr"], help="bce learning rate")
    triplet_lr: float = option(config.TRIPLET["lr"], help="triplet learning rate")
    finetune_lr: float = option(config.FINETUNE["lr"], help="finetune learning rate")
    patience: int = option(config.BCE["patience"], help="bce: iterations without a better "
                                                        "validation loss before lr x0.1")
    triplet_patience: int = option(config.TRIPLET["patience"], help="triplet patience")
    finetune_patience: int = option(config.FINETUNE["patience"], help="finetune patience")
    min_lr: float = option(config.MIN_LR, help="stop when the learning rate falls below this")
    val_interval: int = option(config.VAL_INTERVAL, help="iterations between validations")
    val_size: int = option(config.VAL_SIZE, help="validation faces (fixed, balanced)")
    max_iters: int = option(config.MAX_ITERS, help="upper bound on iterations (the protocol "
                                                   "stops at min_lr)")
    train_videos: int = option(0, help="data-limited training: videos per class (0: all)")
    seed: int = option(config.DEFAULT_SEED, help="seed of sampling, augmentation and init")
    init: str = option("", help="start from: a run id, runs:/ or models:/ URI, or a weights "
                                "file")
    workers: int = option(config.LOADER_WORKERS, help="data-loading processes per training "
                                                      "process (-1: from the cores)")
    device: str = option(config.DEVICE, help="auto (CUDA when present), cpu, cuda or cuda:N; "
                                             "under torchrun each process takes the GPU of "
                                             "its local rank")
    precision: str = option(config.TRAIN_PRECISION, choices=config.PRECISIONS,
                            help="auto (bf16 on GPUs that support it, else fp32), fp32, bf16, "
                                 "or fp16 (CUDA, with a gradient scaler)")
    resume: str = option("", help="run id of an interrupted training to continue")

    def __post_init__(self):
        one_of(self, "loss", choices(Loss))
        one_of(self, "precision", config.PRECISIONS)
        at_least(self, config.MIN_INPUT_SIZE, "size")
        require(self.batch_size >= 2 and self.batch_size % 2 == 0, "batch_size",
                "an even number >= 2 (half real, half fake)", self.batch_size)
        at_least(self, 1, "triplets", "patience", "triplet_patience", "finetune_patience",
                 "val_interval", "max_iters")
        at_least(self, 2, "val_size")
        positive(self, "lr", "triplet_lr", "finetune_lr", "min_lr")
        at_least(self, 0, "train_videos")
        at_least(self, -1, "workers")

    def params(self) -> dict:
        """What a training run logs as params (resume is how it was started, not what)."""
        values = asdict(self)
        values.pop("resume")
        return values

    def logged_params(self) -> dict:
        """The params a training run shows: augment as its canonical tag (the same value as
        the run's augment tag), and only the options its loss uses."""
        from .. import augment, tracking
        values = self.params()
        values["augment"] = tracking.augment_tag(augment.parse(self.augment))
        if self.loss == Loss.BCE:
            for name in TRIPLET_ONLY:
                values.pop(name)
        return values

    def faces_index(self) -> Path:
        return Path(self.faces) if self.faces else paths.faces_index_path(self.dataset)

    def config_hash(self) -> str:
        """What the run learns from and how, as a short hash (tag config_hash): the same
        hash means the same training, whatever device, precision or loader it ran on. A
        study finds a training it already ran by it. The faces index's digest is part of
        it: faces extracted again from changed videos are another training."""
        import hashlib
        import json

        from .. import __version__
        from ..faces.index import faces_digest
        what = {k: v for k, v in self.params().items() if k not in RUNTIME_OPTIONS}
        what["faces_digest"] = faces_digest(self.faces_index())
        text = json.dumps({**what, "version": __version__}, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


CONFIG = TrainConfig


def final_runs(cfg: TrainConfig) -> list:
    """The final runs of this very training (same config hash), newest first, whatever
    their status: a study reuses a FINISHED one and resumes an unfinished one."""
    import mlflow
    return mlflow.search_runs(
        search_all_experiments=True, output_format="list",
        filter_string=f"tags.config_hash = '{cfg.config_hash()}' and tags.final = 'true'",
        order_by=["attributes.start_time DESC"])


def finished_run(runs: list):
    """The newest FINISHED run of final_runs(cfg), or None."""
    return next((r for r in runs if r.info.status == "FINISHED"), None)


def run(cfg: TrainConfig, on_validation=None) -> dict:
    """Train by the protocol; returns the final phase's result (run_id, weights,
    best_val_loss). cfg.resume continues a bce run, or a triplet parent whose unfinished
    phases are picked up. on_validation(val_loss, iteration): see train.phases.train."""
    from ..train.phases import train
    return train(cfg, on_validation)
