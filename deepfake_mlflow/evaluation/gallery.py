"""A gallery of a model's errors on one test set: the videos it gets most wrong, and most
right for contrast, each a strip of its face crops with every frame's score and a Grad-CAM
map of where the model looked.

Grad-CAM comes from captum (LayerGradCam), PyTorch's own interpretability library: it
needs nothing this project does not already install (grad-cam, the other well-kept choice,
pulls a third OpenCV wheel beside mediapipe's and albumentations'). The map is taken on the
network's last convolutional stage (timm's feature_info names it: `blocks.6` of
EfficientNetB4, `layer4` of a ResNet), toward "fake" on every face: on a missed fake it
shows what little evidence the model found, on a false alarm what fooled it, and a real
face scored real may show nothing at all. A network whose last
stage gives tokens rather than a spatial map (a ViT) gets the strips without maps, and a
note that says why. Saliency runs on the gallery's videos only.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .. import config
from ..faces.crop import read_crop, stored_side
from ..scoring import sigmoid

GROUPS = (  # (title, label, lowest scores first?)
    ("The fake videos scored most real: the worst misses", config.FAKE, True),
    ("The real videos scored most fake: the worst false alarms", config.REAL, False),
    ("For contrast: the fake videos scored most fake", config.FAKE, False),
    ("For contrast: the real videos scored most real", config.REAL, True),
)
SHOWN = 128  # pixels: the side of each crop on the page


def pick(videos: pd.DataFrame, k: int = config.GALLERY_VIDEOS) -> list[tuple[str, pd.DataFrame]]:
    """The gallery's groups of videos (video_table rows), k each: the worst false negatives
    and false positives by video score, then the best of each class. A video is shown
    once: with few videos, the contrast groups take what the error groups left."""
    shown: set[str] = set()
    groups = []
    for title, label, lowest in GROUPS:
        rows = videos[(videos["label"] == label) & ~videos["key"].isin(shown)]
        rows = rows.sort_values("logit", ascending=lowest, kind="stable").head(k)
        shown |= set(rows["key"])
        groups.append((title, rows))
    return groups


def last_stage(model) -> tuple[object | None, str]:
    """The module whose output Grad-CAM weighs (the last stage timm lists in feature_info),
    and its name; None and why when the network has no such stage."""
    info = getattr(model.backbone, "feature_info", None) or []
    if not info:
        return None, "its timm model lists no stages (feature_info)"
    name = info[-1]["module"]
    return model.backbone.get_submodule(name), name


def saliency(model, crops: np.ndarray, toward: float = 1.0, device="cpu") -> tuple[
        np.ndarray | None, str]:
    """Grad-CAM maps (N, H, W) in [0, 1] over `crops` (N, H, W, 3) uint8: where the
    evidence for "fake" lies (toward=1; -1: for "real"); a frame without any such
    evidence gets a map of zeros. None and the reason when the model's last stage is not a
    spatial map."""
    import torch
    from captum.attr import LayerAttribution, LayerGradCam

    from ..preprocess import to_model_input
    layer, name = last_stage(model)
    if layer is None:
        return None, name
    x = to_model_input(torch.from_numpy(np.ascontiguousarray(crops)), torch.device(device))
    shape = {}

    def spatial(module, inputs, output):
        shape["out"] = tuple(output.shape)

    handle = layer.register_forward_hook(spatial)
    try:
        with torch.no_grad():
            model(x[:1])
    finally:
        handle.remove()
    if len(shape["out"]) != 4:
        return None, (f"its last stage ({name}) gives tokens of shape {shape['out'][1:]}, "
                      "not a spatial map: no Grad-CAM (a ViT's attention needs another method)")
    cam = LayerGradCam(lambda inputs: model(inputs) * toward, layer)
    with torch.enable_grad():
        maps = cam.attribute(x.requires_grad_(True), relu_attributions=True)
    maps = LayerAttribution.interpolate(maps, crops.shape[1:3], "bilinear")[:, 0]
    maps = maps.detach().float().cpu().numpy()
    peak = maps.reshape(len(maps), -1).max(axis=1).reshape(-1, 1, 1)
    return np.divide(maps, peak, out=np.zeros_like(maps), where=peak > 0), name


def overlay(crop: np.ndarray, heat: np.ndarray) -> np.ndarray:
    """The crop with its map over it in a perceptual colour scale (inferno), 45% opaque
    where the map is strongest."""
    import matplotlib
    colours = matplotlib.colormaps["inferno"](heat)[..., :3]
    alpha = 0.45 * heat[..., None]
    return (crop * (1 - alpha) + colours * 255 * alpha).astype(np.uint8)


@dataclass
class Strip:
    key: str
    image: np.ndarray  # RGB: the crops above, the crops with their maps below


def strip(crops: np.ndarray, maps: list[np.ndarray], frame_scores: list[np.ndarray]) -> np.ndarray:
    """One video's strip: its crops, then a row of the crops under each model's maps, and
    each model's p_fake of every frame written under its column."""
    from PIL import Image, ImageDraw
    n = len(crops)
    rows = 1 + len(maps)
    band = 14 * len(frame_scores) + 2
    canvas = Image.new("RGB", (n * (SHOWN + 4), rows * SHOWN + band), "white")
    draw = ImageDraw.Draw(canvas)
    for i in range(n):
        x = i * (SHOWN + 4)
        canvas.paste(Image.fromarray(crops[i]), (x, 0))
        for row, heat in enumerate(maps, start=1):
            canvas.paste(Image.fromarray(overlay(crops[i], heat[i])), (x, row * SHOWN))
        for line, scores in enumerate(frame_scores):
            draw.text((x + 4, rows * SHOWN + 1 + 14 * line), f"p_fake {scores[i]:.2f}",
                      fill=(20, 20, 20))
    return np.asarray(canvas)


