"""Two-stage detection: stage-1 candidates in original pixels, hits, stage-2 features, the three-arm CV."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mammo_monai.data.mias import index_mias
from mammo_monai.data.schema import SPLITS, load_datalist
from mammo_monai.data.synthetic import synthesize_mias
from mammo_monai.engines.two_stage_detection import (
    BLEND_ARM,
    FilmCandidates,
    blended_positives,
    candidate_hits,
    cross_validate_two_stage,
    film_candidates,
    train_stage2,
)
from mammo_monai.inference.blob_candidates import CONTRALATERAL_FEATURES, FEATURE_NAMES, candidate_features


@pytest.fixture(scope="module")
def synthetic_mias(tmp_path_factory):
    root = tmp_path_factory.mktemp("two_stage")
    synthesize_mias(root / "mias", n_patients=8, seed=1, size=384, fmt="png")
    index_mias(root / "mias", root / "mias.json", progress=False, stratify="lesion_types")
    return root / "mias.json"


def test_candidates_map_to_the_original_film_and_hit_its_masses(synthetic_mias):
    items = [i for s in SPLITS for i in load_datalist(synthetic_mias)[s]]
    with_mass = [i for i in items if any(les["type"] == "mass" and les.get("center") for les in i["lesions"])]
    assert with_mass
    found = 0
    for item in with_mass:
        film = film_candidates(item, spatial_size=128)
        assert film.image_shape == [384, 384] and film.features.shape == (len(film.centers), len(FEATURE_NAMES))
        assert ((film.centers >= 0) & (film.centers < 384)).all()
        assert film.features[:, FEATURE_NAMES.index("has_partner")].all()  # every synthetic woman has both sides
        found += bool(candidate_hits(film, item, ["mass"]).any())
    assert found >= len(with_mass) - 1


def test_hits_by_radius_or_box():
    film = FilmCandidates("a.png", "w", np.array([[10.0, 10.0], [50.0, 50.0], [80.0, 12.0]]), np.ones(3),
                          np.zeros((3, len(FEATURE_NAMES))), [100, 100])
    item = {"lesions": [{"type": "mass", "center": [12.0, 12.0], "radius": 5.0},
                        {"type": "mass", "box": [75, 10, 85, 15]},
                        {"type": "calcification", "center": [50.0, 50.0], "radius": 5.0}]}
    assert candidate_hits(film, item, ["mass"]).tolist() == [1, 0, 1]


def test_partner_features_and_stage2_needs_both_classes():
    image = np.full((40, 40), 0.3, np.float32)
    image[15:25, 15:25] = 0.9
    breast = np.ones((40, 40), bool)
    alone = candidate_features(image, breast, [(20.0, 20.0, 5.0, 3.0)])
    assert alone[0, FEATURE_NAMES.index("has_partner")] == 0
    assert not alone[0, [FEATURE_NAMES.index(n) for n in CONTRALATERAL_FEATURES]].any()
    flat = np.full((40, 40), 0.3, np.float32)
    paired = candidate_features(image, breast, [(20.0, 20.0, 5.0, 3.0)], partner=flat, partner_breast=breast)
    assert paired[0, FEATURE_NAMES.index("inside_minus_partner")] > 0.5  # what this breast has and the other not
    with pytest.raises(ValueError, match="must have the image's shape"):
        candidate_features(image, breast, [(20.0, 20.0, 5.0, 3.0)], partner=flat[:30])
    with pytest.raises(ValueError, match="0 positive of 3"):
        train_stage2(np.zeros((3, 2)), np.zeros(3, int))


def test_three_arm_cv_on_synthetic_films(synthetic_mias, tmp_path):
    report = cross_validate_two_stage(synthetic_mias, tmp_path / "cv", n_folds=2, spatial_size=128, n_resamples=20,
                                      crop_embedding=True, blend_lesions=2)
    assert set(report["arms"]) == {"stage1", "stage2", "stage2_contralateral", "stage2_crop_embedding",
                                   "stage2_crop_embedding_untrained", BLEND_ARM}
    assert len(list((tmp_path / "cv" / "candidates").glob("*_128_crops.npz"))) == 16
    assert report["command"].endswith("--crop_embedding True --blend_lesions 2")
    assert report["n_women"] == 8 and report["n_films"] == 16
    for name, arm in report["arms"].items():
        assert 0.0 <= arm["cpm"]["estimate"] <= 1.0, name
        assert 0.0 <= arm["abnormal_film_auc"]["estimate"] <= 1.0 and arm["abnormal_film_auc"]["n_films"] == 16
        files = sorted((tmp_path / "cv" / name / "detections").glob("*.json"))
        assert len(files) == 16
        cands = json.loads(files[0].read_text())["candidates"]
        assert cands == sorted(cands, key=lambda c: -c["score"])
    assert (tmp_path / "cv" / "two_stage_report.md").read_text().count("| stage") == 6


def test_blended_positives_are_real_masses_on_other_womens_normal_films(synthetic_mias, tmp_path):
    items = [i for s in SPLITS for i in load_datalist(synthetic_mias)[s]]
    masses = [i for i in items if any(les["type"] == "mass" and les.get("center") for les in i["lesions"])]
    normals = [i for i in items if not i["lesions"]]
    assert masses and normals
    rows = blended_positives(masses, normals, ["mass"], 128, tmp_path / "cache", per_lesion=2, seed=0)
    n_lesions = sum(1 for i in masses for les in i["lesions"] if les["type"] == "mass" and les.get("center"))
    assert rows.shape[1] == len(FEATURE_NAMES) and n_lesions <= len(rows)  # most blends are found, some twice
    assert rows[:, FEATURE_NAMES.index("contrast")].mean() > 0  # brighter than their new surroundings
    assert rows[:, FEATURE_NAMES.index("inside_minus_partner")].mean() > 0  # the other breast has no mass there
    assert len(list((tmp_path / "cache").glob("*_128_grid.npz"))) == len(masses) + len(normals)
    again = blended_positives(masses, normals, ["mass"], 128, tmp_path / "cache", per_lesion=2, seed=0)
    assert np.array_equal(rows, again)  # seeded, and the cached grids give the same films
    assert blended_positives(masses, [], ["mass"], 128, tmp_path / "cache").shape == (0, len(FEATURE_NAMES))
