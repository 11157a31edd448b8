"""The `compare` stage: is a model better than another on the same test videos?

Two or more models (run ids, runs:/ or models:/ URIs, model folders, or a study's variant
picked by tags with its seeds pooled); every model after the first against the first, on
each test set: the paired frame-AUC difference, its 95% interval, p and Holm's p over all
the comparisons, and a verdict. One run in deepfake-compare with comparison.csv, a forest
plot and metrics; evaluations already in the store that scored the same faces are
reused. The work is deepfake_mlflow.evaluation.model_comparison.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import config
from ..evaluation.config import bootstrap_option, device_option, precision_option
from ..options import option

HELP = "paired comparison of two or more models on the same test videos, with verdicts"
EXAMPLES = """\
    deepfake-mlflow compare models:/deepfake-effnetb4-dfdc@champion,RUN_ID dfdc,celebdf
    deepfake-mlflow compare tags:variant=bce/none,dataset=ff,tags:variant=triplet/none,dataset=ff ff
"""


@dataclass(frozen=True)
class CompareConfig:
    models: str = option(help="comma list of two or more models; the first is the reference: "
                              "run id, runs:/ or models:/ URI, model folder, or "
                              "tags:KEY=VALUE,... (a study's variant, its seeds pooled; the "
                              "next model starts at the next item without '=')")
    datasets: str = option(help="comma list of test sets: NAME (faces in the workspace) or "
                                "NAME=PATH/faces.parquet")
    split: str = option(config.EVAL_SPLIT, choices=config.SPLITS, help="split scored")
    seed: int = option(config.DEFAULT_SEED, help="seed of the bootstrap")
    bootstrap: int = bootstrap_option()
    device: str = device_option()
    precision: str = precision_option()
    gallery: int = option(config.GALLERY_VIDEOS,
                          help="videos of each kind in the paired-errors page of each model "
                               "and test set (fixed and broken against the reference, with "
                               "both models' Grad-CAM maps); 0: none")

    def __post_init__(self):
        from ..errors import UserInputError
        from ..options import at_least, seed_range
        seed_range(self, "seed")
        at_least(self, 0, "gallery")
        if len(self.model_list()) < 2:
            raise UserInputError(f"--models {self.models!r}: expected two or more models, "
                                 "comma-separated (the first is the reference)")

    def model_list(self) -> list[str]:
        """The models as typed; a tags: item takes the KEY=VALUE items after it."""
        found: list[str] = []
        for item in (i.strip() for i in self.models.split(",")):
            if not item:
                continue
            if found and found[-1].startswith("tags:") and "=" in item \
                    and not item.startswith("tags:"):
                found[-1] += "," + item
            else:
                found.append(item)
        return found


CONFIG = CompareConfig


def run(cfg: CompareConfig):
    """The comparison table: one row per model (after the first) and test set."""
    from .. import tracking
    from ..evaluation.config import EvaluateConfig
    from ..evaluation.model_comparison import checked, compare_models
    models = cfg.model_list()
    evaluation = EvaluateConfig(tuple(models), cfg.datasets, split=cfg.split, seed=cfg.seed,
                                bootstrap=cfg.bootstrap, device=cfg.device,
                                precision=cfg.precision, gallery=cfg.gallery)
    sides, tests = checked(models, evaluation)  # a bad model or test set: no run made
    with tracking.runs.stage_run("compare", run_name=f"compare:{len(models)}x"
                                 f"{len(cfg.datasets.split(','))}",
                                 params={"models": ",".join(models)[:500],
                                         "reference": models[0][:500],
                                         "test_sets": cfg.datasets, "split": cfg.split,
                                         "seed": cfg.seed}) as run:
        table = compare_models(sides, tests, evaluation)
        table.attrs["run_id"] = run.info.run_id
        return table


def report(table) -> int:
    """Each model against the reference, a test set per column."""
    from ..evaluation import compare
    shown = table.assign(cell=table.apply(compare.cell, axis=1))
    print(f"frame AUC difference against {table['reference'].iloc[0]} [95% interval], "
          "on the same test videos:")
    print(shown.pivot(index="model", columns="test_set", values="cell").to_string())
    print(compare.footer(table))
    reused, scored = table.attrs.get("reused", 0), table.attrs.get("scored", 0)
    print(f"comparison run {table.attrs.get('run_id', '?')} (comparison.csv, comparison.png): "
          f"{reused} of {scored} evaluations reused, {scored - reused} made now")
    return 0
