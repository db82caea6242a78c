"""The VGG16(-BN) FlexibleUNet backbone: explicit registration, shapes, user-supplied weights (never downloaded),
TorchScript."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from monai.networks.nets import FlexibleUNet

from mammo_monai.networks import VGGEncoder, register_vgg_encoders

ROOT = Path(__file__).resolve().parents[2]

register_vgg_encoders()


def _fresh_python(code: str) -> str:
    """Run ``code`` in a new interpreter (MONAI's backbone registry starts empty of VGG there) on this checkout."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_import_registers_nothing_and_registration_is_explicit():
    out = _fresh_python(
        "from monai.networks.nets.flexible_unet import FLEXUNET_BACKBONE as B\n"
        "import mammo_monai.networks as n\n"
        "print('vgg16_bn' in B.register_dict)\n"
        "print(n.register_vgg_encoders(), n.register_vgg_encoders())\n"
        "print(sorted(k for k in B.register_dict if k.startswith('vgg')))\n")
    assert out.split("\n")[:3] == ["False", "['vgg16', 'vgg16_bn'] ['vgg16', 'vgg16_bn']", "['vgg16', 'vgg16_bn']"]


def test_mass_segmentation_configs_register_the_backbone():
    """The bundle's network resolves from its configs alone (``_requires_`` calls the registration)."""
    bundle = ROOT / "bundles" / "mammo_mass_segmentation" / "configs"
    out = _fresh_python(
        "from monai.bundle import ConfigParser\n"
        "for name in ('train.json', 'inference.json'):\n"
        "    parser = ConfigParser()\n"
        f"    parser.read_config('{bundle}/' + name)\n"
        "    net = parser.get_parsed_content('network_def')\n"
        "    print(name, type(net).__name__, type(net.encoder).__name__)\n")
    assert out.split("\n")[:2] == ["train.json FlexibleUNet VGGEncoder", "inference.json FlexibleUNet VGGEncoder"]


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
