"""The detector network: a timm backbone with one logit, and its pooled features.

`features(x)` is the layer the triplet loss works on (1792 values for EfficientNetB4);
`classifier` is the last layer (1792 weights + 1 bias), the only part fine-tuned in the
triplet method's second step.
"""

from __future__ import annotations

from pathlib import Path

import timm
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from . import config
from .errors import UserInputError
from .paths import atomic_target


class DeepfakeDetector(nn.Module):
    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.backbone = backbone

    @property
    def classifier(self) -> nn.Module:
        return self.backbone.get_classifier()

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone.forward_head(self.backbone.forward_features(x), pre_logits=True)

    def forward(self, x: torch.Tensor, features: bool = False) -> torch.Tensor:
        """Logits (N,), positive means fake; with features=True the pooled features (N, F).
        Both go through forward() so that DistributedDataParallel sees every pass."""
        if features:
            return self.features(x)
        return self.backbone(x).squeeze(1)


def create(name: str = config.MODEL_NAME, pretrained: str = "none") -> DeepfakeDetector:
    """pretrained: 'imagenet' (timm's weights, from the Hugging Face cache or Hub),
    a local weights file (.safetensors, .pth, .bin), or 'none'."""
    kind = pretrained.strip() if pretrained else "none"
    try:
        if kind.lower() == "none":
            backbone = timm.create_model(name, pretrained=False, num_classes=1)
        elif kind.lower() == "imagenet":
            try:
                backbone = timm.create_model(name, pretrained=True, num_classes=1)  # Hub/cache; offline it fails at once (tested)
            except Exception as err:  # offline Hub, empty cache, no such weights
                raise UserInputError(
                    f"ImageNet weights for {name} could not be loaded ({type(err).__name__}): "
                    "the Hugging Face Hub is unreachable or HF_HUB_OFFLINE=1 and the cache "
                    "lacks them; pass pretrained=<a local weights file> or pretrained=none"
                ) from None
        else:
            path = Path(kind)
            if not path.is_file():
                raise UserInputError(f"pretrained={kind}: expected 'imagenet', 'none' or an "
                                     "existing weights file")
            backbone = timm.create_model(name, pretrained=True, num_classes=1,  # from the local file only
                                         pretrained_cfg_overlay={"file": str(path)})
    except RuntimeError as err:
        if "Unknown model" in str(err):
            raise UserInputError(f"unknown timm model {name!r}") from None
        raise
    return DeepfakeDetector(backbone)


def save_weights(model: nn.Module, path: str | Path) -> Path:
    """Weights only, as safetensors (no pickle), written atomically."""
    path = Path(path)
    with atomic_target(path) as tmp:
        save_file({k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()},
                  str(tmp))
    return path


def load_weights(model: nn.Module, path: str | Path) -> nn.Module:
    """Weights from a safetensors file; a missing, damaged or mismatched file is named."""
    from .errors import MalformedFileError
    try:
        state = load_file(str(path))
    except FileNotFoundError:
        raise MalformedFileError(path, "no weights file there") from None
    except Exception as err:  # safetensors reports a damaged file with its own error types
        raise MalformedFileError(path, f"not a readable safetensors file ({type(err).__name__}:"
                                       f" {str(err).strip()[:120]})") from None
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise MalformedFileError(path, f"weights of another network "
                                       f"({str(err).splitlines()[0][:160]})") from None
    return model
