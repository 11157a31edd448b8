"""Face extraction for one video, and the faces index of many.

On disk, per video (the key contains the dataset: faces/ff/Deepfakes/000_003/):

    <faces root>/<key>/000123.jpg   one square crop per sampled frame with a face
    <faces root>/<key>/record.json  the video's status and one row per sampled frame

A video is written into <key>.partial/ and renamed to <key>/ when complete, record last:
a run killed at any moment (even kill -9) leaves at most a .partial folder, which the
next run deletes and redoes. A folder with record.json is finished, and is redone only when
the video it was made from has changed since (its size and modification time, kept in the
record): faces of a rewritten video are never reused.
"""

from __future__ import annotations

import json
import math
import queue
import shutil
import threading
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from .. import config
from ..errors import MalformedFileError, WriteError
from ..paths import atomic_target
from ..vocabulary import VideoStatus
from .crop import crop_face
from .sampling import DEFAULT_READER, VideoReadError, read_sampled

RECORD = "record.json"
SETTINGS_FILE = "extract_settings.json"  # beside faces.parquet: how its faces were made
PARTIAL_SUFFIX = ".partial"


@dataclass(frozen=True)
class ExtractSettings:
    frames: int = config.FRAMES_PER_VIDEO
    test_frames: int = 0  # frames per video of the test split; 0: `frames`
    size: int = config.FACE_SIZE
    margin: float = config.FACE_MARGIN
    quality: int = config.FACE_JPEG_QUALITY
    detector: str = config.DETECTOR_MODEL
    min_confidence: float = config.DETECTOR_MIN_CONFIDENCE
    reader: str = DEFAULT_READER

    def as_params(self) -> dict:
        return asdict(self)

    def for_split(self, split: str) -> "ExtractSettings":
        """The settings one video of `split` is sampled with."""
        if split == config.EVAL_SPLIT and self.test_frames:
            return replace(self, frames=self.test_frames)
        return self

    def save(self, folder: Path) -> Path:
        target = Path(folder) / SETTINGS_FILE
        with atomic_target(target) as tmp:
            tmp.write_text(json.dumps(self.as_params(), indent=1))
        return target

    def differences(self, other: "ExtractSettings") -> list[str]:
        """'size 64 -> 128' for each setting that differs."""
        mine, theirs = self.as_params(), other.as_params()
        return [f"{k} {mine[k]} -> {theirs[k]}" for k in mine if mine[k] != theirs[k]]

    @classmethod
    def of_faces(cls, folder: Path) -> "ExtractSettings":
        """The settings a faces folder was extracted with (defaults when unrecorded): a
        trained model scores new videos the way its training faces were made."""
        source = Path(folder) / SETTINGS_FILE
        if not source.is_file():
            return cls()
        try:
            return cls(**json.loads(source.read_text()))
        except (ValueError, TypeError) as err:
            raise MalformedFileError(source, f"not the extract settings this version "
                                             f"writes ({type(err).__name__}: {err})") from None


def video_folder(faces_root: Path, key: str) -> Path:
    return Path(faces_root) / key


