"""The detector's inference steps: the sliding-window heatmap of a patch classifier, its peaks, their mapping
back to the original pixels through the preprocessing, the JSON + overlay writer, and the evaluator reading it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

import mammo_monai.transforms as mt
from mammo_monai.data.synthetic import synthesize_cbis_ddsm
from mammo_monai.inference import (
    HeatmapCandidatesd,
    PatchHeatmapInferer,
    SaveDetectionsd,
    abnormality_score,
    common_root,
    grid_to_original,
    heatmap_candidates,
)

CLASSES = ["normal", "mass", "calcification"]


@pytest.fixture(scope="module")
def synthetic_items(tmp_path_factory):
    from mammo_monai.data.cbis_ddsm import index_cbis_ddsm

    root = tmp_path_factory.mktemp("cbis")
    info = synthesize_cbis_ddsm(root / "synth", n_patients=4, seed=3)
    result = index_cbis_ddsm(info["root"], info["csv_dir"], root / "cbis.json", progress=False)
    return [item for split in result.datalist.values() for item in split], root / "cbis.json"


class BrightPatch(torch.nn.Module):
    """A 'classifier' that calls a patch a mass in proportion to the brightness of its centre."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        centre = x[:, 0, h // 2 - 1:h // 2 + 1, w // 2 - 1:w // 2 + 1].mean((1, 2))
        return torch.stack([4 - 8 * centre, 8 * centre - 4, torch.full_like(centre, -8.0)], 1)


def _blobs(shape=(96, 64), centres=((30, 20), (70, 44))) -> torch.Tensor:
    rr, cc = np.mgrid[:shape[0], :shape[1]]
    image = np.zeros(shape, np.float32)
    for r, c in centres:
        image += np.exp(-((rr - r) ** 2 + (cc - c) ** 2) / (2 * 4.0 ** 2))
    return torch.from_numpy(image)[None, None]


def test_heatmap_of_a_patch_classifier_peaks_where_it_says_mass():
    heat = PatchHeatmapInferer(roi_size=(16, 16), overlap=0.75, sw_batch_size=8)(_blobs(), BrightPatch())
    assert tuple(heat.shape) == (1, 3, 96, 64)
    assert torch.allclose(heat.sum(1), torch.ones(1, 96, 64), atol=1e-5)
    score = abnormality_score(heat[0].numpy(), CLASSES)
    found = heatmap_candidates(heat[0].numpy(), CLASSES, min_distance=8, threshold=0.2)
    assert len(found) == 2 and found[0]["score"] >= found[1]["score"]
    for cand, (r, c) in zip(sorted(found, key=lambda x: x["center"]), [(30, 20), (70, 44)]):
        assert abs(cand["center"][0] - r) <= 2 and abs(cand["center"][1] - c) <= 2
        r0, c0, r1, c1 = cand["box"]
        assert r0 <= r < r1 and c0 <= c < c1 and cand["class"] == "mass"
        assert set(cand["probabilities"]) == {"mass", "calcification"}
        assert cand["score"] == pytest.approx(score[round(cand["center"][0]), round(cand["center"][1])],
                                              abs=0.05)
    with pytest.raises(ValueError, match=r"\(batch, classes\)"):
        PatchHeatmapInferer(roi_size=(16, 16))(_blobs(), lambda x: x)


def test_candidates_respect_breast_threshold_and_suppression():
    heat = np.zeros((2, 50, 50), np.float32)
    heat[0] = 1.0
    for (r, c), p in {(10, 10): 0.9, (13, 13): 0.8, (40, 40): 0.6, (25, 45): 0.05}.items():
        heat[:, r, c] = [1 - p, p]
    classes = ["normal", "abnormal"]
    found = heatmap_candidates(heat, classes, min_distance=5, threshold=0.1)
    assert [c["center"] for c in found] == [[10.0, 10.0], [40.0, 40.0]]  # (13, 13) suppressed, (25, 45) too low
    breast = np.ones((50, 50), bool)
    breast[30:, 30:] = False
    assert [c["center"] for c in heatmap_candidates(heat, classes, breast, min_distance=5)] == [[10.0, 10.0]]
    assert heatmap_candidates(heat, classes, max_candidates=1, min_distance=1)[0]["score"] == pytest.approx(0.9)


