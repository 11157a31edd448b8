"""Learning-rate plateau schedule with the paper's stop rule, counted in iterations.

Written out instead of torch's ReduceLROnPlateau, whose eps=1e-8 ignores the step from
1e-8 to 1e-9, so "stop when lr < 1e-8" would never fire.
"""

from __future__ import annotations

import math

from .. import config


class Plateau:
    """lr x factor after `patience` iterations without a new best validation loss;
    `done` once the lr has fallen below `min_lr`."""

    def __init__(self, lr: float, patience: int, factor: float = config.LR_FACTOR,
                 min_lr: float = config.MIN_LR):
        self.lr, self.patience, self.factor, self.min_lr = lr, patience, factor, min_lr
        self.best = math.inf
        self.best_iteration = -1
        self.last_improvement = 0  # iteration of the last new best (or of the last lr drop)

    def step(self, loss: float, iteration: int) -> bool:
        """Record a validation loss at `iteration`; return True if it is a new best."""
        if loss < self.best:
            self.best, self.best_iteration, self.last_improvement = loss, iteration, iteration
            return True
        if iteration - self.last_improvement >= self.patience:
            self.lr *= self.factor
            self.last_improvement = iteration
        return False

    @property
    def done(self) -> bool:
        return self.lr < self.min_lr * (1 - 1e-9)  # 1e-4 x 0.1^4 is 1.0000000000000004e-08

    def state_dict(self) -> dict:
        return {"lr": self.lr, "best": self.best, "best_iteration": self.best_iteration,
                "last_improvement": self.last_improvement}

    def load_state_dict(self, state: dict) -> None:
        for key, value in state.items():
            setattr(self, key, value)
