"""The ready-made pipelines: shapes, config fragments, and the round trip back to the original pixel grid."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from monai.transforms import Invertd
from PIL import Image
from scipy import ndimage

import mammo_monai.transforms as mt
from mammo_monai.data.lesion_items import lesion_items
from mammo_monai.data.synthetic import synthesize_cbis_ddsm
from mammo_monai.io import read_mammogram
from mammo_monai.transforms.pipelines import CONFIG_FRAGMENTS, write_config_fragments

FRAGMENTS = Path(mt.__file__).parent / "configs"


def test_shipped_fragments_equal_the_config_functions(tmp_path):
    for path in write_config_fragments(tmp_path):
        assert json.loads(path.read_text()) == json.loads((FRAGMENTS / path.name).read_text()), path.name
    assert sorted(p.name for p in FRAGMENTS.glob("*.json")) == sorted(CONFIG_FRAGMENTS)


def test_fragments_instantiate_with_monai_configparser():
    from monai.bundle import ConfigParser

    for name in CONFIG_FRAGMENTS:
        parser = ConfigParser(json.loads((FRAGMENTS / name).read_text()))
        transforms = parser.get_parsed_content("transforms")
        assert len(transforms) == len(parser["transforms"]) > 3


@pytest.fixture(scope="module")
def synthetic_items(tmp_path_factory):
    from mammo_monai.data.cbis_ddsm import index_cbis_ddsm

    root = tmp_path_factory.mktemp("cbis")
    info = synthesize_cbis_ddsm(root / "synth", n_patients=4, seed=3)
    result = index_cbis_ddsm(info["root"], info["csv_dir"], root / "cbis.json", progress=False)
    return [item for split in result.datalist.values() for item in split]


def _boundary_band(mask: np.ndarray, width: int) -> np.ndarray:
    """Pixels within ``width`` of the mask's boundary."""
    mask = mask > 0
    return ndimage.binary_dilation(mask, iterations=width) & ~ndimage.binary_erosion(mask, iterations=width)


def _round_trip(item: dict, spatial_size: int) -> tuple[np.ndarray, np.ndarray, float]:
    pipeline = mt.full_mammogram_transforms(spatial_size=spatial_size)
    out = pipeline(dict(item))
    out["pred"] = out["label"].clone()
    back = Invertd(keys="pred", transform=pipeline, orig_keys="label", nearest_interp=True)(out)["pred"]
    original, _ = read_mammogram(item["label"])
    box = out["breast_box"]
    scale = max(box[2] - box[0], box[3] - box[1]) / spatial_size
    return np.asarray(back[0]) > 0.5, original > 0, scale


def test_full_mammogram_pipeline_output(synthetic_items):
    item = next(i for i in synthetic_items if "label" in i)
    out = mt.full_mammogram_transforms(spatial_size=256)(dict(item))
    assert tuple(out["image"].shape) == (1, 256, 256) == tuple(out["label"].shape) == tuple(out["breast_mask"].shape)
    assert out["image"].dtype == torch.float32 and 0 <= float(out["image"].min()) and float(out["image"].max()) <= 1
    assert set(out["label"].unique().tolist()) <= {0.0, 1.0} and float(out["label"].sum()) > 0
    assert out["image"].meta["chest_wall_side_from_image"] == out["image"].meta["chest_wall_side"]
    assert mt.chest_wall_side_from_image(out["image"]) == "left"
    train = mt.full_mammogram_transforms(spatial_size=256, train=True).set_random_state(0)(dict(item))
    assert tuple(train["image"].shape) == (1, 256, 256) and set(train["label"].unique().tolist()) <= {0.0, 1.0}


def _float32_load_pipeline(**kwargs):
    """The full-mammogram pipeline with MONAI's default float32 load (what it was before the uint16 load)."""
    config = mt.full_mammogram_config(**kwargs)
    config[0] = {k: v for k, v in config[0].items() if k != "dtype"}
    config[0]["reader"] = {k: v for k, v in config[0]["reader"].items() if k != "native_uint16"}
    return mt.instantiate_transforms(config)


def _same_as_float32_load(item: dict, **kwargs) -> None:
    pipeline = mt.full_mammogram_transforms(**kwargs)
    loaded = pipeline.transforms[0](dict(item))
    raw, _ = read_mammogram(item["image"])
    if raw.dtype == np.uint16:  # the scan reaches BreastCropResized as decoded: no int32/float32 copy
        assert loaded["image"].dtype == torch.uint16
    new, old = pipeline(dict(item)), _float32_load_pipeline(**kwargs)(dict(item))
    for key in ("image", "label", "breast_mask"):
        if key in old:
            assert new[key].dtype == old[key].dtype and torch.equal(new[key].as_tensor(), old[key].as_tensor()), key
    assert new["breast_box"] == old["breast_box"]


def test_uint16_load_gives_the_float32_result(synthetic_items):
    for item in [i for i in synthetic_items if "label" in i][:3]:
        _same_as_float32_load(item, spatial_size=256)


def test_uint16_load_gives_the_float32_result_on_real_cbis_ddsm(shared_dicom):
    for path in sorted((shared_dicom / "cbis-ddsm").glob("*.dcm"))[:2]:
        _same_as_float32_load({"image": str(path)}, spatial_size=1024, label_key=None)


