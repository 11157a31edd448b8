"""BlazeFace through MediaPipe's Tasks API (mediapipe 0.10.14+ and 1.x).

MediaPipe 1.x ships no model; the BlazeFace files come from the mediapipe 0.10.21 wheel on
PyPI (see deepfake_mlflow.assets). `short` is the front-camera model (faces that fill much
of the frame), `full` the full-range sparse model (small faces, actors at a distance).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import assets, config, console
from ..errors import UserInputError

os.environ.setdefault("GLOG_minloglevel", "2")  # MediaPipe's C++ logs drown real messages

MODEL_FILES = {"short": "face_detection_short_range.tflite",
               "full": "face_detection_full_range_sparse.tflite"}
DEFAULT_MIN_CONFIDENCE = config.DETECTOR_MIN_CONFIDENCE


@dataclass(frozen=True)
class Detection:
    box: tuple[float, float, float, float]  # x, y, width, height in pixels
    score: float
    keypoints: np.ndarray  # (6, 2) pixels: right eye, left eye, nose, mouth, right ear, left ear


def model_path(model: str) -> Path:
    """A model name (short, full) from the cache, or a path to a user's .tflite file."""
    if model in MODEL_FILES:
        return assets.path(MODEL_FILES[model])
    path = Path(model)
    if not path.is_file():
        raise UserInputError(f"detector model {model}: expected 'short', 'full' or a .tflite file")
    return path


class BlazeFace:
    """A reusable detector for RGB uint8 images; close() it, or use it as a context manager."""

    def __init__(self, model: str = "full", min_confidence: float = DEFAULT_MIN_CONFIDENCE):
        import mediapipe as mp
        from mediapipe.tasks.python import BaseOptions, vision

        self._detector = None
        logging.getLogger("absl").setLevel(logging.ERROR)
        self.model_file = model_path(model)
        options = vision.FaceDetectorOptions(
            base_options=BaseOptions(model_asset_path=str(self.model_file)),
            min_detection_confidence=min_confidence)
        self._mp = mp
        try:
            with console.native_quiet():
                self._detector = vision.FaceDetector.create_from_options(options)
        except OSError as err:  # the native library itself did not load
            raise UserInputError(
                f"MediaPipe's native library cannot load ({err}). On a headless server "
                "install the EGL/GLES runtime it links against, e.g. `apt-get install "
                "libegl1 libgles2` on Debian/Ubuntu") from None
        except Exception as err:  # MediaPipe reports a bad model file as RuntimeError
            raise UserInputError(f"detector model {self.model_file}: MediaPipe cannot load "
                                 f"it as BlazeFace ({type(err).__name__}: "
                                 f"{str(err).strip().splitlines()[0] if str(err).strip() else 'no reason given'})"
                                 ) from None

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        """All faces, most confident first."""
        height, width = rgb.shape[:2]
        image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB,
                               data=np.ascontiguousarray(rgb))
        # LiteRT warns ("Input tensor memory is not aligned") at the first inference whose
        # input buffer happens to be unaligned, which may be any inference of a process:
        # every call is quiet, not just the first (a few microseconds of dup2 per call)
        with console.native_quiet():
            result = self._detector.detect(image)
        found = []
        for d in result.detections:
            b = d.bounding_box
            points = np.array([[k.x * width, k.y * height] for k in d.keypoints], dtype=np.float32)
            found.append(Detection((float(b.origin_x), float(b.origin_y), float(b.width),
                                    float(b.height)), float(d.categories[0].score), points))
        return sorted(found, key=lambda d: -d.score)

    def best(self, rgb: np.ndarray) -> Detection | None:
        faces = self.detect(rgb)
        return faces[0] if faces else None

    def close(self) -> None:
        if self._detector is not None:
            with console.native_quiet():
                self._detector.close()
            self._detector = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown: MediaPipe's C side may be gone already
            pass
