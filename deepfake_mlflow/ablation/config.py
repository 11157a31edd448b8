"""What an ablation runs: AblationConfig, its own options followed by every training
option of the train stage (TrainConfig is the one place of their defaults and checks).

The class is assembled with dataclasses.make_dataclass from the two field lists, so that
a new training option reaches `ablation` and `worker` without being written twice.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from .. import config
from ..augment import AUGMENTATIONS
from ..options import (at_least, check_types, names, numbers, one_of, option, require,
                       seed_range)
from ..train.config import TrainConfig
from ..vocabulary import Loss, choices

MODES = ("grid", "search")
# the paper's Fig. 3 set: no augmentation, each augmentation alone, all of them
GRID = ("NONE", *AUGMENTATIONS, "MIX")
OBJECTIVES = ("val-loss", "cross-val-auc")

# training options an ablation passes through; augment is the trial's, the rest the study's
_SHARED = [f for f in dataclasses.fields(TrainConfig)
           if f.name not in ("dataset", "augment", "loss", "init", "resume")]


# the --storage option of every command that reaches an ablation's study
STORAGE_HELP = ("the ablation's Optuna storage URL (default sqlite:///optuna.db beside the "
                "tracking store; postgresql://... to share it with `deepfake-mlflow worker` "
                "on many machines)")


@dataclass(frozen=True)
class _AblationOptions:
    dataset: str = option(help="training dataset (its faces index in the workspace unless "
                               "--faces)")
    mode: str = option("grid", choices=MODES, help="grid: the Fig. 3 set; search: Optuna's "
                                                   "sampler with pruning")
    trials: int = option(config.ABLATION_SEARCH_TRIALS, help="search: trials in the study",
                         shown=f"{config.ABLATION_SEARCH_TRIALS}; the grid runs its "
                               f"{len(GRID)} points: NONE, each alone, MIX")
    loss: str = option(Loss.BCE.value, choices=choices(Loss), help="loss of every trial")
    objective: str = option(OBJECTIVES[0], choices=OBJECTIVES,
                            help="val-loss (the training set's validation split), or "
                                 "cross-val-auc (mean frame AUC on the validation splits of "
                                 "--cross-datasets)")
    cross_datasets: str = option("", help="cross-val-auc: comma list of other datasets "
                                          "(NAME or NAME=faces.parquet; default: every other "
                                          "dataset in the workspace)")
    test_datasets: str = option("", help="test sets evaluated and reported per trial, never "
                                         "optimised (default: every dataset in the "
                                         "workspace; none for none)")
    storage: str = option("", help=STORAGE_HELP)
    heartbeat: float = option(config.ABLATION_HEARTBEAT_S,
                              help="seconds between a trial's heartbeats; a trial silent for "
                                   "3 of them (its worker died) is failed and retried")
    study: str = option("", help="study name (default ablation-<dataset>-<mode>-<loss>-"
                                 "<fingerprint of the options and faces>)")
    augmentations: tuple = option((), parse=names,
                                  help="grid: its points, a comma list of NONE, the single "
                                       "augmentations and MIX; NONE among them, since each "
                                       "is compared with it (default: all "
                                       f"{len(GRID)})")
    seeds: tuple = option((), parse=numbers(int),
                          help="comma list: each trial trains once per seed (default: --seed "
                               "alone); its objective is their mean validation loss, and each "
                               "augmentation is compared with NONE over them")


def _copied(f: dataclasses.Field) -> tuple:
    """A field of another config, for make_dataclass: same name, default, help, choices."""
    meta = {k: f.metadata.get(k) for k in ("help", "choices", "parse", "nargs", "shown")}
    return f.name, f.type, option(f.default, **meta)


def _check(self) -> None:
    check_types(self)
    one_of(self, "mode", MODES)
    one_of(self, "objective", OBJECTIVES)
    at_least(self, 1, "trials")
    seed_range(self, "seeds")
    require(len(set(self.trial_seeds())) == len(self.trial_seeds())
            and all(s >= 0 for s in self.trial_seeds()), "seeds",
            "distinct seeds >= 0", self.seeds)
    object.__setattr__(self, "augmentations", names(self.augmentations))  # as the CLI gives
    require(all(a in GRID for a in self.augmentations)
            and len(set(self.augmentations)) == len(self.augmentations)
            and (not self.augmentations or "NONE" in self.augmentations), "augmentations",
            "distinct names among " + ", ".join(GRID) + ", NONE among them",
            ",".join(self.augmentations))
    self.train_config("NONE")  # the training options, checked by the train stage's rules


def _train_config(self, augment: str, seed: int | None = None) -> TrainConfig:
    """The training of a trial, for one of its seeds (the first when not said)."""
    shared = {f.name: getattr(self, f.name) for f in _SHARED}
    shared["seed"] = self.trial_seeds()[0] if seed is None else seed
    return TrainConfig(self.dataset, augment=augment, loss=self.loss, **shared)


def _grid_points(self) -> list[str]:
    """The grid's points, in the paper's order: NONE, each augmentation alone, MIX."""
    return [a for a in GRID if not self.augmentations or a in self.augmentations]


def _trial_seeds(self) -> tuple:
    """The seeds each trial trains with: --seeds, else --seed alone."""
    return tuple(self.seeds) or (self.seed,)


def _fingerprint(self) -> str:
    """What the study's trials learn from and report on, as 6 hex digits: the training
    options (with the faces' digest, see TrainConfig.config_hash), the search, and the
    faces of the cross-validation and test sets. A study holds trials of one fingerprint."""
    import hashlib
    import json

    from ..faces.index import faces_digest
    cross = (datasets_option(self.cross_datasets, exclude=self.dataset)
             if self.objective == "cross-val-auc" else {})
    # not the number of search trials: asking for more continues the same study
    what = {"mode": self.mode, "loss": self.loss, "objective": self.objective,
            "seeds": list(self.trial_seeds()),  # the objective is their mean
            # the grid's points, when not all (studies of the whole grid keep their names)
            **({"points": self.grid_points()} if self.augmentations else {}),
            "training": self.train_config("NONE").config_hash(),
            "cross": {k: faces_digest(v) for k, v in cross.items()},
            "tests": {k: faces_digest(v)
                      for k, v in datasets_option(self.test_datasets).items()}}
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:6]


def _study_name(self) -> str:
    """--study, else ablation-<dataset>-<mode>-<loss>-<fingerprint>: other options or
    faces open a new study instead of resuming one whose trials no longer apply."""
    return self.study or f"ablation-{self.dataset}-{self.mode}-{self.loss}-{self.fingerprint()}"


# the ablation's own options, then every training option of the train stage (one place of
# their defaults: TrainConfig)
AblationConfig = dataclasses.make_dataclass(
    "AblationConfig",
    [_copied(f) for f in [*dataclasses.fields(_AblationOptions), *_SHARED]],
    frozen=True,
    namespace={"__post_init__": _check, "train_config": _train_config,
               "trial_seeds": _trial_seeds, "grid_points": _grid_points,
               "study_name": _study_name, "fingerprint": _fingerprint})
# a class made by make_dataclass belongs to the dataclasses module unless told (the
# `module=` argument needs Python 3.12): pickling and help() look for it here
AblationConfig.__module__ = __name__


def datasets_option(option_value: str, exclude: str = "") -> dict[str, Path]:
    """NAME / NAME=PATH comma list -> faces indexes; empty: every dataset in the workspace;
    none: no dataset."""
    from .. import paths
    from ..evaluation.config import parse_test_sets
    if option_value.strip().lower() == "none":
        return {}
    if option_value.strip():
        return {k: v for k, v in parse_test_sets(option_value).items() if k != exclude}
    root = paths.workspace()
    return {d.name: d / paths.FACES_INDEX for d in sorted(root.iterdir())
            if (d / paths.FACES_INDEX).is_file() and d.name != exclude} if root.is_dir() else {}


def as_option(datasets: dict) -> str:
    """{name: faces index} as the NAME=PATH option that names the same files anywhere."""
    return ",".join(f"{k}={Path(v).resolve()}" for k, v in datasets.items()) or "none"
