"""A VGG16 / VGG16-BN encoder for MONAI's ``FlexibleUNet`` (the seeds' mass-segmentation net).

MONAI's ``FlexibleUNet`` ships EfficientNet and ResNet encoders; the public mammography U-Nets this project
is compared against use VGG16(-BN). :class:`VGGEncoder` implements ``monai.networks.blocks.BaseEncoder``;
:func:`register_vgg_encoders` adds it to MONAI's ``FLEXUNET_BACKBONE`` registry (explicitly: importing the
package registers nothing), so a config can say ``{"_target_": "FlexibleUNet", "_requires_":
"$mammo_monai.networks.register_vgg_encoders()", "backbone": "vgg16_bn", ...}``.

- Features: torchvision's layout (``features.N`` indices, 13 convolutions, 5 max-pools), so a torchvision
  ``vgg16``/``vgg16_bn`` state dict loads as it is. The encoder outputs the five pooled feature maps
  (strides 2, 4, 8, 16, 32; channels 64, 128, 256, 512, 512), which is what ``FlexibleUNet`` expects.
- Weights: trained from scratch by default. ``pretrained`` may be the path of a user-supplied state dict
  (torchvision's ``vgg16_bn-*.pth``, a ``{"state_dict": ...}`` checkpoint, or this encoder's own); nothing is
  downloaded, and ``pretrained=True`` without a path is refused with a message saying so. RGB weights
  loaded into a 1-channel input are summed over the colour channels (the usual grey-scale adaptation).

Example:
    >>> import torch
    >>> from monai.networks.nets import FlexibleUNet
    >>> register_vgg_encoders()
    ['vgg16', 'vgg16_bn']
    >>> net = FlexibleUNet(in_channels=1, out_channels=1, backbone="vgg16_bn", spatial_dims=2)
    >>> net(torch.zeros(1, 1, 64, 64)).shape
    torch.Size([1, 1, 64, 64])
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from monai.networks.blocks import BaseEncoder
from torch import nn

__all__ = ["VGGEncoder", "load_vgg_weights", "register_vgg_encoders"]

_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


def _features(in_channels: int, batch_norm: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    channels = in_channels
    for value in _CFG:
        if value == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        layers.append(nn.Conv2d(channels, int(value), kernel_size=3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(int(value)))
        layers.append(nn.ReLU(inplace=True))
        channels = int(value)
    return nn.Sequential(*layers)


def load_vgg_weights(encoder: VGGEncoder, path: str | os.PathLike) -> None:
    """Load a user-supplied VGG state dict into ``encoder`` (see the module docstring for the forms accepted).

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file holds no matching ``features.*`` weights (names the file and what is missing).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: VGG weights not found")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    features = {k.split("features.", 1)[1]: v for k, v in state.items() if "features." in k}
    own = encoder.features.state_dict()
    missing = sorted(set(own) - set(features))
    if missing:
        raise ValueError(f"{path}: not a {encoder.name} state dict (missing {len(missing)} weights, "
                         f"e.g. features.{missing[0]})")
    first = features["0.weight"]
    if first.shape[1] != own["0.weight"].shape[1]:
        if own["0.weight"].shape[1] != 1:
            raise ValueError(f"{path}: first convolution has {first.shape[1]} input channels, the encoder "
                             f"{own['0.weight'].shape[1]}")
        features["0.weight"] = first.sum(dim=1, keepdim=True)  # RGB -> grey: sum over the colour channels
    encoder.features.load_state_dict({k: features[k] for k in own})


class VGGEncoder(nn.Module, BaseEncoder):
    """VGG16 (``"vgg16"``) or VGG16-BN (``"vgg16_bn"``) feature extractor returning the 5 pooled feature maps.

    Args:
        model_name: ``"vgg16"`` or ``"vgg16_bn"``.
        spatial_dims: must be 2 (mammograms).
        in_channels: input channels (1 for a mammogram).
        pretrained: ``False`` (from scratch) or the path of a state dict to load; never downloads.
    """

    backbone_names = ["vgg16", "vgg16_bn"]

    def __init__(self, model_name: str = "vgg16_bn", spatial_dims: int = 2, in_channels: int = 1,
                 pretrained: bool | str | os.PathLike = False) -> None:
        super().__init__()
        if model_name not in self.backbone_names:
            raise ValueError(f"unknown VGG model {model_name!r}; expected one of {self.backbone_names}")
        if spatial_dims != 2:
            raise ValueError(f"the VGG encoder is 2D only, got spatial_dims={spatial_dims}")
        self.name = model_name
        self.features = _features(in_channels, batch_norm=model_name.endswith("_bn"))
        if pretrained is True:
            raise ValueError("VGG weights are never downloaded here: pass pretrained=<path to a torchvision "
                             "vgg16/vgg16_bn state dict> or pretrained=False to train from scratch")
        if pretrained:
            load_vgg_weights(self, pretrained)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outputs = []
        for layer in self.features:
            x = layer(x)
            if isinstance(layer, nn.MaxPool2d):
                outputs.append(x)
        return outputs

    @classmethod
    def get_encoder_parameters(cls) -> list[dict]:
        return [{"model_name": name, "spatial_dims": 2, "in_channels": 1, "pretrained": False}
                for name in cls.backbone_names]

    @classmethod
    def num_channels_per_output(cls) -> list[tuple[int, ...]]:
        return [(64, 128, 256, 512, 512)] * len(cls.backbone_names)

    @classmethod
    def num_outputs(cls) -> list[int]:
        return [5] * len(cls.backbone_names)

    @classmethod
    def get_encoder_names(cls) -> list[str]:
        return cls.backbone_names


def register_vgg_encoders() -> list[str]:
    """Register :class:`VGGEncoder` as a ``FlexibleUNet`` backbone (``"vgg16"``, ``"vgg16_bn"``); idempotent.

    Call it before building a ``FlexibleUNet`` with a VGG backbone: in a bundle config, as the network's
    ``"_requires_": "$mammo_monai.networks.register_vgg_encoders()"``. Returns the backbone names.
    """
    from monai.networks.nets.flexible_unet import FLEXUNET_BACKBONE

    if not set(VGGEncoder.backbone_names) <= set(FLEXUNET_BACKBONE.register_dict):
        FLEXUNET_BACKBONE.register_class(VGGEncoder)
    return list(VGGEncoder.backbone_names)
