"""Real clips for the corpus: gentle camera motion over a photo, or a reframed real video.

Each clip keeps its face keypoints per frame: exact for photos (the camera transform is
known), detected for videos. Fakes are pasted onto these keypoints.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .sources import FaceSource


@dataclass(frozen=True)
class Look:
    """How one dataset's cameras see the world: frame size, face size, grade, noise."""

    width: int
    height: int
    face_frac: float  # face width (ear to ear) over frame height
    gain: tuple[float, float, float]  # RGB colour grade
    noise: float  # sensor noise std, in grey levels
    blur: float  # optics softness (Gaussian sigma, pixels; 0 = none)


@dataclass
class Clip:
    frames: list[np.ndarray]
    keypoints: list[np.ndarray]  # (6, 2) per frame


def face_centre(points: np.ndarray) -> np.ndarray:
    return points[:4].mean(axis=0)  # eyes, nose tip, mouth


def face_width(points: np.ndarray) -> float:
    ears = float(np.linalg.norm(points[4] - points[5]))
    eyes = float(np.linalg.norm(points[0] - points[1]))
    return max(ears, 2.0 * eyes)


def _camera(centre, scale, angle_deg, target) -> np.ndarray:
    """2x3 affine: rotate/scale about `centre`, then move `centre` to `target`."""
    m = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), angle_deg, scale)
    m[:, 2] += np.asarray(target, dtype=np.float64) - np.asarray(centre, dtype=np.float64)
    return m


def _transform(points: np.ndarray, m: np.ndarray) -> np.ndarray:
    return (points @ m[:, :2].T + m[:, 2]).astype(np.float32)


def render(image: np.ndarray, m: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Warp `image` into a frame of `size`; where the camera sees past the photo's edge,
    show a blurred enlargement of the photo (a defocused backdrop), not smeared edge pixels."""
    frame = cv2.warpAffine(image, m, size, flags=cv2.INTER_AREA, borderMode=cv2.BORDER_CONSTANT)
    cover = cv2.warpAffine(np.ones(image.shape[:2], np.float32), m, size, flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT)
    if cover.min() >= 0.999:
        return frame
    # a smooth colour field from the photo's overall colours: a wall, with no face in it
    field = cv2.resize(image, (4, 3), interpolation=cv2.INTER_AREA)
    backdrop = cv2.resize(field, size, interpolation=cv2.INTER_CUBIC)
    alpha = cv2.GaussianBlur(cover, (0, 0), 6)[..., None] * cover[..., None]
    return (frame * alpha + backdrop * (1 - alpha)).astype(np.uint8)


def apply_look(frame: np.ndarray, look: Look, rng: np.random.Generator, light: float) -> np.ndarray:
    out = frame.astype(np.float32) * (np.array(look.gain, dtype=np.float32) * light)
    if look.blur > 0:
        out = cv2.GaussianBlur(out, (0, 0), look.blur)
    if look.noise > 0:
        out += rng.normal(0.0, look.noise, out.shape).astype(np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)


def still_clip(source: FaceSource, look: Look, frames: int, rng: np.random.Generator) -> Clip:
    """Pan, zoom, slight roll, hand-held jitter and light drift over a photo."""
    size = (look.width, look.height)
    base = look.face_frac * look.height / face_width(source.keypoints)
    centre = face_centre(source.keypoints)
    zoom = rng.uniform(-0.06, 0.10)
    roll = rng.uniform(-3.0, 3.0)
    pan = rng.uniform(-0.05, 0.05, size=2) * np.array(size)
    home = np.array([look.width * rng.uniform(0.4, 0.6), look.height * rng.uniform(0.42, 0.5)])
    light = rng.uniform(-0.08, 0.08)
    jitter = np.cumsum(rng.normal(0, 0.4, size=(frames, 2)), axis=0)
    clip = Clip([], [])
    for i in range(frames):
        t = i / max(1, frames - 1)
        m = _camera(centre, base * (1 + zoom * t), roll * np.sin(np.pi * t),
                    home + pan * (t - 0.5) + jitter[i])
        frame = render(source.still, m, size)
        clip.frames.append(apply_look(frame, look, rng, 1 + light * np.sin(np.pi * t)))
        clip.keypoints.append(_transform(source.keypoints, m))
    return clip


def video_clip(source: FaceSource, look: Look, frames: int, rng: np.random.Generator,
               detector) -> Clip:
    """A real video segment, reframed to the dataset's look; keypoints detected per frame."""
    total = len(source.clip)
    start = int(rng.integers(0, max(1, total - frames)))
    index = [start + i for i in range(frames)]
    index = [i if i < total else 2 * total - i - 2 for i in index]  # ping-pong if short
    first = detector.best(source.clip[index[0]])
    if first is None:
        raise ValueError(f"{source.name}: no face in frame {index[0]}")
    anchor = first.keypoints
    m = _camera(face_centre(anchor), look.face_frac * look.height / face_width(anchor),
                0.0, (look.width * 0.5, look.height * 0.45))
    clip, last = Clip([], []), None
    for i in index:
        frame = render(source.clip[i], m, (look.width, look.height))
        frame = apply_look(frame, look, rng, 1.0)
        found = detector.best(frame)
        last = found.keypoints if found is not None else (
            last if last is not None else _transform(anchor, m))
        clip.frames.append(frame)
        clip.keypoints.append(last)
    return clip


def real_clip(source: FaceSource, look: Look, frames: int, rng: np.random.Generator,
              detector) -> Clip:
    if source.is_video:
        return video_clip(source, look, frames, rng, detector)
    return still_clip(source, look, frames, rng)
