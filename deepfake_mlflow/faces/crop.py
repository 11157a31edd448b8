"""The square face crop: centred on the detector's box, a margin around it, padded with
black where it leaves the frame (so the face keeps its place and scale), then resized."""

from __future__ import annotations

import cv2
import numpy as np

from .. import config


def square_box(box, margin: float = config.FACE_MARGIN) -> tuple[int, int, int]:
    """(x0, y0, side) of the square around a face box (x, y, w, h)."""
    x, y, w, h = box
    side = max(1, int(round(max(w, h) * (1 + margin))))
    x0 = int(round(x + w / 2 - side / 2))
    y0 = int(round(y + h / 2 - side / 2))
    return x0, y0, side


def crop_face(frame: np.ndarray, box, size: int = config.FACE_SIZE,
              margin: float = config.FACE_MARGIN) -> np.ndarray:
    """A size x size RGB crop; parts outside the frame are black."""
    x0, y0, side = square_box(box, margin)
    h, w = frame.shape[:2]
    out = np.zeros((side, side, 3), dtype=frame.dtype)
    sx0, sy0 = max(0, x0), max(0, y0)
    sx1, sy1 = min(w, x0 + side), min(h, y0 + side)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = frame[sy0:sy1, sx0:sx1]
    interp = cv2.INTER_AREA if side > size else cv2.INTER_CUBIC
    return cv2.resize(out, (size, size), interpolation=interp)
