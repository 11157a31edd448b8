"""Face swaps with OpenCV: a source face aligned to the target's face, frame by frame.

Each recipe is one manipulation "method" with its own traces (resolution of the pasted
face, blending, colour handling, sharpening, region), so detectors trained on one demo
dataset do not trivially transfer to another, as with the real datasets.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

from .motion import Clip, face_centre, face_width


@dataclass(frozen=True)
class Recipe:
    face_resolution: int  # the pasted face is rendered at this width, then rescaled (0: native)
    blend: str  # feather | poisson
    feather: float  # mask blur, as a fraction of face width
    mask_scale: float  # ellipse size, relative to face width
    region: str = "face"  # face | mouth (expression-only manipulations)
    colour_transfer: bool = True
    sharpen: float = 0.0  # unsharp-mask amount on the pasted face
    noise: float = 0.0  # extra noise on the pasted face

    def as_dict(self) -> dict:
        return asdict(self)


RECIPES: dict[str, Recipe] = {
    # FF++ methods
    "Deepfakes": Recipe(face_resolution=48, blend="feather", feather=0.12, mask_scale=1.0),
    "Face2Face": Recipe(face_resolution=0, blend="poisson", feather=0.0, mask_scale=0.85,
                        colour_transfer=False),
    "FaceSwap": Recipe(face_resolution=0, blend="feather", feather=0.03, mask_scale=0.95),
    "NeuralTextures": Recipe(face_resolution=64, blend="feather", feather=0.10, mask_scale=0.6,
                             region="mouth"),
    # the other datasets
    "DeepFakeDetection": Recipe(face_resolution=40, blend="feather", feather=0.08,
                                mask_scale=1.0, sharpen=0.8),
    "dfdc": Recipe(face_resolution=32, blend="feather", feather=0.2, mask_scale=1.05, noise=4.0),
    "Celeb-synthesis": Recipe(face_resolution=32, blend="poisson", feather=0.0, mask_scale=0.95,
                              colour_transfer=True),
}


def _mask(shape, points: np.ndarray, recipe: Recipe) -> np.ndarray:
    """Float mask in [0, 1]: an ellipse over the face (or the mouth), feathered."""
    h, w = shape[:2]
    width = face_width(points)
    eyes = points[1] - points[0]
    angle = float(np.degrees(np.arctan2(eyes[1], eyes[0])))
    if recipe.region == "mouth":
        centre = (points[2] + points[3]) / 2 + np.array([0, 0.1 * width])
        axes = (0.42 * width * recipe.mask_scale, 0.3 * width * recipe.mask_scale)
    else:
        centre = face_centre(points) + np.array([0, 0.08 * width])
        axes = (0.42 * width * recipe.mask_scale, 0.55 * width * recipe.mask_scale)
    mask = np.zeros((h, w), np.float32)
    cv2.ellipse(mask, (int(centre[0]), int(centre[1])), (max(1, int(axes[0])), max(1, int(axes[1]))),
                angle, 0, 360, 1.0, -1)
    if recipe.feather > 0:
        mask = cv2.GaussianBlur(mask, (0, 0), max(0.5, recipe.feather * width))
    return mask


def _colour_transfer(src: np.ndarray, dst: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Match the pasted face's LAB mean and spread to the target's, inside the mask."""
    sel = mask > 0.5
    if sel.sum() < 16:
        return src
    s = cv2.cvtColor(src, cv2.COLOR_RGB2LAB).astype(np.float32)
    d = cv2.cvtColor(dst, cv2.COLOR_RGB2LAB).astype(np.float32)
    sm, ss = s[sel].mean(0), s[sel].std(0) + 1e-3
    dm, ds = d[sel].mean(0), d[sel].std(0) + 1e-3
    out = (s - sm) * (ds / ss) + dm
    return cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)


def _resample(face: np.ndarray, points: np.ndarray, resolution: int) -> np.ndarray:
    """Render the face region at `resolution` pixels wide and scale it back (generator traces)."""
    width = face_width(points)
    if resolution <= 0 or width <= resolution:
        return face
    factor = resolution / width
    h, w = face.shape[:2]
    small = cv2.resize(face, (max(1, int(w * factor)), max(1, int(h * factor))),
                       interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def swap_frame(target: np.ndarray, target_points: np.ndarray, source: np.ndarray,
               source_points: np.ndarray, recipe: Recipe, rng: np.random.Generator) -> np.ndarray:
    h, w = target.shape[:2]
    m, _ = cv2.estimateAffinePartial2D(source_points[:4], target_points[:4])
    if m is None:
        return target.copy()
    face = cv2.warpAffine(source, m, (w, h), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
    face = _resample(face, target_points, recipe.face_resolution)
    mask = _mask(target.shape, target_points, recipe)
    if recipe.colour_transfer:
        face = _colour_transfer(face, target, mask)
    if recipe.sharpen > 0:
        soft = cv2.GaussianBlur(face, (0, 0), 1.5)
        face = cv2.addWeighted(face, 1 + recipe.sharpen, soft, -recipe.sharpen, 0)
    if recipe.noise > 0:
        face = np.clip(face + rng.normal(0, recipe.noise, face.shape), 0, 255).astype(np.uint8)
    if recipe.blend == "poisson":
        binary = (mask > 0.5).astype(np.uint8) * 255
        ys, xs = np.nonzero(binary)
        if len(xs) and xs.min() > 1 and ys.min() > 1 and xs.max() < w - 2 and ys.max() < h - 2:
            centre = (int((xs.min() + xs.max() + 1) // 2), int((ys.min() + ys.max() + 1) // 2))
            return cv2.seamlessClone(face, target, binary, centre, cv2.NORMAL_CLONE)
        mask = cv2.GaussianBlur(mask, (0, 0), 2.0)  # too close to the border: feather instead
    alpha = mask[..., None]
    return (face * alpha + target * (1 - alpha)).astype(np.uint8)


def swap_clip(target: Clip, source: Clip, recipe: Recipe, rng: np.random.Generator) -> list[np.ndarray]:
    """The target's frames with the source's face; source frame i drives target frame i."""
    n = len(source.frames)
    return [swap_frame(frame, points, source.frames[i % n], source.keypoints[i % n], recipe, rng)
            for i, (frame, points) in enumerate(zip(target.frames, target.keypoints))]
