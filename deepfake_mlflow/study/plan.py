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
            data = strict_yaml(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError as err:
            raise MalformedFileError(path, f"not UTF-8 text ({err.reason})") from None
        except yaml.MarkedYAMLError as err:
            where = f" (line {err.problem_mark.line + 1})" if err.problem_mark else ""
            raise MalformedFileError(path, f"not a study file: {err.problem}{where}") from None
        except yaml.YAMLError as err:
            raise MalformedFileError(path, f"not YAML ({str(err).splitlines()[0]})") from None
        data = {} if data is None else data
        known = {f.name for f in dataclasses.fields(cls)}
        if not isinstance(data, dict):
            raise MalformedFileError(path, "expected a mapping of study keys ("
                                           + ", ".join(sorted(known)) + ")")
        unknown = sorted(map(str, set(data) - known))
        if unknown:
            raise MalformedFileError(path, f"unknown keys {unknown}; a study has "
                                           + ", ".join(sorted(known)))
        for key in ("name", "train_datasets", "test_datasets"):
            if key not in data:
                raise MalformedFileError(path, f"missing key {key!r}")
        problem = shape_problem(data)
        if problem:
            raise MalformedFileError(path, problem)
        lists = {k: tuple(data[k]) for k in LISTS if k in data}
        plan = cls(**{**data, **lists})
        plan.check(path)
        return plan

    def check(self, path: Path) -> None:
        """Every step's options, checked by the stage that will take them."""
        from .. import config
        from ..errors import MalformedFileError, UserInputError
        try:
            if len(set(self.seeds)) != len(self.seeds) or not all(
                    isinstance(v, int) and 0 <= v <= config.SEED_MAX for v in self.seeds):
                raise UserInputError(f"seeds {list(self.seeds)}: expected distinct integers "
                                     f"from 0 to {config.SEED_MAX}")
            for dataset, loss, aug, seed in self.grid():
                self.train_config(dataset, loss, aug, seed=seed)
            if self.data_limited:
                self.limited_configs()
            if self.ablation:
                self.ablation_config()
            self.evaluation_defaults()
        except (TypeError, UserInputError) as err:
            raise MalformedFileError(path, str(err)) from None

    def faces_indexes(self) -> dict[str, Path]:
        """Every faces index the study reads: of the datasets it trains on and tests on,
        its curves' and its ablation's (the ablation's own test sets when it names them,
        NAME or NAME=PATH, read by the one parser of test-set options)."""
        from .. import paths
        from ..evaluation.config import parse_test_sets
        named = [*self.train_datasets, *self.test_datasets]
        if self.data_limited:
            named += self.limited_datasets()
        if self.ablation:
            named.append(self.ablation["dataset"])
        found = {d: paths.faces_index_path(d) for d in named}
        tests = str((self.ablation or {}).get("test_datasets", "") or "").strip()
        if tests and tests.lower() != "none":
            found.update(parse_test_sets(tests))
        return found

    def check_faces(self) -> None:
        """Every faces index there, checked before the study opens a run: a test set
        missing is named now, not after hours of training."""
        from .. import paths
        from ..errors import UserInputError
        missing = [d for d, index in self.faces_indexes().items() if not Path(index).is_file()]
        if missing:
            raise UserInputError(
                f"study {self.name}: no faces of {', '.join(missing)} in the workspace "
                f"({paths.workspace()}); extract them first: " + "; ".join(
                    f"deepfake-mlflow index {d} ROOT && deepfake-mlflow extract {d} ROOT"
                    for d in missing))

    def grid(self) -> list[tuple[str, str, str, int]]:
        """The grid's trainings (Tables I-IV) as (dataset, loss, augmentation, seed), in the
        order the study runs them: the one enumeration of the grid."""
        return [(dataset, loss, aug, seed) for dataset in self.train_datasets
                for aug in self.augmentations for loss in self.losses
                for seed in self.study_seeds()]

    def evaluation_defaults(self):
        """The study file's evaluate options as an EvaluateConfig (checked): what every
        evaluation of the study starts from; its models and test sets stand in."""
        from ..evaluation.config import EvaluateConfig
        return EvaluateConfig("models", "test sets", **tuples(self.evaluate))

    def study_seeds(self) -> tuple:
        """The seeds of the grid and the data-limited curves: `seeds`, else the training
        options' seed (the default seed unless the file sets one)."""
        from .. import config
        return tuple(self.seeds) or (self.train.get("seed", config.DEFAULT_SEED),)

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


LISTS = ("train_datasets", "test_datasets", "losses", "augmentations", "seeds")
SECTIONS = ("train", "evaluate")  # mappings of options
OPTIONAL_SECTIONS = ("data_limited", "ablation", "robustness")  # mappings, or null


def strict_yaml(text: str):
    """YAML as PyYAML's safe loader reads it, except that a key given twice in one mapping
    is an error (PyYAML keeps the last one without a word)."""
    import yaml

    class Strict(yaml.SafeLoader):
        pass

    def mapping(loader, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} given twice", key_node.start_mark)
            seen.add(key)
        return loader.construct_mapping(node, deep)

    Strict.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    return yaml.load(text, Loader=Strict)  # noqa: S506 - a SafeLoader subclass


def shape_problem(data: dict) -> str | None:
    """What is wrong with the study keys' types, in one line, or None: every list is a
    non-empty list of distinct names (of integers for seeds), every section a mapping."""
    if not isinstance(data.get("name"), str) or not data["name"].strip():
        return f"name: expected a non-empty string, got {data.get('name')!r}"
    for key in LISTS:
        if key not in data:
            continue
        value = data[key]
        if key == "seeds":
            good = isinstance(value, list) and value and all(
                isinstance(v, int) and not isinstance(v, bool) for v in value)
            kind = "integers"
        else:
            good = isinstance(value, list) and value and all(
                isinstance(v, str) and v.strip() for v in value)
            kind = "names"
        if not good:
            return f"{key}: expected a non-empty list of {kind}, got {value!r}"
        twice = sorted({str(v) for v in value if value.count(v) > 1})
        if twice:  # a grid that trains one variant twice, or a table with a column twice
            return f"{key}: {', '.join(twice)} given twice"
    for key in (*SECTIONS, *OPTIONAL_SECTIONS):
        if key in data and not isinstance(data[key], dict) and not (
                key in OPTIONAL_SECTIONS and data[key] is None):
            return f"{key}: expected a mapping of options, got {data[key]!r}"
    if "promote" in data and not isinstance(data["promote"], bool):
        return f"promote: expected true or false, got {data['promote']!r}"
    return None


def tuples(options: dict) -> dict:
    """YAML lists as the tuples the frozen configs hold."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}
