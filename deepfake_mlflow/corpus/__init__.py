"""The demo corpus: four small datasets in the real layouts, made from real faces."""

from .build import LOOKS, WRITERS, build_corpus

__all__ = ["LOOKS", "WRITERS", "build_corpus"]
