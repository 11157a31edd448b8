"""Paired errors of two models on one test set: the videos one gets right and the other
wrong, both ways, each a strip of its faces with both models' Grad-CAM maps
(evaluation/gallery.py): where does the new model fix the reference's errors, and where
does it break new ones? Right and wrong at each model's own validation threshold when
both carry one (evaluation/calibration.py), else at p_fake 0.5."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd

from .. import config
from ..scoring import sigmoid
from . import gallery
from .metrics import video_scores

COLUMNS = ["key", "label", "p_fake_reference", "p_fake_model", "change"]


def disagreements(reference: pd.DataFrame, model: pd.DataFrame,
                  thresholds: tuple[float, float] = (0.0, 0.0)) -> dict[str, pd.DataFrame]:
    """fixed: videos the reference gets wrong and the model right; broken: the reverse;
    each ordered by how far the model moved the video's score (the largest first).
    reference, model: one seed's predictions of each (key, label, logit); thresholds: the
    video logit at or above which each calls a video fake (0: p_fake 0.5)."""
    a, b = video_scores(reference), video_scores(model)
    both = a[["key", "label", "p_fake", "logit"]].merge(
        b[["key", "p_fake", "logit"]], on="key", suffixes=("_reference", "_model"))
    fake = both["label"] == config.FAKE
    right_a = (both["logit_reference"] >= thresholds[0]) == fake
    right_b = (both["logit_model"] >= thresholds[1]) == fake
    both["change"] = (both["p_fake_model"] - both["p_fake_reference"]).abs()
    order = lambda t: t.sort_values("change", ascending=False)[COLUMNS]  # noqa: E731
    return {"fixed": order(both[~right_a & right_b]), "broken": order(both[right_a & ~right_b])}


def build(found: dict[str, pd.DataFrame], reference_faces: pd.DataFrame,
          model_faces: pd.DataFrame, faces_root: Path, scorers: tuple, names: tuple,
          folder: Path, test_set: str, k: int = config.GALLERY_VIDEOS,
          frames: int = config.GALLERY_FRAMES, decided_at: str = "p_fake 0.5") -> None:
    """folder/index.html and its strips: the k videos of each kind, their faces, the
    reference's maps and the model's maps, each frame's two scores."""
    from PIL import Image
    folder.mkdir(parents=True, exist_ok=True)
    shown_keys = pd.concat([found["fixed"].head(k), found["broken"].head(k)])["key"]
    picked = gallery.faces_of(reference_faces, shown_keys, frames)
    crops = gallery.crops_of(picked, faces_root, gallery.SHOWN)
    maps, notes = [], []
    for scorer in scorers:
        heat, note = gallery.shown_maps(scorer, picked, faces_root)
        notes.append(note)
        if heat is not None:
            maps.append(heat)
    logits = model_faces.set_index(["key", "frame"])["logit"]
    scores = [sigmoid(picked["logit"].to_numpy(float)),
              sigmoid(logits.loc[list(zip(picked["key"], picked["frame"]))].to_numpy(float))]
    position = {key: np.flatnonzero(picked["key"].to_numpy() == key) for key in shown_keys}
    sections = []
    titles = {"fixed": f"Fixed: wrong under {names[0]}, right under {names[1]}",
              "broken": f"Broken: right under {names[0]}, wrong under {names[1]}"}
    for kind in ("fixed", "broken"):
        items = []
        for n, row in enumerate(found[kind].head(k).itertuples()):
            at = position[row.key]
            name = f"{kind}-{n}.jpg"
            Image.fromarray(gallery.strip(crops[at], [m[at] for m in maps],
                                          [s[at] for s in scores])).save(folder / name,
                                                                         quality=88)
            items.append(f'<div class="video"><p><b>{html.escape(row.key)}</b> '
                         f"({'fake' if row.label == config.FAKE else 'real'}): p_fake "
                         f"{row.p_fake_reference:.3f} under the reference, "
                         f"{row.p_fake_model:.3f} under the model</p>"
                         f'<img src="{name}" alt="faces of {html.escape(row.key)}"></div>')
        sections.append(f"<h2>{html.escape(titles[kind])} ({len(found[kind])} videos)</h2>"
                        + ("".join(items) or "<p>none</p>"))
    rows = ("the crops; " + "; ".join(f"under {names[i]}'s Grad-CAM (evidence for fake)"
                                      for i in range(len(maps)))) if maps else \
        f"the crops (no saliency maps: {notes[0]})"
    page = f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>paired errors on {html.escape(test_set)}</title><style>{gallery.PAGE_STYLE}</style>
</head><body><h1>{html.escape(names[1])} against {html.escape(names[0])} on
{html.escape(test_set)}</h1>
<p class="note">Videos one model classifies right and the other wrong (at
{html.escape(decided_at)}), the largest change of score first. Rows: {html.escape(rows)}.
Under each face: its p_fake under the reference, then under the model.</p>
{''.join(sections)}</body></html>"""
    (folder / "index.html").write_text(page, encoding="utf-8")