def test_candidates_map_back_to_the_original_lesions(synthetic_items, tmp_path):
    """A heatmap lit on each lesion's mask in the preprocessed grid (crop, 0.2 mm, right breasts flipped) gives
    candidates on the lesions in the original pixels; the writer's JSON scores 1.0 sensitivity in the evaluator."""
    from mammo_monai.evaluation import evaluate_detection

    items, datalist = synthetic_items
    pipeline = mt.patch_transforms(default_spacing=0.1, pixdim=0.2, train=False)
    writer = SaveDetectionsd("pred", CLASSES, output_dir=tmp_path / "pred", data_root_dir=common_root(items),
                             max_size=256)
    sides, checked = set(), 0
    test = json.loads(datalist.read_text())["test"]
    for item in items:
        out = pipeline(dict(item))
        mask = out["lesion_mask"][0].numpy()
        heat = np.zeros((3, *mask.shape), np.float32)
        heat[0] = 1.0
        heat[:, mask == 1] = np.array([0.1, 0.8, 0.1], np.float32)[:, None]
        heat[:, mask == 2] = np.array([0.2, 0.1, 0.7], np.float32)[:, None]
        out["pred"] = torch.from_numpy(heat)
        out = HeatmapCandidatesd("pred", CLASSES, min_distance=4, threshold=0.5)(out)
        to_original = grid_to_original(out["image"])
        assert to_original.shape == (3, 3) and abs(abs(to_original[0, 0]) - 2.0) < 0.02  # 0.2 / 0.1 mm
        located = [les for les in item["lesions"] if les["center"] is not None]
        for les in located:  # every located lesion has a candidate inside its circle, of its class
            hits = [c for c in out["candidates"]
                    if np.hypot(c["center"][0] - les["center"][0], c["center"][1] - les["center"][1])
                    <= max(les["radius"], 2.0) + 2.0]
            assert hits, (item["image"], les, out["candidates"])
            assert hits[0]["class"] == ("mass" if les["type"] == "mass" else "calcification")
            r0, c0, r1, c1 = hits[0]["box"]
            assert r0 <= les["center"][0] <= r1 and c0 <= les["center"][1] <= c1
            checked += 1
        sides.add(item["laterality"])
        if item in test:
            last = writer(out)
    assert checked and sides == {"L", "R"}
    written = sorted((tmp_path / "pred").rglob("*_detections.json"))
    assert len(written) == len(test)
    record = json.loads(written[0].read_text())
    assert set(record) == {"image", "image_shape", "classes", "pixdim", "candidates"}
    assert record["classes"] == CLASSES and record["pixdim"] == pytest.approx([0.2, 0.2], abs=0.005)
    png = written[0].with_name(written[0].name.replace("_detections.json", "_heatmap.png"))
    with Image.open(png) as im:
        assert im.mode == "RGB" and max(im.size) == 256
    report = evaluate_detection(tmp_path / "pred", datalist, tmp_path / "froc", n_resamples=20)
    located = [les for it in test for les in it["lesions"] if les["center"] is not None]
    assert report.summary["counts"]["missing"] == 0 and located
    assert report.summary["metrics"]["all"]["max_sensitivity"]["estimate"] == pytest.approx(1.0)
    with pytest.raises(FileExistsError):  # an earlier run's outputs are kept unless overwriting is asked for
        SaveDetectionsd("pred", CLASSES, output_dir=tmp_path / "pred", data_root_dir=common_root(items),
                        overwrite=False)(last)
    flat = SaveDetectionsd("pred", CLASSES, output_dir=tmp_path / "flat", overlay=False)
    flat(last)
    other = dict(last, image=last["image"].clone())
    other["image"].meta["filename_or_obj"] = "/elsewhere/1-1.dcm"  # CBIS-DDSM: every file is 1-1.dcm
    with pytest.raises(ValueError, match="both map to"):
        flat(other)


