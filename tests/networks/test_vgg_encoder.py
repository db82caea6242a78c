"""The VGG16(-BN) FlexibleUNet backbone: shapes, user-supplied weights (never downloaded), TorchScript."""

from __future__ import annotations

import pytest
import torch
from monai.networks.nets import FlexibleUNet

import mammo_monai.networks  # noqa: F401  (registers the backbone)
from mammo_monai.networks import VGGEncoder


@pytest.mark.parametrize("backbone", ["vgg16", "vgg16_bn"])
def test_flexible_unet_with_vgg(backbone):
    net = FlexibleUNet(in_channels=1, out_channels=2, backbone=backbone, spatial_dims=2).eval()
    with torch.no_grad():
        assert net(torch.rand(2, 1, 96, 64)).shape == (2, 2, 96, 64)
    features = VGGEncoder(backbone)(torch.rand(1, 1, 64, 64))
    assert [f.shape[1] for f in features] == [64, 128, 256, 512, 512]
    assert [f.shape[-1] for f in features] == [32, 16, 8, 4, 2]


def test_user_supplied_rgb_weights_become_grey(tmp_path):
    rgb = VGGEncoder("vgg16_bn", in_channels=3)
    torch.save({f"features.{k}": v for k, v in rgb.features.state_dict().items()}, tmp_path / "vgg16_bn.pth")
    grey = VGGEncoder("vgg16_bn", in_channels=1, pretrained=tmp_path / "vgg16_bn.pth")
    assert torch.allclose(grey.features[0].weight, rgb.features[0].weight.sum(dim=1, keepdim=True))
    assert torch.equal(grey.features[3].weight, rgb.features[3].weight)
    net = FlexibleUNet(in_channels=1, out_channels=1, backbone="vgg16_bn", pretrained=str(tmp_path / "vgg16_bn.pth"))
    assert torch.equal(net.encoder.features[3].weight, rgb.features[3].weight)


def test_no_download_and_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="never downloaded"):
        VGGEncoder("vgg16_bn", pretrained=True)
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        VGGEncoder("vgg16_bn", pretrained=tmp_path / "missing.pth")
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, tmp_path / "partial.pth")
    with pytest.raises(ValueError, match="partial.pth: not a vgg16 state dict"):
        VGGEncoder("vgg16", pretrained=tmp_path / "partial.pth")
    with pytest.raises(ValueError, match="2D only"):
        VGGEncoder("vgg16", spatial_dims=3)


def test_torchscript_export_matches():
    net = FlexibleUNet(in_channels=1, out_channels=1, backbone="vgg16", spatial_dims=2).eval()
    scripted = torch.jit.script(net)
    x = torch.rand(1, 1, 64, 64)
    with torch.no_grad():
        assert torch.allclose(scripted(x), net(x), atol=1e-5)
