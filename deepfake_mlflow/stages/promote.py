"""The `promote` stage: the lowest-validation-loss model of each training dataset becomes
deepfake-<architecture>-<dataset>@champion (deepfake_mlflow.registry), as one tracked run:
deepfake-effnetb4-dfdc for EfficientNetB4."""

from __future__ import annotations

from dataclasses import dataclass

from ..options import option

HELP = ("register the lowest-validation-loss model of each training dataset as "
        "deepfake-<architecture>-<dataset>@champion")
EXAMPLES = """\
    deepfake-mlflow promote
    deepfake-mlflow promote --datasets ff,dfdc
"""


@dataclass(frozen=True)
class PromoteConfig:
    datasets: str | tuple = option("", help="comma list of training datasets (default: every "
                                            "dataset with a trained model)")

    def names(self) -> list[str] | None:
        items = self.datasets.split(",") if isinstance(self.datasets, str) else self.datasets
        return [d.strip() for d in items if d.strip()] or None


CONFIG = PromoteConfig


def run(cfg: PromoteConfig) -> list[dict]:
    """One dict per dataset: what its champion points at and what changed."""
    from .. import registry
    return registry.promote(cfg.names())


def report(results) -> int:
    """One JSON line per dataset: its champion and what changed."""
    import json
    for result in results:
        print(json.dumps(result))
    return 0
