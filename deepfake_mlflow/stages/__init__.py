"""Every stage of the study, in one place: a frozen config dataclass next to run(config).

Like timm's registry of models keyed by name, STAGES maps a stage's name to its module
(and to the experiment its runs go to);
each module has CONFIG (the dataclass: the one place of the stage's defaults and checks),
run(config) (the work, one MLflow run or a parent of several), report(result) (what the
command line prints of it, and its exit code) and HELP. The command line
and MLproject reach every stage through this table; the domain packages (datasets, faces,
corpus, train, evaluation) hold the work the stages call.

A module imports only light things at its top, so that `--help` and a refused value
answer at once; run() imports torch, MLflow and the rest.
"""

from __future__ import annotations

import importlib
from types import ModuleType

# in the order of the study: each stage and the experiment (deepfake-<name>, one of
# naming.EXPERIMENTS) its runs open in when no study run is active; None for a stage that
# opens no run of its own
STAGES = {"corpus": "corpus", "index": "index", "extract": "extract", "train": "train",
          "evaluate": "evaluate", "compare": "compare", "ablation": "ablation",
          "worker": "ablation", "promote": "registry", "predict": None,
          "reproduce": "reproduce", "demo": "demo", "dashboard": None}


def get(name: str) -> ModuleType:
    if name not in STAGES:
        raise KeyError(f"unknown stage {name!r}; one of {', '.join(STAGES)}")
    return importlib.import_module(f"{__name__}.{name}")