def read_record(faces_root: Path, key: str) -> dict | None:
    """The record of a finished video, or None when there is none or it cannot be read
    (truncated by a full disk, edited by hand): such a video counts as not done."""
    try:
        record = json.loads((video_folder(faces_root, key) / RECORD).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("key") == key else None


def video_fingerprint(path: str | Path) -> dict:
    """What a record remembers of its video: a rewritten video (a rebuilt corpus, a fixed
    download) differs in size or modification time, as make and rsync judge files."""
    try:
        stat = Path(path).stat()
    except OSError:
        return {}
    return {"bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def is_finished(faces_root: Path, key: str, path: str | Path) -> bool:
    """Whether the video's faces are extracted, from this very file."""
    record = read_record(faces_root, key)
    return record is not None and record.get("source") == video_fingerprint(path)


def face_crop(frame, detector, settings: ExtractSettings):
    """The most confident face of a frame and its square crop, or (None, None)."""
    face = detector.best(frame) if frame is not None else None
    if face is None:
        return None, None
    return face, crop_face(frame, face.box, settings.size, settings.margin)


def write_crop(path: Path, crop, quality: int) -> None:
    """A face crop as JPEG. cv2.imwrite reports a failed write only by returning False
    (a full disk went unnoticed): the bytes are encoded here and written by Python, whose
    OSError names the cause, and a failure stops the video as a WriteError."""
    ok, buffer = cv2.imencode(".jpg", cv2.cvtColor(crop, cv2.COLOR_RGB2BGR),
                              [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"a face crop of shape {crop.shape} could not be encoded as JPEG")
    try:
        path.write_bytes(buffer.tobytes())
    except OSError as err:
        raise WriteError(f"{path.parent.parent}: a face crop could not be written "
                         f"({err.strerror or err}); the videos finished so far are kept and "
                         "a re-run (after freeing space) redoes this one") from None


def _frame_row(key: str, index: int, frame, detector, settings: ExtractSettings,
               folder: Path) -> dict:
    """A sampled frame's row: its most confident face, cropped and written, or none."""
    row = {"frame": index, "timestamp": math.nan, "x": math.nan, "y": math.nan,
           "w": math.nan, "h": math.nan, "score": math.nan, "face_path": ""}
    face, crop = face_crop(frame, detector, settings)
    if face is not None:
        name = f"{index:06d}.jpg"
        write_crop(folder / name, crop, settings.quality)
        x, y, w, h = face.box
        row.update(x=x, y=y, w=w, h=h, score=face.score, face_path=f"{key}/{name}")
    return row


PIPELINE_DEPTH = 4  # decoded frames waiting for the detector (a 1080p frame is 6 MB)


class _Stopped(Exception):
    """Raised in the decoding thread when the detecting side gave up (a failed write)."""


def _sample_and_detect(path, key: str, detector, settings: ExtractSettings, folder: Path,
                       threads: int, pipelined: bool = True):
    """The sampled frames and their rows. Decoding runs in a thread of its own while this
    thread detects, crops and writes the frames already decoded: FFmpeg and OpenCV work
    without the GIL, so a worker's video costs about its decoding time rather than
    decoding plus detection (benchmarks/extract.py). The rows are those of a sequential
    pass (pipelined=False, kept to compare against): a truncated video's frames sampled
    again drop the rows of the first pass."""
    if not pipelined:
        sampled = read_sampled(path, settings.frames, settings.reader, threads)
        rows = [_frame_row(key, i, sampled.frames.get(i), detector, settings, folder)
                for i in sampled.indices]
        for index, row in zip(sampled.indices, rows):
            row["timestamp"] = sampled.timestamp(index)
        return sampled, rows
    handed: queue.Queue = queue.Queue(maxsize=PIPELINE_DEPTH)
    outcome: dict = {}
    stop = threading.Event()

    def hand(index: int, rgb) -> None:
        while not stop.is_set():
            try:
                handed.put((index, rgb), timeout=0.5)
                return
            except queue.Full:
                continue
        raise _Stopped

    def decode() -> None:
        try:
            outcome["sampled"] = read_sampled(path, settings.frames, settings.reader, threads,
                                              on_frame=hand)
        except BaseException as err:  # noqa: BLE001 - re-raised in the detecting thread
            outcome["error"] = err
        finally:
            handed.put(None)  # never blocks for long: the detecting side drains

    decoder = threading.Thread(target=decode, name=f"decode {key}", daemon=True)
    decoder.start()
    rows: dict[int, dict] = {}
    try:
        while (item := handed.get()) is not None:
            index, rgb = item
            if index not in rows:
                rows[index] = _frame_row(key, index, rgb, detector, settings, folder)
    except BaseException:
        stop.set()
        while handed.get() is not None:  # let the decoder end
            pass
        raise
    finally:
        decoder.join()
    if "error" in outcome:
        raise outcome["error"]
    sampled = outcome["sampled"]
    for index in set(rows) - set(sampled.indices):  # sampled again over fewer frames
        (folder / f"{index:06d}.jpg").unlink(missing_ok=True)
    ordered = []
    for index in sampled.indices:
        row = rows.get(index) or _frame_row(key, index, sampled.frames.get(index), detector,
                                            settings, folder)
        row["timestamp"] = sampled.timestamp(index)
        ordered.append(row)
    return sampled, ordered


def extract_video(path: str | Path, key: str, faces_root: str | Path, detector,
                  settings: ExtractSettings = ExtractSettings(), threads: int = 0) -> dict:
    """Sample, detect, crop and save one video; return (and write) its record.

    threads: decoding threads (0 lets FFmpeg use every core; pool workers pass 1)."""
    final = video_folder(Path(faces_root), key)
    partial = final.with_name(final.name + PARTIAL_SUFFIX)
    shutil.rmtree(partial, ignore_errors=True)  # a killed earlier attempt
    partial.mkdir(parents=True)
    record = {"key": key, "status": VideoStatus.OK, "reason": "", "frames_total": 0, "fps": 0.0,
              "source": video_fingerprint(path), "rows": []}
    try:
        sampled, record["rows"] = _sample_and_detect(path, key, detector, settings, partial,
                                                     threads)
        record.update(frames_total=sampled.total, fps=sampled.fps)
        found = sum(1 for r in record["rows"] if r["face_path"])
        if sampled.truncated or not sampled.complete:
            record.update(status=VideoStatus.TRUNCATED, reason=(
                f"{sampled.decodable} of the {sampled.total} declared frames decode; "
                f"sampled over those"))
        elif found == 0:
            record.update(status=VideoStatus.NO_FACE,
                          reason=f"no face in {len(sampled.indices)} frames")
        elif found < config.MIN_FACE_RATIO * len(sampled.indices):
            # a stray detection in a faceless clip must not be scored as a face video
            record.update(status=VideoStatus.FEW_FACES, reason=(
                f"a face in {found} of {len(sampled.indices)} frames (fewer than "
                f"{config.MIN_FACE_RATIO:.0%})"))
    except VideoReadError as err:
        record.update(status=err.status, reason=err.reason)
    except WriteError:  # the workspace, not the video: no record, so a re-run redoes it
        raise
    except Exception as err:  # one bad file must not stop the others; the reason is kept
        record.update(status=VideoStatus.ERROR, reason=f"{type(err).__name__}: {err}")
    try:
        (partial / RECORD).write_text(json.dumps(record))
    except OSError as err:  # no record: the video is not finished, a re-run redoes it
        raise WriteError(f"{partial}: the video's record could not be written "
                         f"({err.strerror or err}); the videos finished so far are kept")
    shutil.rmtree(final, ignore_errors=True)
    partial.rename(final)  # atomic: the video is either finished or absent
    return record


def record_rows(record: dict) -> list[dict]:
    """The faces-index rows of one record: one per sampled frame, or one (frame -1) when
    the video yielded no frames at all."""
    base = {"key": record["key"], "video_status": record["status"],
            "video_reason": record["reason"]}
    if not record["rows"]:
        return [{**base, "frame": -1, "timestamp": math.nan, "x": math.nan, "y": math.nan,
                 "w": math.nan, "h": math.nan, "score": math.nan, "face_path": ""}]
    return [{**base, **row} for row in record["rows"]]


def contact_sheet(faces_root: Path, faces, per_label: int = 8, tile: int = 96) -> np.ndarray:
    """A grid of sample crops: real faces on the top row, fakes below."""
    rows = []
    for label in (config.REAL, config.FAKE):
        chosen = (faces[(faces["label"] == label) & (faces["face_path"] != "")]
                  .groupby("key").head(1).head(per_label))
        tiles = []
        for rel in chosen["face_path"]:
            image = cv2.imread(str(Path(faces_root) / rel))
            tiles.append(cv2.resize(image, (tile, tile)) if image is not None
                         else np.zeros((tile, tile, 3), np.uint8))
        tiles += [np.zeros((tile, tile, 3), np.uint8)] * (per_label - len(tiles))
        strip = np.hstack(tiles)
        cv2.putText(strip, "real" if label == config.REAL else "fake", (4, 16),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 255, 255), 1)
        rows.append(strip)
    return cv2.cvtColor(np.vstack(rows), cv2.COLOR_BGR2RGB)
