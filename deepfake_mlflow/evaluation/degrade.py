"""Degradations for the robustness curves, applied to the crops the model sees.

Both act at the model's input size, so a level means the same thing whatever size the
faces were stored at: JPEG re-compression at a quality, and downscaling by a factor
followed by upscaling back (the detail a lower-resolution video would have lost).
"""

from __future__ import annotations

from typing import Callable

import cv2
import numpy as np

from .. import config

Degradation = Callable[[np.ndarray], np.ndarray]  # (N, S, S, 3) uint8 -> same shape


def jpeg(quality: int) -> Degradation:
    def apply(crops: np.ndarray) -> np.ndarray:
        out = np.empty_like(crops)
        for i, crop in enumerate(crops):
            _, buffer = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
            out[i] = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)  # channel order kept as given
        return out
    return apply


def downscale(factor: float) -> Degradation:
    def apply(crops: np.ndarray) -> np.ndarray:
        size = crops.shape[1]
        small = max(1, int(round(size * factor)))
        return np.stack([cv2.resize(cv2.resize(c, (small, small), interpolation=cv2.INTER_AREA),
                                    (size, size), interpolation=cv2.INTER_LINEAR)
                         for c in crops]) if len(crops) else crops
    return apply


def sweep(qualities=config.ROBUSTNESS_JPEG_QUALITIES,
          factors=config.ROBUSTNESS_SCALES) -> dict[tuple[str, float], Degradation]:
    """(kind, level) -> degradation, for every point of the two sweeps."""
    points = {("jpeg", float(q)): jpeg(q) for q in qualities}
    points.update({("scale", float(f)): downscale(f) for f in factors})
    return points
