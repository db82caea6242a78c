"""The patient (cluster) bootstrap: groups drawn whole, CIs that narrow with more patients, seeds, NaNs."""

from __future__ import annotations

import numpy as np
import pytest

from mammo_monai.evaluation.bootstrap import (
    bootstrap_by_group,
    bootstrap_ci,
    factorize_groups,
    group_resample_counts,
    iter_group_resamples,
)


def _clustered(n_patients: int, images_per_patient: int = 4, seed: int = 0):
    """Per-image values strongly correlated within a patient (patient effect >> image noise)."""
    rng = np.random.default_rng(seed)
    patient_effect = rng.normal(0.7, 0.15, n_patients)
    values = np.repeat(patient_effect, images_per_patient) + rng.normal(0, 0.01, n_patients * images_per_patient)
    groups = np.repeat([f"P{i}" for i in range(n_patients)], images_per_patient)
    return values, groups


def test_factorize_keeps_first_appearance_order():
    codes, uniques = factorize_groups(np.array(["b", "a", "b", "c"]))
    assert codes.tolist() == [0, 1, 0, 2] and uniques == ["b", "a", "c"]


def test_counts_draw_n_groups_per_resample():
    counts = group_resample_counts(7, n_resamples=1000, seed=3)
    assert counts.shape == (1000, 7)
    assert (counts.sum(axis=1) == 7).all()
    # each group is left out of a draw with probability (1 - 1/7)^7 ~ 0.34
    assert abs((counts == 0).mean() - (6 / 7) ** 7) < 0.02


def test_a_patient_with_many_images_is_drawn_as_one_unit():
    # patient "big" has 50 images, four others one each
    groups = ["big"] * 50 + ["p1", "p2", "p3", "p4"]
    absent = 0
    for idx in iter_group_resamples(groups, n_resamples=500, seed=0):
        multiplicity = np.bincount(idx, minlength=len(groups))
        big = multiplicity[:50]
        assert (big == big[0]).all()  # all its images together, the same number of times
        assert multiplicity.sum() == 50 * big[0] + multiplicity[50:].sum()
        assert (big[0] + (multiplicity[50:] > 0).sum()) <= 5
        absent += big[0] == 0
    # drawn like any other of the 5 patients: absent from ~(4/5)^5 = 33% of the draws
    assert 0.25 < absent / 500 < 0.41


def test_cluster_ci_is_wider_than_an_image_level_ci_on_correlated_data():
    values, groups = _clustered(12, images_per_patient=8)
    by_patient = bootstrap_ci(values, groups, n_resamples=1000)
    by_image = bootstrap_ci(values, None, n_resamples=1000)
    assert by_patient["estimate"] == pytest.approx(values.mean())
    assert by_patient["n"] == 96 and by_patient["n_groups"] == 12 and by_image["n_groups"] == 96
    assert (by_patient["high"] - by_patient["low"]) > 2 * (by_image["high"] - by_image["low"])


def test_ci_narrows_with_more_patients():
    widths = []
    for n in (10, 40, 160):
        values, groups = _clustered(n, seed=1)
        ci = bootstrap_ci(values, groups, n_resamples=1000)
        assert ci["low"] <= ci["estimate"] <= ci["high"]
        widths.append(ci["high"] - ci["low"])
    assert widths[0] > widths[1] > widths[2]
    assert widths[0] / widths[2] > 2.5  # ~ sqrt(16) = 4 in theory


def test_seed_determinism():
    values, groups = _clustered(20)
    a = bootstrap_ci(values, groups, n_resamples=300, seed=5)
    b = bootstrap_ci(values, groups, n_resamples=300, seed=5)
    c = bootstrap_ci(values, groups, n_resamples=300, seed=6)
    assert a == b
    assert (a["low"], a["high"]) != (c["low"], c["high"])
    assert np.array_equal(group_resample_counts(9, 600, seed=2), group_resample_counts(9, 600, seed=2))


@pytest.mark.parametrize("name, fn", [("mean", np.mean), ("median", np.median)])
def test_fast_paths_equal_the_generic_path(name, fn):
    values, groups = _clustered(15, images_per_patient=3, seed=4)
    values[::5] = np.round(values[::5], 1)  # some ties for the median
    fast = bootstrap_ci(values, groups, statistic=name, n_resamples=700, seed=9)
    generic = bootstrap_ci(values, groups, statistic=lambda v: float(fn(v)), n_resamples=700, seed=9)
    by_index = bootstrap_by_group(lambda idx: float(fn(values[idx])), groups, n_resamples=700, seed=9)
    for key in ("estimate", "low", "high"):
        assert fast[key] == pytest.approx(generic[key], abs=1e-12)
        assert fast[key] == pytest.approx(by_index[key], abs=1e-12)
    assert bootstrap_ci(values, groups, statistic=fn, n_resamples=50) == bootstrap_ci(
        values, groups, statistic=name, n_resamples=50)


def test_nan_policies():
    values = [0.5, np.nan, 0.7, 0.9, np.nan]
    groups = ["a", "b", "b", "c", "d"]  # "d" has only a NaN: it is not drawn at all
    omit = bootstrap_ci(values, groups, n_resamples=200)
    assert omit["estimate"] == pytest.approx(0.7)
    assert (omit["n"], omit["n_nan"], omit["n_groups"], omit["n_invalid"]) == (3, 2, 3, 0)
    prop = bootstrap_ci(values, groups, n_resamples=200, nan_policy="propagate")
    assert np.isnan(prop["estimate"]) and np.isnan(prop["low"]) and prop["n_nan"] == 2
    with pytest.raises(ValueError, match="NaN"):
        bootstrap_ci(values, groups, nan_policy="raise")
    empty = bootstrap_ci([np.nan, np.nan], ["a", "b"])
    assert empty["n"] == 0 and np.isnan(empty["estimate"]) and np.isnan(empty["high"])


def test_one_patient_gives_a_degenerate_interval():
    ci = bootstrap_ci([0.2, 0.4, 0.9], ["a", "a", "a"], n_resamples=100)
    assert ci["low"] == ci["high"] == pytest.approx(0.5) and ci["n_groups"] == 1


def test_invalid_resamples_are_dropped_and_counted():
    # an AUC-like statistic undefined when a resample holds one class only
    y = np.array([1, 0, 0, 0, 1, 0])
    score = np.array([0.9, 0.2, 0.4, 0.1, 0.6, 0.5])
    groups = ["p1", "p2", "p3", "p4", "p5", "p6"]

    def auc(idx: np.ndarray) -> float:
        pos, neg = score[idx][y[idx] == 1], score[idx][y[idx] == 0]
        if len(pos) == 0 or len(neg) == 0:
            return float("nan")
        return float((pos[:, None] > neg[None, :]).mean())

    r = bootstrap_by_group(auc, groups, n_resamples=1000, seed=0)
    assert r["estimate"] == 1.0
    assert 0 < r["n_invalid"] < 300  # P(no positive patient) = (4/6)^6 ~ 9%
    assert np.isfinite(r["low"]) and r["high"] == 1.0


def test_argument_checks():
    with pytest.raises(ValueError, match="length"):
        bootstrap_ci([1.0, 2.0], ["a"])
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_ci([1.0], confidence=1.5)
    with pytest.raises(ValueError, match="statistic"):
        bootstrap_ci([1.0], statistic="mode")
    with pytest.raises(ValueError, match="n_resamples"):
        group_resample_counts(3, 0)