def test_pixel_spacing_keeps_original_affine_in_step(synthetic_items):
    items, _ = synthetic_items
    out = mt.patch_transforms(default_spacing=0.1, pixdim=0.4, train=False, lesion_mask=False)(dict(items[0]))
    assert set(out) >= {"image", "breast_mask"} and "lesion_mask" not in out
    m = grid_to_original(out["image"])
    assert abs(abs(m[0, 0]) - 4.0) < 0.05 and abs(abs(m[1, 1]) - 4.0) < 0.05
    with pytest.raises(ValueError, match="original_affine"):
        grid_to_original(torch.zeros(1, 4, 4))


def test_skipping_background_windows_keeps_the_heatmap_inside_the_breast():
    """Windows without breast are not run (fewer network calls) and the heatmap on the breast is unchanged."""
    gen = torch.Generator().manual_seed(0)
    image = torch.rand(1, 1, 120, 90, generator=gen)
    mask = torch.zeros(1, 1, 120, 90)
    mask[..., 10:70, :40] = 1  # the breast against the chest wall (left)
    inferer = PatchHeatmapInferer(roi_size=(24, 24), overlap=0.75, sw_batch_size=7)
    network = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 5), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                                  torch.nn.Flatten(), torch.nn.Linear(4, 3))
    torch.nn.init.normal_(network[0].weight, generator=gen)
    with torch.no_grad():
        exhaustive = inferer(image, network)
        assert inferer.windows_run == inferer.windows_total
        fast = inferer(image, network, breast_mask=mask)
    assert 0 < inferer.windows_run < inferer.windows_total
    inside = mask[:, 0] > 0
    assert torch.allclose(fast.permute(0, 2, 3, 1)[inside], exhaustive.permute(0, 2, 3, 1)[inside], atol=1e-6)
    # far from the breast the heatmap is the background class (normal) only
    assert torch.allclose(fast[0, :, 110, 80], torch.tensor([1.0, 0.0, 0.0]))
    # skip_background=False: the mask is ignored, every window runs
    full = PatchHeatmapInferer(roi_size=(24, 24), overlap=0.75, sw_batch_size=7, skip_background=False)
    with torch.no_grad():
        assert torch.equal(full(image, network, breast_mask=mask), exhaustive)
    with pytest.raises(ValueError, match="not on the input's grid"):
        inferer(image, network, breast_mask=mask[..., :60, :])


def test_no_breast_at_all_gives_a_background_heatmap_without_running_the_network():
    calls = []

    def network(x):
        calls.append(x.shape[0])
        return torch.zeros(x.shape[0], 3)

    inferer = PatchHeatmapInferer(roi_size=(16, 16), overlap=0.5)
    heat = inferer(torch.rand(1, 1, 40, 24), network, breast_mask=torch.zeros(1, 1, 40, 24))
    assert inferer.windows_run == 0 and calls == [1]  # one window, once, to learn the number of classes
    assert torch.equal(heat[0, 0], torch.ones(40, 24)) and not heat[0, 1:].any()


