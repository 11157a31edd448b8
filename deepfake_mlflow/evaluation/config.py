"""What an evaluation scores and how: EvaluateConfig, the one place of its options.

Read by the evaluate stage (its CONFIG; import it from here) and handed
whole to each model's evaluation (model_run.evaluate_model), so that no layer restates a
default. Light: no torch, no MLflow.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

from .. import config, paths
from ..errors import UserInputError
from ..options import at_least, check_types, numbers, one_of, option, require, seed_range


# the options of scoring, shared by every command that scores test sets (evaluate, compare)
def bootstrap_option():
    return option(config.BOOTSTRAP_SAMPLES, help="resamples of the test videos for each "
                                                 "AUC's 95%% interval (0: no interval)")


def device_option():
    return option(config.DEVICE, help="auto (CUDA when present), cpu, cuda or cuda:N")


def precision_option():
    return option(config.SCORE_PRECISION, choices=config.PRECISIONS,
                  help="fp32 (scores equal on every device), bf16 or fp16 (faster on GPUs)")


@dataclass(frozen=True)
class EvaluateConfig:
    model: str | tuple = option(help="comma list of: run id, runs:/ or models:/ URI "
                                     "(models:/NAME@ALIAS), or a local model folder")
    datasets: str | dict = option(help="comma list of test sets: NAME (faces in the "
                                       "workspace) or NAME=PATH/faces.parquet")
    split: str = option(config.EVAL_SPLIT, choices=config.SPLITS, help="split scored")
    robustness: str = option("in-domain", help="test sets for the JPEG/downscale sweeps: "
                                               "in-domain, all, none, or a list")
    mds: str = option("all", help="test sets for the MDS projection (Fig. 2): all, none, "
                                  "or a list")
    mds_pairs: int = option(config.MDS_PAIRS, help="real/fake video pairs in each MDS plot")
    jpeg_qualities: tuple = option(config.ROBUSTNESS_JPEG_QUALITIES, parse=numbers(int),
                                   help="comma list of JPEG qualities (robustness)")
    scales: tuple = option(config.ROBUSTNESS_SCALES, parse=numbers(float),
                           help="comma list of downscale factors (robustness)")
    analysis: bool = option(True, help="error analysis of each test set: the per-video table, "
                                       "every subgroup's AUC, calibration and TPR at low "
                                       "FPR (evaluation/breakdown.py)")
    gallery: int = option(config.GALLERY_VIDEOS,
                          help="with the analysis: videos of each kind in the error gallery "
                               "(worst false negatives and positives, best of each class), "
                               "with Grad-CAM maps; 0: no gallery")
    seed: int = option(config.DEFAULT_SEED, help="seed of the MDS pairs and the bootstrap")
    bootstrap: int = bootstrap_option()
    device: str = device_option()
    precision: str = precision_option()
    run_name: str = option("", cli=False, help="the evaluation run's name (one model); "
                                               "default eval:<training run's name>")

    def __post_init__(self):
        check_types(self)
        one_of(self, "split", config.SPLITS)
        one_of(self, "precision", config.PRECISIONS)
        at_least(self, 0, "mds_pairs", "bootstrap", "gallery")
        seed_range(self, "seed")
        require(all(1 <= q <= 100 for q in self.jpeg_qualities), "jpeg_qualities",
                "JPEG qualities from 1 to 100", self.jpeg_qualities)
        require(all(0 < s < 1 for s in self.scales), "scales",
                "downscale factors between 0 and 1", self.scales)

    def options(self) -> dict:
        """How every model is evaluated (the matrix run's params): all but the models,
        the test sets and the run's name."""
        skipped = ("model", "datasets", "run_name")
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in skipped}

    def models(self) -> list[str]:
        names = self.model.split(",") if isinstance(self.model, str) else self.model
        return [m.strip() for m in names if m.strip()]


def parse_test_sets(datasets: str | list[str] | dict) -> dict[str, Path]:
    """'ff,celebdf' (faces in the workspace) or 'ff=path/faces.parquet,...' -> name: index."""
    if isinstance(datasets, dict):
        return {name: Path(path) for name, path in datasets.items()}
    items = datasets.split(",") if isinstance(datasets, str) else list(datasets)
    found = {}
    for item in (i.strip() for i in items if i.strip()):
        name, _, path = item.partition("=")
        found[name] = Path(path) if path else paths.faces_index_path(name)
    if not found:
        raise UserInputError("no test datasets given: expected e.g. ff,dfd,dfdc,celebdf")
    return found
