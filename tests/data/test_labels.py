"""Classification label sets: classes, targets, skipped items and their reasons, item expansion."""

from __future__ import annotations

import dataclasses

import pytest

from mammo_monai.data.labels import (
    LABEL_SETS,
    NORMAL,
    TASKS,
    TYPE_PATHOLOGY_CLASSES,
    LabelSet,
    datalist_task_items,
    label_set,
    labelled_items,
    normal_items,
)
from mammo_monai.data.lesion_items import lesion_items
from mammo_monai.data.schema import load_decathlon_datalist, make_item, make_lesion, write_datalist


def _items() -> list[dict]:
    """A normal image, a benign mass + malignant calcification image, a benign-only image (MIAS distortion
    without a position), an unannotated image."""
    return [
        make_item("n.png", "P1", "L", "CC"),
        make_item("m.png", "P2", "R", "MLO", lesions=[
            make_lesion("mass", "benign", center=(10, 10), radius=4),
            make_lesion("calcification", "malignant", box=(1, 1, 5, 5))]),
        make_item("b.png", "P3", "L", "MLO", lesions=[make_lesion("architectural_distortion", "benign")]),
        make_item("u.dcm", "P4", "R", "CC", annotated=False),
    ]


def test_registry_and_classes():
    assert TASKS == ("abnormal", "malignant", "pathology", "type_pathology")
    assert set(LABEL_SETS) == set(TASKS)
    assert label_set("abnormal").classes == ("normal", "abnormal")
    assert label_set("malignant").classes == ("non_malignant", "malignant")
    assert label_set("pathology").classes == ("benign", "malignant")
    assert label_set("type_pathology").classes == TYPE_PATHOLOGY_CLASSES == (
        "benign_mass", "malignant_mass", "benign_calcification", "malignant_calcification")
    with_normal = label_set("type_pathology", include_normal=True)
    assert with_normal.classes == (NORMAL, *TYPE_PATHOLOGY_CLASSES) and with_normal.include_normal
    assert not label_set("type_pathology").include_normal and not label_set("abnormal").include_normal
    assert [label_set(t).level for t in TASKS] == ["image", "image", "lesion", "lesion"]
    assert label_set("malignant").positive == "malignant" and label_set("pathology").is_binary
    with pytest.raises(ValueError, match="no single positive class"):
        _ = label_set("type_pathology").positive
    assert dataclasses.is_dataclass(LabelSet) and label_set("abnormal") == LABEL_SETS["abnormal"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        label_set("abnormal").name = "x"  # type: ignore[misc]


def test_unknown_names_and_bad_options():
    with pytest.raises(ValueError, match="expected one of abnormal, malignant, pathology, type_pathology"):
        label_set("density")
    with pytest.raises(ValueError, match="include_normal applies to type_pathology only"):
        label_set("pathology", include_normal=True)
    with pytest.raises(ValueError, match="level must be one of"):
        LabelSet("x", "study", ("a", "b"), lambda item: ("a", None))
    with pytest.raises(ValueError, match="two distinct classes"):
        LabelSet("x", "image", ("a", "a"), lambda item: ("a", None))


def test_image_level_targets_and_reasons():
    normal, both, distortion, unannotated = _items()
    abnormal, malignant = label_set("abnormal"), label_set("malignant")
    assert [abnormal.target(i) for i in (normal, both, distortion)] == [0, 1, 1]
    assert [malignant.target(i) for i in (normal, both, distortion)] == [0, 1, 0]
    assert abnormal.target(unannotated) is None and malignant.target(unannotated) is None
    assert "not annotated" in abnormal.skip_reason(unannotated)
    assert abnormal.skip_reason(both) is None and abnormal.truth(both) == (1, None)
    # the lesion records are the truth: an image-level 'malignant' without a lesion record is refused
    assert "but no lesion record" in abnormal.skip_reason({"pathology": "malignant", "lesions": []})
    assert "unknown image pathology" in malignant.skip_reason({"pathology": "weird", "lesions": []})
    # CBIS-DDSM's BENIGN_WITHOUT_CALLBACK is benign, whether normalised by the indexer or left raw
    raw = {"pathology": "benign", "lesions": [{"type": "calcification", "pathology": "BENIGN_WITHOUT_CALLBACK"}]}
    assert malignant.target(raw) == 0
    # an unknown lesion pathology makes 'malignant' undecidable, unless another lesion is malignant
    unknown = {"lesions": [{"type": "mass", "pathology": "UNPROVEN"}]}
    assert malignant.target(unknown) is None and "unknown lesion pathology 'UNPROVEN'" in malignant.skip_reason(unknown)
    unknown["lesions"].append({"type": "mass", "pathology": "MALIGNANT"})
    assert malignant.target(unknown) == 1
    assert "lesion has no pathology" in malignant.skip_reason({"lesions": [{"type": "mass", "pathology": None}]})


def test_lesion_level_targets_and_reasons():
    lesions = lesion_items(_items(), require_position=False)
    assert [(i["image"], i["lesion_index"]) for i in lesions] == [("m.png", 0), ("m.png", 1), ("b.png", 0)]
    pathology, type_pathology = label_set("pathology"), label_set("type_pathology")
    assert [pathology.target(i) for i in lesions] == [0, 1, 0]
    assert [type_pathology.target(i) for i in lesions] == [0, 3, None]
    assert type_pathology.skip_reason(lesions[2]) == ("lesion type 'architectural_distortion' is not in "
                                                      "type_pathology (masses and calcifications only)")
    five = label_set("type_pathology", include_normal=True)
    assert [five.target(i) for i in lesions] == [1, 4, None]
    tissue = {"image": "n.png", "lesion_index": None, "lesion_pathology": NORMAL, "type_pathology": NORMAL}
    assert five.target(tissue) == 0
    assert type_pathology.target(tissue) is None and "include_normal=False" in type_pathology.skip_reason(tissue)
    assert pathology.skip_reason(tissue) == "normal-tissue item: not a lesion"
    # BENIGN_WITHOUT_CALLBACK at lesion level; pathologies outside benign/malignant are skipped with the reason
    assert type_pathology.target({"lesion_type": "calcification", "lesion_pathology": "BENIGN_WITHOUT_CALLBACK"}) == 2
    assert "unknown lesion pathology" in type_pathology.skip_reason({"lesion_type": "mass", "lesion_pathology": "X"})
    assert pathology.skip_reason({"lesion_pathology": "normal"}) == "lesion pathology 'normal'"
    # a per-image item given to a lesion-level set says what is wrong
    assert "not a per-lesion item" in pathology.skip_reason(_items()[1])
    assert "not a per-lesion item" in type_pathology.skip_reason(_items()[1])


def test_items_expansion():
    items = _items()
    image_items = label_set("malignant").items(items)
    assert image_items == items and image_items[0] is not items[0]
    assert [i["lesion_index"] for i in label_set("pathology").items(items)] == [0, 1, 0]
    assert [i["lesion_index"] for i in label_set("pathology").items(items, require_position=True)] == [0, 1]
    five = label_set("type_pathology", include_normal=True).items(items)
    assert [(i["image"], i["lesion_index"], i["type_pathology"]) for i in five] == [
        ("m.png", 0, "benign_mass"), ("m.png", 1, "malignant_calcification"),
        ("b.png", 0, "benign_architectural_distortion"), ("n.png", None, "normal")]
    tissue = normal_items(items)
    assert len(tissue) == 1 and tissue[0]["patient_id"] == "P1" and "lesions" not in tissue[0]
    assert tissue[0]["lesion"] is None and tissue[0]["lesion_type"] is None
    assert normal_items([{"image": "x", "pathology": "weird", "lesions": []},
                         {"image": "y", "pathology": "benign", "lesions": []}]) == []


def test_datalist_task_items_is_what_the_lesion_bundle_computed_inline(tmp_path):
    """``datalist_task_items`` replaces the configs' inline expressions (labelled_items / LabelSet.items of
    load_decathlon_datalist with require_position/use_crop_files from crop_source): the same items."""
    items = _items()
    items[1]["lesions"][0]["crop"] = "m_crop_0.png"
    datalist = write_datalist({"training": [], "validation": [], "test": items}, tmp_path / "d.json")
    for labelled in (True, False):
        raw = load_decathlon_datalist(datalist, labelled, "test")
        for source, position, crops in (("full_image", True, False), ("crop_file", False, True)):
            for task, normal in (("pathology", False), ("type_pathology", True), ("malignant", False)):
                if normal and source == "crop_file":
                    continue
                expected = (labelled_items(raw, task, include_normal=normal, require_position=position,
                                           use_crop_files=crops, split="test") if labelled else
                            label_set(task, include_normal=normal).items(raw, require_position=position,
                                                                         use_crop_files=crops, split="test"))
                got = datalist_task_items(datalist, "test", task, source, normal, labelled=labelled)
                assert got == expected, (labelled, source, task)
    assert [i["lesion_index"] for i in datalist_task_items(datalist, "test", "pathology")] == [0, 1]
    with pytest.raises(ValueError, match="crop_source"):
        datalist_task_items(datalist, "test", "pathology", "crop")