def faces_of(predictions: pd.DataFrame, keys, frames: int) -> pd.DataFrame:
    """`frames` evenly spaced face rows of each video in `keys` (in frame order)."""
    faces = predictions[predictions["key"].isin(keys)].sort_values(["key", "frame"])
    keep = []
    for _, rows in faces.groupby("key", sort=False):
        spaced = np.linspace(0, len(rows) - 1, min(frames, len(rows))).round().astype(int)
        keep.extend(rows.index[np.unique(spaced)])
    return faces.loc[keep]


def crops_of(faces: pd.DataFrame, faces_root: Path, side: int) -> np.ndarray | None:
    paths = [faces_root / p for p in faces["face_path"]]
    if not paths:
        return None
    stored = stored_side(paths[0], config.FACE_SIZE)
    return np.stack([read_crop(p, side, stored) for p in paths])


def shown_maps(scorer, faces: pd.DataFrame, faces_root: Path) -> tuple[np.ndarray | None, str]:
    """A scorer's Grad-CAM maps of these faces, at the page's size."""
    import cv2
    crops = crops_of(faces, faces_root, scorer.size)
    if crops is None:
        return None, "no faces"
    maps, note = saliency(scorer.model, crops, 1.0, scorer.device)
    if maps is None:
        return None, note
    return np.stack([cv2.resize(m, (SHOWN, SHOWN), interpolation=cv2.INTER_LINEAR)
                     for m in maps]), note


PAGE_STYLE = """body { font: 14px/1.4 system-ui, sans-serif; color: #1d2733; margin: 1.5rem; }
h2 { font-size: 1.05rem; border-bottom: 1px solid #d8dee4; padding-bottom: .2rem; }
.video p { margin: .6rem 0 .2rem; } img { display: block; }
.note { color: #5b6875; max-width: 60rem; }"""


def build(videos: pd.DataFrame, predictions: pd.DataFrame, faces_root: Path, scorer,
          folder: Path, test_set: str, k: int = config.GALLERY_VIDEOS,
          frames: int = config.GALLERY_FRAMES) -> dict:
    """Write folder/index.html and its strips (folder/*.jpg) for one test set; returns
    {videos, maps, note}. predictions: the test set's face rows (key, frame, face_path,
    logit); videos: its video_table."""
    from PIL import Image
    folder.mkdir(parents=True, exist_ok=True)
    groups = pick(videos, k)
    chosen = pd.concat([rows for _, rows in groups])
    picked = faces_of(predictions, chosen["key"], frames)
    shown = crops_of(picked, faces_root, SHOWN)
    maps, note = shown_maps(scorer, picked, faces_root)
    p_fake = sigmoid(picked["logit"].to_numpy(float))
    position = {key: np.flatnonzero(picked["key"].to_numpy() == key)
                for key in chosen["key"]}
    sections = []
    for title, rows in groups:
        items = []
        for row in rows.itertuples():
            at = position[row.key]
            name = f"{len(sections)}-{row.rank:04d}.jpg"  # a JPEG: a tenth of a PNG's size
            Image.fromarray(strip(shown[at], [] if maps is None else [maps[at]],
                                  [p_fake[at]])).save(folder / name, quality=88)
            facts = ", ".join(f"{c} {getattr(row, c)}" for c in ("method", "subset")
                              if getattr(row, c, ""))
            items.append(
                f'<div class="video"><p><b>{html.escape(row.key)}</b>: p_fake '
                f"{row.p_fake:.3f}, rank {row.rank} of {len(videos)}, {row.faces} faces; "
                f"{html.escape(facts)}; face {row.face_size:.0f} px</p>"
                f'<img src="{name}" alt="face crops of {html.escape(row.key)}"></div>')
        sections.append(f"<h2>{html.escape(title)}</h2>" + ("".join(items) or
                                                             "<p>none in this test set</p>"))
    maps_note = (f"Grad-CAM on the last convolutional stage ({note}): brighter, more "
                 "evidence for fake" if maps is not None else
                 f"no saliency maps: {note}")
    fake = videos["label"] == config.FAKE
    fakes, reals = int(fake.sum()), int((~fake).sum())
    missed = int((fake & (videos["p_fake"] < 0.5)).sum())
    flagged = int((~fake & (videos["p_fake"] >= 0.5)).sum())
    at_threshold = ""
    if "called_fake" in videos:  # the model's threshold picked on its validation videos
        called = videos["called_fake"].astype(bool)
        at_threshold = (f"; at the threshold picked on the validation videos, "
                        f"{int((fake & ~called).sum())} missed and "
                        f"{int((~fake & called).sum())} flagged")
    page = f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>errors on {html.escape(test_set)}</title><style>{PAGE_STYLE}</style></head><body>
<h1>Where the model errs on {html.escape(test_set)}</h1>
<p class="note">{len(videos)} test videos; at p_fake 0.5, {missed} of {fakes} fakes are
missed and {flagged} of {reals} reals flagged{at_threshold}. {frames} evenly spaced faces of
each video shown
(top row: the crops; bottom row: {html.escape(maps_note)}). p_fake under each face is that
frame's score; a video's score is its frames' mean logit.</p>
{''.join(sections)}</body></html>"""
    (folder / "index.html").write_text(page, encoding="utf-8")
    return {"videos": len(chosen), "maps": maps is not None, "note": note}
