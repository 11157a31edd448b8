"""What each training phase optimises, and which parameters it may change.

bce       the whole network, binary cross-entropy on the logit
triplet   the whole network up to the pooled features, triplet margin loss on triplets
          (fake, fake, real) and (real, real, fake)
finetune  the classifier alone, BCE; the extractor frozen *and in eval mode* (BatchNorm
          statistics and drop-connect fixed), not merely left out of the optimizer
"""

from __future__ import annotations

import torch
from torch import nn

from .. import config
from ..model import DeepfakeDetector


class BCE:
    name = "bce"
    batches = "balanced"

    def prepare(self, model: DeepfakeDetector) -> list[nn.Parameter]:
        for p in model.parameters():
            p.requires_grad_(True)
        return list(model.parameters())

    def train_mode(self, model: DeepfakeDetector) -> None:
        model.train()

    def loss(self, model: DeepfakeDetector, images: torch.Tensor, labels: torch.Tensor):
        return nn.functional.binary_cross_entropy_with_logits(model(images), labels)


class Triplet:
    name = "triplet"
    batches = "triplet"

    def __init__(self, margin: float = config.TRIPLET_MARGIN):
        self.criterion = nn.TripletMarginLoss(margin=margin)

    def prepare(self, model: DeepfakeDetector) -> list[nn.Parameter]:
        classifier = {id(p) for p in model.classifier.parameters()}
        params = []
        for p in model.parameters():
            p.requires_grad_(id(p) not in classifier)
            if id(p) not in classifier:
                params.append(p)
        return params

    def train_mode(self, model: DeepfakeDetector) -> None:
        model.train()

    def loss(self, model: DeepfakeDetector, images: torch.Tensor, labels: torch.Tensor):
        feats = model.features(images).reshape(-1, 3, model.backbone.num_features)
        return self.criterion(feats[:, 0], feats[:, 1], feats[:, 2])


class Finetune(BCE):
    name = "finetune"
    batches = "balanced"

    def prepare(self, model: DeepfakeDetector) -> list[nn.Parameter]:
        for p in model.parameters():
            p.requires_grad_(False)
        for p in model.classifier.parameters():
            p.requires_grad_(True)
        return list(model.classifier.parameters())

    def train_mode(self, model: DeepfakeDetector) -> None:
        model.eval()  # the classifier (a Linear layer) behaves the same in both modes


OBJECTIVES = {"bce": BCE, "triplet": Triplet, "finetune": Finetune}
