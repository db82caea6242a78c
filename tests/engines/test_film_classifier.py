"""The film-feature classifier: features of a film and its other breast, the three-arm CV by woman."""

from __future__ import annotations

import numpy as np
import pytest

from mammo_monai.data.mias import index_mias
from mammo_monai.data.schema import SPLITS, load_datalist
from mammo_monai.data.synthetic import synthesize_mias
from mammo_monai.engines.film_classifier import cross_validate_film_classifier, film_feature_vector
from mammo_monai.inference.film_features import (
    CANDIDATE_SUMMARY,
    FILM_FEATURE_NAMES,
    film_features,
    summarise_candidates,
)


def test_asymmetry_calcification_and_missing_partner():
    from scipy import ndimage

    rng = np.random.default_rng(0)
    fine = (0.3 + ndimage.gaussian_filter(rng.random((256, 256)), 6) * 0.2).astype(np.float32)  # smooth tissue
    film = fine[::4, ::4].copy()
    breast = np.ones((64, 64), bool)
    spotted = fine.copy()
    for r, c in ((40, 40), (44, 46), (50, 41), (47, 52)):
        spotted[r:r + 2, c:c + 2] = 1.0  # a cluster of calcification-sized spots
    fine_breast = np.ones(fine.shape, bool)
    plain = dict(zip(FILM_FEATURE_NAMES, film_features(film, breast, film, breast, fine, fine_breast)))
    calcified = dict(zip(FILM_FEATURE_NAMES, film_features(film, breast, film, breast, spotted, fine_breast)))
    assert calcified["spots"] >= plain["spots"] + 4 and calcified["spot_cluster_max"] > plain["spot_cluster_max"]
    assert plain["abs_difference_mean"] == 0.0 and plain["has_partner"] == 1.0
    alone = dict(zip(FILM_FEATURE_NAMES, film_features(film, breast, None, None, fine, fine_breast)))
    assert alone["has_partner"] == 0.0 and alone["d_q99"] == 0.0
    with pytest.raises(ValueError, match="must have the image's shape"):
        film_features(film, breast, film[:10], breast[:10], fine, fine_breast)
    assert summarise_candidates(np.zeros((0, 3)), ("a", "b", "c")).shape == (len(CANDIDATE_SUMMARY),)


@pytest.fixture(scope="module")
def synthetic_mias(tmp_path_factory):
    root = tmp_path_factory.mktemp("film_classifier")
    synthesize_mias(root / "mias", n_patients=10, seed=2, size=256, fmt="png")
    index_mias(root / "mias", root / "mias.json", progress=False, stratify="lesion_types")
    return root / "mias.json"


def test_three_arm_cv_on_synthetic_films(synthetic_mias, tmp_path):
    item = load_datalist(synthetic_mias)["training"][0]
    vector = film_feature_vector(item, spatial_size=64, fine_size=128)
    assert vector.shape == (len(FILM_FEATURE_NAMES),) and np.isfinite(vector).all()
    report = cross_validate_film_classifier(synthetic_mias, tmp_path / "cv", n_folds=2, n_resamples=20,
                                            spatial_size=64, fine_size=128)
    n_films = sum(len(load_datalist(synthetic_mias)[s]) for s in SPLITS)
    assert set(report["arms"]) == {"film", "film_partner", "film_partner_candidates"}
    assert report["n_films"] == n_films == 20
    for arm in report["arms"].values():
        assert 0.0 <= arm["auc"]["estimate"] <= 1.0 and arm["auc"]["n"] == n_films
        assert len(arm["fold_thresholds"]) == 2 and arm["auc_by_lesion_type_vs_normal"]
    assert len(list((tmp_path / "cv" / "film_features").glob("*.npz"))) == n_films
    assert (tmp_path / "cv" / "film_classifier_report.md").read_text().count("| film") == 3
