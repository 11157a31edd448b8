"""Faces: BlazeFace detection (and, with the extract step, sampling and cropping)."""
