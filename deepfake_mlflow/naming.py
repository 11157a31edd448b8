"""The words runs are named and tagged with: canonical tags, variants, training names.

Light (no MLflow import): configs use it to name what they describe.
- augment tags are sorted, lower case, '+'-joined, "none" when empty: bc+hf+hsv+jpeg;
- variant = loss/augmentation set (bce/none ... triplet/selected): the paper's four tables;
- a training is named dataset-loss-augmentation[-Nv][-sK]: dfdc-bce-none, ff-bce-none-4v,
  dfdc-bce-hf-s2 (seed 2).
"""

from __future__ import annotations

from typing import Iterable

from . import config
from .augment import AUGMENTATIONS

EXPERIMENT_PREFIX = "deepfake-"  # deepfake-train, deepfake-evaluate, ...
# the experiments, one per kind of run, in the order of the study, with what the UI says
# of each (stages.STAGES sends each stage's runs to one of them)
EXPERIMENTS = {
    "corpus": "Demo corpora built from real faces (FF++, DFD, DFDC and Celeb-DF layouts).",
    "index": "Dataset indexes: one run per indexed dataset root, with its split summary.",
    "extract": "Face extraction with BlazeFace: 32 frames a video, 256x256 square crops.",
    "train": "Trainings: BCE runs, and triplet parents with one child run per phase "
             "(bce, triplet, finetune). Group by the `variant` tag to see the paper's tables.",
    "evaluate": "Evaluations: frame and video AUC per test set; several models make a "
                "matrix run (the paper's Tables I-IV) with one child run per model.",
    "compare": "Paired comparisons of models on the same test videos: the AUC difference, "
               "its interval, Holm's p and a verdict per test set (comparison.csv, "
               "comparison.png); new evaluations are child runs.",
    "ablation": "Optuna studies over augmentations (the paper's Fig. 3): one child run per "
                "trial under the study's run.",
    "registry": "Promotions of the champion model of each training dataset.",
    "reproduce": "Whole studies from one study file: each step a child run; the study "
                 "run holds the report (report/report.html).",
    "demo": "`make demo`: the paper's whole study scaled down on the demo corpus. Open the "
            "demo run for the report (artifacts report/report.html); group runs by the "
            "`variant` tag to compare BCE against triplet, with and without augmentation.",
}

FINAL_TAG = "final"  # "true" on the training run that holds a variant's final model


def canonical(value) -> str:
    return str(value).strip().lower()


def augment_tag(names: Iterable[str]) -> str:
    """Canonical augmentation tag: sorted, lower case, '+'-joined, 'none' when empty."""
    cleaned = sorted({canonical(n) for n in names if canonical(n) not in ("", "none")})
    return "+".join(cleaned) or "none"


def augment_label(tag: str) -> str:
    """The short name of an augmentation tag: 'selected' for the paper's set, 'mix' for
    all of them, else the tag itself."""
    if tag == augment_tag(config.SELECTED_AUGMENTATIONS):
        return "selected"
    return "mix" if tag == augment_tag(AUGMENTATIONS) else tag


def variant(loss: str, augment: str) -> str:
    """The `variant` tag: loss/augmentation set (bce/none ... triplet/selected)."""
    return f"{canonical(loss)}/{augment_label(augment)}"


def training_name(dataset: str, loss: str, augment: str, videos_per_class: int = 0,
                  seed: int = config.DEFAULT_SEED) -> str:
    """dfdc-bce-none, celebdf-triplet-selected, dfdc-bce-none-4v (4 videos per class),
    dfdc-bce-hf-s2 (seed 2; the default seed is not named, so that names stay short)."""
    name = f"{dataset}-{canonical(loss)}-{augment_label(augment)}"
    if videos_per_class:
        name += f"-{videos_per_class}v"
    return name if seed == config.DEFAULT_SEED else f"{name}-s{seed}"
