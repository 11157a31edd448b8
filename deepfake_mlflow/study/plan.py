"""A study file as data: StudyPlan, read and checked whole before any work.

A study file (deepfake_mlflow/studies/<name>.yaml, or any YAML file) names the training
datasets, losses and augmentation sets of the grid (Tables I-IV), the test sets, the
training options, the data-limited curves (Fig. 1), the ablation (Fig. 3), whether to
promote champions and the champions' robustness sweeps. Each step's options are checked
by the config that will take them (TrainConfig, EvaluateConfig, AblationConfig), so a bad
file is named, with what is wrong, before anything runs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from ..vocabulary import Loss

STUDIES = Path(__file__).resolve().parents[1] / "studies"


@dataclass(frozen=True)
class StudyPlan:
    name: str
    train_datasets: tuple
    test_datasets: tuple
    losses: tuple = (Loss.BCE.value, Loss.TRIPLET.value)
    augmentations: tuple = ("NONE", "SELECTED")
    train: dict = field(default_factory=dict)  # TrainConfig options
    evaluate: dict = field(default_factory=dict)  # EvaluateConfig options of the matrix
    data_limited: dict | None = None  # datasets (or dataset), videos_per_class, losses
    ablation: dict | None = None  # AblationConfig options, dataset included
    promote: bool = True
    robustness: dict | None = None  # jpeg_qualities, scales of the champions' sweeps
    # each training of the grid and the data-limited curves once per seed (default: the
    # train seed alone), and of the ablation unless its section names its own
    seeds: tuple = ()

    @classmethod
    def load(cls, path: Path) -> "StudyPlan":
        import yaml

        from ..errors import MalformedFileError, UserInputError
        if not path.is_file():
            raise UserInputError(f"--study {path}: neither a study of "
                                 f"{', '.join(sorted(p.stem for p in STUDIES.glob('*.yaml')))}"
                                 " nor a YAML file")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as err:
            raise MalformedFileError(path, f"not YAML ({str(err).splitlines()[0]})") from None
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown or not isinstance(data, dict):
            raise MalformedFileError(path, f"unknown keys {unknown}; a study has "
                                           + ", ".join(sorted(known)))
        for key in ("name", "train_datasets", "test_datasets"):
            if key not in data:
                raise MalformedFileError(path, f"missing key {key!r}")
        lists = {k: tuple(data[k]) for k in ("train_datasets", "test_datasets", "losses",
                                             "augmentations", "seeds") if k in data}
        plan = cls(**{**data, **lists})
        plan.check(path)
        return plan

    def check(self, path: Path) -> None:
        """Every step's options, checked by the stage that will take them."""
        from ..errors import MalformedFileError, UserInputError
        try:
            seeds = self.study_seeds()
            if len(set(seeds)) != len(seeds) or not all(
                    isinstance(v, int) and v >= 0 for v in seeds):
                raise UserInputError(f"seeds {list(seeds)}: expected distinct integers >= 0")
            for dataset in self.train_datasets:
                for loss in self.losses:
                    for aug in self.augmentations:
                        for seed in seeds:
                            self.train_config(dataset, loss, aug, seed=seed)
            if self.data_limited:
                self.limited_configs()
            if self.ablation:
                self.ablation_config()
            if self.evaluate:
                from ..evaluation.config import EvaluateConfig
                EvaluateConfig("m", "d", **tuples(self.evaluate))
        except (TypeError, UserInputError) as err:
            raise MalformedFileError(path, str(err)) from None

    def study_seeds(self) -> tuple:
        """The seeds of the grid and the data-limited curves: `seeds`, else the training
        options' seed (the default seed unless the file sets one)."""
        from .. import config
        return tuple(self.seeds) or (int(self.train.get("seed", config.DEFAULT_SEED)),)

    def train_config(self, dataset: str, loss: str, augment: str, **extra):
        """A training of the study; its faces index is named in full (the workspace's,
        unless the study file says), so that its config hash names the data it reads."""
        from .. import paths
        from ..train.config import TrainConfig
        options = {"faces": str(paths.faces_index_path(dataset).resolve()), **self.train}
        return TrainConfig(dataset, loss=loss, augment=augment, **{**options, **extra})

    def limited_datasets(self) -> tuple:
        """The data-limited curves' training datasets (Fig. 1 draws one panel each): the
        section's `datasets`, or its one `dataset`."""
        from ..errors import UserInputError
        spec = self.data_limited or {}
        unknown = sorted(set(spec) - {"dataset", "datasets", "videos_per_class", "losses"})
        if unknown:
            raise UserInputError(f"data_limited: unknown keys {unknown}; it takes datasets "
                                 "(or dataset), videos_per_class, losses")
        names = spec.get("datasets") or ([spec["dataset"]] if spec.get("dataset") else [])
        if not names or "videos_per_class" not in spec:
            raise UserInputError("data_limited: needs datasets (or dataset) and "
                                 "videos_per_class")
        return tuple(names)

    def limited_configs(self) -> list:
        spec = self.data_limited
        return [self.train_config(dataset, loss, "NONE", train_videos=int(n), seed=seed)
                for dataset in self.limited_datasets() for n in spec["videos_per_class"]
                for loss in spec.get("losses", self.losses) for seed in self.study_seeds()]

    def ablation_config(self):
        """The ablation, its faces named in full as the grid's are: its NONE trial is the
        grid's training of the same options, reused."""
        from .. import paths
        from ..ablation.config import AblationConfig
        spec = tuples(dict(self.ablation))
        dataset = spec.pop("dataset")
        if self.seeds and "seeds" not in spec:  # the study's seeds, unless its own
            spec["seeds"] = tuple(self.seeds)
        options = {"faces": str(paths.faces_index_path(dataset).resolve()), **self.train}
        return AblationConfig(dataset, **{**options, **spec})


def tuples(options: dict) -> dict:
    """YAML lists as the tuples the frozen configs hold."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}