def test_skipping_background_windows_keeps_every_candidate_on_shared_mias(shared_mias, tmp_path):
    """On every shared MIAS film with a positioned lesion (the detector's preprocessing at the MIAS CPU recipe's
    0.4 mm, 64 px windows; a brightness 'classifier'): the same candidates with and without skipping the windows
    outside the breast, and the window centred on each lesion is one that runs (it holds breast)."""
    from mammo_monai.data.mias import index_mias

    result = index_mias(shared_mias, tmp_path / "mias.json", progress=False)
    items = [item for split in result.datalist.values() for item in split
             if any(lesion.get("center") for lesion in item.get("lesions", []))]
    assert len(items) > 50
    preprocess = mt.patch_transforms(pixdim=0.4, default_spacing=0.2, train=False, lesion_mask=False)
    inferer = PatchHeatmapInferer(roi_size=(64, 64), overlap=0.75, sw_batch_size=64)
    network, skipped = BrightPatch(), 0
    for item in items:
        out = preprocess({"image": item["image"], "laterality": item["laterality"]})
        image, mask = out["image"], out[mt.BREAST_MASK_KEY]
        with torch.no_grad():
            exhaustive = inferer(image[None], network)[0].numpy()
            fast = inferer(image[None], network, breast_mask=mask[None])[0].numpy()
        skipped += inferer.windows_total - inferer.windows_run
        found = [heatmap_candidates(h, CLASSES, mask[0].numpy(), threshold=0.1) for h in (exhaustive, fast)]
        assert [c["center"] for c in found[0]] == [c["center"] for c in found[1]], item["image"]
        assert np.allclose([c["score"] for c in found[0]], [c["score"] for c in found[1]], atol=1e-5)
        to_grid = np.linalg.inv(grid_to_original(image))
        for lesion in item["lesions"]:
            if not lesion.get("center"):
                continue
            r, c = (to_grid @ np.array([*lesion["center"], 1.0]))[:2]
            r0, c0 = int(np.rint(r)) - 32, int(np.rint(c)) - 32
            window = mask[0, max(0, r0):max(0, r0 + 64), max(0, c0):max(0, c0 + 64)]
            assert window.any(), (item["image"], lesion["center"])
    assert skipped > 0


def _small_densenet() -> torch.nn.Module:
    from monai.networks.nets import DenseNet

    torch.manual_seed(0)
    return DenseNet(spatial_dims=2, in_channels=1, out_channels=3, init_features=8, growth_rate=4,
                    block_config=(2, 2), bn_size=2).eval()


def _small_resnet() -> torch.nn.Module:
    from monai.networks.nets import ResNet

    torch.manual_seed(0)
    return ResNet(block="basic", layers=[1, 1, 1, 1], block_inplanes=[4, 8, 8, 8], spatial_dims=2,
                  n_input_channels=1, num_classes=3).eval()


@pytest.mark.parametrize("make", [_small_densenet, _small_resnet])
def test_split_patch_classifier_is_the_network(make):
    from mammo_monai.inference import split_patch_classifier

    network = make()
    body, head = split_patch_classifier(network)
    x = torch.rand(3, 1, 64, 64)
    with torch.no_grad():
        assert torch.allclose(head(body(x).mean((2, 3))), network(x), atol=1e-6)
    assert split_patch_classifier(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.LazyLinear(3))) is None


@pytest.mark.parametrize("make", [_small_densenet, _small_resnet])
def test_fully_convolutional_mode_gives_a_heatmap_from_one_pass(make):
    network = make()
    image = torch.rand(1, 1, 150, 110, generator=torch.Generator().manual_seed(2))
    mask = torch.zeros(1, 1, 150, 110)
    mask[..., 20:60, :30] = 1
    fcn = PatchHeatmapInferer(roi_size=(64, 64), overlap=0.75, fully_convolutional=True)
    calls = []
    handle = network.register_forward_hook(lambda *a: calls.append(1))
    with torch.no_grad():
        heat = fcn(image, network, breast_mask=mask)
    handle.remove()
    assert tuple(heat.shape) == (1, 3, 150, 110) and not calls  # the head alone: the network's forward never runs
    assert torch.allclose(heat.sum(1), torch.ones(1, 150, 110), atol=1e-5)
    assert 0 < fcn.windows_run < fcn.windows_total
    windowed = PatchHeatmapInferer(roi_size=(64, 64), overlap=0.75)
    with torch.no_grad():
        reference = windowed(image, network, breast_mask=mask)
    assert windowed.windows_run == fcn.windows_run and windowed.windows_total == fcn.windows_total
    # a network it cannot split, or a film smaller than a window: window by window, as without the option
    plain = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64 * 64, 3))
    with torch.no_grad():
        assert torch.equal(fcn(image, plain), windowed(image, plain))
        small = torch.rand(1, 1, 40, 100)
        assert torch.equal(fcn(small, network), windowed(small, network))
    assert reference.shape == heat.shape
