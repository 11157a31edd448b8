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


# --- reading crops back (training, evaluation and the logged model share this) ------------
def _reduced_flag(stored: int, size: int) -> int:
    """Decode a stored JPEG at 1/2, 1/4 or 1/8 scale when the model needs a smaller face:
    the JPEG decoder then skips the detail instead of decoding and resizing it."""
    for factor, flag in ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4),
                         (2, cv2.IMREAD_REDUCED_COLOR_2)):
        if stored // factor >= size:
            return flag
    return cv2.IMREAD_COLOR


def fit_to(image_bgr: np.ndarray, size: int) -> np.ndarray:
    """BGR as decoded -> RGB at size x size (area interpolation when shrinking)."""
    image = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
    if image.shape[0] != size:
        image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    return image


def stored_side(path: str, default: int) -> int:
    """The side a saved crop has (every crop of a faces folder has the same), for reduced
    decoding of the others; `default` when the file does not read."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return image.shape[0] if image is not None else default


def read_crop(path: str, size: int, stored: int | None = None) -> np.ndarray:
    """A saved crop as RGB uint8 at size x size. `stored`: the side it was saved at, when
    known, which enables reduced decoding."""
    flag = _reduced_flag(stored, size) if stored else cv2.IMREAD_COLOR
    image = cv2.imread(str(path), flag)
    if image is None:
        raise FileNotFoundError(f"{path}: face crop missing or unreadable")
    return fit_to(image, size)


def jpeg_roundtrip(crop_rgb: np.ndarray, quality: int, size: int) -> np.ndarray:
    """A crop as the extract step stores it (JPEG at `quality`) and as a model reads it back
    (at `size`): what the logged model does in memory, so scores match the faces on disk."""
    ok, buffer = cv2.imencode(".jpg", cv2.cvtColor(crop_rgb, cv2.COLOR_RGB2BGR),
                              [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding of a face crop failed")
    image = cv2.imdecode(buffer, _reduced_flag(crop_rgb.shape[0], size))
    return fit_to(image, size)
