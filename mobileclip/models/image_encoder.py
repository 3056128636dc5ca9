"""MobileNetV3-Large image tower: torchvision trunk -> pooled features -> projection to the joint space."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..utils.torchvision_guard import import_torchvision
from ..utils.errors import MobileClipError

IMAGENET_WEIGHTS = "IMAGENET1K_V2"


def _imagenet_weights(arch: str):
    tv = import_torchvision()
    weights = tv.models.get_model_weights(arch)[IMAGENET_WEIGHTS]
    try:
        return weights.get_state_dict(progress=True)
    except Exception as e:  # URLError, HTTPError, socket errors: all mean "could not fetch"
        raise MobileClipError(
            f"could not load torchvision {arch} {IMAGENET_WEIGHTS} weights ({type(e).__name__}: {e}); "
            f"offline? put {weights.url.rsplit('/', 1)[-1]} in $TORCH_HOME/hub/checkpoints or use pretrained=false"
        ) from None


class MobileNetV3Image(nn.Module):
    """Images (B, 3, H, W), already normalised -> L2-normalised embeddings (B, embed_dim).

    The trunk is torchvision's ``mobilenet_v3_large`` (``features`` + average pool + the first
    ``Linear(960, 1280)`` / Hardswish of its classifier, i.e. everything but the ImageNet logits layer);
    a bias-free linear projection maps the 1280-D features to the joint space.
    """

    def __init__(self, embed_dim: int, arch: str = "mobilenet_v3_large", width_mult: float = 1.0,
                 reduced_tail: bool = False, pretrained: bool = False, dropout: float = 0.0, **_preprocess):
        super().__init__()
        tv = import_torchvision()
        if arch != "mobilenet_v3_large":
            raise ValueError(f"unsupported image arch {arch!r}; this tower is mobilenet_v3_large")
        if pretrained and (width_mult != 1.0 or reduced_tail):
            raise ValueError("ImageNet weights exist only for width_mult=1.0 and reduced_tail=false")
        net = tv.models.mobilenet_v3_large(width_mult=width_mult, reduced_tail=reduced_tail)
        if pretrained:
            net.load_state_dict(_imagenet_weights(arch))
        self.features = net.features
        self.pool = net.avgpool
        self.head = nn.Sequential(net.classifier[0], net.classifier[1], nn.Dropout(dropout))  # Linear + Hardswish
        head_width = net.classifier[0].out_features  # 1280 for the full-width trunk
        self.projection = nn.Linear(head_width, embed_dim, bias=False)
        nn.init.normal_(self.projection.weight, std=head_width**-0.5)

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(torch.flatten(self.pool(self.features(images)), 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.projection(self.forward_features(images)), dim=-1)


# LiteRT names every tensor of a .tflite file after the Python path of the module classes it passes through
# ("export.common.ImageTower/mobileclip.image_encoder.MobileNetV3Image_visual/..."). The class keeps the path it
# was first exported under, so that moving the code into mobileclip/models/ leaves exported files byte-identical.
MobileNetV3Image.__module__ = "mobileclip.image_encoder"
