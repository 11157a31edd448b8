"""Training as one capability: from a TrainConfig to MLflow runs holding the model.

Read in this order to follow a training from the command line to the loop:
- config.py   TrainConfig: every option, checked once (the augmentation spec too);
- reuse.py    train_or_reuse: a study's way in (the same training is never run twice);
- phases.py   train(cfg): the protocol's phases (bce; triplet -> finetune) as runs, the
              Runtime (device, precision, processes) resolved once, resuming;
- loop.py     fit(): the loop every phase shares, top to bottom;
- data.py, objectives.py, schedule.py: balanced and triplet batches, the losses, the
  plateau rule.
The train stage (deepfake_mlflow.stages.train) is the command line's door to train().
Only the config is imported here: it is light (no torch, no MLflow), so that a refused
option answers at once.
"""

from .config import TrainConfig

__all__ = ["TrainConfig"]
