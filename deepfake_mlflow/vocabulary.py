"""The words the project writes into indexes, records, params and tags: one enum per kind.

StrEnum members are plain strings to pandas, Parquet, JSON and MLflow, so files written
before these enums existed read back unchanged.
"""

from __future__ import annotations

from enum import StrEnum


class VideoStatus(StrEnum):
    """A video's state in the video index (index step) and the faces index (extract step)."""
    OK = "ok"
    MISSING = "missing"  # listed by the dataset's metadata, not on disk
    UNREADABLE = "unreadable"  # no decodable video stream
    NO_FACE = "no_face"  # decoded, but no sampled frame had a face
    FEW_FACES = "few_faces"  # faces in too few sampled frames to trust (config.MIN_FACE_RATIO)
    TOO_SHORT = "too_short"  # fewer frames than asked for
    TRUNCATED = "truncated"  # the stream ended before its announced length
    ERROR = "error"  # anything else, with the reason recorded


# videos whose faces are trained on and scored (a truncated video is scored on the frames
# that decode); the others are counted, never scored
SCORABLE = (VideoStatus.OK, VideoStatus.TRUNCATED)


class Loss(StrEnum):
    """What `train --loss` accepts; each loss is a sequence of phases (train.phases.LOSSES)."""
    BCE = "bce"
    TRIPLET = "triplet"


class PhaseName(StrEnum):
    """The phases of the paper's protocol; a phase is one MLflow run."""
    BCE = "bce"
    TRIPLET = "triplet"
    FINETUNE = "finetune"


def choices(enum: type[StrEnum]) -> tuple[str, ...]:
    return tuple(member.value for member in enum)