def test_round_trip_on_synthetic_images(synthetic_items):
    for item in [i for i in synthetic_items if "label" in i][:4]:
        back, original, scale = _round_trip(item, spatial_size=max(read_mammogram(item["image"])[0].shape))
        assert back.shape == original.shape
        assert not (back ^ original)[~_boundary_band(original, 1)].any()  # no resizing: exact but for 1 px
        back, original, scale = _round_trip(item, spatial_size=128)
        width = math.ceil(scale) + 1  # one pixel of the working resolution
        assert not (back ^ original)[~_boundary_band(original, width)].any()


def test_round_trip_on_real_cbis_ddsm(shared_dicom, tmp_path):
    """A mask predicted on the 1024-px tensor maps back onto the 4500 x 2900 DICOM grid, up to one
    working-resolution pixel along its border, on all four real views (L/R, CC/MLO: flip and no flip)."""
    for path in sorted((shared_dicom / "cbis-ddsm").glob("*.dcm")):
        image, meta = read_mammogram(path)
        rows, cols = image.shape
        label = np.zeros((rows, cols), np.uint8)
        rr, cc = np.ogrid[:rows, :cols]
        centre_col = cols // 4 if meta["laterality"] == "L" else 3 * cols // 4  # inside the breast
        label[(rr - rows // 2) ** 2 + (cc - centre_col) ** 2 <= 300**2] = 1
        label_path = tmp_path / f"{path.stem}_mask.png"
        Image.fromarray(label).save(label_path)
        item = {"image": str(path), "label": str(label_path), "laterality": meta["laterality"]}
        back, original, scale = _round_trip(item, spatial_size=1024)
        assert back.shape == (rows, cols)
        errors = back ^ original
        assert not errors[~_boundary_band(original, math.ceil(scale) + 1)].any(), path.name
        assert errors.sum() < 0.05 * original.sum()


def test_lesion_crop_pipeline(synthetic_items):
    lesions = lesion_items(synthetic_items)
    assert lesions
    out = mt.lesion_crop_transforms(spatial_size=96)(dict(lesions[0]))
    assert tuple(out["image"].shape) == (1, 96, 96) and 0 <= float(out["image"].min()) <= float(out["image"].max()) <= 1
    crops = lesion_items(synthetic_items, use_crop_files=True)
    out = mt.lesion_crop_transforms(spatial_size=96, source="crop_file")(dict(crops[0]))
    assert tuple(out["image"].shape) == (1, 96, 96)


def test_lesion_crop_pipeline_cuts_normal_tissue_like_lesions(synthetic_items):
    from mammo_monai.data.labels import normal_items

    image = next(i for i in synthetic_items if "label" in i)
    normal = normal_items([{**image, "pathology": "normal", "lesions": []}])[0]
    evaluate = mt.lesion_crop_transforms(spatial_size=96, normal_tissue=True, default_spacing=0.05)
    first, again = evaluate(dict(normal)), evaluate(dict(normal))
    assert tuple(first["image"].shape) == (1, 96, 96) and first["lesion_crop_box"] == again["lesion_crop_box"]
    train = mt.lesion_crop_transforms(spatial_size=96, normal_tissue=True, default_spacing=0.05, train=True)
    boxes = {tuple(train.set_random_state(k)(dict(normal))["lesion_crop_box"]) for k in range(4)}
    assert len(boxes) > 1  # training: other normal tissue at every call
    lesion = lesion_items(synthetic_items)[0]  # a lesion item is cropped on its own record
    assert evaluate(dict(lesion))["lesion_crop_box"] == mt.lesion_crop_transforms(spatial_size=96)(dict(lesion))[
        "lesion_crop_box"]
    with pytest.raises(ValueError, match="full images"):
        mt.lesion_crop_config(normal_tissue=True, source="crop_file")


def test_patch_pipeline(synthetic_items):
    item = next(i for i in synthetic_items if i["lesions"])
    patches = mt.patch_transforms(default_spacing=0.1, pixdim=0.2, patch_size=32, num_samples=6, pos=1,
                                  neg=1).set_random_state(0)(dict(item))
    assert len(patches) == 6 and all(tuple(p["image"].shape) == (1, 32, 32) for p in patches)
    assert {int(p["patch_label"]) for p in patches} <= {0, 1, 2}
    whole = mt.patch_transforms(default_spacing=0.1, pixdim=0.2, train=False)(dict(item))
    assert whole["image"].ndim == 3 and whole["lesion_mask"].shape == whole["image"].shape


def test_optional_steps(synthetic_items):
    item = next(i for i in synthetic_items if i["view"] == "MLO")
    out = mt.full_mammogram_transforms(spatial_size=256, remove_pectoral=True, clahe=True)(dict(item))
    assert "pectoral_line" in out and tuple(out["image"].shape) == (1, 256, 256)
    assert "clahe" in out["image"].meta


def test_label_from_lesions_only(synthetic_items):
    """label_source="lesions" ignores the mask file and draws the label from the item's lesions of the types."""
    item = next(i for i in synthetic_items if "label" in i and any(les["type"] == "mass" for les in i["lesions"]))
    config = mt.full_mammogram_config(spatial_size=128, label_from_lesions=["mass"], label_source="lesions")
    assert config[0]["keys"] == ["image"]  # the mask file is not even loaded
    out = mt.instantiate_transforms(config)(dict(item, label="/nonexistent/mask.png"))
    assert tuple(out["label"].shape) == (1, 128, 128) and float(out["label"].sum()) > 0
    with pytest.raises(ValueError, match="label_source"):
        mt.full_mammogram_config(label_source="both")
    with pytest.raises(ValueError, match="label_from_lesions"):
        mt.full_mammogram_config(label_source="lesions")
