"""Augmentations by the paper's short names (Section V), as albumentations 2 transforms.

A registry keyed by name, each entry the transform and its parameters in plain sight. MIX is
all of them; SELECTED the paper's pick (HF+BC+HSV+JPEG); NONE nothing. Each transform
fires with probability 0.5, so a batch always holds untouched faces too.
"""

from __future__ import annotations

from typing import Iterable

from . import config
from .errors import UserInputError

P = 0.5

# name -> (albumentations 2 transform, its parameters); each fires with probability P.
# Plain data, so that a config can check a spec without importing albumentations.
AUGMENTATIONS: dict[str, tuple[str, dict]] = {
    "HF": ("HorizontalFlip", {}),
    "BC": ("RandomBrightnessContrast", {"brightness_limit": 0.2, "contrast_limit": 0.2}),
    "HSV": ("HueSaturationValue", {"hue_shift_limit": 20, "sat_shift_limit": 30,
                                   "val_shift_limit": 20}),
    "ISO": ("ISONoise", {"color_shift": (0.01, 0.05), "intensity": (0.1, 0.5)}),
    "GAUS": ("GaussNoise", {"std_range": (0.02, 0.1)}),
    "DS": ("Downscale", {"scale_range": (0.7, 0.9)}),
    "JPEG": ("ImageCompression", {"quality_range": (50, 99)}),
}
GROUPS = {"MIX": tuple(AUGMENTATIONS), "SELECTED": config.SELECTED_AUGMENTATIONS, "NONE": ()}


def described() -> str:
    """The names a spec accepts, for --help: each augmentation and what a group holds."""
    groups = ", ".join(f"{name} (= {'+'.join(members) if members else 'nothing'})"
                       for name, members in GROUPS.items() if name != "MIX")
    return (f"comma list of augmentations ({', '.join(AUGMENTATIONS)}) or groups: {groups}, "
            "MIX (= all of them)")


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


def transform(name: str, p: float = P):
    """The albumentations transform of one registry name."""
    import albumentations as A
    kind, params = AUGMENTATIONS[name]
    return getattr(A, kind)(**params, p=p)


def build(spec: str | Iterable[str], seed: int = 0):
    """The composed pipeline (albumentations Compose) for a spec or a list of names:
    uint8 HxWx3 in, same shape and dtype out."""
    import albumentations as A
    return A.Compose([transform(name) for name in parse(spec)], seed=seed)


def to_json(pipeline) -> dict:
    import albumentations as A
    return A.to_dict(pipeline)
