"""Training: balanced sampling, the shared loop (plateau, stop, best by validation), the
bce / triplet / finetune objectives, and the tracked train step."""

from .run import TrainConfig, config_from, run_train

__all__ = ["TrainConfig", "config_from", "run_train"]
