"""Every stage of the study, in one place: a frozen config dataclass next to run(config).

Like timm's registry of models keyed by name, STAGES maps a stage's name to its module;
each module has CONFIG (the dataclass: the one place of the stage's defaults and checks),
run(config) (the work, one MLflow run or a parent of several) and HELP. The command line
and MLproject reach every stage through this table; the domain packages (datasets, faces,
corpus, train, evaluation) hold the work the stages call.

A module imports only light things at its top, so that `--help` and a refused value
answer at once; run() imports torch, MLflow and the rest.
"""

from __future__ import annotations

import importlib
from types import ModuleType

# in the order of the study
STAGES = ("corpus", "index", "extract", "train", "evaluate", "ablation", "worker", "promote",
          "predict", "reproduce", "demo", "dashboard")


def get(name: str) -> ModuleType:
    if name not in STAGES:
        raise KeyError(f"unknown stage {name!r}; one of {', '.join(STAGES)}")
    return importlib.import_module(f"{__name__}.{name}")
