"""Augmentations by the paper's short names (Section V), as albumentations 2 transforms.

A registry keyed by name, each entry a factory with its parameters in plain sight. MIX is
all of them; SELECTED the paper's pick (HF+BC+HSV+JPEG); NONE nothing. Each transform
fires with probability 0.5, so a batch always holds untouched faces too.
"""

from __future__ import annotations

from typing import Callable, Iterable

import albumentations as A

from . import config
from .errors import UserInputError

P = 0.5

AUGMENTATIONS: dict[str, Callable[[], A.BasicTransform]] = {
    "HF": lambda: A.HorizontalFlip(p=P),
    "BC": lambda: A.RandomBrightnessContrast(brightness_limit=0.2, contrast_limit=0.2, p=P),
    "HSV": lambda: A.HueSaturationValue(hue_shift_limit=20, sat_shift_limit=30,
                                        val_shift_limit=20, p=P),
    "ISO": lambda: A.ISONoise(color_shift=(0.01, 0.05), intensity=(0.1, 0.5), p=P),
    "GAUS": lambda: A.GaussNoise(std_range=(0.02, 0.1), p=P),
    "DS": lambda: A.Downscale(scale_range=(0.7, 0.9), p=P),
    "JPEG": lambda: A.ImageCompression(quality_range=(50, 99), p=P),
}
GROUPS = {"MIX": tuple(AUGMENTATIONS), "SELECTED": config.SELECTED_AUGMENTATIONS, "NONE": ()}


def parse(spec: str | Iterable[str]) -> list[str]:
    """'hf,bc' or ['HF', 'SELECTED'] -> the individual names, in registry order."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    names: set[str] = set()
    for item in (i.strip().upper() for i in items):
        if not item:
            continue
        if item in GROUPS:
            names.update(GROUPS[item])
        elif item in AUGMENTATIONS:
            names.add(item)
        else:
            raise UserInputError(f"unknown augmentation {item!r}; valid: "
                                 + ", ".join(list(AUGMENTATIONS) + list(GROUPS)))
    return [n for n in AUGMENTATIONS if n in names]


def build(spec: str | Iterable[str], seed: int = 0) -> A.Compose:
    """The composed pipeline for a spec (uint8 HxWx3 in, same shape and dtype out)."""
    return A.Compose([AUGMENTATIONS[n]() for n in parse(spec)], seed=seed)


def to_json(pipeline: A.Compose) -> dict:
    return A.to_dict(pipeline)
