"""What each training phase optimises, and which parameters it may change.

bce       the whole network, binary cross-entropy on the logit
triplet   the whole network up to the pooled features, triplet margin loss on triplets
          (fake, fake, real) and (real, real, fake)
finetune  the classifier alone, BCE; the extractor frozen *and in eval mode* (BatchNorm
          statistics and drop-connect fixed), not merely left out of the optimizer

Each objective splits into `forward` (the network, run under autocast) and `criterion`
(the loss, always computed in fp32 on the forward's outputs).
"""

from __future__ import annotations

import torch
from torch import nn

from .. import config
from ..model import DeepfakeDetector
from ..vocabulary import PhaseName


class BCE:
    name = PhaseName.BCE

    def prepare(self, model: DeepfakeDetector) -> list[nn.Parameter]:
        for p in model.parameters():
            p.requires_grad_(True)
        return list(model.parameters())

    def train_mode(self, model: nn.Module) -> None:
        model.train()

    def forward(self, model: nn.Module, images: torch.Tensor) -> torch.Tensor:
        return model(images)

    def criterion(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return nn.functional.binary_cross_entropy_with_logits(logits.float(), labels.float())

    def loss(self, model: nn.Module, images: torch.Tensor, labels: torch.Tensor):
        return self.criterion(self.forward(model, images), labels)


class Triplet(BCE):
    name = PhaseName.TRIPLET

    def __init__(self, margin: float = config.TRIPLET_MARGIN):
        self.margin = margin

    def prepare(self, model: DeepfakeDetector) -> list[nn.Parameter]:
        classifier = {id(p) for p in model.classifier.parameters()}
        params = []
        for p in model.parameters():
            p.requires_grad_(id(p) not in classifier)
            if id(p) not in classifier:
                params.append(p)
        return params

    def forward(self, model: nn.Module, images: torch.Tensor) -> torch.Tensor:
        return model(images, features=True)

    def criterion(self, feats: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        feats = feats.float().reshape(-1, 3, feats.shape[-1])  # [anchor, positive, negative]
        return nn.functional.triplet_margin_loss(feats[:, 0], feats[:, 1], feats[:, 2],
                                                 margin=self.margin)


class Finetune(BCE):
    name = PhaseName.FINETUNE

    def prepare(self, model: DeepfakeDetector) -> list[nn.Parameter]:
        for p in model.parameters():
            p.requires_grad_(False)
        for p in model.classifier.parameters():
            p.requires_grad_(True)
        return list(model.classifier.parameters())

    def train_mode(self, model: nn.Module) -> None:
        model.eval()  # the classifier (a Linear layer) behaves the same in both modes

