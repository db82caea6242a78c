"""Model ensembles: the mean probability survives the bundle's activation, checkpoints load per member, and the
four bundles' ``ensemble_checkpoints`` switch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from ignite.engine import Engine
from monai.bundle import ConfigParser

from mammo_monai.inference import EnsembleCheckpointLoader, ProbabilityEnsemble, ensemble_network
from mammo_monai.io.errors import InputNotFoundError

BUNDLES = Path(__file__).resolve().parents[2] / "bundles"


def _conv(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Conv2d(1, 3, 3, padding=1)


def test_softmax_mean_is_recovered_by_the_bundle_activation():
    members = [_conv(0), _conv(1), _conv(2)]
    x = torch.randn(2, 1, 8, 6)
    mean = torch.stack([m(x).softmax(1) for m in members]).mean(0)
    out = ProbabilityEnsemble(members)(x)
    assert out.shape == (2, 3, 8, 6)
    assert torch.allclose(out.softmax(1), mean, atol=1e-6)
    assert torch.equal(out.argmax(1), mean.argmax(1))


def test_sigmoid_mean_is_recovered():
    members = [torch.nn.Linear(4, 1), torch.nn.Linear(4, 1)]
    x = torch.randn(5, 4)
    mean = (members[0](x).sigmoid() + members[1](x).sigmoid()) / 2
    assert torch.allclose(ProbabilityEnsemble(members, activation="sigmoid")(x).sigmoid(), mean, atol=1e-6)


def test_probabilities_not_logits_are_averaged():
    sure, unsure = torch.nn.Linear(1, 2, bias=False), torch.nn.Linear(1, 2, bias=False)
    with torch.no_grad():
        sure.weight.copy_(torch.tensor([[100.0], [0.0]]))     # class 0 with probability ~1
        unsure.weight.copy_(torch.tensor([[0.0], [0.5]]))     # class 1 with probability 0.62
    p = ProbabilityEnsemble([sure, unsure])(torch.ones(1, 1)).softmax(1)[0]
    assert torch.allclose(p, torch.tensor([(1 + 0.3775) / 2, 0.6225 / 2]), atol=1e-3)


def test_bad_ensembles():
    with pytest.raises(ValueError, match="at least one member"):
        ProbabilityEnsemble([])
    with pytest.raises(ValueError, match="activation"):
        ProbabilityEnsemble([_conv(0)], activation="relu")
    with pytest.raises(ValueError, match="at least one member"):
        ensemble_network(_conv(0), 0)


def test_one_member_is_the_network_itself():
    net = _conv(0)
    assert ensemble_network(net, 1) is net
    ensemble = ensemble_network(net, 2)
    assert isinstance(ensemble, ProbabilityEnsemble) and all(m is not net for m in ensemble.members)


def test_loader_fills_each_member_from_its_checkpoint(tmp_path: Path):
    a, b = _conv(1), _conv(2)
    torch.save({"model": a.state_dict()}, tmp_path / "a.pt")  # what the bundles' CheckpointSaver writes
    torch.save(b.state_dict(), tmp_path / "b.pt")             # a bare state_dict
    ensemble = ensemble_network(_conv(0), 2)
    loader = EnsembleCheckpointLoader([tmp_path / "a.pt", tmp_path / "b.pt"], ensemble, map_location="cpu")
    engine = Engine(lambda e, b: None)
    loader.attach(engine)
    engine.run([0], max_epochs=1)
    for member, source in zip(ensemble.members, (a, b)):
        assert all(torch.equal(p, q) for p, q in zip(member.state_dict().values(), source.state_dict().values()))


def test_loader_refusals(tmp_path: Path):
    ensemble = ensemble_network(_conv(0), 2)
    with pytest.raises(ValueError, match="1 checkpoint"):
        EnsembleCheckpointLoader([tmp_path / "a.pt"], ensemble)
    torch.save(_conv(1).state_dict(), tmp_path / "a.pt")
    loader = EnsembleCheckpointLoader([tmp_path / "a.pt", tmp_path / "gone.pt"], ensemble)
    with pytest.raises(InputNotFoundError, match="gone.pt: checkpoint not found"):
        loader.attach(Engine(lambda e, b: None))


@pytest.mark.parametrize("bundle", ["mammo_image_classification", "mammo_lesion_classification",
                                    "mammo_mass_segmentation", "mammo_patch_detection"])
def test_bundle_ensemble_switch(bundle: str, tmp_path: Path):
    for paths in ([], [str(tmp_path / "fold_0.pt"), str(tmp_path / "fold_1.pt"), str(tmp_path / "fold_2.pt")]):
        parser = ConfigParser(json.loads((BUNDLES / bundle / "configs" / "inference.json").read_text()))
        parser.update({"ensemble_checkpoints": paths, "bundle_root": str(tmp_path), "device": "$torch.device('cpu')"})
        network = parser.get_parsed_content("network")
        loader = next(h for h in parser.get_parsed_content("handlers") if isinstance(h, EnsembleCheckpointLoader))
        if paths:
            assert isinstance(network, ProbabilityEnsemble) and len(network.members) == 3
            assert [str(p) for p in loader.load_paths] == paths
        else:
            assert not isinstance(network, ProbabilityEnsemble)
            assert [str(p) for p in loader.load_paths] == [str(tmp_path / "models" / "model.pt")]
