"""What a training learns from and how: TrainConfig, the one place of the train options.

Its defaults come from deepfake_mlflow.config; its values are checked when it is built
(from the command line, MLproject, a study file or Python), the augmentation spec
included: a bad name is refused before any work, and the parsed names and the canonical
tag are computed here once (augment_names, augment_tag) for every layer that needs them.
The train stage (deepfake_mlflow.stages.train) takes it as its CONFIG; import it from here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path

from .. import config, paths
from ..augment import described as described_augmentations
from ..options import at_least, check_types, one_of, option, positive, require, seed_range
from ..vocabulary import Loss, choices

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
    augment: str = option("NONE", help=described_augmentations())
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
        check_types(self)  # a study file's 1.5 or true for an integer is refused, not cast
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
        seed_range(self, "seed")
        self.augment_names  # an unknown augmentation is refused here, before any work

    @cached_property
    def augment_names(self) -> tuple[str, ...]:
        """The spec's individual augmentations, in registry order (parsed once)."""
        from .. import augment
        return tuple(augment.parse(self.augment))

    @cached_property
    def augment_tag(self) -> str:
        """The canonical tag of the spec: bc+hf+hsv+jpeg, none (the runs' augment tag)."""
        from ..naming import augment_tag
        return augment_tag(self.augment_names)

    def name(self) -> str:
        """The training's name (its runs', its logged model's): dfdc-bce-none, dfdc-bce-hf-s2."""
        from ..naming import training_name
        return training_name(self.dataset, self.loss, self.augment_tag, self.train_videos,
                             self.seed)

    def params(self) -> dict:
        """What a training run logs as params (resume is how it was started, not what)."""
        values = asdict(self)
        values.pop("resume")
        return values

    def logged_params(self) -> dict:
        """The params a training run shows: augment as its canonical tag (the same value as
        the run's augment tag), and only the options its loss uses."""
        values = self.params()
        values["augment"] = self.augment_tag
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
