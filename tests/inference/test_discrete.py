"""FastAsDiscrete(d) gives MONAI's AsDiscrete(d) results, ties and metadata included."""

from __future__ import annotations

import numpy as np
import torch
from monai.data import MetaTensor
from monai.transforms import AsDiscrete, AsDiscreted

from mammo_monai.inference import FastAsDiscrete, FastAsDiscreted


def test_same_as_monai_per_image_and_per_batch():
    torch.manual_seed(0)
    logits = torch.randn(3, 20, 30)
    logits[:, :4, :4] = 0.0  # ties: the first maximum wins in both
    for kwargs in ({"argmax": True}, {"argmax": True, "to_onehot": 3}, {"argmax": False, "threshold": 0.5}):
        assert torch.equal(FastAsDiscrete(**kwargs)(logits), AsDiscrete(**kwargs)(logits))
    batch = torch.randn(4, 2, 16, 16)
    ours = FastAsDiscrete(argmax=True, to_onehot=2, dim=1)(batch)
    assert torch.equal(ours, AsDiscrete(argmax=True, to_onehot=2, dim=1)(batch))
    numpy_in = FastAsDiscrete(argmax=True)(logits.numpy())
    assert np.array_equal(np.asarray(numpy_in), np.asarray(AsDiscrete(argmax=True)(logits.numpy())))


def test_metadata_kept_and_dictionary_version_matches():
    pred = MetaTensor(torch.randn(2, 8, 8), meta={"filename_or_obj": "a.dcm"})
    out = FastAsDiscrete(argmax=True)(pred)
    assert isinstance(out, MetaTensor) and out.meta["filename_or_obj"] == "a.dcm"
    assert out.dtype == torch.float32 and tuple(out.shape) == (1, 8, 8)
    label = torch.randint(0, 2, (1, 8, 8)).float()
    item = {"pred": pred, "label": label}
    kwargs = {"keys": ["pred", "label"], "argmax": [True, False], "to_onehot": [2, 2]}
    ours, monai = FastAsDiscreted(**kwargs)(dict(item)), AsDiscreted(**kwargs)(dict(item))
    for key in ("pred", "label"):
        assert torch.equal(torch.as_tensor(ours[key]), torch.as_tensor(monai[key]))
